"""CODI (Shen et al. 2025, docs/methods.md): a student that reasons in continuous thoughts learns, in one stage,
from a teacher that reasons in language, both the same model in the same batch.

From one example (A = the answer segment `"### " + answer` + EOS, as for every method):
    student   Q bot <latent>xN eot A                 loss on A only
    teacher   Q S_1..S_{n-1} A                         loss on everything after Q
The teacher drops its last step (keeping it lets the model copy the result: docs/methods.md); the variant
codi-keep-last-step keeps all of them. Each thought fed back goes through the model's thought
projection (engine.ThoughtProjection, created here by `prepare_model`; codi-no-projection has none).

Distillation position, in each sequence: the token whose next-token prediction is the first token that
carries answer text. It is found from the tokenizer alone, by decoding growing prefixes of the answer
segment: the first token j after which the decoded text holds more than (a part of) the `###` prompt
and spaces marks it, and the position is the token before j. With the word-level tokenizer (which
spells `###` as three `#` tokens) and with GPT-2's that is the last token of `###` (CODI's ":" of
"The answer is:"); a tokenizer that splits " A" into " " and "A" gets the " " token, one later (the
authors' rule for such tokenizers).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cocobench.batches import collate
from cocobench.errors import CocobenchError
from cocobench.methods.base import Method, TrainSequence, build_sequence

ANSWER_PROMPT = "###"  # the part of the answer segment before the answer text


@dataclass(frozen=True)
class CodiSequence(TrainSequence):
    """The student's sequence (input_ids, labels: what the length checks and stop targets read) with
    the teacher's beside it, and the distillation position in each."""

    teacher_input_ids: list[int]
    teacher_labels: list[int]
    student_position: int
    teacher_position: int


def answer_trigger(tokenizer, answer: tuple[int, ...], prompt: str = ANSWER_PROMPT) -> int:
    """Index in `answer` (the answer segment's ids) of the first token that carries answer text; the
    distillation position is the token before it. The EOS (last token) when no token does. `prompt`:
    what precedes the answer text (`###`; symbolic ProsQA's `[A]`)."""
    for j in range(len(answer)):
        text = tokenizer.decode(list(answer[: j + 1]), skip_special_tokens=True)
        if not prompt.startswith(text.strip()):  # more than (a part of) the prompt and spaces
            return j
    return len(answer) - 1


class Codi(Method):
    name = "codi"
    description = "CODI: student Q bot <latent>xN eot A distilled from teacher Q S_1..S_{n-1} A in one stage, thoughts through a projection"
    thought_feed = "hidden"
    takes_k = True
    distill = True  # the distillation loss (codi-no-distill: weight 0)
    projection = True  # the thought projection (codi-no-projection: none)
    keep_last_step = False  # the teacher's chain keeps its last step (codi-keep-last-step)

    def check_config(self) -> None:
        super().check_config()
        if self.cfg.latent_stop == "classifier":
            raise CocobenchError(f"method '{self.name}' trains a fixed number of thoughts (--codi-thoughts); use --latent-stop fixed")

    @property
    def default_k(self) -> int:
        return self.cfg.codi_thoughts

    def loss_weights(self) -> dict:
        """The engine's CODI loss settings (LatentLM's `codi`)."""
        return {"teacher_weight": self.cfg.codi_teacher_weight, "distill_weight": self.cfg.codi_distill_weight if self.distill else 0.0,
                "distance": self.cfg.codi_loss}

    def prepare_model(self, model, seed: int) -> None:
        """Give the model a thought projection (seeded) unless it has one (a CODI checkpoint); the
        no-projection variant removes one it was started from."""
        from cocobench.engine import attach_projection, thought_projection

        if not self.projection:
            attach_projection(model, None)
        elif thought_projection(model) is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                attach_projection(model, hidden_size(model))

    def thought_block(self, n: int) -> tuple[int, ...]:
        return (self.ids.bot,) + (self.ids.latent,) * n + (self.ids.eot,)

    def train_sequence(self, example, *, epoch, batch_index, batches_per_epoch, rng) -> CodiSequence:
        seg = self.segments(example)
        trigger = answer_trigger(self.tokenizer, seg.answer, self.format.answer_start.strip())
        student = build_sequence(seg.question, self.thought_block(self.cfg.codi_thoughts), seg.answer)
        steps = seg.steps if self.keep_last_step else seg.steps[:-1]
        chain = tuple(token for step in steps for token in step)
        teacher = build_sequence(seg.question, (), chain + seg.answer)
        answer_start = len(student.input_ids) - len(seg.answer)
        teacher_answer_start = len(teacher.input_ids) - len(seg.answer)
        return CodiSequence(student.input_ids, student.labels, teacher.input_ids, teacher.labels,
                            student_position=answer_start + trigger - 1, teacher_position=teacher_answer_start + trigger - 1)

    def collate(self, sequences, pad_id: int) -> dict[str, torch.Tensor]:
        """The student batch (input_ids, attention_mask, labels), the teacher batch (teacher_*), and
        the distillation position of each row in each (student_position, teacher_position; (B,))."""
        student = collate(sequences, pad_id)
        teacher = collate([TrainSequence(s.teacher_input_ids, s.teacher_labels) for s in sequences], pad_id)
        return {**student, **{f"teacher_{name}": t for name, t in teacher.items()},
                "student_position": torch.tensor([s.student_position for s in sequences]),
                "teacher_position": torch.tensor([s.teacher_position for s in sequences])}

    def inference_prompt(self, example, *, k=None) -> list[int]:
        """Q bot <latent>xK eot, K = --k or --codi-thoughts."""
        n = self.default_k if k is None else self.check_k(k)
        return list(self.segments(example).question) + list(self.thought_block(n))


class CodiNoDistill(Codi):
    name = "codi-no-distill"
    description = "CODI without the distillation loss (weight 0): student and teacher cross-entropy only"
    distill = False


class CodiNoProjection(Codi):
    name = "codi-no-projection"
    description = "CODI with the last hidden state fed back as it is (no thought projection)"
    projection = False


class CodiKeepLastStep(Codi):
    name = "codi-keep-last-step"
    description = "CODI whose teacher keeps its last CoT step: Q S_1..S_n A"
    keep_last_step = True


def hidden_size(model) -> int:
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    return config.hidden_size


METHODS = (Codi, CodiNoDistill, CodiNoProjection, CodiKeepLastStep)
