"""GSM8k-Aug: grade-school math with calculator-equation steps, loaded from iCoT's text files.

Nothing is generated or downloaded: the GSM8k-Aug train file cannot be obtained here, so the task
converts the user's files (`cocobench gen gsm --from DIR`). Each line of iCoT's format is

    question||<<16-3-4=9>> <<9*2=18>> #### 18

and becomes {"question", "steps" (the chain split on spaces), "answer" (stripped)}; `to_icot_line`
gives the line back. Some chains are empty (`question|| #### 26`), some answers carry thousands
commas (scoring removes them).

Checker tolerance, measured on the official valid (500) and test (1,319) files: their 5,855 steps
all have the `<<expression=value>>` shape; 5,854 evaluate to exactly their written value and one,
`<<3/4=3/4>>`, has an expression on the right (equal once evaluated); none is unevaluable. The
train file is larger and machine-made, so the rule is written for it: a step is a problem only when
it is not `<<...=...>>`, or when both sides evaluate and differ by more than rounding to the
precision the value is written with (`<<10/3=3.33>>` passes, `<<10/3=3.4>>` does not). A side that
cannot be evaluated (`%`, units, words, a leading-zero literal) is not a definite mismatch: it is
tolerated and counted in `data stats` as unevaluable. Answers must be numbers.
`recognizes` needs at least one calculator step: a numeric answer alone is too common a shape to
claim, so a file whose first example has an empty chain is checked with `--task gsm`.
"""

from __future__ import annotations

import ast
import contextlib
import math
import operator
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cocobench.errors import CocobenchError
from cocobench.examples import SPLITS, Example, write_data_dir
from cocobench.tasks.base import Task
from cocobench.tasks.generator import REQUIRED, GeneratorSettings, data_dir_lock, data_out_dir, gen_setting, out_setting, overwrite_setting, stderr_console

VERSION = "1"

LINE_FORMAT = "'question||<<step>> <<step>> ... #### answer'"
MAX_EXPONENT = 100  # larger powers are left unevaluated: no GSM step needs one, and 9**9**9 must not hang
RELATIVE_SLACK = 1e-9  # float noise: 0.1*3 is 0.30000000000000004

_STEP = re.compile(r"^<<(.+)=([^=]+)>>$")  # the last '=' separates expression and value
_NUMBER = re.compile(r"^-?(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.\d+)?$")  # 18, -3, 1,450,000, 5.5
_PLAIN = re.compile(r"^[-+]?[\d,]*\.?\d*$")  # a written value, not an expression: its decimals set the rounding
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")  # commas inside 1,000 (not between arguments)


# ----------------------------------------------------------------------------------------------
# iCoT text lines


def parse_line(line: str, where: str) -> Example:
    """One line of an iCoT file as an example; CocobenchError naming `where` (file:line) if malformed."""
    if "||" not in line:
        raise CocobenchError(f"{where}: no '||' between question and steps; expected {LINE_FORMAT}")
    question, rest = line.split("||", 1)
    if "||" in rest:
        raise CocobenchError(f"{where}: more than one '||'; expected {LINE_FORMAT}")
    if "####" not in rest:
        raise CocobenchError(f"{where}: no '####' before the answer; expected {LINE_FORMAT}")
    chain, answer = rest.split("####", 1)
    if "####" in answer:
        raise CocobenchError(f"{where}: more than one '####'; expected {LINE_FORMAT}")
    if not question.strip():
        raise CocobenchError(f"{where}: empty question before '||'; expected {LINE_FORMAT}")
    if not answer.strip():
        raise CocobenchError(f"{where}: empty answer after '####'; expected {LINE_FORMAT}")
    return {"question": question, "steps": chain.split(), "answer": answer.strip()}


def to_icot_line(example: Example) -> str:
    """The iCoT line of an example (no newline); `parse_line` reads it back unchanged."""
    return f"{example['question']}||{' '.join(example['steps'])} #### {example['answer']}"


