"""Sequence lengths against the model's positions, checked once before any work (run and eval).

A GPT-2 model has a fixed number of position embeddings (`n_positions`, 1024 for the presets); a
sequence past it fails deep inside the forward pass, hours into a run. The longest sequence a run
builds is the longest training sequence (question, thoughts or pauses, steps, answer) or the longest
inference prompt (question, thoughts or pauses) plus `max_new_tokens` generated tokens.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

from cocobench.errors import CocobenchError
from cocobench.examples import Example
from cocobench.progress import log


def model_positions(model) -> int | None:
    """The model's number of positions (n_positions / max_position_embeddings); None if it has no limit."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    for name in ("n_positions", "max_position_embeddings"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_sequence_lengths(cfg, model, method, *, train: Sequence[Example] = (), evaluate: Sequence[Example] = (), source: str | None = None) -> None:
    """Raise a one-line error naming the option to lower when a training sequence, or an inference
    prompt (with the thoughts inference uses: cfg.k, or the method's default) plus cfg.max_new_tokens,
    would not fit the model's positions. The one owner of --k's bound: more thoughts than training used
    are allowed (with a note) as long as they fit. `source` (`tokenized.data_source` of `train` and
    `evaluate`): large data that passed this check before, with these settings, is not measured again."""
    positions = model_positions(model)
    if positions is not None:
        passed = _passed_marker(cfg, method, positions, source, len(train), len(evaluate)) if source is not None else None
        if passed is None or not passed.is_file():
            lengths = list(_train_lengths(cfg, method, train))
            if lengths:
                i, longest = max(lengths, key=lambda item: item[1])
                if longest > positions:
                    _fail(positions, longest, f"the longest training sequence (train example {i})", _train_fix(cfg, method))
            if evaluate:
                _check_inference(cfg, method, evaluate, positions)
            if passed is not None:  # only a check that passed is remembered: bad data fails the same way every time
                _record_pass(passed)
    if cfg.k is not None and method.takes_k:
        trained = getattr(method, "pauses", None) or getattr(method, "default_k", cfg.max_thoughts_allowed)
        if cfg.k > trained:
            log(f"note: --k {cfg.k} thoughts at inference; the model was trained with at most {trained}", cfg.quiet)


# Settings that no sequence length depends on (how a run computes, logs and where it writes; the seed:
# the check draws nothing). Any other setting, changed, measures the lengths again.
NOT_LENGTH_SETTINGS = frozenset({"out", "quiet", "resume", "overwrite", "wandb", "tensorboard", "eval_batch_size", "precision", "fsdp",
                                 "data", "columns", "warmup", "suite_stage", "seed"})  # fmt: skip
SEQUENCE_CODE = ("methods", "lengths.py", "tokenizer.py")  # what builds the sequences: an edit there measures again


def _passed_marker(cfg, method, positions: int, source: str, n_train: int, n_evaluate: int):
    """The cache file saying that these examples' sequences fitted `positions` with this method, its
    settings, tokenizer and sequence code; None where nothing is cached (small data, a tokenizer
    without a fast form), as for the tokenized file."""
    import dataclasses
    import hashlib
    from pathlib import Path

    from cocobench import tokenized
    from cocobench.io import json_fingerprint

    tokenizer = tokenized.tokenizer_fingerprint(method.tokenizer)
    if n_train + n_evaluate < max(tokenized.MIN_CACHED_EXAMPLES, 1) or tokenizer is None:
        return None
    settings = dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else dict(vars(cfg))
    code = hashlib.sha256()
    root = Path(__file__).parent
    for name in SEQUENCE_CODE:
        for file in sorted((root / name).glob("*.py")) if (root / name).is_dir() else [root / name]:
            code.update(file.read_bytes())
    key = json_fingerprint({"source": source, "examples": [n_train, n_evaluate], "positions": positions, "method": method.name,
                            "tokenizer": tokenizer, "format": repr(method.format), "ids": repr(method.ids), "code": code.hexdigest(),
                            "settings": {name: value for name, value in settings.items() if name not in NOT_LENGTH_SETTINGS}})  # fmt: skip
    return tokenized.cache_dir() / f"lengths-fit-{key.split(':')[1][:32]}"


def _record_pass(marker) -> None:
    from cocobench.io import atomic_write_text

    try:
        atomic_write_text(marker, "passed\n")
    except (OSError, CocobenchError):  # a cache that cannot be written (or a full disk): measured again next time
        pass


