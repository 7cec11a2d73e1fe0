"""cocobench data and Hugging Face `datasets`: `data export` round-trips through `load_dataset`."""

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cocobench.cli import app
from tests.conftest import one_line_error

SMALL = ["--train", "6", "--valid", "2", "--test", "2"]


def cli(*args):
    return CliRunner().invoke(app, [*map(str, args)])


def card_front(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


@pytest.mark.parametrize("task", ["prosqa", "prontoqa", "mult"])
def test_export_round_trips_through_load_dataset(task, tmp_path):
    import datasets

    from cocobench.io import file_fingerprint

    data = tmp_path / task
    assert cli("gen", task, "--out", data, *SMALL, "--quiet").exit_code == 0
    result = cli("data", "export", data, "--to", "parquet")
    assert result.exit_code == 0, result.output
    out = tmp_path / f"{task}-parquet"  # the default --out: beside DIR
    assert "wrote 6 train, 2 validation, 2 test as parquet" in " ".join(result.stderr.split())
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert sorted(loaded) == ["test", "train", "validation"]  # datasets' split names
    for ours, theirs in (("train", "train"), ("valid", "validation"), ("test", "test")):
        assert loaded[theirs].to_list() == json.loads((data / f"{ours}.json").read_text()), ours
    record = card_front(out / "README.md")["cocobench"]
    meta = json.loads((data / "meta.json").read_text())
    assert (record["generator"], record["version"], record["seed"], record["params"]) == (task, meta["version"], 0, meta["params"])
    assert record["splits"]["validation"]["file_fingerprint"] == file_fingerprint(data / "valid.json")
    assert record["splits"]["test"]["examples"] == 2


def test_export_refuses_what_it_cannot_do_in_one_line(tmp_path):
    data = tmp_path / "prosqa"
    assert cli("gen", "prosqa", "--out", data, *SMALL, "--quiet").exit_code == 0
    one_line_error(cli("data", "export", data, "--to", "csv"), "--to csv is not an export format", "parquet")
    one_line_error(cli("data", "export", tmp_path / "nowhere"), "does not exist")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("the user's")
    one_line_error(cli("data", "export", data, "--out", tmp_path / "taken"), "already holds files", "--overwrite")
    assert cli("data", "export", data, "--out", tmp_path / "taken", "--overwrite", "--quiet").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "taken").iterdir()) == ["README.md", "data"]  # replaced whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prosqa", "taken"]  # no lock or temporary left