def read_file(path: Path) -> list[Example]:
    """Every example of one iCoT text file; blank lines are skipped, the first bad line stops everything."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CocobenchError(f"{path}: not UTF-8 text; expected iCoT lines {LINE_FORMAT}") from None
    except OSError as exc:
        raise CocobenchError(f"cannot read '{path}': {exc.strerror}") from None
    # Split on '\n' only: str.splitlines would also break at form feeds or U+2028 inside a question.
    examples = [parse_line(line.rstrip("\r"), f"{path}:{n}") for n, line in enumerate(text.split("\n"), 1) if line.strip()]
    if not examples:
        raise CocobenchError(f"{path}: no examples; expected iCoT lines {LINE_FORMAT}")
    return examples


def find_sources(sources: Iterable[Path]) -> dict[str, Path]:
    """Split name -> file: a directory contributes its train/valid/test.txt, a file is named by its stem."""
    found: dict[str, Path] = {}
    for source in sources:
        if source.is_dir():
            files = [source / f"{split}.txt" for split in SPLITS if (source / f"{split}.txt").is_file()]
            if not files:
                raise CocobenchError(
                    f"--from '{source}' has none of train.txt, valid.txt, test.txt; pass the directory of iCoT's GSM8k files"
                )
        elif source.is_file():
            files = [source]
        else:
            raise CocobenchError(f"--from '{source}' does not exist; pass a directory with train/valid/test.txt or those files")
        for file in files:
            _add_source(found, file)
    return {split: found[split] for split in SPLITS if split in found}


def _add_source(found: dict[str, Path], file: Path) -> None:
    if file.stem not in SPLITS:
        raise CocobenchError(f"cannot tell which split '{file}' is; name it train.txt, valid.txt or test.txt")
    if file.stem in found:
        raise CocobenchError(f"two files for the {file.stem} split: '{found[file.stem]}' and '{file}'; pass one")
    found[file.stem] = file


def convert(sources: Iterable[Path]) -> tuple[dict[str, list[Example]], dict[str, Path]]:
    """Read every source file completely before anything is written: a bad last line leaves no output."""
    files = find_sources(sources)
    if not files:
        raise CocobenchError("no input files; pass --from DIR (with train/valid/test.txt) or the files themselves")
    return {split: read_file(path) for split, path in files.items()}, files


def meta(files: dict[str, Path]) -> dict:
    """meta.json: where the examples came from, with content hashes (nothing is random here)."""
    from cocobench.io import file_fingerprint

    sources = {split: {"file": str(path), "sha256": file_fingerprint(path)} for split, path in files.items()}
    return {"generator": "gsm", "version": VERSION, "params": {"sources": sources}}


@dataclass
class GSMSettings(GeneratorSettings):
    """Convert GSM8k-Aug files in iCoT's line format 'question||<<step>> ... #### answer' into example splits."""

    sources: list[Path] = gen_setting(REQUIRED, "A directory holding train.txt / valid.txt / test.txt (any of them), or such files "
                                                "themselves (the file name's stem is the split); repeatable.", flag="--from", metavar="DIR_OR_FILE")
    out: Path | None = out_setting("gsm", "{split}.json and meta.json")
    overwrite: bool = overwrite_setting()

    quiet_help = "No progress or summary on stderr."

    def task_name(self) -> str:
        return TASK.name

    def write(self, *, quiet: bool = False) -> Path:
        """Read every source file, then write the splits it found (the user's files: never downloaded)."""
        self.check()
        stderr = stderr_console()
        out = data_out_dir(self.out, self.task_name(), overwrite=self.overwrite)
        with stderr.status("reading iCoT files", spinner="dots") if not quiet else contextlib.nullcontext():
            splits, files = convert(self.sources)  # every line parsed before anything is written
        with data_dir_lock(out, overwrite=self.overwrite):
            write_data_dir(out, splits, meta(files))
        if not quiet:
            found = ", ".join(f"{split} <- {files[split]} ({len(splits[split])} examples)" for split in splits)
            missing = [split for split in SPLITS if split not in splits]
            stderr.print(f"found {found}" + (f"; no {', '.join(missing)} file" if missing else ""))
            stderr.print(f"wrote {', '.join(f'{split}.json' for split in splits)} to {out}; verify with `cocobench data check`")
        return out


# ----------------------------------------------------------------------------------------------
# Safe arithmetic: numbers, + - * / **, unary signs, parentheses; anything else is "unevaluable"

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv, ast.Pow: operator.pow}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


class Unevaluable(ValueError):
    """The text is not plain arithmetic (or overflows): it can be neither confirmed nor refuted."""


