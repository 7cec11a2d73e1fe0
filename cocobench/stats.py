"""Kept as an import path: the paired statistics live in `cocobench.analysis.stats`."""

from cocobench.analysis.stats import discordant_pairs, mcnemar_exact, paired_bootstrap_ci

__all__ = ["discordant_pairs", "mcnemar_exact", "paired_bootstrap_ci"]
