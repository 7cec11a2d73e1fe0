"""Multiplication: iCoT's format (the worked example in docs/tasks.md), generator determinism, the checker, the CLI."""

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from cocobench.cli import app
from cocobench.errors import CocobenchError
from cocobench.examples import load_examples
from cocobench.tasks import get_task, mult
from tests.conftest import assert_generator_cli_is_deterministic

# The worked example of docs/tasks.md (also the first line of iCoT's 4x4 test file): 3719 x 3349 = 12454931.
WORKED_EXAMPLE_LINE = (
    "9 1 7 3 * 9 4 3 3||1 7 4 3 3 + 0 6 7 8 4 1 ( 1 3 2 2 8 1 ) + 0 0 7 5 1 1 1 ( 1 3 9 7 9 2 1 ) "
    "+ 0 0 0 7 5 1 1 1 #### 1 3 9 4 5 4 2 1"
)


@pytest.fixture(scope="module")
def sample():
    """2,400 4x4 examples (a fraction of a second), shared by the tests below."""
    return mult.generate_splits(seed=0, sizes={"train": 2000, "valid": 200, "test": 200})


def gen(*args):
    return CliRunner().invoke(app, ["gen", "mult", *map(str, args)])


def number(reversed_text: str) -> int:
    """Read a reversed, space-separated number independently of the module under test."""
    return int("".join(reversed(reversed_text.split())))


# ---------------------------------------------------------------------------------------------
# The format


def test_formatter_reproduces_the_spec_example_exactly():
    example = mult.render_example(3719, 3349, 4)
    assert mult.to_icot_line(example) == WORKED_EXAMPLE_LINE
    assert mult.from_icot_line(WORKED_EXAMPLE_LINE) == example
    assert example == {
        "question": "9 1 7 3 * 9 4 3 3",
        "steps": ["1 7 4 3 3", "0 6 7 8 4 1 ( 1 3 2 2 8 1 )", "0 0 7 5 1 1 1 ( 1 3 9 7 9 2 1 )", "0 0 0 7 5 1 1 1"],
        "answer": "1 3 9 4 5 4 2 1",
    }
    assert mult.check_example(example) == []


@pytest.mark.parametrize(
    ("a", "b", "digits"), [(7, 8, 1), (10, 10, 2), (999, 100, 3), (99999, 99999, 5), (123456789, 987654301, 9)]
)
def test_arithmetic_round_trips_for_every_size(a, b, digits):
    example = mult.render_example(a, b, digits)
    check_arithmetic(example)
    assert len(example["steps"]) == digits
    assert mult.from_icot_line(mult.to_icot_line(example)) == example
    assert mult.check_example(example) == []


def check_arithmetic(example):
    """a * b == answer, and every partial product and running sum is right and zero-padded."""
    a_text, b_text = example["question"].split(" * ")
    a, digits = number(a_text), len(a_text.split())
    b_digits = [int(d) for d in b_text.split()]
    total = 0
    for j, (step, b_j) in enumerate(zip(example["steps"], b_digits, strict=True)):
        partial, _, running = step.removesuffix(" )").partition(" ( ")
        total += a * b_j * 10**j
        assert number(partial) == a * b_j * 10**j and len(partial.split()) == digits + 1 + j
        if 0 < j < digits - 1:
            assert number(running) == total and len(running.split()) == digits + 1 + j
        else:
            assert not running
    assert number(example["answer"]) == a * number(b_text) == total
    assert len(example["answer"].split()) == 2 * digits


# ---------------------------------------------------------------------------------------------
# Generator


def test_generated_examples_pass_the_checker_and_the_arithmetic(sample):
    for split, examples in sample.items():
        for i, example in enumerate(examples):
            assert mult.check_example(example) == [], (split, i)
            check_arithmetic(example)
            assert list(example) == ["question", "steps", "answer"]
            assert mult.from_icot_line(mult.to_icot_line(example)) == example
            a_text, b_text = example["question"].split(" * ")
            assert a_text[-1] != "0" and b_text[-1] != "0", "operands have exactly D digits"


def test_no_question_appears_twice(sample):
    questions = [ex["question"] for examples in sample.values() for ex in examples]
    assert len(questions) == len(set(questions)) == 2400


def test_test_split_does_not_depend_on_train_size():
    small = mult.generate_splits(seed=1, sizes={"train": 5, "valid": 5, "test": 20})
    large = mult.generate_splits(seed=1, sizes={"train": 500, "valid": 5, "test": 20})
    assert small["test"] == large["test"] and small["valid"] == large["valid"]


def test_every_question_of_a_tiny_space_can_be_drawn():
    splits = mult.generate_splits(seed=0, sizes={"train": 71, "valid": 5, "test": 5}, digits=1)
    questions = {ex["question"] for examples in splits.values() for ex in examples}
    assert questions == {f"{a} * {b}" for a in range(1, 10) for b in range(1, 10)}
    with pytest.raises(CocobenchError, match="only 81 distinct 1x1 questions"):
        mult.generate_splits(seed=0, sizes={"train": 72, "valid": 5, "test": 5}, digits=1)


def test_progress_is_told_about_every_example():
    counts = {}
    mult.generate_splits(seed=0, sizes={"train": 2500, "valid": 3, "test": 1000},
                         progress=lambda split, n: counts.update({split: counts.get(split, 0) + n}))  # fmt: skip
    assert counts == {"test": 1000, "valid": 3, "train": 2500}


def test_cli_output_is_byte_identical_on_rerun(tmp_path):
    assert_generator_cli_is_deterministic(gen, tmp_path, train=40)


