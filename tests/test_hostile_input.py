"""Round three of hostile input: unbounded sizes, inputs that used to crash with a traceback, and
inputs that were silently accepted or misleading. Each is one `error: ...` line and exit code 2 (or,
for a misleading input, the behaviour the README states), with nothing written."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cocobench.cli import app
from cocobench.errors import CocobenchError
from tests.conftest import one_line_error

MULT = ["--train", "4", "--valid", "2", "--test", "2", "--quiet"]


def invoke(*args, **kwargs):
    return CliRunner().invoke(app, [str(a) for a in args], **kwargs)


# --- unbounded sizes: refused before any memory is taken ---
@pytest.mark.parametrize("split", ["--train", "--valid", "--test"])
def test_generated_split_sizes_are_bounded(split, tmp_path):
    sizes = {"--train": "4", "--valid": "2", "--test": "2", split: "99999999999999999999999"}
    result = invoke("gen", "prontoqa", "--out", tmp_path / "d", *[x for kv in sizes.items() for x in kv], "--quiet")
    one_line_error(result, split, "99999999999999999999999", "lower it")
    assert not (tmp_path / "d").exists()


def test_epochs_are_bounded(tiny_prosqa, tmp_path):
    result = invoke("run", "--data", tiny_prosqa, "--epochs", "99999999999999999999", "--out", tmp_path / "run", "--quiet")
    one_line_error(result, "--epochs must be at most", "99999999999999999999")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("option, value", [("--bootstrap", "1000000000"), ("--seed", "-1"), ("--seed", str(2**32))])
def test_compare_bootstrap_and_seed_are_checked(option, value, tmp_path):
    result = invoke("compare", tmp_path / "a.json", tmp_path / "b.json", option, value)
    one_line_error(result, option, value)


# --- tracebacks that are now one line ---
def deeply_nested(path: Path, opener: str = "[", closer: str = "]") -> Path:
    path.write_text(opener * 100_000 + closer * 100_000)
    return path


def test_deeply_nested_json_in_data_and_results(tmp_path):
    one_line_error(invoke("data", "stats", deeply_nested(tmp_path / "test.json")), "nested too deeply")
    lines = tmp_path / "test.jsonl"
    lines.write_text('{"question": "q", "steps": [], "answer": "a"}\n' + "[" * 100_000 + "]" * 100_000 + "\n")
    one_line_error(invoke("data", "stats", lines), "test.jsonl:2", "nested too deeply")
    one_line_error(invoke("table", deeply_nested(tmp_path / "results.json")), "nested too deeply")
    one_line_error(invoke("compare", tmp_path / "results.json", tmp_path / "results.json"), "nested too deeply")


@pytest.mark.parametrize("out", [".", "", "..", "sub/.."])
def test_gen_refuses_the_current_directory_or_one_above(out, tmp_path, monkeypatch):
    (tmp_path / "here" / "sub").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "here")
    one_line_error(invoke("gen", "mult", "--out", out, "--overwrite", *MULT), "current directory or one above it")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here"] and sorted(p.name for p in (tmp_path / "here").iterdir()) == ["sub"]


def test_an_out_name_too_long_for_the_file_system(tmp_path):
    one_line_error(invoke("gen", "mult", "--out", tmp_path / ("x" * 300), *MULT), "path too long", "choose a shorter path")
    assert not list(tmp_path.iterdir())


def test_a_file_written_over_a_directory_is_one_line(tmp_path):
    from cocobench.io import atomic_write_json

    (tmp_path / "out").mkdir()
    with pytest.raises(CocobenchError, match="is a directory"):
        atomic_write_json(tmp_path / "out", {"a": 1})
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary file left


def test_analyze_thoughts_out_an_existing_directory(tiny_prosqa, tmp_path):
    (tmp_path / "out").mkdir()
    result = invoke("analyze", "thoughts", tmp_path / "no-checkpoint", "--data", tiny_prosqa, "--index", "0", "--out", tmp_path / "out")
    one_line_error(result, "--out", "is a directory", "thoughts.json")  # before the checkpoint is even looked at


def test_model_directory_with_damaged_weights(tiny_prosqa, tmp_path):
    from cocobench.models import build_model_and_tokenizer

    model, tokenizer = build_model_and_tokenizer("gpt2-tiny", train_texts=["a b c"])
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    weights = tmp_path / "model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    result = invoke("run", "--data", tiny_prosqa, "--model", tmp_path / "model", "--out", tmp_path / "run", "--quiet")
    one_line_error(result, "model directory", "damaged or incomplete")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("content", ["99999999999999999999\n", None])
def test_a_damaged_lock(content, tmp_path):
    lock = tmp_path / ".d.lock"
    if content is None:
        lock.mkdir()
        one_line_error(invoke("gen", "mult", "--out", tmp_path / "d", *MULT), "is a directory", "remove it")
    else:
        lock.write_text(content)  # no process has that pid: a stale lock, taken over
        assert invoke("gen", "mult", "--out", tmp_path / "d", *MULT).exit_code == 0
        assert (tmp_path / "d" / "test.json").is_file() and not lock.exists()


@pytest.mark.parametrize("key, value", [("train", "many"), ("train", True), ("balanced", "yes"), ("out", 3)])
def test_suite_generate_options_are_type_checked(key, value):
    from cocobench.cli.gen import generate_from_settings

    with pytest.raises(CocobenchError, match=f"'{key}' of `cocobench gen prontoqa` must be"):
        generate_from_settings("prontoqa", {key: value}, check_only=True)


def test_disk_full_inside_torch_save(tmp_path, monkeypatch):
    """torch.save's error on a full disk carries no errno: extra files go through a buffer, then a plain write."""
    import torch

    import cocobench.models
    from cocobench.models import build_model_and_tokenizer, save_checkpoint

    model, tokenizer = build_model_and_tokenizer("gpt2-tiny", train_texts=["a b c"])
    real_save, real_write = torch.save, Path.write_bytes

    def torch_save(obj, f, *args, **kwargs):
        if isinstance(f, (str, Path)):  # what torch says when the disk fills under it
            raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 0")
        return real_save(obj, f, *args, **kwargs)

    def write_bytes(self, data):
        if self.name == "trainer_state.pt":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(cocobench.models.torch, "save", torch_save)
    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    with pytest.raises(CocobenchError, match="no space left"):
        save_checkpoint(tmp_path / "last", model, tokenizer, {"method": "cot"}, extra_files={"trainer_state.pt": {"epoch": 1}})
    assert not list(tmp_path.iterdir())
