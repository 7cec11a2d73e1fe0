"""Language baselines: chain of thought (Q S A) and answering directly (Q A)."""

from __future__ import annotations

from cocobench.methods.base import Method, TrainSequence, build_sequence


class CoT(Method):
    name = "cot"
    description = "chain of thought in language: trained on Q S_1..S_n A, decodes chain and answer from Q"

    def train_sequence(self, example, *, epoch, batch_index, batches_per_epoch, rng) -> TrainSequence:
        seg = self.segments(example)
        return build_sequence(seg.question, (), seg.chain + seg.answer)


class NoCoT(Method):
    name = "no-cot"
    description = "no reasoning chain: trained on Q A, answers directly"
    uses_steps = False

    def train_sequence(self, example, *, epoch, batch_index, batches_per_epoch, rng) -> TrainSequence:
        seg = self.segments(example)
        return build_sequence(seg.question, (), seg.answer)


METHODS = (CoT, NoCoT)
