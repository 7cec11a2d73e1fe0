"""`cocobench data stats|show|check` on hand-made examples with a fake task, and on the official ProsQA files."""

import json
import sys
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cocobench import datastats, tasks
from cocobench.cli import app
from cocobench.tasks.base import Task
from tests.conftest import one_line_error

SHARED = Path(__file__).resolve().parents[2] / "shared"
PROSQA_VALID = SHARED / "data" / "prosqa" / "prosqa_valid.json"


def check_fake(example):
    problems = []
    if example["answer"] not in ("True", "False"):
        problems.append(f"answer must be True or False, got {example['answer']!r}")
    if not example["steps"]:
        problems.append("no steps")
    if example["widgets"] < 0:  # a KeyError on examples without widgets: the check must survive it
        problems.append("negative widgets")
    return problems


FAKE = Task(
    name="fake",
    description="a task made up for these tests",
    check=check_fake,
    recognizes=lambda example: example.get("kind") == "fake",
    extra_stats=lambda examples: {"widgets": datastats.summary([ex["widgets"] for ex in examples]), "colour_histogram": {"red": 2, "blue": 1}},
)


@pytest.fixture(autouse=True)
def fake_task(monkeypatch):
    """Register `fake` (first, so detection tries it first) plus a registered task whose module is missing."""
    module = types.ModuleType("cocobench.tasks.fake")
    module.TASK = FAKE
    monkeypatch.setitem(sys.modules, "cocobench.tasks.fake", module)
    monkeypatch.setattr(tasks, "_MODULES", {"fake": "fake", "ghost": "ghost_not_written_yet", **tasks._MODULES})


def example(question="Is Tom a cat? Every cat is a dog.", steps=("Tom is a cat.", "Every cat is a dog."), answer="True", **extra):
    return {"question": question, "steps": list(steps), "answer": answer, "kind": "fake", "widgets": 1, **extra}


EXAMPLES = [
    example(),  # 9 words, 11 tokens, 2 steps
    example(question="Is Bob a dog?", steps=["Bob is a dog."], answer="False", widgets=3),  # 4 words, 5 tokens
    example(question=" ".join(["word"] * 40) + "?", steps=[f"step {i}." for i in range(4)], widgets=5),  # 40 words, 41 tokens
]


def write(path: Path, examples, jsonl=False) -> Path:
    text = "".join(json.dumps(ex) + "\n" for ex in examples) if jsonl else json.dumps(examples)
    path.write_text(text)
    return path


def data(*args):
    return CliRunner().invoke(app, ["data", *map(str, args)])


# ----------------------------------------------------------------------------------------------
# The pure functions


def test_summary_histogram_and_answer_balance():
    assert datastats.summary([3, 4, 4, 6]) == {"min": 3, "mean": 4.25, "max": 6}
    assert datastats.summary([]) is None
    assert datastats.histogram([10, 2, 2, 3]) == {"2": 2, "3": 1, "10": 1}  # numeric order, not "10" < "2"
    assert datastats.answer_balance(["True", "False", "True"]) == {"distinct": 2, "distribution": {"False": 1, "True": 2}}
    many = datastats.answer_balance([str(i) for i in range(50)])
    assert many == {"distinct": 50, "distribution": None}


def test_file_stats_by_hand():
    stats = datastats.file_stats(EXAMPLES, FAKE)
    assert stats["task"] == "fake" and stats["examples"] == 3
    assert stats["steps"] == {"min": 1, "mean": 2.333, "max": 4, "histogram": {"1": 1, "2": 1, "4": 1}}
    assert stats["question_words"] == {"min": 4, "mean": 17.667, "max": 40}
    assert stats["question_tokens"] == {"min": 5, "mean": 19.0, "max": 41}  # "?" and "." are tokens of their own
    assert stats["answers"] == {"distinct": 2, "distribution": {"False": 1, "True": 2}}
    assert stats["extra"]["widgets"] == {"min": 1, "mean": 3.0, "max": 5}


def test_detection_skips_task_modules_not_written_yet():
    assert datastats.detect(EXAMPLES[0]) is FAKE
    assert datastats.detect({"question": "?", "steps": [], "answer": "x"}) is None


