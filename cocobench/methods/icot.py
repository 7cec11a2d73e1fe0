"""iCoT, stepwise internalization (Deng et al. 2024; docs/methods.md).

Training starts on the full chain of thought; chain *tokens* (not steps) are then removed from its
start, `remove_per_epoch` more per epoch, until the model answers directly. As in the official code:
- the scheduled removal r grows by one every round(batches_per_epoch / remove_per_epoch) batches (at
  least every batch), counting batches across epochs: r = global_batch // interval;
- removal smoothing: each example removes o more tokens, P(o) proportional to exp(-lambda*o), o <= 99,
  so the model meets the next removal before the schedule reaches it (drawn even while r = 0);
- once r reaches `remove_all_after` the whole chain goes;
- the answer ("### " + answer, EOS) is never removed. Inference: the question alone.
"""

from __future__ import annotations

import math

from cocobench.methods.base import Method, TrainSequence, build_sequence

MAX_SMOOTHING_OFFSET = 99  # the official code truncates P(o) at 100 values, the rest of the mass on the last


class ICoT(Method):
    name = "icot"
    description = "stepwise internalization: full chain of thought, then its first tokens removed (remove_per_epoch more per epoch); answers directly"

    def __init__(self, cfg, tokenizer):
        super().__init__(cfg, tokenizer)
        self._batches_per_epoch: int | None = None  # learned from the trainer's calls, for stage()

    def interval(self, batches_per_epoch: int) -> int:
        """Batches between two removals."""
        return max(1, round(batches_per_epoch / self.cfg.remove_per_epoch))

    def scheduled_removal(self, epoch: int, batch_index: int, batches_per_epoch: int) -> float:
        """Chain tokens removed at this batch (before smoothing); math.inf once the whole chain goes."""
        removal = (epoch * batches_per_epoch + batch_index) // self.interval(batches_per_epoch)
        limit = self.cfg.remove_all_after
        return math.inf if limit is not None and removal >= limit else removal

    def stage(self, epoch: int, batches_per_epoch: int | None = None) -> int:
        """Tokens scheduled for removal at the start of `epoch` (>= remove_all_after: the whole chain)."""
        batches_per_epoch = batches_per_epoch or self._batches_per_epoch
        if batches_per_epoch is None:  # before the first batch: the nominal schedule
            return epoch * self.cfg.remove_per_epoch
        return epoch * batches_per_epoch // self.interval(batches_per_epoch)

    def schedule_position(self, epoch: int, batch_index: int, batches_per_epoch: int) -> float:
        self._batches_per_epoch = batches_per_epoch
        return self.scheduled_removal(epoch, batch_index, batches_per_epoch)

    def smoothing_offset(self, rng) -> int:
        """o with P(o) = (1 - e^-lambda) e^(-lambda o): a geometric draw by inverting its CDF."""
        lam = self.cfg.removal_smoothing
        if math.isinf(lam):
            return 0
        return min(MAX_SMOOTHING_OFFSET, int(-math.log(1.0 - rng.random()) / lam))

    def train_sequence(self, example, *, epoch, batch_index, batches_per_epoch, rng) -> TrainSequence:
        self._batches_per_epoch = batches_per_epoch
        seg = self.segments(example)
        chain = seg.chain
        removal = self.scheduled_removal(epoch, batch_index, batches_per_epoch)
        removed = len(chain) if math.isinf(removal) else min(len(chain), removal + self.smoothing_offset(rng))
        return build_sequence(seg.question, (), chain[removed:] + seg.answer)


METHODS = (ICoT,)
