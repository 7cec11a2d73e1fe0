"""Controls that keep Coconut's curriculum but change what stands in for the removed steps."""

from __future__ import annotations

from cocobench.methods.coconut import Coconut


class CoconutNoThought(Coconut):
    name = "coconut-no-thought"
    description = "Coconut's curriculum without thoughts: Q S_{k+1}..S_n A (steps removed, no latents, no markers)"
    thought_feed = None
    takes_k = False
    node_supervised = False  # no thoughts to supervise

    def thought_block(self, n: int) -> tuple[int, ...]:
        return ()  # the official code sets c = 0 and drops the markers

    def validation_k(self, epoch: int) -> int | None:
        return None


class PauseAsThought(Coconut):
    name = "pause-as-thought"
    description = "Coconut's curriculum with learned <|pause|> tokens in place of thoughts: Q bot <pause>x(k*c) eot S_{k+1}..S_n A, one pass"
    thought_feed = None  # pauses are ordinary input tokens, so no latent passes

    @property
    def thought_id(self) -> int:
        return self.ids.pause


class PauseMultipass(Coconut):
    name = "pause-multipass"
    description = "Coconut's sequences, but the fixed <|pause|> embedding is fed at thought positions in n+1 sequential passes"
    thought_feed = "pause"  # separates the benefit of extra sequential passes from that of the hidden-state feed


METHODS = (CoconutNoThought, PauseAsThought, PauseMultipass)
