"""cocobench: benchmarking latent reasoning (Coconut and its baselines) in language models."""

__version__ = "0.2.0"
