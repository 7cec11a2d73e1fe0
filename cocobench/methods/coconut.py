"""Coconut (Hao et al. 2024): continuous thoughts replace the first reasoning steps, stage by stage.

At stage k the first k steps are removed and k*c thoughts take their place:
    Q bot <latent>x(k*c) eot S_{k+1} .. S_n A
Decisions where the paper leaves room (all match the official code at its defaults):
- Stage 0 keeps the markers: Q bot eot S_1..S_n A (the official training data does).
- An example with fewer than k steps loses all of them; with `pad_latent_to_max` (default) it still
  gets k*c thoughts, without it min(k, #steps)*c (the flag's documented meaning; the official code
  applies it only past max_latent_stage in training, at every stage at inference).
- Past max_latent_stage: all steps go; max_latent_stage*c thoughts, or min(#steps, max_latent_stage)*c.
- Inference uses K = max_latent_stage*c thoughts by default whatever `pad_latent_to_max` says (the
  official code, unpadded, gives each test example as many thoughts as its gold chain has steps).

Node supervision (`--supervision next-node|frontier-node`, "Reasoning by Superposition" on ProsQA with
`neighbor_k`) trains the thoughts differently, as that paper's code does. An example of L steps at stage
j = min(stage, L) (with probability uniform_prob one drawn from 0..min(stage, L)) is
    j < L:  Q <latent>xj  ->  one node at depth j+1: on a shortest path (next-node) or any (frontier-node)
    j = L:  Q <latent>xL [A]  ->  target
with loss on that one token, no bot/eot markers and c = 1 whatever --c says. At inference the prompt is
Q <latent>xL [A] (L = the example's own number of steps, as that code does; --k fixes it) and one token
is generated.
"""

from __future__ import annotations

from cocobench.errors import CocobenchError
from cocobench.methods.base import Method, TrainSequence, build_sequence


