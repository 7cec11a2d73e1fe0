"""What is in a file of examples (`cocobench data stats|show|check`): pure functions, no printing.

Statistics are plain JSON-able dicts so that `data stats --json` and the table show the same numbers,
and a generated file can be compared side by side with the official one (its numbers: docs/tasks.md).
"""

from __future__ import annotations

import json
import math
import random
import textwrap
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cocobench.errors import CocobenchError
from cocobench.examples import Example
from cocobench.summaries import histogram, summary
from cocobench.tasks.base import Task

FEW_ANSWERS = 10  # up to this many distinct answers we show their distribution (True/False, A/B...)


# ----------------------------------------------------------------------------------------------
# Which task a file belongs to


def find_task(name: str) -> Task:
    """The registered task `name`; a registered task whose module is not installed is a user error too."""
    from cocobench import tasks

    try:
        return tasks.get_task(name)
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("cocobench.tasks."):
            raise
        available = [n for n in tasks.task_names() if _installed(n)]
        raise CocobenchError(f"task '{name}' is not available in this installation ({exc.name} is missing); available: {', '.join(available)}") from None


def _installed(name: str) -> bool:
    from cocobench import tasks

    try:
        tasks.get_task(name)
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("cocobench.tasks."):
            raise  # the task module exists but a dependency of it is missing: a real error
        return False
    return True


def detect(example: Example) -> Task | None:
    """The first installed task that recognises `example` (tasks still being written are skipped)."""
    from cocobench import tasks

    for name in tasks.task_names():
        if _installed(name) and (task := tasks.get_task(name)).recognizes(example):
            return task
    return None


def check_task_of(task: Task, example: Example, source: str) -> None:
    """Refuse a named task for data another task recognises (ProsQA data labelled ProntoQA): results and
    statistics would carry the wrong task. Data no task recognises may be named freely."""
    if task.recognizes(example):
        return
    detected = detect(example)
    if detected is not None and detected.name != task.name:
        raise CocobenchError(f"{source} holds {detected.name} data, not {task.name}: --task {task.name} does not recognise its first example; "
                             f"pass --task {detected.name} (or leave --task out), or other data")


def resolve_task(examples: Sequence[Example], name: str | None, file: str | Path = "the file") -> Task | None:
    """`--task` when given (refused for `file` when it holds another task's data), else detected from the
    first example; None when nothing recognises it."""
    if name is not None:
        task = find_task(name)
        if examples:
            check_task_of(task, examples[0], f"'{file}'")
        return task
    return detect(examples[0]) if examples else None


# ----------------------------------------------------------------------------------------------
# Statistics


def answer_balance(answers: Sequence[str]) -> dict[str, Any]:
    """How many distinct answers, and their distribution when there are few (e.g. True/False)."""
    counts = Counter(answers)
    distribution = {a: counts[a] for a in sorted(counts)} if len(counts) <= FEW_ANSWERS else None
    return {"distinct": len(counts), "distribution": distribution}


def file_stats(examples: Sequence[Example], task: Task | None) -> dict[str, Any]:
    """Everything `data stats` reports for one file, plus the task's own `extra_stats`."""
    from cocobench.tokenizer import pretokenize

    steps = [len(ex["steps"]) for ex in examples]
    return {
        "task": task.name if task else None,
        "examples": len(examples),
        "steps": {**(summary(steps) or {}), "histogram": histogram(steps)},
        "question_words": summary([len(ex["question"].split()) for ex in examples]),
        # Tokens of the default word-level tokenizer: what a training sequence's question costs.
        "question_tokens": summary([len(pretokenize(ex["question"])) for ex in examples]),
        "answers": answer_balance([ex["answer"] for ex in examples]),
        "extra": dict(task.extra_stats(list(examples))) if task and examples else {},
    }


# ----------------------------------------------------------------------------------------------
# Comparing two files feature by feature (`data compare`)

FLOOR_ROUNDS = 20  # random halvings averaged into the sampling floor: enough for a stable floor
FAR_ABOVE_FLOOR = 3.0  # a distance this many floors away is flagged...
NOTICEABLE = 0.02  # ...when it is also at least this large (a floor near 0 makes any ratio huge)


