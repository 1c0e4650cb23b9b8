"""Content store: CIDv1, on-disk blockstore, blobs, Bitswap exchange."""
