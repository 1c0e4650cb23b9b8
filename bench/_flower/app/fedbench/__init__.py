"""fedbench: the Flower app bench/vs_flower.py runs."""
