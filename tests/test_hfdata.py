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


@pytest.mark.slow
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


@pytest.mark.slow
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


def save_to_disk_fixture(data: Path, out: Path) -> None:
    """A datasets folder as save_to_disk writes it, with other column names (as Hub copies of iCoT's data have)."""
    import datasets

    splits = {theirs: json.loads((data / f"{ours}.json").read_text()) for ours, theirs in (("train", "train"), ("valid", "validation"), ("test", "test"))}
    renamed = {name: datasets.Dataset.from_list([{"problem": e["question"], "cot": e["steps"], "answer": e["answer"]} for e in examples])
               for name, examples in splits.items()}
    datasets.DatasetDict(renamed).save_to_disk(str(out))


@pytest.mark.slow
def test_a_save_to_disk_folder_with_columns_and_a_parquet_folder_load_as_the_same_examples(tmp_path, monkeypatch):
    from cocobench.hfdata import local_data_dir

    monkeypatch.chdir(tmp_path)  # data/hub/ is written here
    data = tmp_path / "prosqa"
    assert cli("gen", "prosqa", "--out", data, *SMALL, "--quiet").exit_code == 0
    save_to_disk_fixture(data, tmp_path / "disk")
    assert cli("data", "export", data, "--quiet").exit_code == 0
    assert local_data_dir(data) == data  # cocobench's own JSON splits are read as they are
    made = local_data_dir(tmp_path / "disk", "question=problem,steps=cot")
    for split in ("train", "valid", "test"):
        mine = json.loads((data / f"{split}.json").read_text())
        assert json.loads((made / f"{split}.json").read_text()) == [{k: e[k] for k in ("question", "steps", "answer")} for e in mine]
        assert json.loads((local_data_dir(tmp_path / "prosqa-parquet") / f"{split}.json").read_text()) == mine  # every field back
    record = json.loads((made / "meta.json").read_text())["dataset"]
    assert record["id"] == str(tmp_path / "disk") and sorted(record["fingerprints"]) == ["test", "train", "validation"]
    assert record["columns"] == {"question": "problem", "steps": "cot", "answer": "answer"}
    written = (made / "train.json").stat().st_mtime_ns
    assert local_data_dir(tmp_path / "disk", "question=problem,steps=cot") == made  # the same source again: reused, not rewritten
    assert (made / "train.json").stat().st_mtime_ns == written


@pytest.mark.slow
def test_run_on_a_datasets_folder_records_the_dataset_and_bad_columns_are_one_line(tmp_path, monkeypatch):
    from tests.helpers import FAST

    monkeypatch.chdir(tmp_path)
    data = tmp_path / "prosqa"
    assert cli("gen", "prosqa", "--out", data, *SMALL, "--quiet").exit_code == 0
    save_to_disk_fixture(data, tmp_path / "disk")
    one_line_error(cli("run", "--data", tmp_path / "disk", "--method", "cot", "--out", tmp_path / "bad", *FAST),
                   "no column 'question'", "--columns question=COL")
    one_line_error(cli("run", "--data", tmp_path / "disk", "--columns", "steps", "--method", "cot", "--out", tmp_path / "bad", *FAST),
                   "expected FIELD=COLUMN pairs")
    result = cli("run", "--data", tmp_path / "disk", "--columns", "question=problem,steps=cot", "--method", "cot", "--epochs", "1",
                 "--out", tmp_path / "run", *FAST)
    assert result.exit_code == 0, result.output
    recorded = json.loads((tmp_path / "run" / "results.json").read_text())["data"]["dataset"]
    assert recorded["id"] == str(tmp_path / "disk") and recorded["revision"] is None and len(recorded["fingerprints"]) == 3


@pytest.mark.slow
def test_a_hub_dataset_offline_and_not_cached_is_one_line_naming_the_fix(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    done = subprocess.run([sys.executable, "-m", "cocobench", "run", "--data", "hf:zen-E/GSM8k-Aug", "--method", "cot",
                           "--out", str(tmp_path / "run"), "--quiet"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot load 'hf:zen-E/GSM8k-Aug' offline"), done.stderr
    assert "run once with network access" in lines[0] and not (tmp_path / "run").exists()
