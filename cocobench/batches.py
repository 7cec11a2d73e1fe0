"""Batching: which examples go together (deterministic, rank-aware), and padding them into tensors."""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch

from cocobench.sequences import IGNORE, TrainSequence


def collate(sequences: Sequence[TrainSequence], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad training sequences: `input_ids`, `attention_mask`, `labels` (IGNORE on pads), each (B, T)."""
    if not sequences:
        raise ValueError("collate needs at least one sequence")
    length = max(len(s.input_ids) for s in sequences)
    input_ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)  # (B, T)
    attention_mask = torch.zeros((len(sequences), length), dtype=torch.long)  # (B, T)
    labels = torch.full((len(sequences), length), IGNORE, dtype=torch.long)  # (B, T)
    for row, s in enumerate(sequences):
        n = len(s.input_ids)
        input_ids[row, :n] = torch.tensor(s.input_ids, dtype=torch.long)
        attention_mask[row, :n] = 1
        labels[row, :n] = torch.tensor(s.labels, dtype=torch.long)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def pad_prompts(prompts: Sequence[Sequence[int]], pad_id: int, side: str = "left") -> dict[str, torch.Tensor]:
    """Pad inference prompts to one length: `input_ids`, `attention_mask`, each (B, T).

    Left padding (default) lines up every prompt's last token in the last column, so batched greedy
    decoding appends in one column (position ids must then come from the mask: cumsum - 1).
    """
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    if not prompts:
        raise ValueError("pad_prompts needs at least one prompt")
    length = max(len(p) for p in prompts)
    input_ids = torch.full((len(prompts), length), pad_id, dtype=torch.long)  # (B, T)
    attention_mask = torch.zeros((len(prompts), length), dtype=torch.long)  # (B, T)
    for row, prompt in enumerate(prompts):
        n = len(prompt)
        where = slice(length - n, length) if side == "left" else slice(0, n)
        input_ids[row, where] = torch.tensor(list(prompt), dtype=torch.long)
        attention_mask[row, where] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def batch_indices(n: int, batch_size: int, seed: int, epoch: int, shuffle: bool = True, *, rank: int = 0, world_size: int = 1) -> list[list[int]]:
    """This process's batches of example indices for `epoch`, the same on every run with the same seed.

    Like `DistributedSampler` + `DataLoader`: one order per (seed, epoch) shared by all processes,
    padded by repeating its first indices to a multiple of world_size, so every process gets the
    same number of batches (a process with fewer would hang the gradient all-reduce); process r
    takes order[r::world_size]. Batch j of all processes together is the global batch
    order[j*batch_size*world_size : (j+1)*batch_size*world_size], whatever the number of processes.
    """
    if batch_size <= 0 or world_size <= 0 or not 0 <= rank < world_size:
        raise ValueError(f"need batch_size > 0 and 0 <= rank < world_size, got {batch_size}, {rank}, {world_size}")
    order = list(range(n))
    if shuffle:
        random.Random(f"order:{seed}:{epoch}").shuffle(order)
    if n:
        padding = -n % world_size
        order += (order * (padding // n + 1))[:padding]
    mine = order[rank::world_size]
    return [mine[start : start + batch_size] for start in range(0, len(mine), batch_size)]