def test_format_example_wraps_and_numbers():
    text = datastats.format_example(EXAMPLES[2], width=40)
    lines = text.splitlines()
    assert lines[0] == "question:" and all(len(line) <= 40 for line in lines[1:3])
    assert "steps (4):" in lines and "  1. step 0." in lines and "  4. step 3." in lines
    assert "answer: True" in lines and "kind: fake" in lines and "widgets: 5" in lines


# ----------------------------------------------------------------------------------------------
# data stats


def test_stats_table_has_one_column_per_file(tmp_path):
    a = write(tmp_path / "a.json", EXAMPLES)
    b = write(tmp_path / "b.jsonl", EXAMPLES[:1], jsonl=True)
    result = data("stats", a, b)
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if "a.json" in line)
    assert "b.jsonl" in header
    out = result.stdout
    assert "1 / 2.333 / 4" in out and "4 / 17.67 / 40" in out and "True: 2 (66.7%)" in out
    assert "widgets" in out and "red: 2 (66.7%)" in out


def test_stats_json(tmp_path):
    a = write(tmp_path / "a.json", EXAMPLES)
    custom = write(tmp_path / "custom.json", [{"question": "q?", "steps": [], "answer": str(i)} for i in range(12)])
    result = data("stats", a, custom, "--json")
    assert result.exit_code == 0, result.output
    files = json.loads(result.stdout)["files"]
    assert [f["file"] for f in files] == [str(a), str(custom)]
    assert files[0]["steps"]["histogram"] == {"1": 1, "2": 1, "4": 1} and files[0]["extra"]["colour_histogram"] == {"red": 2, "blue": 1}
    assert files[1]["task"] is None and files[1]["extra"] == {} and files[1]["answers"] == {"distinct": 12, "distribution": None}


def test_stats_with_an_explicit_task_and_bad_inputs(tmp_path):
    custom = write(tmp_path / "custom.json", [{"question": "q?", "steps": [], "answer": "1", "widgets": 7}])
    result = data("stats", custom, "--task", "fake", "--json")
    assert json.loads(result.stdout)["files"][0]["extra"]["widgets"] == {"min": 7, "mean": 7.0, "max": 7}
    one_line_error(data("stats", custom, "--task", "fak"), "unknown task 'fak'", "did you mean 'fake'")
    one_line_error(data("stats", tmp_path / "missing.json"), "does not exist")
    (tmp_path / "bad.json").write_text('[{"question": "q", "steps": [], "answer": "a"},\n{"quest')
    one_line_error(data("stats", custom, tmp_path / "bad.json"), "bad.json:2", "malformed")


def test_a_named_task_that_another_task_recognises_is_refused(tiny_prosqa):
    one_line_error(data("stats", tiny_prosqa / "test.json", "--task", "prontoqa"), "holds prosqa data, not prontoqa", "--task prosqa")
    one_line_error(data("check", tiny_prosqa / "test.json", "--task", "prontoqa"), "holds prosqa data")
    assert data("stats", tiny_prosqa / "test.json", "--task", "prosqa", "--json").exit_code == 0


# ----------------------------------------------------------------------------------------------
# data show


def test_show_pretty_and_json(tmp_path):
    a = write(tmp_path / "a.json", EXAMPLES)
    result = data("show", a, "--index", "1")
    assert result.exit_code == 0, result.output
    assert "example 1 of 3" in result.stdout and "Is Bob a dog?" in result.stdout and "  1. Bob is a dog." in result.stdout
    assert "answer: False" in result.stdout and "widgets: 3" in result.stdout
    result = data("show", a, "--index", "2", "--json")
    assert json.loads(result.stdout) == EXAMPLES[2]


@pytest.mark.parametrize("index", ["3", "-1"])
def test_show_out_of_range_names_the_valid_range(tmp_path, index):
    a = write(tmp_path / "a.json", EXAMPLES)
    one_line_error(data("show", a, "--index", index), f"--index {index} is out of range", "valid: 0..2")


def test_show_on_an_empty_file(tmp_path):
    empty = write(tmp_path / "empty.json", [])
    one_line_error(data("show", empty, "--index", "0"), "has no examples")


# ----------------------------------------------------------------------------------------------
# data check


def test_check_all_valid_exits_0(tmp_path):
    a = write(tmp_path / "a.json", EXAMPLES)
    result = data("check", a)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{a}: 3 examples checked as fake, 0 invalid"


