"""Deterministic codec: fixed-point models and update deltas <-> bytes."""
