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


@pytest.mark.slow
def test_two_gens_into_one_directory_the_second_is_refused(tmp_path):
    """A real second process: while one `gen` generates into OUT (held inside its generator), another
    `gen` into OUT stops in one line naming the first one's pid and writes nothing; the first then
    writes its splits whole, the same bytes as a gen nobody disturbed."""
    import os
    import subprocess
    import sys
    import time

    out, started, release = tmp_path / "out", tmp_path / "started", tmp_path / "release"
    child_code = f"""
import pathlib, sys, time
import cocobench.tasks.prosqa as prosqa
real = prosqa.generate_splits
def held(*args, **kwargs):
    pathlib.Path({str(started)!r}).touch()
    while not pathlib.Path({str(release)!r}).exists():
        time.sleep(0.05)
    return real(*args, **kwargs)
prosqa.generate_splits = held
sys.argv = ["cocobench", "gen", "prosqa", "--out", {str(out)!r}, "--seed", "1", *{SMALL!r}, "--quiet"]
from cocobench.cli import main
main()
"""
    child = subprocess.Popen([sys.executable, "-c", child_code], env=os.environ.copy(), stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(1200):  # the child holds the lock once it is inside its generator
            if started.exists() or child.poll() is not None:
                break
            time.sleep(0.05)
        assert started.exists(), child.stderr.read() if child.poll() is not None else "the first gen never started generating"
        second = gen("prosqa", "--out", out, "--seed", "0", *SMALL, "--quiet", "--overwrite")
        one_line_error(second, f"'{out}' is in use by cocobench (pid {child.pid})")
        assert not out.exists()  # the second wrote nothing
        release.touch()
        assert child.wait(timeout=120) == 0, child.stderr.read()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert gen("prosqa", "--out", tmp_path / "undisturbed", "--seed", "1", *SMALL, "--quiet").exit_code == 0
    for file in ("train.json", "valid.json", "test.json", "meta.json"):
        assert (out / file).read_bytes() == (tmp_path / "undisturbed" / file).read_bytes(), file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "release", "started", "undisturbed"]  # no lock or temporary left


@pytest.mark.slow
def test_gen_takes_over_a_dead_gens_lock_and_refuses_a_live_ones(tmp_path):
    import os
    import signal

    from tests.conftest import held_by_another_process

    out = tmp_path / "out"
    lock = tmp_path / ".out.lock"
    with held_by_another_process(out, beside=True) as killed:
        os.kill(killed.pid, signal.SIGKILL)  # a killed gen: its lock file stays, its OS lock goes
        killed.wait()
        assert lock.read_text().strip() == str(killed.pid)
        assert gen("prosqa", "--out", out, *SMALL, "--quiet").exit_code == 0
    assert not lock.exists() and sorted(p.name for p in out.iterdir()) == ["meta.json", "test.json", "train.json", "valid.json"]
    with held_by_another_process(out, beside=True) as other:
        for task in ("prosqa", "mult"):
            one_line_error(gen(task, "--out", out, *SMALL, "--quiet", "--overwrite"), f"'{out}' is in use by cocobench (pid {other.pid})")


def test_gen_has_one_command_per_generator_and_one_option_per_setting():
    """`gen TASK` is made from the task's generator settings (cocobench/tasks/generator.py): the commands are
    the registry's tasks with a generator, the options the settings' fields in order, then -q."""
    import inspect
    from dataclasses import fields

    from cocobench.cli.gen import gen_app
    from cocobench.tasks import generator_names, get_generator
    from cocobench.tasks.generator import option_flag

    commands = {info.name: info.callback for info in gen_app.registered_commands}
    assert list(commands) == generator_names() == ["prosqa", "prontoqa", "mult", "gsm"]
    for name, command in commands.items():
        settings = fields(get_generator(name))
        parameters = inspect.signature(command).parameters.values()
        assert [(p.name, p.default.param_decls[0]) for p in parameters] == [(f.name, option_flag(f)) for f in settings] + [("quiet", "--quiet")]


def test_a_suites_generate_entry_is_checked_against_the_generators_settings(tmp_path, monkeypatch):
    from cocobench.errors import CocobenchError
    from cocobench.suite import _generate

    monkeypatch.chdir(tmp_path)
    for key, value, message in [("min-hops", 2.5, "'min_hops' of `cocobench gen prosqa` must be an integer, got 2.5"),
                                ("format", 3, "'format' of `cocobench gen prosqa` must be language or symbolic, got 3"),
                                ("balanced", True, "'balanced' is not an option of `cocobench gen prosqa`; its options: out, overwrite, seed")]:
        with pytest.raises(CocobenchError, match=message):
            _generate({"task": "prosqa", "out": "x", key: value}, "s.yaml", quiet=True)
    assert not (tmp_path / "x").exists()


def test_a_suite_keeps_the_symbolic_prosqa_it_generated(tmp_path, monkeypatch):
    """Its meta.json says prosqa-symbolic, the task `gen prosqa --format symbolic` writes: the same entry keeps it."""
    from cocobench.suite import _generate

    monkeypatch.chdir(tmp_path)
    entry = {"task": "prosqa", "out": "sym", "format": "symbolic", "train": 6, "valid": 2, "test": 2}
    _generate(dict(entry), "s.yaml", quiet=True)
    stamp = (tmp_path / "sym" / "train.json").stat().st_mtime_ns
    _generate(dict(entry), "s.yaml", quiet=True)
    assert (tmp_path / "sym" / "train.json").stat().st_mtime_ns == stamp

