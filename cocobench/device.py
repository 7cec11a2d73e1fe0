"""The one place that knows about devices: pick one, and run the model at the chosen precision there.

`--precision` (a setting, recorded in results):
- `fp32`: plain fp32 (the paper's ProsQA/ProntoQA precision, and bit-reproducible on CPU); on CUDA
  matrix multiplications may use TF32 tensor cores (fp32 range, 10-bit mantissa), as most GPU
  training code allows.
- `bf16`: bf16 autocast; weights, gradients and optimizer state stay fp32, only the matrix
  multiplications (and attention) run in bf16.
- `auto` (default): bf16 on CUDA, fp32 on CPU.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from cocobench.config import PRECISIONS  # the --precision setting's values


def pick_device() -> torch.device:
    """CUDA when available (the current device, as set by torchrun's LOCAL_RANK), else CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """`auto` -> what it means on this device ('bf16' on CUDA, 'fp32' elsewhere); others unchanged."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bf16" if torch.device(device).type == "cuda" else "fp32"
    return precision


def configure_matmul(device: torch.device | str, precision: str) -> None:
    """fp32 on CUDA allows TF32 matmuls (the default of most GPU training code); CPU is left alone."""
    if torch.device(device).type == "cuda" and resolve_precision(precision, device) == "fp32":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


@contextlib.contextmanager
def autocast(device: torch.device | str, precision: str = "auto") -> Iterator[None]:
    """bf16 autocast when the resolved precision is bf16 (CUDA or CPU); else plain fp32."""
    device = torch.device(device)
    if resolve_precision(precision, device) == "bf16":
        with torch.autocast(device.type, dtype=torch.bfloat16):
            yield
    else:
        yield
