"""fedchain node: decentralized federated learning peer."""

__version__ = "0.1.0"
