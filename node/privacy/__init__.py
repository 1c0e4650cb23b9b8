"""Client-level differential privacy: clip-and-noise on fixed-point updates, the
verification bound it implies, and an RDP accountant (opacus) per node."""
