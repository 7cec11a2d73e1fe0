"""Multi-digit multiplication (D x D digits) in iCoT's format, fully generatable (docs/tasks.md).

Every number is written least-significant digit first, one digit per space-separated token, so a
model emits the product in the order long multiplication produces it. For a * b with b's digits
b_0 (least significant) .. b_{D-1}, the chain of thought is, part by part:

    p_0 + p_1 ( p_0+p_1 ) + p_2 ( p_0+p_1+p_2 ) + ... + p_{D-1}

where p_j = a * b_j * 10^j is zero-padded to D+1+j digits, the running sum in parentheses after
p_j (only for 0 < j < D-1) is padded the same way, and the answer is a * b padded to 2D digits.
One example step = one " + " part, so a D x D problem has D steps. The iCoT text line is
`question||chain #### answer` (`to_icot_line` / `from_icot_line` convert both ways).

Sizes: nothing fixes them for a generator. The iCoT release's 4x4 valid file has 1,000 lines, and the test file
as many; its train file is far larger (hundreds of thousands of lines, kept in Git LFS there). The
default train split here is 80,000: about 1/1000 of the 81 million 4x4 problems, enough for a small
model, and quick to generate and tokenize. `--train 808000` approaches iCoT's scale.
Operands have exactly D digits (leading digit nonzero), as in the iCoT files.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cocobench.errors import CocobenchError
from cocobench.examples import Example
from cocobench.tasks.base import Task, check_sizes, generation_order, report_progress, write_default_splits
from cocobench.tasks.generator import GeneratorSettings, gen_setting, out_setting, overwrite_setting, seed_setting, split_setting

VERSION = "1"

DIGITS = 4  # iCoT's smallest benchmark (4x4); its others are 5x5, 7x7 and 9x9
DEFAULT_SIZES = (80000, 1000, 1000)  # train, valid, test (see the module docstring)
MAX_DIGITS = 20  # stepwise internalization's largest (20x20); its chains already fill about 1,000 tokens

_DIGIT_GROUP = r"\d(?: \d)*"
_QUESTION = re.compile(rf"^({_DIGIT_GROUP}) \* ({_DIGIT_GROUP})$")
_STEP = re.compile(rf"^({_DIGIT_GROUP})(?: \( ({_DIGIT_GROUP}) \))?$")


# ----------------------------------------------------------------------------------------------
# Numbers as iCoT writes them


def reversed_digits(n: int, width: int) -> str:
    """`n` zero-padded to `width` digits, least-significant first: (33471, 5) -> '1 7 4 3 3'."""
    return " ".join(str(n).zfill(width)[::-1])


def read_reversed(text: str) -> int:
    """Inverse of `reversed_digits`: '1 7 4 3 3' -> 33471."""
    return int(text.replace(" ", "")[::-1])


def digit_count(text: str) -> int:
    return len(text.replace(" ", ""))


# ----------------------------------------------------------------------------------------------
# Generation


def render_example(a: int, b: int, digits: int) -> Example:
    """The question, the D steps (partial products with running sums) and the answer of a * b."""
    steps, total = [], 0
    for j, b_j in enumerate(reversed_digits(b, digits).split()):
        partial = a * int(b_j) * 10**j
        total += partial
        step = reversed_digits(partial, digits + 1 + j)
        if 0 < j < digits - 1:  # the first and last parts carry no running sum in iCoT's layout
            step += f" ( {reversed_digits(total, digits + 1 + j)} )"
        steps.append(step)
    return {
        "question": f"{reversed_digits(a, digits)} * {reversed_digits(b, digits)}",
        "steps": steps,
        "answer": reversed_digits(a * b, 2 * digits),
    }


def capacity(digits: int) -> int:
    """How many distinct D x D questions exist (operands with a nonzero leading digit)."""
    return (9 * 10 ** (digits - 1)) ** 2


def validate_knobs(digits: int, sizes: dict[str, int]) -> None:
    """Reject impossible settings before any work (one line, names the fix)."""
    if digits < 1:
        raise CocobenchError(f"--digits must be at least 1, got {digits}")
    if digits > MAX_DIGITS:
        raise CocobenchError(f"--digits must be at most {MAX_DIGITS} (longer chains do not fit a 1024-position model), got {digits}")
    check_sizes(sizes)
    total, available = sum(sizes.values()), capacity(digits)
    if total > available:
        raise CocobenchError(
            f"{total} examples requested but only {available} distinct {digits}x{digits} questions exist; "
            f"lower the split sizes or raise --digits"
        )


def generate_splits(
    seed: int,
    sizes: dict[str, int],
    digits: int = DIGITS,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, list[Example]]:
    """Splits of the requested sizes, deterministic for `seed`; no question appears twice.

    As for ProsQA, each split has its own random stream and test is drawn first, then valid, then
    train, skipping questions already drawn: the test set does not depend on the train size.
    `progress(split, n)` is told about every n new examples.
    """
    validate_knobs(digits, sizes)
    low, high = 10 ** (digits - 1), 10**digits - 1
    seen: set[tuple[int, int]] = set()
    splits: dict[str, list[Example]] = {}
    for split in generation_order(sizes):
        rng = random.Random(f"mult-{VERSION}-{seed}-{digits}-{split}")
        examples: list[Example] = []
        while len(examples) < sizes[split]:
            pair = (rng.randint(low, high), rng.randint(low, high))
            if pair in seen:
                continue
            seen.add(pair)
            examples.append(render_example(*pair, digits))
            report_progress(progress, split, len(examples), sizes[split])
        splits[split] = examples
    return {split: splits[split] for split in sizes}


def meta(seed: int, sizes: dict[str, int], digits: int = DIGITS) -> dict:
    """meta.json for `write_splits`: what made the files, enough to make them again."""
    return {"generator": "mult", "version": VERSION, "seed": seed, "params": {**sizes, "digits": digits}}


def generate_default(out_dir: Path, seed: int = 0) -> None:
    """Write the default 4x4 splits (80000 / 1000 / 1000) into out_dir, as `cocobench gen mult` does."""
    write_default_splits(out_dir, TASK.default_sizes, generate_splits, meta, seed)


@dataclass
class MultSettings(GeneratorSettings):
    """Generate D x D multiplication train/valid/test splits (iCoT's format), deterministic for --seed."""

    out: Path | None = out_setting("mult")
    overwrite: bool = overwrite_setting()
    digits: int = gen_setting(DIGITS, f"Digits of each operand, D in D x D (iCoT: 4, 5, 7, 9; at most {MAX_DIGITS}).")
    seed: int = seed_setting()
    train: int = split_setting(DEFAULT_SIZES[0], "Number of training examples (iCoT's own train files are far larger).")
    valid: int = split_setting(DEFAULT_SIZES[1], "Number of validation examples (iCoT: 1000).")
    test: int = split_setting(DEFAULT_SIZES[2], "Number of test examples (iCoT: 1000); independent of --train.")

    def task_name(self) -> str:
        return TASK.name

    def check_together(self) -> None:
        validate_knobs(self.digits, self.sizes)  # --digits' range, and enough distinct questions for the sizes

    def splits(self, progress: Callable[[str, int], None]) -> dict[str, list[Example]]:
        return generate_splits(self.seed, self.sizes, self.digits, progress=progress)

    def meta(self) -> dict:
        return meta(self.seed, self.sizes, self.digits)

    def summary_note(self) -> str:
        return f" ({self.digits}x{self.digits} digits)"


# ----------------------------------------------------------------------------------------------
# iCoT text lines


def to_icot_line(example: Example) -> str:
    """`question||part + part ... #### answer` (no newline), the layout of iCoT's data files."""
    return f"{example['question']}||{' + '.join(example['steps'])} #### {example['answer']}"


def from_icot_line(line: str, where: str = "line") -> Example:
    """Inverse of `to_icot_line`; CocobenchError naming `where` when the line is not in that layout."""
    question, bar, rest = line.partition("||")
    chain, hashes, answer = rest.partition(" #### ")
    if not bar or not hashes or not question.strip():
        raise CocobenchError(f"{where}: expected 'question||part + part ... #### answer'")
    return {"question": question, "steps": chain.split(" + "), "answer": answer}


# ----------------------------------------------------------------------------------------------
# Checking


def _padding_problem(what: str, text: str, expected_width: int) -> list[str]:
    if digit_count(text) != expected_width:
        return [f"{what} has {digit_count(text)} digits; expected {expected_width} (zero-padded)"]
    return []


def _step_problems(j: int, step: str, a: int, b_j: int, total: int, digits: int) -> list[str]:
    """Problems of step j+1: its partial product a * b_j * 10^j, and the running sum when due."""
    where = f"step {j + 1} {step!r}"
    match = _STEP.match(step)
    if not match:
        return [f"{where} is not reversed digits optionally followed by '( running sum )'"]
    partial, running = match.groups()
    expected = a * b_j * 10**j
    problems = _padding_problem(where, partial, digits + 1 + j)
    if read_reversed(partial) != expected:
        problems.append(f"{where}: partial product reads {read_reversed(partial)}; {a} x {b_j} x 10^{j} = {expected}")
    if (running is not None) != (0 < j < digits - 1):
        problems.append(f"{where}: a running sum in parentheses belongs after every part but the first and last")
    elif running is not None:
        problems += _padding_problem(f"{where} running sum", running, digits + 1 + j)
        if read_reversed(running) != total:
            problems.append(f"{where}: running sum reads {read_reversed(running)}; the partial products so far add up to {total}")
    return problems


def check_example(example: Example) -> list[str]:
    """Problems with one multiplication example (empty list = valid): every step's arithmetic and the answer."""
    for field, kind in (("question", str), ("answer", str), ("steps", list)):
        if not isinstance(example.get(field), kind):
            return [f"field '{field}' missing or not a {kind.__name__}"]
    match = _QUESTION.match(example["question"])
    if not match:
        return ["question must be two reversed, space-separated digit groups joined by ' * '"]
    a_text, b_text = match.groups()
    digits = digit_count(a_text)
    if digit_count(b_text) != digits:
        return [f"operands have {digits} and {digit_count(b_text)} digits; a D x D problem needs the same number"]
    a, b_digits = read_reversed(a_text), [int(d) for d in b_text.split()]
    if len(example["steps"]) != digits:
        return [f"{len(example['steps'])} steps; a {digits}x{digits} problem has {digits} (one per digit of the second operand)"]
    problems, total = [], 0
    for j, (step, b_j) in enumerate(zip(example["steps"], b_digits)):
        total += a * b_j * 10**j
        problems += _step_problems(j, step, a, b_j, total, digits) if isinstance(step, str) else [f"step {j + 1} is not a string"]
    return problems + _answer_problems(example["answer"], a * read_reversed(b_text), digits)


def _answer_problems(answer: str, product: int, digits: int) -> list[str]:
    if not re.fullmatch(_DIGIT_GROUP, answer):
        return [f"answer {answer!r} is not reversed, space-separated digits"]
    problems = _padding_problem("answer", answer, 2 * digits)
    if read_reversed(answer) != product:
        problems.append(f"answer reads {read_reversed(answer)}; the product is {product}")
    return problems


def recognizes(example: Example) -> bool:
    return isinstance(example.get("question"), str) and _QUESTION.match(example["question"]) is not None


def extra_stats(examples: list[Example]) -> dict:
    """Operand sizes for `data stats` (a file may mix D x D sets)."""
    digits = Counter(digit_count(m.group(1)) for ex in examples if (m := _QUESTION.match(str(ex.get("question")))))
    return {"digits_histogram": {str(d): digits[d] for d in sorted(digits)}} if digits else {}


TASK = Task(
    name="mult",
    description="Multi-digit multiplication (D x D), digits reversed, one partial product per step (iCoT)",
    check=check_example,
    recognizes=recognizes,
    extra_stats=extra_stats,
    default_sizes=DEFAULT_SIZES,
    generate_default=generate_default,
    version=VERSION,
    generator=MultSettings,
    table_column=3,
)
