"""Collation (right padding, no loss on pads), prompt padding, and deterministic rank-aware batching."""

from __future__ import annotations

import pytest
import torch

from cocobench.batches import batch_indices, collate, pad_prompts
from cocobench.methods.base import IGNORE, TrainSequence

PAD = 0


def test_collate_pads_right_and_masks_labels():
    batch = collate([TrainSequence([5, 6, 7], [IGNORE, 6, 7]), TrainSequence([8], [8])], PAD)
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    assert all(t.dtype == torch.long and t.shape == (2, 3) for t in batch.values())
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, PAD, PAD]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE, 6, 7], [8, IGNORE, IGNORE]]
    with pytest.raises(ValueError):
        collate([], PAD)
    with pytest.raises(ValueError):
        TrainSequence([1, 2], [1])


def test_pad_prompts_left_and_right():
    left = pad_prompts([[3, 4, 5], [6]], PAD)
    assert left["input_ids"].tolist() == [[3, 4, 5], [PAD, PAD, 6]]
    assert left["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]
    right = pad_prompts([[3, 4, 5], [6]], PAD, side="right")
    assert right["input_ids"].tolist() == [[3, 4, 5], [6, PAD, PAD]]
    assert right["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    with pytest.raises(ValueError):
        pad_prompts([[1]], PAD, side="middle")


def test_batch_indices_single_process():
    batches = batch_indices(10, 4, seed=0, epoch=0)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(i for b in batches for i in b) == list(range(10))
    assert batch_indices(10, 4, seed=0, epoch=0) == batches  # deterministic
    assert batch_indices(10, 4, seed=0, epoch=1) != batches  # reshuffled every epoch
    assert batch_indices(10, 4, seed=1, epoch=0) != batches
    assert batch_indices(5, 2, seed=0, epoch=0, shuffle=False) == [[0, 1], [2, 3], [4]]
    assert batch_indices(0, 4, seed=0, epoch=0) == []


@pytest.mark.parametrize("n", [9, 10, 12])
def test_batch_indices_split_across_processes(n):
    world = 3
    per_rank = [batch_indices(n, 2, seed=5, epoch=2, rank=r, world_size=world) for r in range(world)]
    assert len({len(b) for b in per_rank}) == 1  # equal batch counts: no process waits forever in all-reduce
    everything = [i for batches in per_rank for b in batches for i in b]
    assert set(everything) == set(range(n)) and len(everything) == n + (-n % world)  # padded by repetition only
    # batch j of all processes together is the same global batch as with one process and batch 2*3
    order = [i for b in batch_indices(n, 1, seed=5, epoch=2) for i in b]
    padded = order + order[: -n % world]
    for j in range(len(per_rank[0])):
        assert sorted(i for r in range(world) for i in per_rank[r][j]) == sorted(padded[j * 6 : (j + 1) * 6])
    with pytest.raises(ValueError):
        batch_indices(n, 2, seed=0, epoch=0, rank=3, world_size=3)
