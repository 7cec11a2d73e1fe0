"""GSM8k-Aug: converting iCoT's text files (the official ones in ../shared), malformed input, the checker."""

import json
import types

import pytest
from typer.testing import CliRunner

from cocobench import runner
from cocobench.cli import app
from cocobench.errors import CocobenchError
from cocobench.examples import load_examples
from cocobench.tasks import get_task, gsm, mult
from tests.conftest import one_line_error, shared_file

GOOD = [
    "Tom has 3 apples and buys 4 more. How many does he have?||<<3+4=7>> #### 7",
    "A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts in total?||<<2/2=1>> <<2+1=3>> #### 3",
    "How many seconds are in 1,000 minutes?|| #### 60,000",
]


def write_lines(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def write_bytes(path, data):
    path.write_bytes(data)
    return path


def gen(*args):
    return CliRunner().invoke(app, ["gen", "gsm", *map(str, args)])


# ---------------------------------------------------------------------------------------------
# The official files


def test_official_test_file_converts_to_1319_examples_that_pass_data_check(tmp_path):
    source = shared_file("data", "gsm8k", "test.txt")
    result = gen("--from", source, "--out", tmp_path / "gsm")
    assert result.exit_code == 0, result.output
    assert "found test <-" in result.stderr and "1319 examples" in result.stderr
    examples = load_examples(tmp_path / "gsm" / "test.json")
    assert len(examples) == 1319
    assert examples[0]["question"].startswith("Janet’s ducks lay 16 eggs per day.")
    assert examples[0]["steps"] == ["<<16-3-4=9>>", "<<9*2=18>>"] and examples[0]["answer"] == "18"
    check = CliRunner().invoke(app, ["data", "check", str(tmp_path / "gsm" / "test.json")])
    assert check.exit_code == 0, check.output
    assert "1319 examples checked as gsm, 0 invalid" in check.output
    meta = json.loads((tmp_path / "gsm" / "meta.json").read_text())
    assert meta["generator"] == "gsm" and meta["counts"] == {"test": 1319}
    assert meta["params"]["sources"]["test"]["sha256"].startswith("sha256:")


def test_official_files_round_trip_and_show_the_spec_quirks():
    directory = shared_file("data", "gsm8k")
    splits, files = gsm.convert([directory])
    assert {split: len(examples) for split, examples in splits.items()} == {"valid": 500, "test": 1319}
    for split, examples in splits.items():
        assert [gsm.to_icot_line(ex) for ex in examples] == files[split].read_text(encoding="utf-8").splitlines()
        assert all(gsm.check_example(ex) == [] for ex in examples)
        assert all(gsm.recognizes(ex) == bool(ex["steps"]) for ex in examples)
    # Measured: some chains are empty, some answers have thousands commas, every step is evaluable.
    assert gsm.extra_stats(splits["test"]) == {"empty_chains": 18, "answers_with_commas": 14, "unevaluable_steps": 0}
    assert gsm.extra_stats(splits["valid"]) == {"empty_chains": 6, "answers_with_commas": 4, "unevaluable_steps": 0}


# ---------------------------------------------------------------------------------------------
# Conversion


def test_directory_with_some_splits_reports_what_it_found(tmp_path):
    write_lines(tmp_path / "in" / "train.txt", GOOD)
    write_lines(tmp_path / "in" / "test.txt", GOOD[:1])
    result = gen("--from", tmp_path / "in", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "no valid file" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["meta.json", "test.json", "train.json"]
    train = load_examples(tmp_path / "out" / "train.json")
    assert train[2] == {"question": "How many seconds are in 1,000 minutes?", "steps": [], "answer": "60,000"}
    assert [gsm.to_icot_line(ex) for ex in train] == GOOD


def test_explicit_files_are_named_by_their_stem(tmp_path):
    a = write_lines(tmp_path / "a" / "valid.txt", GOOD[:2])
    b = write_lines(tmp_path / "b" / "test.txt", GOOD[2:])
    result = gen("--from", a, "--from", b, "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 0 and result.stderr == "", result.output
    assert json.loads((tmp_path / "out" / "meta.json").read_text())["counts"] == {"valid": 2, "test": 1}


def test_a_suite_generates_gsm_from_its_sources(tmp_path, monkeypatch):
    """A suite's `generate: {task: gsm, sources: [...]}` is `gen gsm --from ...` (one path or a list)."""
    from cocobench.suite import _generate

    monkeypatch.chdir(tmp_path)
    write_lines(tmp_path / "in" / "train.txt", GOOD)
    _generate({"task": "gsm", "out": "a", "sources": ["in/train.txt"]}, "s.yaml", quiet=True)
    _generate({"task": "gsm", "out": "b", "sources": "in"}, "s.yaml", quiet=True)
    assert (tmp_path / "a" / "train.json").read_bytes() == (tmp_path / "b" / "train.json").read_bytes()
    with pytest.raises(CocobenchError, match="s.yaml generate: `cocobench gen gsm` needs 'sources'"):
        _generate({"task": "gsm", "out": "c"}, "s.yaml", quiet=True)


def test_crlf_and_blank_lines_are_accepted(tmp_path):
    path = tmp_path / "test.txt"
    path.write_bytes(("\r\n".join(GOOD) + "\r\n\r\n").encode())
    assert [gsm.to_icot_line(ex) for ex in gsm.read_file(path)] == GOOD


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("How many?<<1+1=2>> #### 2", "no '||' between question and steps"),
        ("How many?||<<1+1=2>> 2", "no '####' before the answer"),
        ("   ||<<1+1=2>> #### 2", "empty question"),
        ("How many?||<<1+1=2>> ####  ", "empty answer"),
        ("How many?||<<1+1=2>> #### 2 #### 3", "more than one '####'"),
    ],
)
def test_malformed_line_exits_2_naming_file_and_line_and_writes_nothing(tmp_path, line, message):
    write_lines(tmp_path / "in" / "valid.txt", GOOD)
    source = write_lines(tmp_path / "in" / "train.txt", [*GOOD, "", line])  # the last file read, after a blank line
    out = tmp_path / "out"
    result = gen("--from", tmp_path / "in", "--out", out)
    one_line_error(result, f"{source}:5:", message)
    assert not out.exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing", "does not exist"),
        (lambda d: d, "has none of train.txt, valid.txt, test.txt"),
        (lambda d: write_lines(d / "gsm_train.txt", GOOD), "cannot tell which split"),
        (lambda d: write_lines(d / "test.txt", []), "no examples"),
        (lambda d: write_bytes(d / "test.txt", b"\xff\xfe not text"), "not UTF-8"),
    ],
)
def test_bad_sources_exit_2_with_one_line(tmp_path, make, message):
    source = make(tmp_path)
    result = gen("--from", source, "--out", tmp_path / "out")
    one_line_error(result, message)
    assert not (tmp_path / "out").exists()


