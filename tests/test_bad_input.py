"""Every bad input is one `error: ...` line and exit code 2, with nothing half-written: damaged
checkpoints, sequences past the model's positions, non-finite numbers, wrong-kind paths, a full disk."""

from __future__ import annotations

import errno
import json
import os
import shutil

import pytest

from cocobench.errors import CocobenchError
from tests.conftest import one_line_error
from tests.helpers import invoke

FAST = ["--model", "gpt2-tiny", "--batch-size", "8", "--grad-accum", "1", "--max-new-tokens", "8", "--eval-batch-size", "8",
        "--max-latent-stage", "2", "--epochs-per-stage", "1", "--limit-train", "16", "--limit-eval", "4", "--quiet"]


@pytest.fixture(scope="module")
def trained(tiny_run):
    """A finished one-epoch CoT run (its checkpoints are copied and damaged by the tests)."""
    return tiny_run("--method", "cot", "--epochs", "1", *FAST)


def damaged_copy(src, dst, file, damage):
    shutil.copytree(src, dst)
    target = dst / file
    target.write_bytes(damage(target.read_bytes()))
    return dst


RANDOM = lambda data: os.urandom(max(64, len(data) // 4))  # noqa: E731
TRUNCATED = lambda data: data[: len(data) // 3]  # noqa: E731


@pytest.mark.slow
@pytest.mark.parametrize("file, damage", [
    ("model.safetensors", RANDOM), ("model.safetensors", TRUNCATED), ("cocobench.json", TRUNCATED), ("config.json", TRUNCATED),
])
def test_damaged_checkpoint_for_eval_and_init_from(file, damage, trained, tiny_prosqa, tmp_path):
    checkpoint = damaged_copy(trained / "checkpoints" / "best", tmp_path / "ckpt", file, damage)
    one_line_error(invoke("eval", "--checkpoint", checkpoint, "--data", tiny_prosqa, "--out", tmp_path / "eval", "--quiet"), "is damaged or incomplete")
    result = invoke("run", "--data", tiny_prosqa, "--method", "cot", "--epochs", "1", "--init-from", checkpoint, "--out", tmp_path / "run", *FAST)
    one_line_error(result, str(checkpoint), "damaged")
    assert not (tmp_path / "eval").exists() and not (tmp_path / "run").exists()  # nothing is left behind


@pytest.mark.slow
@pytest.mark.parametrize("damage", [RANDOM, TRUNCATED])
def test_damaged_trainer_state_on_resume(damage, trained, tiny_prosqa, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    (run / "results.json").unlink()
    state = run / "checkpoints" / "last" / "trainer_state.pt"
    state.write_bytes(damage(state.read_bytes()))
    result = invoke("run", "--data", tiny_prosqa, "--method", "cot", "--epochs", "2", "--out", run, "--resume", *FAST)
    one_line_error(result, "trainer_state.pt", "damaged")
    assert not (run / "results.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("args, option", [
    (["--method", "cot", "--max-new-tokens", "100000"], "--max-new-tokens"),
    (["--method", "pause", "--pause-tokens", "2000"], "--pause-tokens"),
    (["--method", "coconut-no-curriculum", "--max-latent-stage", "2000"], "--max-latent-stage"),
    (["--method", "coconut", "--max-latent-stage", "2000"], "--max-latent-stage"),
])
def test_sequences_past_the_models_positions_are_rejected_before_any_work(args, option, tiny_prosqa, tmp_path):
    result = invoke("run", "--data", tiny_prosqa, "--out", tmp_path / "run", "--epochs", "1", *FAST[:-1], *args, "--quiet")
    one_line_error(result, "1024 positions", f"lower {option}")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_long_questions_and_eval_generation_are_checked(trained, tiny_prosqa, tmp_path):
    long = tmp_path / "long.json"
    example = json.loads((tiny_prosqa / "test.json").read_text())[0]
    long.write_text(json.dumps([{**example, "question": " ".join(["Tom"] * 1500)}]))
    best = trained / "checkpoints" / "best"
    one_line_error(invoke("eval", "--checkpoint", best, "--data", long, "--out", tmp_path / "a", "--quiet"), "1024 positions", "questions")
    result = invoke("eval", "--checkpoint", best, "--data", tiny_prosqa, "--max-new-tokens", "100000", "--out", tmp_path / "b", "--quiet")
    one_line_error(result, "--max-new-tokens")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize("args, message", [
    (["--lr", "nan"], "--lr must be a finite number"),
    (["--lr", "inf"], "--lr must be a finite number"),
    (["--weight-decay", "nan"], "--weight-decay must be a finite number"),
    (["--uniform-prob", "nan"], "--uniform-prob must be a finite number"),
    (["--grad-clip", "-1"], "--grad-clip"),
    (["--grad-clip", "0"], "--grad-clip"),
    (["--seed", str(2**70)], "--seed must be in 0..4294967295"),
    (["--seed", "-1"], "--seed must be in"),
])
def test_numbers_no_setting_accepts(args, message, tiny_prosqa, tmp_path):
    one_line_error(invoke("run", "--data", tiny_prosqa, "--method", "cot", "--out", tmp_path / "run", "--quiet", *args), message)
    assert not (tmp_path / "run").exists()


def test_yaml_nan_and_binary_yaml(tiny_prosqa, tmp_path):
    nan = tmp_path / "nan.yaml"
    nan.write_text("method: cot\nlr: .nan\n")
    one_line_error(invoke("run", "--data", tiny_prosqa, "--config", nan, "--quiet"), "--lr must be a finite number")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00\x81\x9c binary")
    one_line_error(invoke("run", "--data", tiny_prosqa, "--config", binary, "--quiet"), "not UTF-8")
    one_line_error(invoke("suite", binary, "--out", tmp_path / "suite", "--quiet"), "not UTF-8")
    one_line_error(invoke("run", "--data", tiny_prosqa, "--config", tmp_path, "--quiet"), "is a directory")


def test_removal_smoothing_may_still_be_infinite():
    from cocobench.config import resolve_config

    assert resolve_config(overrides={"task": "prosqa", "method": "icot", "removal_smoothing": float("inf")}).removal_smoothing == float("inf")


def test_gen_mult_digits_has_a_maximum(tmp_path):
    one_line_error(invoke("gen", "mult", "--digits", "100000", "--out", tmp_path / "m"), "--digits must be at most 20")
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_data_files_of_the_wrong_shape(trained, tiny_prosqa, tmp_path):
    best = trained / "checkpoints" / "best"
    surrogate = tmp_path / "surrogate.json"
    surrogate.write_text('[{"question": "Is Tom \\ud800 a cat?", "steps": [], "answer": "yes"}]')
    one_line_error(invoke("eval", "--checkpoint", best, "--data", surrogate, "--quiet"), "surrogate.json: example 0", "lone surrogate")
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps({"question": "q", "steps": [], "answer": "a"}, indent=2))
    one_line_error(invoke("eval", "--checkpoint", best, "--data", pretty, "--quiet"), "expected a JSON array of examples")
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    one_line_error(invoke("eval", "--checkpoint", best, "--data", empty, "--out", tmp_path / "e", "--quiet"), "no examples to evaluate")
    assert not (tmp_path / "e").exists()


@pytest.mark.parametrize("text, message", [
    ('[{"question": "q", "steps": [], "answer": "a"}, {"question": "q \\ud800", "steps": [], "answer": "a"}]', "f.json: example 1: a lone surrogate"),
    ('[{"question": "q", "steps": [], "answer": "a", "\\udfff": 1}]', "f.json: example 0: a lone surrogate"),  # in a key
    ('[{"question": "\\ud83d\\ude00", "steps": [], "answer": "a"}, {"question": "q", "steps": ["s", 3], "answer": "a"}]',
     "f.json: example 1: every entry of 'steps' must be a string"),
    ('[{"question": "q", "steps": [], "answer": "a"}, {"question": "q", "steps": "s", "answer": "a"}]', "f.json: example 1: field 'steps' must be a list"),
    ('[{"question": "q", "steps": [], "answer": "a"}, ["q"]]', "f.json: example 1: expected a JSON object"),
    ('[{"question": "q", "steps": [], "answer": 1}]', "f.json: example 0: field 'answer' must be a str"),
    ('{"question": "q", "steps": [], "answer": "a"}\r\n\r\n{"question": "q", "steps": [], "answer": "\\uD800"}\r\n', "f.jsonl:3: a lone surrogate"),
    ('{"question": "q", "steps": [], "answer": "a"}\r{"steps": [], "answer": "a"}\r', "f.jsonl:2: missing field 'question'"),
])  # fmt: skip
def test_each_example_is_checked_and_the_first_bad_one_named(text, message, tmp_path):
    from cocobench.examples import load_examples

    file = tmp_path / ("f.jsonl" if message.startswith("f.jsonl") else "f.json")
    file.write_bytes(text.encode())
    with pytest.raises(CocobenchError) as error:
        load_examples(file)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_what_loads_and_the_fingerprint_of_the_bytes_read(tmp_path):
    from cocobench.examples import load_examples, read_examples
    from cocobench.io import file_fingerprint

    file = tmp_path / "f.json"
    file.write_text('[{"question": "\\ud83d\\ude00 \\\\ud800", "steps": ["a"], "answer": "b", "extra": [1, null, {"x": 2.5}]}]')  # a pair, an escaped backslash
    examples, fingerprint = read_examples(file)
    assert examples == [{"question": "\U0001F600 \\ud800", "steps": ["a"], "answer": "b", "extra": [1, None, {"x": 2.5}]}]
    assert fingerprint == file_fingerprint(file)
    lines = tmp_path / "f.jsonl"
    lines.write_bytes(b'{"question": "q", "steps": [], "answer": "a"}\r\n{"question": "r", "steps": ["s"], "answer": "b"}\r\n')
    assert load_examples(lines) == [{"question": "q", "steps": [], "answer": "a"}, {"question": "r", "steps": ["s"], "answer": "b"}]


@pytest.mark.slow
def test_paths_of_the_wrong_kind(trained, tiny_prosqa, tmp_path):
    best = trained / "checkpoints" / "best"
    one_line_error(invoke("run", "--data", tiny_prosqa / "test.json", "--method", "cot", "--quiet"), "is a file", "train/valid/test")
    one_line_error(invoke("eval", "--checkpoint", best / "config.json", "--data", tiny_prosqa, "--quiet"), "is a file, not a directory")
    one_line_error(invoke("run", "--data", tiny_prosqa, "--method", "cot", "--init-from", best / "config.json", "--out", tmp_path / "r", "--quiet"),
                   "--init-from", "is a file")
    from cocobench.examples import load_examples

    with pytest.raises(CocobenchError, match="is a directory"):
        load_examples(tiny_prosqa)


def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_while_writing_data(tmp_path, monkeypatch):
    import cocobench.io

    monkeypatch.setattr(cocobench.io.os, "fsync", disk_full)
    result = invoke("gen", "mult", "--out", tmp_path / "m", "--train", "10", "--valid", "5", "--test", "5", "--quiet")
    one_line_error(result, "no space left", str(tmp_path / "m"), "run the command again")
    assert not [p for p in (tmp_path / "m").glob("*") if p.is_file()]  # no partial file


@pytest.mark.slow
def test_disk_full_while_writing_checkpoints_and_results(tiny_prosqa, tmp_path, monkeypatch):
    def save_fails(self, *args, **kwargs):
        disk_full()

    monkeypatch.setattr("transformers.PreTrainedModel.save_pretrained", save_fails)
    run = tmp_path / "run"
    result = invoke("run", "--data", tiny_prosqa, "--method", "cot", "--epochs", "1", "--out", run, *FAST)
    one_line_error(result, "no space left", "checkpoints", "--resume")
    assert not list((run / "checkpoints").glob(".*")) and not (run / "checkpoints" / "last").exists()
    monkeypatch.undo()
    import cocobench.io

    with pytest.raises(CocobenchError, match="no space left"):  # safetensors and torch.save say it in their own exceptions
        with cocobench.io.atomic_directory(tmp_path / "ckpt"):
            raise RuntimeError("Error while serializing: IoError(No space left on device (os error 28))")
    assert not (tmp_path / "ckpt").exists() and not list(tmp_path.glob(".ckpt*"))

    real_write_text = cocobench.io.atomic_write_text

    def results_write_fails(path, text):  # the disk fills up just as results.json is written
        if str(path).endswith("results.json"):
            monkeypatch.setattr(cocobench.io.os, "fsync", disk_full)
        real_write_text(path, text)

    monkeypatch.setattr(cocobench.io, "atomic_write_text", results_write_fails)
    result = invoke("run", "--data", tiny_prosqa, "--method", "cot", "--epochs", "1", "--out", tmp_path / "run2", *FAST)
    one_line_error(result, "no space left", "results.json")
    assert not (tmp_path / "run2" / "results.json").exists() and not list((tmp_path / "run2").glob(".results*"))


def test_a_directory_that_takes_no_files_is_one_line(tmp_path, monkeypatch):
    """A read-only or virtual file system (where os.access may still say writable, e.g. for root): the
    first temporary file fails, in one line naming the directory, and nothing is left behind."""
    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    result = invoke("gen", "mult", "--out", tmp_path / "m", "--train", "10", "--valid", "5", "--test", "5", "--quiet")
    one_line_error(result, f"cannot write in '{tmp_path}'", "Read-only file system", "choose another --out")
    assert not list(tmp_path.iterdir())
    import cocobench.io

    for write in (lambda: cocobench.io.atomic_write_text(tmp_path / "results.json", "{}"), lambda: cocobench.io.atomic_directory(tmp_path / "last").__enter__()):
        with pytest.raises(CocobenchError, match="cannot write in"):
            write()


@pytest.mark.slow
@pytest.mark.parametrize("file, damage", [
    ("start.json", TRUNCATED), ("start.json", lambda data: b"[1, 2]"), ("checkpoints/best/cocobench.json", TRUNCATED),
])
def test_damaged_run_records_on_resume(file, damage, trained, tiny_prosqa, tmp_path):
    """What a run wrote at its start (start.json) or beside its weights (cocobench.json), damaged: a resume
    stops in one line naming the file, before any work."""
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    (run / "results.json").unlink()
    target = run / file
    target.write_bytes(damage(target.read_bytes()))
    one_line_error(invoke("run", "--out", run, "--resume", "--quiet"), "damaged", str(target.parent if file.endswith("cocobench.json") else target))
    assert not (run / "results.json").exists()