class Coconut(Method):
    name = "coconut"
    description = "continuous thoughts: Q bot <latent>x(k*c) eot S_{k+1}..S_n A at stage k, with the multi-stage curriculum"
    thought_feed = "hidden"
    takes_k = True
    node_supervised = True

    @property
    def thought_id(self) -> int:
        return self.ids.latent

    @property
    def node_supervision(self) -> bool:
        return getattr(self.cfg, "supervision", None) in ("next-node", "frontier-node")

    @property
    def answer_in_prompt(self) -> bool:
        return self.node_supervision

    def check_config(self) -> None:
        super().check_config()
        if self.node_supervision and self.cfg.latent_stop == "classifier":
            raise CocobenchError(f"--supervision {self.cfg.supervision} gives each example as many thoughts as its steps; use --latent-stop fixed")

    @property
    def final_stage(self) -> int:
        """The first stage with every step removed (past max_latent_stage)."""
        return self.cfg.max_latent_stage + 1

    def stage(self, epoch: int, batches_per_epoch: int | None = None) -> int:
        return epoch // self.cfg.epochs_per_stage

    def schedule_position(self, epoch: int, batch_index: int, batches_per_epoch: int) -> int:
        return min(self.stage(epoch), self.final_stage)  # stages past the final one train on the same data

    def example_stage(self, epoch: int, n_steps: int, rng) -> int:
        """The stage this example is trained at: the scheduled one, or (with probability uniform_prob)
        one drawn uniformly from 0..#steps, which mixes earlier stages into the data (paper's analysis model)."""
        if self.cfg.uniform_prob > 0 and rng.random() < self.cfg.uniform_prob:
            return rng.randrange(n_steps + 1)
        return self.stage(epoch)

    def thoughts_and_removed(self, stage: int, n_steps: int) -> tuple[int, int]:
        """(number of thoughts, number of leading steps removed) at `stage` for an n-step example."""
        cfg = self.cfg
        if stage > cfg.max_latent_stage:
            return (cfg.max_latent_stage if cfg.pad_latent_to_max else min(n_steps, cfg.max_latent_stage)) * cfg.c, n_steps
        return (stage if cfg.pad_latent_to_max else min(stage, n_steps)) * cfg.c, min(stage, n_steps)

    def thought_block(self, n: int) -> tuple[int, ...]:
        return (self.ids.bot,) + (self.thought_id,) * n + (self.ids.eot,)

    def train_sequence(self, example, *, epoch, batch_index, batches_per_epoch, rng) -> TrainSequence:
        seg = self.segments(example)
        stage = self.example_stage(epoch, len(seg.steps), rng)
        n_thoughts, n_removed = self.thoughts_and_removed(stage, len(seg.steps))
        language = tuple(token for step in seg.steps[n_removed:] for token in step)
        return build_sequence(seg.question, self.thought_block(n_thoughts), language + seg.answer)

    def check_data(self, task: str, examples) -> None:
        super().check_data(task, examples)
        if self.node_supervision and any("neighbor_k" not in example for example in examples):
            raise CocobenchError(f"--supervision {self.cfg.supervision} needs ProsQA examples with neighbor_k; "
                                 "make them with `cocobench gen prosqa --format symbolic` or `cocobench data convert`")

    # --- node supervision ("Reasoning by Superposition") ---
    def training_sequence(self, example, *, epoch, batch_index, batches_per_epoch, rng) -> TrainSequence:
        if not self.node_supervision:
            return super().training_sequence(example, epoch=epoch, batch_index=batch_index, batches_per_epoch=batches_per_epoch, rng=rng)
        return self.node_sequence(example, epoch, rng)

    def node_sequence(self, example, epoch: int, rng) -> TrainSequence:
        """The one-token-target sequence of the module docstring; its random draws in the anchor's order
        (uniform stage, then the prompt's shuffles, then the node)."""
        from cocobench.tasks import prosqa_symbolic

        if "neighbor_k" not in example:
            raise CocobenchError(f"--supervision {self.cfg.supervision} needs ProsQA examples with neighbor_k; "
                                 "make them with `cocobench gen prosqa --format symbolic` or `cocobench data convert`")
        n_steps = len(example["neighbor_k"]) - 1
        scheduled = min(self.stage(epoch), n_steps)
        drawn = rng.random() < self.cfg.uniform_prob  # drawn even at 0, as the anchor does
        j = rng.randint(0, scheduled) if drawn else scheduled
        example = self.augmented(example, rng)
        question = self.segments(example).question
        if j == n_steps:
            return build_sequence(question, (self.thought_id,) * j + self.encode(self.format.answer_start), self.encode(example["answer"]))
        if self.cfg.supervision == "next-node":
            nodes = example["neighbor_k"][str(j + 1)]
        else:
            nodes = prosqa_symbolic.frontier(example["edges"], example["root"], j + 1)
        return build_sequence(question, (self.thought_id,) * j, self.encode(str(rng.choice(nodes))))

    def generation_limit(self, max_new_tokens: int) -> int:
        return 1 if self.node_supervision else max_new_tokens  # node supervision answers with one token

    @property
    def default_k(self) -> int:
        return self.cfg.max_latent_stage * self.cfg.c

    def inference_prompt(self, example, *, k=None) -> list[int]:
        """Q bot <latent>xK eot; with the stop classifier (and no explicit k) Q bot, and the engine decides.
        Node supervision: Q <latent>xL [A] (L: the example's steps) or Q <latent>xk [A]."""
        question = list(self.segments(example).question)
        if self.node_supervision:
            n = len(example["steps"]) if k is None else self.check_k(k)
            return question + [self.thought_id] * n + list(self.encode(self.format.answer_start))
        if k is None and self.cfg.latent_stop == "classifier":
            return question + [self.ids.bot]
        n = self.default_k if k is None else self.check_k(k)
        return question + list(self.thought_block(n))

    def step_prompt(self, example, *, k: int) -> list[int]:
        """Node supervision trains `Q <latent>xk` to name a node at depth k+1, so the step starts before [A]."""
        if self.node_supervision:
            return list(self.segments(example).question) + [self.thought_id] * self.check_k(k)
        return super().step_prompt(example, k=k)

    def validation_k(self, epoch: int) -> int | None:
        if self.cfg.latent_stop == "classifier" or self.node_supervision:  # node supervision validates as it tests
            return None
        return min(self.stage(epoch), self.cfg.max_latent_stage) * self.cfg.c


class CoconutNoCurriculum(Coconut):
    name = "coconut-no-curriculum"
    description = "Coconut without the curriculum: the final stage (Q bot <latent>x(max_latent_stage*c) eot A) from epoch 0"

    def stage(self, epoch: int, batches_per_epoch: int | None = None) -> int:
        return self.final_stage


METHODS = (Coconut, CoconutNoCurriculum)
