"""What every method provides: an example (at a curriculum stage) -> token ids and loss mask, the
inference prompt, and when the trainer should reset its optimizer (docs/methods.md).

Every training sequence is three blocks, tokenized segment by segment as the official code does:

    question    `question + "\\n"`                                        labels -100
    no-loss     bot / `<|latent|>` / `<|pause|>` / eot tokens (may be empty)   labels -100
    loss        the steps still in language (`step + "\\n"` each), `"### " + answer`, EOS   labels = ids

Labels follow the Hugging Face convention (labels[t] == input_ids[t], the model shifts them), so the
prediction made at position t-1 is scored against labels[t]. No BOS is added: GPT-2 has none, and the
word-level tokenizer has none.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from cocobench.errors import CocobenchError
from cocobench.examples import Example
from cocobench.sequences import IGNORE, TrainSequence
from cocobench.tokenizer import TokenIds, sequence_format, token_ids

AUGMENTED = "_augmented"  # marks an example's training-time view (never cached: each one is drawn anew)


@dataclass(frozen=True)
class Segments:
    """An example's token ids, segment by segment (tokenized once, reused every epoch)."""

    question: tuple[int, ...]  # question + "\n"
    steps: tuple[tuple[int, ...], ...]  # each step + "\n"
    answer: tuple[int, ...]  # "### " + answer, then EOS

    @property
    def chain(self) -> tuple[int, ...]:
        """The chain of thought as one token sequence (what iCoT removes tokens from)."""
        return tuple(itertools.chain.from_iterable(self.steps))


def build_sequence(question: Sequence[int], no_loss: Sequence[int], loss: Sequence[int]) -> TrainSequence:
    """question | no-loss block | loss block, with labels only on the loss block."""
    input_ids = [*question, *no_loss, *loss]
    labels = [IGNORE] * (len(question) + len(no_loss)) + list(loss)
    return TrainSequence(input_ids, labels)


def stop_targets(input_ids: Sequence[int], ids: TokenIds) -> list[int]:
    """Targets of the latent stop classifier, one per position: 1 where thinking should end, 0 where it
    should go on, IGNORE elsewhere.

    The classifier reads the last hidden state at the bot position and at each `<|latent|>` position;
    that hidden state is what the next thought would be made of, so the target is 1 exactly at the
    position followed by eot (the last latent, or bot itself when there are no thoughts). A bot whose
    latent run is not closed by eot (an inference prompt) gets no targets.
    """
    if hasattr(input_ids, "tolist"):
        input_ids = input_ids.tolist()
    targets = [IGNORE] * len(input_ids)
    i = 0
    while i < len(input_ids):
        if input_ids[i] != ids.bot:
            i += 1
            continue
        last = i  # the last position of the bot-latent run
        while last + 1 < len(input_ids) and input_ids[last + 1] == ids.latent:
            last += 1
        if last + 1 < len(input_ids) and input_ids[last + 1] == ids.eot:
            targets[i:last] = [0] * (last - i)
            targets[last] = 1
        i = last + 1
    return targets


