"""libp2p networking: identity, host, gossipsub topics, the network service."""