def test_check_lists_invalid_examples_and_exits_1(tmp_path):
    bad = EXAMPLES + [example(answer="Maybe"), example(steps=[], answer="Perhaps"), example(widgets=-1)]
    path = write(tmp_path / "bad.json", bad)
    result = data("check", path)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"{path}: 6 examples checked as fake, 3 invalid"
    assert lines[1] == "  example 3: answer must be True or False, got 'Maybe'"
    assert lines[2] == "  example 4: answer must be True or False, got 'Perhaps'; no steps"
    assert lines[3] == "  example 5: negative widgets"
    result = data("check", path, "--max-report", "1")
    assert result.exit_code == 1 and "... and 2 more (raise --max-report to list them)" in result.stdout


def test_a_crashing_checker_is_a_finding_not_a_traceback(tmp_path):
    no_widgets = {k: v for k, v in example().items() if k != "widgets"}
    path = write(tmp_path / "a.json", [no_widgets])
    result = data("check", path)
    assert result.exit_code == 1 and "example 0: the fake checker failed on it (KeyError" in result.stdout


def test_check_several_files_one_bad(tmp_path):
    good = write(tmp_path / "good.json", EXAMPLES)
    bad = write(tmp_path / "bad.jsonl", [example(answer="x")], jsonl=True)
    result = data("check", good, bad, "--quiet")
    assert result.exit_code == 1 and result.stderr == ""
    assert f"{good}: 3 examples checked as fake, 0 invalid" in result.stdout and f"{bad}: 1 examples checked as fake, 1 invalid" in result.stdout


def test_check_bad_inputs_exit_2(tmp_path):
    unknown = write(tmp_path / "unknown.json", [{"question": "q", "steps": [], "answer": "a"}])
    one_line_error(data("check", unknown), "no task recognises its first example", "pass --task")
    one_line_error(data("check", unknown, "--task", "nope"), "unknown task 'nope'")
    one_line_error(data("check", unknown, "--task", "ghost"), "task 'ghost' is not available")
    one_line_error(data("check", unknown, "--task", "fake", "--max-report", "-1"), "--max-report must be 0 or more")
    (tmp_path / "trunc.json").write_text('[{"question": "q", "steps": [],')
    one_line_error(data("check", tmp_path / "trunc.json"), "trunc.json:1", "malformed or truncated JSON")
    (tmp_path / "nofield.json").write_text('[{"question": "q", "steps": []}]')
    one_line_error(data("check", tmp_path / "nofield.json"), "missing field 'answer'")


# ----------------------------------------------------------------------------------------------
# The official ProsQA validation file (300 examples; its numbers are in docs/tasks.md)


@pytest.fixture
def official():
    if not PROSQA_VALID.is_file():
        pytest.skip(f"../shared/data not present: {PROSQA_VALID} is missing")
    pytest.importorskip("cocobench.tasks.prosqa", reason="the prosqa task module (cocobench/tasks/prosqa.py) is not written yet")
    return PROSQA_VALID


def test_official_prosqa_valid_checks_clean(official):
    result = data("check", official)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{official}: 300 examples checked as prosqa, 0 invalid"


