"""Pause tokens (Goyal et al. 2023): M learned `<|pause|>` tokens between question and answer."""

from __future__ import annotations

from cocobench.methods.base import Method, TrainSequence, build_sequence


class Pause(Method):
    name = "pause"
    description = "Q <pause>xM A: M learned pause tokens (default max_latent_stage*c, as many as Coconut's thoughts), no chain"
    takes_k = True  # pauses at inference
    uses_steps = False

    @property
    def pauses(self) -> int:
        return self.cfg.pause_tokens if self.cfg.pause_tokens is not None else self.cfg.max_latent_stage * self.cfg.c

    def train_sequence(self, example, *, epoch, batch_index, batches_per_epoch, rng) -> TrainSequence:
        seg = self.segments(example)
        return build_sequence(seg.question, (self.ids.pause,) * self.pauses, seg.answer)

    def inference_prompt(self, example, *, k=None) -> list[int]:
        n = self.pauses if k is None else self.check_k(k)
        return list(self.segments(example).question) + [self.ids.pause] * n


METHODS = (Pause,)