def example_features(examples: Sequence[Example], task: Task | None) -> dict[str, list]:
    """Per-example values, feature by feature: steps, question words, answer, then the task's own."""
    common: dict[str, list] = {
        "steps": [len(ex["steps"]) for ex in examples],
        "question_words": [len(ex["question"].split()) for ex in examples],
    }
    if len({ex["answer"] for ex in examples}) <= FEW_ANSWERS:
        common["answer"] = [ex["answer"] for ex in examples]
    return common | (dict(task.features(list(examples))) if task and examples else {})


def total_variation(a: Sequence[Any], b: Sequence[Any]) -> float:
    """Half the L1 distance between the two samples' empirical distributions (0 = same, 1 = disjoint)."""
    pa, pb = Counter(a), Counter(b)
    return 0.5 * sum(abs(pa[k] / len(a) - pb[k] / len(b)) for k in pa.keys() | pb.keys())


def sampling_floor(values: Sequence[Any], n_a: int, n_b: int, seed: int = 0) -> float:
    """The distance two samples of sizes n_a and n_b of one distribution typically have.

    `values` (the smaller file's) are split into random halves FLOOR_ROUNDS times; the halves' mean
    distance is scaled from two samples of len/2 to samples of n_a and n_b (sampling noise in a
    distance grows like sqrt(1/n_a + 1/n_b)).
    """
    rng, values = random.Random(seed), list(values)
    half = len(values) // 2
    distances = []
    for _ in range(FLOOR_ROUNDS):
        rng.shuffle(values)
        distances.append(total_variation(values[:half], values[half : 2 * half]))
    return sum(distances) / len(distances) * math.sqrt((1 / n_a + 1 / n_b) / (2 / half))


def compare_features(a: Sequence[Example], b: Sequence[Example], task: Task | None) -> list[dict[str, Any]]:
    """Per feature both files have: means, total-variation distance, sampling floor, flag."""
    if min(len(a), len(b)) < 2:
        raise CocobenchError("data compare needs at least 2 examples in each file (the floor splits one in halves)")
    fa, fb = example_features(a, task), example_features(b, task)
    rows = []
    for name in [n for n in fa if n in fb and fa[n] and fb[n]]:
        va, vb = fa[name], fb[name]
        smaller = va if len(va) <= len(vb) else vb
        distance = total_variation(va, vb)
        floor = sampling_floor(smaller, len(va), len(vb)) if len(smaller) >= 2 else 0.0
        numeric = all(isinstance(v, (int, float)) for v in va + vb)
        rows.append({
            "feature": name,
            "mean_a": round(sum(va) / len(va), 3) if numeric else None,
            "mean_b": round(sum(vb) / len(vb), 3) if numeric else None,
            "distance": round(distance, 4),
            "floor": round(floor, 4),
            "far": distance > FAR_ABOVE_FLOOR * floor and distance >= NOTICEABLE,
        })  # fmt: skip
    return rows


# ----------------------------------------------------------------------------------------------
# Checking


def check_examples(examples: Sequence[Example], task: Task, advance: Callable[[int], None] | None = None) -> list[tuple[int, list[str]]]:
    """(index, problems) of every invalid example, in file order.

    A checker that raises on a strange example (a missing field of another task) reports that as the
    example's problem instead of stopping the whole check.
    """
    bad = []
    for index, example in enumerate(examples):
        try:
            problems = list(task.check(example))
        except Exception as exc:  # noqa: BLE001 - any crash is a finding about this example
            problems = [f"the {task.name} checker failed on it ({type(exc).__name__}: {exc})"]
        if problems:
            bad.append((index, problems))
        if advance is not None:
            advance(1)
    return bad


# ----------------------------------------------------------------------------------------------
# Showing one example


def format_example(example: Example, width: int = 88) -> str:
    """Question wrapped, steps numbered, answer, then every other field as compact JSON on one line."""
    width = max(width, 40)
    indent = "  "
    lines = ["question:", textwrap.fill(example["question"], width, initial_indent=indent, subsequent_indent=indent)]
    lines.append(f"steps ({len(example['steps'])}):")
    number = len(str(len(example["steps"])))
    for i, step in enumerate(example["steps"], start=1):
        head = f"{indent}{i:>{number}}. "
        lines.append(textwrap.fill(step, width, initial_indent=head, subsequent_indent=" " * len(head)) or head.rstrip())
    lines.append(f"answer: {example['answer']}")
    for key, value in example.items():
        if key not in ("question", "steps", "answer"):
            lines.append(f"{key}: {value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}")
    return "\n".join(lines) + "\n"
