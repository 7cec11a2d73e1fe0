"""A training sequence: the token ids a method builds from an example, and their labels (no torch here:
the methods import it at start-up; `cocobench.batches` pads sequences into tensors)."""

from __future__ import annotations

from dataclasses import dataclass

IGNORE = -100  # label of positions without loss (PyTorch's cross-entropy ignore_index)


@dataclass(frozen=True)
class TrainSequence:
    input_ids: list[int]
    labels: list[int]  # same length; IGNORE = no loss

    def __post_init__(self):
        if len(self.input_ids) != len(self.labels):
            raise ValueError(f"input_ids ({len(self.input_ids)}) and labels ({len(self.labels)}) differ in length")