def _check_inference(cfg, method, examples: Sequence[Example], positions: int) -> None:
    """The longest inference sequence (question, thoughts or pauses with their bot/eot, generation)."""
    k = cfg.k
    sizes = []
    for i, example in enumerate(examples):
        question = len(method.segments(example).question)
        prompt, extra = _prompt_length(cfg, method, example, k)
        sizes.append((prompt + extra + cfg.max_new_tokens, i, question, prompt - question + extra))
    total, i, question, thoughts = max(sizes, key=lambda size: size[0])  # the first of the longest
    if total <= positions:
        return
    if k is not None and method.takes_k:  # an explicit --k: say how many would fit
        prompt = total - cfg.max_new_tokens - k  # the longest prompt without its thoughts
        room = positions - prompt - cfg.max_new_tokens
        fix = f"use --k {room} or fewer" if room >= 0 else "lower --max-new-tokens"
        raise CocobenchError(f"--k {k} does not fit the model's context of {positions} positions: the longest prompt ({prompt} tokens) "
                             f"+ {k} thoughts + --max-new-tokens {cfg.max_new_tokens} = {total}; {fix}")
    parts = {"--max-new-tokens": cfg.max_new_tokens, _thought_option(cfg, method, k): thoughts}
    option = max(parts, key=parts.get) if max(parts.values()) >= question else "the questions' length (or use a model with more positions)"
    what = f"evaluation example {i}'s prompt plus generation (question {question} + thoughts/pauses {thoughts} + --max-new-tokens {cfg.max_new_tokens})"
    _fail(positions, total, what, option)


def _fail(positions: int, length: int, what: str, option: str) -> None:
    raise CocobenchError(f"{what} is {length} tokens, more than the model's {positions} positions; lower {option}")


def _prompt_length(cfg, method, example: Example, k: int | None) -> tuple[int, int]:
    """(inference prompt tokens, thoughts the engine adds after it): a prompt ending in bot (the stop
    classifier) thinks up to max_thoughts, then gets eot."""
    prompt = method.inference_prompt(example, k=k)
    if prompt and prompt[-1] == method.ids.bot and method.thought_feed is not None:
        return len(prompt), (cfg.max_thoughts or cfg.max_thoughts_allowed) + 1
    return len(prompt), 0


def _thought_option(cfg, method, k: int | None) -> str:
    if k is not None:
        return "--k"
    if method.name == "pause":
        return "--pause-tokens"
    if method.name.startswith("codi"):
        return "--codi-thoughts"
    if cfg.latent_stop == "classifier":
        return "--max-thoughts"
    return "--max-latent-stage (or --c)"


def _train_fix(cfg, method) -> str:
    if method.name == "pause":
        return "--pause-tokens, or shorten the examples"
    if method.name.startswith("codi"):
        return "--codi-thoughts, or shorten the examples (the teacher holds the chain of thought)"
    if hasattr(method, "thoughts_and_removed"):
        return "--max-latent-stage (or --c), or shorten the examples"
    return "the examples' length (or use a model with more positions)"


class _NoDraws:
    """An rng for measuring: never a uniform stage (Coconut), no extra tokens removed (iCoT)."""

    def random(self) -> float:
        return 0.0

    def randrange(self, n: int) -> int:
        return 0


def _train_lengths(cfg, method, examples: Iterable[Example]):
    """(index, longest training sequence of that example) over the stages a run can train at."""
    if hasattr(method, "thoughts_and_removed"):  # the Coconut family: each stage its own length
        scheduled = {method.stage(epoch) for epoch in range(cfg.epochs)}
        for i, example in enumerate(examples):
            seg = method.segments(example)
            stages = scheduled | (set(range(len(seg.steps) + 1)) if cfg.uniform_prob > 0 else set())
            yield i, max(_coconut_length(method, seg, stage) for stage in stages)
        return
    probe = copy.copy(method)  # train_sequence may note the batches per epoch (iCoT); keep the run's method untouched
    for i, example in enumerate(examples):
        sequence = probe.train_sequence(example, epoch=0, batch_index=0, batches_per_epoch=1, rng=_NoDraws())
        yield i, max(len(sequence.input_ids), len(getattr(sequence, "teacher_input_ids", ())))  # CODI's teacher runs too


def _coconut_length(method, seg, stage: int) -> int:
    n_thoughts, n_removed = method.thoughts_and_removed(stage, len(seg.steps))
    return len(seg.question) + n_thoughts + 2 + sum(len(step) for step in seg.steps[n_removed:]) + len(seg.answer)
