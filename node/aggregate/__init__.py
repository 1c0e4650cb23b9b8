"""Pure aggregation rules and reward splits over fixed-point arrays (no network, no chain)."""
