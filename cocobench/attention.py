"""What the engine's two generation paths share (its generic transformers path and `gpt2_passes`, the
GPT-2 one): how many tokens a prefill group holds, and additive attention masks."""

from __future__ import annotations

import torch

PREFILL_TOKENS = 2048  # tokens per prefill group: small enough to stay in a CPU's cache, big enough for fast matmuls


def additive_mask(keep: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """1/0 keep-mask -> additive mask (0 keep, dtype's min drop). A (B, S) padding mask becomes (B, 1, 1, S),
    for one query column; other shapes are kept. sdpa on CPU runs ~25% faster with it than with booleans."""
    if keep.dim() == 2:
        keep = keep[:, None, None, :]
    return torch.zeros(keep.shape, dtype=dtype, device=keep.device).masked_fill(~keep.bool(), torch.finfo(dtype).min)
