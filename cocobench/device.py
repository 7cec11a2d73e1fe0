"""The one place that knows about devices: pick one, and run the model at its usual precision there.

CPU runs in fp32 (the paper's precision, and bit-reproducible); CUDA runs under bf16 autocast, which
keeps the weights and optimizer state in fp32 and only does the matrix multiplications in bf16.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def pick_device() -> torch.device:
    """CUDA when available (the current device, as set by torchrun's LOCAL_RANK), else CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


@contextlib.contextmanager
def autocast(device: torch.device | str) -> Iterator[None]:
    """bf16 autocast on CUDA; a no-op (plain fp32) on CPU."""
    if torch.device(device).type == "cuda":
        with torch.autocast("cuda", dtype=torch.bfloat16):
            yield
    else:
        yield
