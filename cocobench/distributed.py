"""Multi-process training (`torchrun`): process-group set-up and gradient averaging.

The latent forward calls the model's submodules directly (not through a DDP wrapper's forward), so
instead of DistributedDataParallel's hooks we average gradients explicitly after backward: the same
arithmetic as DDP, and it works with gloo on CPU and NCCL on GPUs.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(rank, world_size); (0, 1) when not launched by torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_from_env() -> tuple[int, int]:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return world()


def is_main() -> bool:
    return world()[0] == 0


def average_gradients(parameters) -> None:
    _, size = world()
    if size == 1:
        return
    for p in parameters:
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad /= size


def barrier() -> None:
    if world()[1] > 1:
        dist.barrier()
