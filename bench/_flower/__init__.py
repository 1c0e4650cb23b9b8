"""The Flower side of bench/vs_flower.py and what both sides share (model, data files)."""
