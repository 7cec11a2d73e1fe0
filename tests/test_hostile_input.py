"""Round three of hostile input: unbounded sizes, inputs that used to crash with a traceback, and
inputs that were silently accepted or misleading. Each is one `error: ...` line and exit code 2 (or,
for a misleading input, the behaviour the docs state), with nothing written."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from cocobench.errors import CocobenchError
from tests.conftest import one_line_error
from tests.helpers import invoke

MULT = ["--train", "4", "--valid", "2", "--test", "2", "--quiet"]


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


@pytest.mark.slow
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
        one_line_error(invoke("gen", "mult", "--out", tmp_path / "d", *MULT), "(Is a directory)", "remove it")
    else:
        lock.write_text(content)  # no process has that pid: a stale lock, taken over
        assert invoke("gen", "mult", "--out", tmp_path / "d", *MULT).exit_code == 0
        assert (tmp_path / "d" / "test.json").is_file() and not lock.exists()


@pytest.mark.parametrize("key, value", [("train", "many"), ("train", True), ("balanced", "yes"), ("out", 3)])
def test_suite_generate_options_are_type_checked(key, value):
    from cocobench.tasks import get_generator

    with pytest.raises(CocobenchError, match=f"'{key}' of `cocobench gen prontoqa` must be"):
        get_generator("prontoqa").from_mapping({key: value}, task="prontoqa", where="suite.yaml generate")


@pytest.mark.slow
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


# --- silently accepted or misleading: now refused, or said ---
@pytest.mark.parametrize("min_nodes", ["0", "-5", "5"])
def test_gen_prosqa_min_nodes_too_small(min_nodes, tmp_path):
    result = invoke("gen", "prosqa", "--out", tmp_path / "d", "--min-nodes", min_nodes, "--max-nodes", "8", *MULT)
    one_line_error(result, f"--min-nodes {min_nodes}", "raise --min-nodes")
    assert not (tmp_path / "d").exists()


def test_gen_prontoqa_balanced_needs_even_sizes(tmp_path):
    result = invoke("gen", "prontoqa", "--out", tmp_path / "d", "--balanced", "--train", "4", "--valid", "3", "--test", "2", "--quiet")
    one_line_error(result, "--balanced needs even split sizes", "--valid is 3")
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("task", ["mult", "prontoqa", "prosqa"])
def test_gen_seed_range_is_runs(task, tmp_path):
    one_line_error(invoke("gen", task, "--out", tmp_path / "d", "--seed", "-1", *MULT), "--seed must be in 0..4294967295", "-1")
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("runs, message", [
    ("[{task: prosqa, method: cot, seeds: []}]", "'seeds' must be a non-empty list"),
    ("[{task: prosqa, method: cot, seeds: [true]}]", "'seeds' must be a non-empty list"),
    ("[{task: prosqa, method: cot, seeds: [0], warmup: 'no'}]", "'warmup' must be true or false, got 'no'"),
])
def test_suite_runs_that_would_do_nothing_or_the_opposite(runs, message, tmp_path):
    from cocobench.suite import plan_suite

    suite = tmp_path / "suite.yaml"
    suite.write_text(f"warmup: {{method: cot, epochs: 1}}\nruns: {runs}\n")
    with pytest.raises(CocobenchError, match=message):
        plan_suite(suite, tmp_path / "out")


@pytest.mark.parametrize("text, message", [
    ("lr: 1.0e-4\nepochs: 2\nlr: 2.0e-4\n", "3: malformed YAML \\(key 'lr' given twice\\)"),
    ("max-latent-stage: 2\nmax_latent_stage: 3\n", "'max-latent-stage' and 'max_latent_stage' .* are the same setting"),
])
def test_a_yaml_key_given_twice(text, message, tmp_path):
    from cocobench.config import resolve_config

    (tmp_path / "run.yaml").write_text(text)
    with pytest.raises(CocobenchError, match=message):
        resolve_config(tmp_path / "run.yaml")


def test_a_yaml_merge_key_may_still_be_overridden(tmp_path):
    from cocobench.config import load_yaml

    (tmp_path / "a.yaml").write_text("base: &b {lr: 1, epochs: 2}\nrun:\n  <<: *b\n  lr: 3\n")
    assert load_yaml(tmp_path / "a.yaml")["run"] == {"lr": 3, "epochs": 2}


def test_a_data_directory_with_two_test_splits(tiny_prosqa, tmp_path):
    from cocobench.examples import find_split

    data = tmp_path / "d"
    data.mkdir()
    for name in ("test.json", "test.jsonl"):
        (data / name).write_bytes((tiny_prosqa / "test.json").read_bytes())
    with pytest.raises(CocobenchError, match=r"has 2 test splits \(test.json, test.jsonl\); keep one"):
        find_split(data, "test")


def test_json_and_another_format_together(tiny_prosqa):
    one_line_error(invoke("data", "stats", tiny_prosqa / "test.json", "--json", "--format", "rich"), "--json means --format json", "--format rich")
    assert invoke("data", "stats", tiny_prosqa / "test.json", "--json").exit_code == 0


def test_table_baseline_that_no_row_has(tmp_path):
    from tests.helpers import make_results, write_results

    write_results(tmp_path / "run", make_results(method="coconut"))
    one_line_error(invoke("table", tmp_path / "run", "--baseline", "nosuch"), "unknown --baseline method 'nosuch'", "coconut")
    one_line_error(invoke("table", tmp_path / "run", "--baseline", "cocnut"), "did you mean 'coconut'?")
    result = invoke("table", tmp_path / "run")  # the default baseline, absent: a note, and the table
    assert result.exit_code == 0 and "note: no 'cot' runs" in result.stderr


# --- analyze ---
@pytest.fixture(scope="module")
def coconut(tiny_run):
    """A tiny Coconut run (2 epochs, max_latent_stage 2; evaluated on the first 4 examples): its directory."""
    from tests.helpers import FAST

    return tiny_run("--method", "coconut", "--epochs", "2", "--limit-eval", "4", *FAST)


def test_ksweep_checks_completion_before_loading(tiny_prosqa, tmp_path, monkeypatch):
    import cocobench.checkpoint_eval

    (tmp_path / "ckpt").mkdir()

    def load_for_evaluation(*args, **kwargs):
        raise AssertionError("the checkpoint was loaded before --completion was checked")

    monkeypatch.setattr(cocobench.checkpoint_eval, "load_for_evaluation", load_for_evaluation)
    result = invoke("analyze", "ksweep", tmp_path / "ckpt", "--data", tiny_prosqa, "--completion", "bogus", "--out", tmp_path / "out")
    one_line_error(result, "completion", "bogus", "exact, any")


@pytest.mark.slow
def test_ksweep_overwrite_leaves_no_earlier_k_and_says_whose_limit(coconut, tiny_prosqa, tmp_path):
    best, out = coconut / "checkpoints" / "best", tmp_path / "sweep"
    (out / "mine.txt").parent.mkdir()
    (out / "mine.txt").write_text("the user's")
    result = invoke("analyze", "ksweep", best, "--data", tiny_prosqa, "--k", "0..2", "--out", out, "--overwrite", "--format", "json")
    assert result.exit_code == 0, result.output
    assert "the first 4 of 8 examples, the run's --limit-eval" in result.stderr  # not silently
    result = invoke("analyze", "ksweep", best, "--data", tiny_prosqa, "--k", "0", "--limit-eval", "2", "--out", out, "--overwrite", "--quiet")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["k0", "ksweep.csv", "ksweep.json", "ksweep.png", "mine.txt"] or \
        sorted(p.name for p in out.iterdir()) == ["k0", "ksweep.csv", "ksweep.json", "mine.txt"]  # no matplotlib: no png
    assert json.loads((out / "ksweep.json").read_text())["examples"] == 2
    import inspect

    from cocobench.cli.analyze_model import ksweep_command, probe_command

    for command in (ksweep_command, probe_command):  # what --help says
        assert "[default: the run's --limit-eval" in inspect.signature(command).parameters["limit_eval"].default.help


# --- a run's --config holds run settings only ---
@pytest.mark.parametrize("text, message", [
    ('warmup: "cot 99 epochs #deadbeef"\n', "'warmup' is set by a suite"),
    ("suite_stage: warmup\n", "'suite_stage' is set by a suite"),
    ("resume: true\n", "pass --resume on the command line"),
    ("overwrite: true\n", "pass --overwrite on the command line"),
])
def test_run_config_file_cannot_set_suite_or_directory_keys(text, message, tiny_prosqa, tmp_path):
    (tmp_path / "run.yaml").write_text(text)
    one_line_error(invoke("run", "--data", tiny_prosqa, "--config", tmp_path / "run.yaml", "--out", tmp_path / "run", "--quiet"), message)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_saved_config_yaml_is_still_a_config_file(coconut, tiny_prosqa, tmp_path):
    from cocobench.cli.run import check_config_file

    check_config_file(coconut / "config.yaml")  # warmup: null, resume: false, ...: nothing set


# --- a split that is there but is no file ---
@pytest.mark.parametrize("kind, message", [
    ("dangling", "is a broken symbolic link (to 'nowhere')"), ("loop", "is a symbolic link loop"),
    ("fifo", "is a FIFO, not a regular file"), ("device", "is a device, not a regular file"),
])
def test_a_test_split_that_is_no_regular_file(kind, message, tiny_prosqa, tmp_path):
    import os

    from cocobench.examples import find_split, load_examples

    data = tmp_path / "d"
    data.mkdir()
    test = data / "test.json"
    {"dangling": lambda: test.symlink_to("nowhere"), "loop": lambda: test.symlink_to("test.json"),
     "fifo": lambda: os.mkfifo(test), "device": lambda: test.symlink_to("/dev/zero")}[kind]()
    for read in (lambda: find_split(data, "test"), lambda: load_examples(test)):
        with pytest.raises(CocobenchError, match=message.replace("(", r"\(").replace(")", r"\)")):
            read()


# --- killed writers and SIGTERM ---
def test_a_later_write_removes_what_killed_writers_left(tmp_path):
    import subprocess
    import sys

    from cocobench.io import _host, atomic_directory, atomic_write_json

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    dead = int(gone.stdout)  # a process of this host that no longer exists
    killed = [tmp_path / f".paths.json.{_host()}-{dead}.ab12cd34.tmp", tmp_path / f".data.{_host()}-{dead}.ab12cd34.tmp"]
    killed[0].write_text("{")
    (killed[1] / "sub").mkdir(parents=True)
    alive = [tmp_path / f".paths.json.{_host()}-1.ef56gh78.tmp", tmp_path / f".paths.json.0a1b2c3d-{dead}.ef56gh78.tmp"]  # a live writer; another host's
    for path in alive:
        path.write_text("{")
    atomic_write_json(tmp_path / "paths.json", {"a": 1})
    with atomic_directory(tmp_path / "data") as tmp:
        (tmp / "test.json").write_text("[]")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["paths.json", "data", *(p.name for p in alive)])


def test_gen_overwrite_over_a_symlinked_directory_leaves_nothing_aside(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    assert invoke("gen", "mult", "--out", tmp_path / "link", "--overwrite", *MULT).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"] and (tmp_path / "link" / "test.json").is_file()


@pytest.mark.slow
def test_sigterm_is_handled_as_ctrl_c(tmp_path):
    """`timeout`, Slurm and `docker stop` send SIGTERM: the command says so, exits 130 and releases its lock."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "d"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    process = subprocess.Popen([sys.executable, "-m", "cocobench", "gen", "prosqa", "--out", str(out), "--train", "1000000", "--quiet"],
                               stderr=subprocess.PIPE, text=True, env=env)
    lock = tmp_path / ".d.lock"
    for _ in range(600):  # until it holds --out (a minute at most)
        if lock.exists() or process.poll() is not None:
            break
        time.sleep(0.1)
    assert lock.exists(), process.stderr.read() if process.poll() is not None else "no lock"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and stderr.strip().splitlines() == ["interrupted: stopped by SIGTERM"], stderr
    assert not lock.exists() and not out.exists() and not list(tmp_path.glob(".d.*"))


# --- CI: the GPU check's dry run has no time limits ---
def test_gpu_check_dry_run_steps_have_no_time_limit(tmp_path):
    """The limits are sized for a GPU: a loaded CPU (CI) running the dry run must not fail for them."""
    import os
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "timeout").write_text(f'#!/bin/sh\necho "$1" >> {tmp_path}/limits\nshift\nexec "$@"\n')
    (bin_dir / "timeout").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHON": "true"}  # `true`: every step passes at once
    (tmp_path / "data").mkdir()
    result = subprocess.run(["bash", str(repo / "benchmarks" / "gpu_check.sh"), "--dry-run", "--out", str(tmp_path / "out"),
                             "--data", str(tmp_path / "data")], env=env, capture_output=True, text=True, timeout=60)
    limits = (tmp_path / "limits").read_text().split()
    assert limits and set(limits) == {"0"}, (limits, result.stdout)
    assert "(limit none)" in result.stdout
