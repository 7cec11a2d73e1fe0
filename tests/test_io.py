"""Atomic writes under injected faults: a write or a rename that fails midway leaves the old file (or
checkpoint directory) whole, and no temporary file behind. Without this, only a real crash would
show a results.json written in place."""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
from pathlib import Path

import pytest

from cocobench.errors import CocobenchError
from cocobench.io import atomic_directory
from cocobench.results import RESULTS_FILE, write_results

OLD = {"metrics": {"accuracy": 0.5}, "samples": [{"idx": 0, "text": "### old"}]}
NEW = {"metrics": {"accuracy": 1.0}, "samples": [{"idx": i, "text": "### new " * 50} for i in range(100)]}


class HalfWrite:
    """A writable file whose first write puts half its data on disk, then fails like a full disk."""

    def __init__(self, file):
        self._file = file

    def write(self, data):
        self._file.write(data[: len(data) // 2])
        self._file.flush()
        raise OSError(errno.ENOSPC, "No space left on device (injected)")

    def __getattr__(self, name):
        return getattr(self._file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()


def failing_writes(monkeypatch):
    """Every file opened for writing from now on (open, Path.write_text, os.fdopen) fails midway."""
    real_open = io.open

    def open_(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        return HalfWrite(f) if any(c in mode for c in "wax+") else f

    monkeypatch.setattr(io, "open", open_)
    monkeypatch.setattr(builtins, "open", open_)


def failing_rename(monkeypatch, when=lambda src, dst: True):
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if when(str(src), str(dst)):
            raise OSError(errno.EIO, "Input/output error (injected)")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("fault", [failing_writes, failing_rename], ids=["write-fails-midway", "rename-fails"])
def test_results_json_survives_a_failed_write(fault, tmp_path, monkeypatch):
    write_results(tmp_path, OLD)
    with monkeypatch.context() as patch:
        fault(patch)
        with pytest.raises((OSError, CocobenchError), match="injected"):  # a full disk is the one-line error
            write_results(tmp_path, NEW)
    assert json.loads((tmp_path / RESULTS_FILE).read_text()) == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == [RESULTS_FILE]  # no temporary file left
    write_results(tmp_path, NEW)  # and the next write goes through, leaving nothing else either
    assert json.loads((tmp_path / RESULTS_FILE).read_text()) == NEW
    assert sorted(p.name for p in tmp_path.iterdir()) == [RESULTS_FILE]


def write_checkpoint(path, text: str) -> None:
    with atomic_directory(path) as tmp:
        (tmp / "weights.txt").write_text(text)
        (tmp / "config.json").write_text("{}")


@pytest.mark.parametrize(
    "fault",
    [
        lambda patch: failing_writes(patch),
        lambda patch: failing_rename(patch, when=lambda src, dst: dst.endswith(".old")),  # setting the old one aside
        lambda patch: failing_rename(patch, when=lambda src, dst: src.endswith(".tmp")),  # moving the new one in
    ],
    ids=["write-fails-midway", "first-rename-fails", "second-rename-fails"],
)
def test_checkpoint_directory_survives_a_failed_write(fault, tmp_path, monkeypatch):
    last = tmp_path / "last"
    write_checkpoint(last, "old weights")
    with monkeypatch.context() as patch:
        fault(patch)
        with pytest.raises((OSError, CocobenchError), match="injected"):  # a full disk is the one-line error
            write_checkpoint(last, "new weights")
    assert (last / "weights.txt").read_text() == "old weights"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]  # no .tmp or .old directory left
    write_checkpoint(last, "new weights")
    assert (last / "weights.txt").read_text() == "new weights" and sorted(p.name for p in tmp_path.iterdir()) == ["last"]


@pytest.mark.slow
@pytest.mark.deadline(30)  # it waits on a lock: a holder never seen to go would hang it
def test_directory_lock_is_exclusive_reentrant_and_waits_for_a_live_holder(tmp_path, monkeypatch):
    import threading

    from cocobench import io
    from cocobench.io import LOCK_FILE, DirectoryInUse, directory_lock
    from tests.conftest import held_by_another_process

    with directory_lock(tmp_path / "run") as held:
        assert (held / LOCK_FILE).read_text().strip() == str(os.getpid())
        with directory_lock(tmp_path / "run"):  # this process's own lock is held again (suite, then run)...
            pass
        assert (held / LOCK_FILE).is_file()  # ...and only the outer holder releases it
    assert not (tmp_path / "run").exists()  # made for the lock and left empty: removed again
    with held_by_another_process(tmp_path / "held") as other:
        with pytest.raises(DirectoryInUse, match=rf"is in use by cocobench \(pid {other.pid}\)") as refused:
            with directory_lock(tmp_path / "held"):
                pass
        assert refused.value.holder == other.pid
    # With wait=True a live holder is waited for, and its lock taken once it lets go.
    monkeypatch.setattr(io, "LOCK_POLL_SECONDS", 0.02)
    with held_by_another_process(tmp_path / "held") as other:
        threading.Timer(1.0, other.stdin.close).start()  # it lets go in a second
        with directory_lock(tmp_path / "held", wait=True):
            assert other.wait(timeout=30) == 0  # we got it only once the holder was done
            assert (tmp_path / "held" / LOCK_FILE).read_text().strip() == str(os.getpid())
    assert not (tmp_path / "held" / LOCK_FILE).exists()


def test_a_killed_holders_lock_is_taken_at_once(tmp_path):
    """The OS lets go of a killed process's lock: nothing is left to wait for or to clean up by hand."""
    import signal

    from cocobench.io import LOCK_FILE, directory_lock
    from tests.conftest import held_by_another_process

    with held_by_another_process(tmp_path / "kept") as other:
        os.kill(other.pid, signal.SIGKILL)
        other.wait()
        assert (tmp_path / "kept" / LOCK_FILE).read_text().strip() == str(other.pid)  # its lock file is left behind
        with directory_lock(tmp_path / "kept"):
            assert (tmp_path / "kept" / LOCK_FILE).read_text().strip() == str(os.getpid())
    assert (tmp_path / "kept").is_dir() and not (tmp_path / "kept" / LOCK_FILE).exists()


@pytest.mark.parametrize("content", ["live", "0\n", "-1\n", "garbage \x00\xff", ""])
def test_a_lock_file_no_process_holds_is_taken_whatever_it_says(content, tmp_path):
    """Only the OS lock counts, not the file's text: a file naming a live process that holds nothing
    (a reused pid: a `sleep`), pid 0 or -1, garbage or nothing neither blocks nor crashes."""
    import subprocess
    import sys

    from cocobench.io import LOCK_FILE, directory_lock

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / LOCK_FILE).write_text(f"{sleeper.pid}\n" if content == "live" else content)
        with directory_lock(tmp_path / "run"):  # "in use by cocobench (pid N)" if the text were trusted
            assert (tmp_path / "run" / LOCK_FILE).read_text() == f"{os.getpid()}\n"
        (tmp_path / "run" / LOCK_FILE).write_text(f"{sleeper.pid}\n" if content == "live" else content)
        with directory_lock(tmp_path / "run", wait=True):  # and a suite's wait would never end
            pass
    finally:
        sleeper.kill()
        sleeper.wait()
    assert not (tmp_path / "run" / LOCK_FILE).exists()


def test_a_directory_where_the_lock_file_goes_is_one_line(tmp_path):
    from cocobench.io import LOCK_FILE, directory_lock

    (tmp_path / "run" / LOCK_FILE).mkdir(parents=True)
    with pytest.raises(CocobenchError, match=r"cannot lock .*is not a lock cocobench can use \(Is a directory\); remove it"):
        with directory_lock(tmp_path / "run", wait=True):
            pass
    assert (tmp_path / "run" / LOCK_FILE).is_dir()  # the user's, left alone


def test_remove_outputs_is_all_or_nothing(tmp_path, monkeypatch):
    """One output that cannot be removed (here: cannot be moved) leaves every output in place, in one line."""
    import cocobench.io
    from cocobench.errors import CocobenchError
    from cocobench.io import remove_outputs

    (tmp_path / "checkpoints" / "best").mkdir(parents=True)
    (tmp_path / "checkpoints" / "best" / "model.safetensors").write_text("weights")
    (tmp_path / "config.yaml").write_text("lr: 1")
    (tmp_path / "results.json").write_text("{}")
    rename = os.rename

    def refusing(src, dst, *args, **kwargs):
        if Path(src).name == "results.json":
            raise PermissionError(1, "Operation not permitted")
        return rename(src, dst, *args, **kwargs)

    monkeypatch.setattr(cocobench.io.os, "rename", refusing)
    with pytest.raises(CocobenchError, match="cannot remove .*results.json.*nothing was removed"):
        remove_outputs(tmp_path, ("checkpoints", "config.yaml", "results.json"))
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "checkpoints", "checkpoints/best", "checkpoints/best/model.safetensors", "config.yaml", "results.json"]
    monkeypatch.undo()
    remove_outputs(tmp_path, ("checkpoints", "config.yaml", "results.json"))
    assert list(tmp_path.iterdir()) == []
