"""Multi-process training (`torchrun`): process group, model wrapping (DDP or FSDP2), sharded evaluation.

The trainer runs an `engine.LatentLM`, whose forward is the whole latent forward, so the standard
wrappers work unchanged: DistributedDataParallel (bucketed gradient all-reduce overlapped with the
backward; `no_sync` while accumulating) or, with `--fsdp`, FSDP2's `fully_shard` (parameters,
gradients and optimizer state sharded across processes; each transformer block gathers its weights
for its own forward and backward). gloo on CPU, NCCL on GPUs.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from cocobench.models import transformer_blocks


def world() -> tuple[int, int]:
    """(rank, world_size); (0, 1) when not launched by torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_from_env() -> tuple[int, int]:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return world()


def is_main() -> bool:
    return world()[0] == 0


def barrier() -> None:
    if world()[1] > 1:
        dist.barrier()


def shutdown() -> None:
    """End the process group once every process is done: a process that exits while its peers still
    talk to it can make gloo abort them."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


# ---------------------------------------------------------------------------------------------------
# Wrapping the model


def wrap(net: nn.Module, device: torch.device, *, fsdp: bool = False) -> nn.Module:
    """`net` (an engine.LatentLM) ready for this process group: itself in one process, else DDP, or
    FSDP2 with one shard group per transformer block (the model's `_no_split_modules`) plus the root."""
    if world()[1] == 1:
        return net
    net.touch_probe_always = True
    if fsdp:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        mesh = init_device_mesh(device.type, (world()[1],))
        for block in transformer_blocks(net.lm):
            fully_shard(block, mesh=mesh)
        return fully_shard(net, mesh=mesh)
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(net, device_ids=ids)


def is_fsdp(net: nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(net, FSDPModule)


@contextlib.contextmanager
def gradient_sync(net: nn.Module, enabled: bool) -> Iterator[None]:
    """Forward + backward of one micro-batch; the gradients are reduced across processes only when
    `enabled` (the last micro-batch of an accumulation group), as DDP's `no_sync` intends."""
    if is_fsdp(net):
        net.set_requires_gradient_sync(enabled)
        yield
    elif hasattr(net, "no_sync") and not enabled:
        with net.no_sync():
            yield
    else:
        yield


def evaluation_copy(net: nn.Module, model: nn.Module, classifier: nn.Module | None):
    """(model, stop classifier) to evaluate with: themselves, or under FSDP a plain unsharded copy on
    every process, built from the gathered full weights (collective). Generation calls the blocks'
    parts directly, which sharded parameters do not allow; without gradients or optimizer state the
    whole model fits where its training needed shards."""
    if not is_fsdp(net):
        return model, classifier
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    from cocobench.engine import attach_projection, thought_projection

    full = get_model_state_dict(net, options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=False))
    device = next(iter(full.values())).device if full else torch.device("cpu")
    plain_model = type(model)(model.config).to(device)
    projection = thought_projection(model)
    if projection is not None:  # CODI's, on the model: part of the "lm." weights
        attach_projection(plain_model, projection.net[0].in_features)
    plain_model.load_state_dict({k.removeprefix("lm."): v.full_tensor() if hasattr(v, "full_tensor") else v for k, v in full.items() if k.startswith("lm.")})
    plain_classifier = None
    if classifier is not None:
        from cocobench.engine import StopClassifier

        plain_classifier = StopClassifier(classifier.linear.in_features).to(device)  # the FSDP one holds shards
        plain_classifier.load_state_dict({k.removeprefix("stop_classifier."): v for k, v in full.items() if k.startswith("stop_classifier.")})
    return plain_model, plain_classifier


def full_state_dict(net: nn.Module) -> dict[str, torch.Tensor] | None:
    """The LatentLM's full state dict ("lm.*", "stop_classifier.*"; CPU) for saving: collective under
    FSDP (every process calls it, rank 0 gets the tensors); None when not sharded (save directly)."""
    if not is_fsdp(net):
        return None
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(net, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def optimizer_state(net: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The optimizer's state for a checkpoint: its own state_dict, or under FSDP the full (unsharded)
    one, keyed by parameter names (collective)."""
    if not is_fsdp(net):
        return optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    return get_optimizer_state_dict(net, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_optimizer_state(net: nn.Module, optimizer: torch.optim.Optimizer, saved: dict[str, Any]) -> None:
    if not is_fsdp(net):
        optimizer.load_state_dict(saved)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    set_optimizer_state_dict(net, optimizer, saved, options=StateDictOptions(full_state_dict=True))


def sum_over_processes(*values: float) -> list[float]:
    """Each value summed over all processes (the epoch's loss sums and counts); as is in one process."""
    if world()[1] == 1:
        return list(values)
    backend_device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    total = torch.tensor(values, dtype=torch.float64, device=backend_device)
    dist.all_reduce(total)
    return total.tolist()


# ---------------------------------------------------------------------------------------------------
# Sharded evaluation


def shard(items: list) -> list:
    """This process's share of an evaluation split: items[rank::world_size]."""
    rank, size = world()
    return items[rank::size]


def gather_in_order(mine: list) -> list:
    """Every process's `shard` results, back in the split's order (on every process)."""
    rank, size = world()
    if size == 1:
        return mine
    everyone: list[list | None] = [None] * size
    dist.all_gather_object(everyone, mine)
    merged = [None] * sum(len(part) for part in everyone)
    for r, part in enumerate(everyone):
        merged[r::size] = part
    return merged
