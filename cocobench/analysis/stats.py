"""Kept as an import path: the paired statistics live in `cocobench.stats` (below the evaluation, whose
choice p-value is a McNemar test, and the analyses alike)."""

from cocobench.stats import discordant_pairs, mcnemar_exact, paired_bootstrap_ci

__all__ = ["discordant_pairs", "mcnemar_exact", "paired_bootstrap_ci"]
