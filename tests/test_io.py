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


def test_directory_lock_is_exclusive_and_a_dead_holders_lock_is_taken_over(tmp_path, monkeypatch):
    import subprocess
    import sys
    import threading

    from cocobench import io
    from cocobench.io import LOCK_FILE, DirectoryInUse, directory_lock

    with directory_lock(tmp_path / "run") as held:
        assert (held / LOCK_FILE).read_text().strip() == str(os.getpid())
        with directory_lock(tmp_path / "run"):  # this process's own lock is held again (suite, then run)...
            pass
        assert (held / LOCK_FILE).is_file()  # ...and only the outer holder releases it
    assert not (tmp_path / "run").exists()  # made for the lock and left empty: removed again
    (tmp_path / "held").mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "held" / LOCK_FILE).write_text(f"{other.pid}\n")
        with pytest.raises(DirectoryInUse, match=rf"is in use by cocobench \(pid {other.pid}\)") as refused:
            with directory_lock(tmp_path / "held"):
                pass
        assert refused.value.holder == other.pid
    finally:
        other.kill()
        other.wait()
    # With wait=True a live holder is waited for, and its lock taken once it lets go.
    monkeypatch.setattr(io, "LOCK_POLL_SECONDS", 0.02)
    brief = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    (tmp_path / "held" / LOCK_FILE).write_text(f"{brief.pid}\n")
    threading.Thread(target=brief.wait).start()  # reaped when it exits (a zombie still answers kill(pid, 0))
    with directory_lock(tmp_path / "held", wait=True):
        assert brief.returncode == 0  # we got it only once the holder was gone
        assert (tmp_path / "held" / LOCK_FILE).read_text().strip() == str(os.getpid())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / LOCK_FILE).write_text(dead.stdout)  # a killed process's lock
    with directory_lock(tmp_path / "kept"):
        assert (tmp_path / "kept" / LOCK_FILE).read_text().strip() == str(os.getpid())
    assert (tmp_path / "kept").is_dir() and not (tmp_path / "kept" / LOCK_FILE).exists()


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