def test_two_files_for_one_split_are_refused(tmp_path):
    a = write_lines(tmp_path / "a" / "test.txt", GOOD)
    result = gen("--from", a, "--from", tmp_path / "a", "--out", tmp_path / "out")
    one_line_error(result, "two files for the test split")


# ---------------------------------------------------------------------------------------------
# Checker


def example(*steps, answer="18", question="How much?"):
    return {"question": question, "steps": list(steps), "answer": answer}


@pytest.mark.parametrize(
    "step",
    [
        "<<16-3-4=9>>",
        "<<3/4=3/4>>",  # an expression on the right (once in the official test file)
        "<<10/3=3.33>>",  # rounded to the written precision
        "<<2/.5=4>>",
        "<<1,000*2=2,000>>",
        "<<0.1*3=0.3>>",  # float noise
        "<<-(2**3)+10=2>>",
        "<<20%*50=10>>",  # unevaluable: tolerated
        "<<x*2=10>>",
        "<<9**9**9=1>>",  # refused, not computed
        "<<1/0=1>>",
    ],
)
def test_checker_accepts_correct_or_unevaluable_steps(step):
    assert gsm.check_example(example(step)) == []


@pytest.mark.parametrize(
    ("ex", "expected"),
    [
        (example("<<16-3-4=9>>", "<<9*2=19>>"), "step 2 '<<9*2=19>>': 9*2 = 18, not 19"),
        (example("<<10/3=3.4>>"), "10/3 = 3.33333, not 3.4"),
        (example("<<8/3=2>>"), "8/3 = 2.66667, not 2"),
        (example("16-3-4=9"), "step 1 '16-3-4=9' is not a calculator equation"),
        (example("<<16-3-4>>"), "is not a calculator equation"),
        (example(answer="eighteen"), "answer 'eighteen' is not a number"),
        (example(answer="1,00"), "is not a number"),
        (example(question=" "), "empty question"),
        ({"question": "Q", "answer": "1"}, "field 'steps' missing"),
    ],
)
def test_checker_reports_definite_mismatches(ex, expected):
    problems = gsm.check_example(ex)
    assert any(expected in p for p in problems), problems


def test_evaluate_is_safe_arithmetic_only():
    assert gsm.evaluate("(1+2)*3-4/2") == 7.0
    for text in ("__import__('os').system('true')", "abs(-1)", "[1][0]", "1 if 1 else 2", "True + 1", "1j", "2**(-8)**0.5"):
        with pytest.raises(gsm.Unevaluable):
            gsm.evaluate(text)


# ---------------------------------------------------------------------------------------------
# Registry and the runner


def test_task_is_registered_load_only_and_recognizes_only_gsm():
    task = get_task("gsm")
    assert task is gsm.TASK and task.default_sizes is None and task.generate_default is None
    assert task.recognizes(example("<<16-3-4=9>>")) and task.recognizes(example("<<2000+125=2125>>", answer="2,125"))
    assert not task.recognizes(mult.render_example(3719, 3349, 4))
    assert not task.recognizes({"question": "Is Tom a cat or dog?", "steps": ["Tom is a cat."], "answer": "Tom is a cat."})
    assert not task.recognizes(example("Tom is a cat."))
    assert not task.recognizes(example())  # an empty chain: too little to tell; `--task gsm` checks it


def test_run_without_data_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "DEFAULT_DATA_ROOT", tmp_path)
    with pytest.raises(CocobenchError, match=r"task 'gsm' has no generator; .*pass --data DIR"):
        runner.prepare_data(types.SimpleNamespace(data=None, task="gsm", quiet=True))