class Method:
    """Base class: a method formats examples; subclasses override what differs.

    `thought_feed` tells the latent engine what goes in at `<|latent|>` positions: "hidden" (continuous
    thoughts, n+1 passes), "pause" (the fixed `<|pause|>` embedding, n+1 passes), or None (the method's
    sequences hold no `<|latent|>` tokens: one ordinary pass).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""  # one line, for `--help` and the README
    thought_feed: ClassVar[str | None] = None
    takes_k: ClassVar[bool] = False  # whether the inference prompt holds a number of thoughts or pauses
    uses_steps: ClassVar[bool] = True  # whether training reads the reasoning chain (augmentation redraws it)
    node_supervised: ClassVar[bool] = False  # whether --supervision next-node|frontier-node applies (Coconut's thoughts)

    def __init__(self, cfg, tokenizer):
        self.cfg = cfg
        self.tokenizer = tokenizer
        self.ids = token_ids(tokenizer)
        self.format = sequence_format(tokenizer)
        self._segments: dict[tuple, Segments] = {}
        self.check_config()

    # --- settings ---
    def check_config(self) -> None:
        """Reject settings that contradict this method, before any work starts."""
        if self.cfg.k is not None:
            self.check_k(self.cfg.k)
        supervision = getattr(self.cfg, "supervision", None)
        if supervision not in (None, "rest-of-chain") and not self.node_supervised:
            raise CocobenchError(f"--supervision {supervision} trains continuous thoughts, which method '{self.name}' does not have; "
                                 "drop it, or use coconut, coconut-no-curriculum, pause-as-thought or pause-multipass")
        if self.cfg.latent_stop == "classifier" and self.thought_feed is None:
            raise CocobenchError(
                f"--latent-stop classifier needs continuous thoughts, which method '{self.name}' does not have; "
                "use --latent-stop fixed, or a method such as coconut, coconut-no-curriculum or pause-multipass"
            )

    def check_data(self, task: str, examples: Sequence[Example]) -> None:
        """Reject data this method's settings cannot train on, before any work starts."""
        if getattr(self.cfg, "augment", None) and task not in ("prosqa", "prosqa-symbolic"):
            raise CocobenchError(f"--augment redraws ProsQA's fact and option order; task '{task}' has none: drop --augment")
        if examples and self.format.one_token_answer != (task == "prosqa-symbolic"):
            raise CocobenchError(f"this model's tokenizer is {'symbolic' if self.format.one_token_answer else 'a language one'} and task "
                                 f"'{task}' is not; start from a checkpoint trained on the same kind of data")

    def check_k(self, k: int) -> int:
        if not self.takes_k and k != 0:
            raise CocobenchError(f"--k sets the number of thoughts at inference, and method '{self.name}' has none; drop --k (or pass 0)")
        if k < 0:
            raise CocobenchError(f"--k must be 0 or more thoughts, got {k}")
        return k

    # --- tokenization ---
    def encode(self, text: str, *, add_special_tokens: bool = False) -> tuple[int, ...]:
        return tuple(self.tokenizer.encode(text, add_special_tokens=add_special_tokens))

    def segments(self, example: Example) -> Segments:
        """The example's token ids by segment; cached, except for augmented views (each one is new)."""
        if example.get(AUGMENTED):
            return self._tokenize(example)
        key = (example["question"], tuple(example["steps"]), example["answer"])
        if key not in self._segments:
            self._segments[key] = self._tokenize(example)
        return self._segments[key]

    def _tokenize(self, example: Example) -> Segments:
        fmt = self.format
        return Segments(
            # The question alone gets the tokenizer's special tokens, as in the authors' code: a BOS for
            # Llama-style tokenizers and the symbolic one (`<eos>`); none for GPT-2's or the word-level one.
            question=self.encode(example["question"] + fmt.question_end, add_special_tokens=True),
            steps=tuple(self.encode(step + fmt.step_end) for step in example["steps"]),
            answer=self.encode(fmt.answer_start + example["answer"]) + (self.ids.eos,),
        )

    # --- training-time augmentation ---
    def augments(self, example: Example) -> bool:
        """--augment, or by default on for symbolic ProsQA (the anchor always redraws)."""
        from cocobench.tasks.prosqa_symbolic import is_symbolic

        augment = getattr(self.cfg, "augment", None)
        return is_symbolic(example) if augment is None else augment

    def augmented(self, example: Example, rng) -> Example:
        """The example as trained on this time: ProsQA's facts (edges) and two options in a fresh order
        and, for methods that read the chain, symbolic ProsQA's shortest path drawn anew. The draws come
        from the trainer's seeded per-epoch `rng`, so a resumed run sees the same views."""
        if not self.augments(example):
            return example
        from cocobench.tasks import prosqa, prosqa_symbolic

        if prosqa_symbolic.is_symbolic(example):
            view = prosqa_symbolic.shuffle_prompt(example, rng)
            if self.uses_steps:
                view = prosqa_symbolic.draw_path(view, rng)
        else:
            view = prosqa.shuffle_question(example, rng)
        return {**view, AUGMENTED: True}

    # --- schedule ---
    def stage(self, epoch: int, batches_per_epoch: int | None = None) -> int:
        """Curriculum stage of `epoch` (0 for methods without a curriculum)."""
        return 0

    def schedule_position(self, epoch: int, batch_index: int, batches_per_epoch: int) -> Hashable:
        """What the training data depends on at this batch; the optimizer is reset when it changes."""
        return self.stage(epoch, batches_per_epoch)

    def reset_optimizer(self, *, epoch: int, batch_index: int, batches_per_epoch: int) -> bool:
        """True: the trainer builds a fresh AdamW before this batch.

        "stage" (the paper): whenever the training data's schedule changes (Coconut's stage switches,
        iCoT's removal increases; never for methods without a schedule). "epoch" (the official Coconut
        code): at every epoch start. "never". Nothing to reset before the very first batch.
        """
        mode = self.cfg.reset_optimizer
        if mode == "never":
            return False
        if mode == "epoch":
            return batch_index == 0 and epoch > 0
        if mode != "stage":
            raise ValueError(f"unknown reset_optimizer mode {mode!r}")
        step = epoch * batches_per_epoch + batch_index
        if step == 0:
            return False
        previous = divmod(step - 1, batches_per_epoch)
        return self.schedule_position(epoch, batch_index, batches_per_epoch) != self.schedule_position(*previous, batches_per_epoch)

    # --- formatting ---
    def train_sequence(self, example: Example, *, epoch: int, batch_index: int, batches_per_epoch: int, rng) -> TrainSequence:
        raise NotImplementedError

    def training_sequence(self, example: Example, *, epoch: int, batch_index: int, batches_per_epoch: int, rng) -> TrainSequence:
        """What the trainer trains on: the sequence of the example's augmented view (see `augmented`)."""
        return self.train_sequence(self.augmented(example, rng), epoch=epoch, batch_index=batch_index, batches_per_epoch=batches_per_epoch, rng=rng)

    def inference_prompt(self, example: Example, *, k: int | None = None) -> list[int]:
        """The prompt the model continues at inference (default: the question alone)."""
        if k is not None:
            self.check_k(k)
        return list(self.segments(example).question)

    def step_prompt(self, example: Example, *, k: int) -> list[int]:
        """The prompt with k thoughts after which the next reasoning step begins: what the latent probe
        extends (default: the inference prompt, which ends where the steps would start)."""
        return self.inference_prompt(example, k=k)

    answer_in_prompt: ClassVar[bool] = False  # the inference prompt ends with the answer marker (Coconut, node supervision)

    def read_answer(self, generated_text: str) -> str:
        """The prediction in a generation from this method's inference prompt (a prompt that ends with the
        answer marker, as Coconut's node supervision has, answers right after it)."""
        answered = self.format.answer_marker + " " if self.answer_in_prompt else ""
        return self.format.extract(answered + generated_text)

    def generation_limit(self, max_new_tokens: int) -> int:
        """New tokens to generate at inference (default: --max-new-tokens)."""
        return max_new_tokens

    def validation_k(self, epoch: int) -> int | None:
        """Thoughts to use when validating during `epoch` (None: the inference default).

        The official code validates each epoch with its current stage's number of thoughts.
        """
        return None

    def stop_targets(self, input_ids: Sequence[int]) -> list[int]:
        return stop_targets(input_ids, self.ids)

    # --- training hooks (defaults: one sequence per example, the plain cross-entropy) ---
    def collate(self, sequences: Sequence[TrainSequence], pad_id: int) -> dict:
        """The micro-batch the trainer hands to the engine's LatentLM (keyword arguments of its forward)."""
        from cocobench.batches import collate  # torch: imported when training, not at start-up

        return collate(sequences, pad_id)

    def loss_weights(self) -> dict | None:
        """Settings of an extra training loss in the engine (LatentLM's `codi`); None: cross-entropy only."""
        return None

    def prepare_model(self, model, seed: int) -> None:
        """Add or remove modules the method needs on the model (CODI's thought projection) before training."""