def test_official_prosqa_valid_stats(official):
    result = data("stats", official, "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)["files"][0]
    assert stats["task"] == "prosqa" and stats["examples"] == 300
    assert stats["steps"]["min"] == 3 and stats["steps"]["max"] == 6
    # docs/tasks.md: in-degree histogram (valid) 0:754, 1:2989, 2:1899, 3:848, 4:256, 5:80, 6:17, 7:3.
    in_degree = stats["extra"]["in_degree_histogram"]
    assert in_degree == {"0": 754, "1": 2989, "2": 1899, "3": 848, "4": 256, "5": 80, "6": 17, "7": 3}


# ----------------------------------------------------------------------------------------------
# Comparing two files: total-variation distance per feature against its sampling floor


def test_total_variation_by_hand():
    assert datastats.total_variation([1, 1, 2, 2], [1, 2, 1, 2]) == 0
    assert datastats.total_variation([1, 1], [2, 2, 2]) == 1
    assert datastats.total_variation([1, 1, 1, 2], [1, 2]) == pytest.approx(0.25)  # |3/4 - 1/2|, |1/4 - 1/2|, halved
    assert datastats.total_variation(["True", "False"], ["True", "True"]) == pytest.approx(0.5)


def test_sampling_floor_is_small_for_big_samples_and_zero_for_a_constant():
    coin = [i % 2 for i in range(2000)]
    assert datastats.sampling_floor([7] * 50, 50, 50) == 0
    small, big = datastats.sampling_floor(coin[:100], 100, 100), datastats.sampling_floor(coin, 2000, 2000)
    assert 0 < big < small < 0.2
    # A fair coin's two halves of 1000 differ by about 0.8 / sqrt(1000) ~ 0.025 in share; scaled to 2000 vs 2000: / sqrt(2).
    assert big == pytest.approx(0.018, abs=0.008)


def test_compare_flags_only_the_feature_that_differs():
    same = [example(steps=["a."] * (1 + i % 3)) for i in range(300)]
    shifted = [example(steps=["a."] * (1 + i % 3), answer="False" if i % 3 else "True") for i in range(300)]
    rows = {row["feature"]: row for row in datastats.compare_features(same, shifted, FAKE)}
    assert set(rows) == {"steps", "question_words", "answer"}
    assert rows["steps"]["distance"] == 0 and not rows["steps"]["far"] and rows["steps"]["mean_a"] == 2
    assert rows["answer"]["distance"] == pytest.approx(2 / 3, abs=1e-3) and rows["answer"]["far"]
    assert rows["answer"]["mean_a"] is None  # answers are not numbers


def test_compare_cli_table_and_json(tmp_path):
    a = write(tmp_path / "a.json", [example(steps=["a."] * (1 + i % 3)) for i in range(40)])
    b = write(tmp_path / "b.json", [example(steps=["a."] * 3) for i in range(40)])
    result = data("compare", a, b)
    assert result.exit_code == 0, result.output
    assert "steps" in result.stdout and "x floor" in result.stdout and "1 of 3 features" in result.stdout
    result = data("compare", a, b, "--json")
    report = json.loads(result.stdout)
    assert report["examples"] == [40, 40] and report["task"] == "fake"
    assert {row["feature"]: row["far"] for row in report["features"]} == {"steps": True, "question_words": False, "answer": False}


def test_compare_bad_inputs_exit_2(tmp_path):
    a = write(tmp_path / "a.json", [example() for _ in range(5)])
    other = write(tmp_path / "other.json", [{"question": "2 + 2?", "steps": [], "answer": "4"}] * 5)
    one_line_error(data("compare", a, other), "a.json is fake but", "other.json is unrecognised", "pass --task")
    one_line_error(data("compare", a, write(tmp_path / "one.json", [example()])), "at least 2 examples in each file")
    one_line_error(data("compare", a, tmp_path / "missing.json"), "missing.json")
    one_line_error(data("compare", a, a, "--task", "nosuch"), "unknown task 'nosuch'")


@pytest.mark.slow
def test_official_prosqa_valid_compares_with_the_generator_near_the_floor(official):
    """Every feature of 1,500 generated examples within 3 floors of the official validation file's."""
    from cocobench.tasks import prosqa

    generated = [ex for split in prosqa.generate_splits(0, {"train": 1200, "valid": 150, "test": 150}).values() for ex in split]
    rows = datastats.compare_features(json.loads(official.read_text()), generated, prosqa.TASK)
    assert len(rows) > 15 and [row["feature"] for row in rows if row["far"]] == []


def test_show_without_index_shows_the_first_example(tmp_path):
    a = write(tmp_path / "a.json", EXAMPLES)
    result = data("show", a)
    assert result.exit_code == 0, result.output
    assert "example 0 of 3" in result.stdout
    assert json.loads(data("show", a, "--json").stdout) == EXAMPLES[0]


def test_stats_and_compare_take_format_with_json_as_its_alias(tmp_path):
    a = write(tmp_path / "a.json", EXAMPLES)
    for command in (["stats", a], ["compare", a, a]):
        as_format = data(*command, "--format", "json", "-q")
        assert as_format.exit_code == 0, as_format.output
        assert json.loads(as_format.stdout) == json.loads(data(*command, "--json").stdout)
        one_line_error(data(*command, "--format", "csv"), f"`data {command[0]}` cannot print --format csv", "rich, json")
        one_line_error(data(*command, "--json", "--format", "markdown"), "--json means --format json")