def evaluate(text: str) -> float:
    """The value of an arithmetic expression, parsed with `ast` (never `eval`)."""
    try:
        value = float(_evaluate_node(ast.parse(_THOUSANDS.sub("", text.strip()), mode="eval").body))
    except (SyntaxError, ZeroDivisionError, OverflowError, RecursionError):  # RecursionError: absurd nesting
        raise Unevaluable(text) from None
    if not math.isfinite(value):
        raise Unevaluable(text)
    return value


def _evaluate_node(node: ast.AST) -> float | int:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate_node(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate_node(node.left), _evaluate_node(node.right)
        if isinstance(node.op, ast.Pow):
            if abs(right) > MAX_EXPONENT:
                raise Unevaluable("exponent too large")
            left, right = float(left), float(right)  # float powers overflow (caught) instead of growing huge ints
        result = _BINARY[type(node.op)](left, right)
        if isinstance(result, complex):  # (-8) ** 0.5
            raise Unevaluable("complex result")
        return result
    raise Unevaluable(ast.dump(node))


def rounding_tolerance(value_text: str) -> float:
    """Half a unit in the last written place of a plain number ('3.33' -> 0.005, '18' -> 0.5); 0 for expressions."""
    text = value_text.strip()
    if not _PLAIN.match(text):
        return 0.0
    return 0.5 * 10.0 ** -len(text.partition(".")[2])


def step_problem(step: str) -> str | None:
    """None when the step holds (or cannot be judged); otherwise why it is a definite mismatch."""
    match = _STEP.match(step)
    if not match:
        return f"{step!r} is not a calculator equation '<<expression=value>>'"
    expression, value_text = match.groups()
    try:
        left, right = evaluate(expression), evaluate(value_text)
    except Unevaluable:
        return None
    slack = rounding_tolerance(value_text) + RELATIVE_SLACK * max(1.0, abs(left), abs(right))
    if abs(left - right) > slack:
        return f"{step!r}: {expression} = {left:g}, not {value_text}"
    return None


def is_evaluable(step: str) -> bool:
    match = _STEP.match(step)
    if not match:
        return False
    try:
        evaluate(match.group(1)), evaluate(match.group(2))
    except Unevaluable:
        return False
    return True


# ----------------------------------------------------------------------------------------------
# Checking


def check_example(example: Example) -> list[str]:
    """Problems with one GSM8k-Aug example (empty list = valid), under the tolerance rule above."""
    for field, kind in (("question", str), ("answer", str), ("steps", list)):
        if not isinstance(example.get(field), kind):
            return [f"field '{field}' missing or not a {kind.__name__}"]
    problems = [] if example["question"].strip() else ["empty question"]
    if not _NUMBER.match(example["answer"]):
        problems.append(f"answer {example['answer']!r} is not a number")
    for i, step in enumerate(example["steps"], 1):
        problem = step_problem(step) if isinstance(step, str) else "is not a string"
        if problem is not None:
            problems.append(f"step {i} {problem}")
    return problems


def recognizes(example: Example) -> bool:
    """A numeric answer and calculator-equation steps, at least one: a numeric answer alone is too common
    a shape to claim (an example with an empty chain is checked as gsm only with `--task gsm`)."""
    steps = example.get("steps")
    return (
        isinstance(example.get("answer"), str)
        and _NUMBER.match(example["answer"]) is not None
        and isinstance(steps, list)
        and bool(steps)
        and all(isinstance(step, str) and _STEP.match(step) for step in steps)
    )


def extra_stats(examples: list[Example]) -> dict:
    """How much of the data the checker can verify, and the files' known quirks: empty chains, answers with thousands commas."""
    steps = [step for ex in examples for step in ex.get("steps", []) if isinstance(step, str)]
    return {
        "empty_chains": sum(not ex.get("steps") for ex in examples),
        "answers_with_commas": sum("," in str(ex.get("answer", "")) for ex in examples),
        "unevaluable_steps": sum(not is_evaluable(step) for step in steps),
    }


TASK = Task(
    name="gsm",
    description="GSM8k-Aug: grade-school math, calculator-equation steps, numeric answers (iCoT's files; load-only)",
    check=check_example,
    recognizes=recognizes,
    extra_stats=extra_stats,
    default_sizes=None,  # load-only: the train file must come from the user (`cocobench gen gsm --from`)
    generate_default=None,
    generator=GSMSettings,
    table_column=0,
)
