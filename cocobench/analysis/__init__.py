"""Analyses over validated results and over trained checkpoints (the paper's Section 5 figures)."""
