"""`cocobench gen`: the default output directory, refusing to overwrite, and atomic directory writes."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cocobench.cli import app
from tests.conftest import one_line_error

SMALL = ["--train", "6", "--valid", "2", "--test", "2"]


def gen(task, *args):
    return CliRunner().invoke(app, ["gen", task, *map(str, args)])


@pytest.mark.parametrize("task", ["prosqa", "prontoqa", "mult"])
def test_gen_without_out_writes_data_task_and_says_where(tmp_path, monkeypatch, task):
    monkeypatch.chdir(tmp_path)
    result = gen(task, *SMALL)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "data" / task).iterdir()) == ["meta.json", "test.json", "train.json", "valid.json"]
    assert f"data/{task}" in result.stderr.replace("\n", "")


def test_gen_refuses_a_directory_that_holds_files_unless_overwrite(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    one_line_error(gen("prosqa", "--out", out, *SMALL, "--quiet"), f"--out '{out}' already holds files", "--overwrite")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]

    result = gen("prosqa", "--out", out, *SMALL, "--quiet", "--overwrite")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["meta.json", "test.json", "train.json", "valid.json"]  # replaced whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary sibling left


def test_an_interrupted_gen_leaves_the_old_directory_whole(tmp_path, monkeypatch):
    import cocobench.examples

    out = tmp_path / "out"
    assert gen("prosqa", "--out", out, *SMALL, "--quiet", "--seed", "1").exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real, written = cocobench.examples.write_examples, []

    def write_one_then_die(path, examples):
        if written:
            raise KeyboardInterrupt
        written.append(path)
        real(path, examples)

    monkeypatch.setattr(cocobench.examples, "write_examples", write_one_then_die)
    result = gen("prosqa", "--out", out, *SMALL, "--quiet", "--seed", "2", "--overwrite")
    assert result.exit_code == 130 and written
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # not train.json of seed 2 beside the rest of seed 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