def test_cli_writes_checked_splits_and_meta(tmp_path):
    result = gen("--out", tmp_path, "--digits", "5", "--seed", "7", "--train", "6", "--valid", "2", "--test", "3")
    assert result.exit_code == 0, result.output
    assert "wrote 6 train, 2 valid, 3 test (5x5 digits)" in result.stderr
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta == {
        "generator": "mult", "version": mult.VERSION, "seed": 7,
        "params": {"train": 6, "valid": 2, "test": 3, "digits": 5}, "counts": {"train": 6, "valid": 2, "test": 3},
    }  # fmt: skip
    check = CliRunner().invoke(app, ["data", "check", *(str(tmp_path / f"{s}.json") for s in ("train", "valid", "test"))])
    assert check.exit_code == 0, check.output
    assert "3 examples checked as mult, 0 invalid" in check.output
    assert all(len(ex["steps"]) == 5 for ex in load_examples(tmp_path / "train.json"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--digits", "0"], "--digits must be at least 1, got 0"),
        (["--train", "0"], "--train must be a positive integer"),
        (["--digits", "1", "--train", "80", "--valid", "1", "--test", "1"], "82 examples requested but only 81 distinct 1x1"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "out"
    result = gen("--out", out, *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# Checker


def set_step(example, index, text):
    example["steps"][index] = text


def corrupted(change):
    example = mult.from_icot_line(WORKED_EXAMPLE_LINE)
    change(example)
    return mult.check_example(example)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda ex: set_step(ex, 0, "1 7 4 3 4"), "step 1 '1 7 4 3 4': partial product reads 43471; 3719 x 9 x 10^0 = 33471"),
        (lambda ex: set_step(ex, 1, "0 6 7 8 4 1 ( 1 3 2 2 8 2 )"), "running sum reads 282231; the partial products so far"),
        (lambda ex: set_step(ex, 1, "0 6 7 8 4 1"), "step 2 '0 6 7 8 4 1': a running sum in parentheses belongs"),
        (lambda ex: set_step(ex, 3, "0 0 0 7 5 1 1 1 ( 1 3 9 4 5 4 2 1 )"), "step 4"),
        (lambda ex: set_step(ex, 0, "1 7 4 3 3 0"), "step 1 '1 7 4 3 3 0' has 6 digits; expected 5 (zero-padded)"),
        (lambda ex: set_step(ex, 2, "0 0 7 5 1 1 1 (1 3 9 7 9 2 1)"), "is not reversed digits"),
        (lambda ex: ex["steps"].pop(), "3 steps; a 4x4 problem has 4"),
        (lambda ex: ex.update(answer="1 3 9 4 5 4 2 2"), "answer reads 22454931; the product is 12454931"),
        (lambda ex: ex.update(answer="1 3 9 4 5 4 2 1 0"), "answer has 9 digits; expected 8"),
        (lambda ex: ex.update(answer="12454931"), "not reversed, space-separated digits"),
        (lambda ex: ex.update(answer="twelve"), "not reversed, space-separated digits"),
        (lambda ex: ex.update(question="9 1 7 3 * 9 4 3"), "operands have 4 and 3 digits"),
        (lambda ex: ex.update(question="3719 x 3349"), "question must be two reversed"),
        (lambda ex: ex.pop("steps"), "field 'steps' missing"),
    ],
)
def test_checker_catches_corruption(change, expected):
    problems = corrupted(change)
    assert any(expected in p for p in problems), problems


def test_checker_reports_only_the_broken_step():
    problems = corrupted(lambda ex: set_step(ex, 2, "0 0 7 5 1 1 2 ( 1 3 9 7 9 2 1 )"))
    # Running sums are checked against the true partial products, so one wrong digit is one problem.
    assert len(problems) == 1 and problems[0].startswith("step 3 ") and "partial product reads 2115700" in problems[0], problems


# ---------------------------------------------------------------------------------------------
# Registry


def test_task_is_registered_and_recognizes_only_multiplication(sample):
    task = get_task("mult")
    assert task is mult.TASK and task.default_sizes == (80000, 1000, 1000)
    assert task.generate_default is mult.generate_default
    assert task.recognizes(sample["test"][0])
    assert not task.recognizes({"question": "What is 2 * 3?", "steps": ["<<2*3=6>>"], "answer": "6"})
    assert not task.recognizes({"question": "Every cat is a dog. Is Tom a cat or dog?", "steps": [], "answer": "Tom is a cat."})
    assert task.extra_stats(sample["test"]) == {"digits_histogram": {"4": 200}}


def test_generate_default_writes_the_default_splits(tmp_path, monkeypatch):
    monkeypatch.setattr(mult, "TASK", dataclasses.replace(mult.TASK, default_sizes=(20, 5, 5)))
    mult.generate_default(tmp_path)
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["counts"] == {"train": 20, "valid": 5, "test": 5} and meta["params"]["digits"] == 4


def test_report_progress_batches_reports_and_sends_the_remainder():
    from cocobench.tasks.base import PROGRESS_EVERY, report_progress

    calls = []
    for done in range(1, 2 * PROGRESS_EVERY + 4):
        report_progress(lambda split, n: calls.append((split, n)), "train", done, 2 * PROGRESS_EVERY + 3)
    assert calls == [("train", PROGRESS_EVERY), ("train", PROGRESS_EVERY), ("train", 3)]
    report_progress(None, "train", PROGRESS_EVERY, PROGRESS_EVERY)  # no callback: nothing to do
