"""The directory lock with real processes, as a user meets it: a live holder refuses a second process
with the one-line 'in use' error, and the lock of a holder that was killed (no clean-up ran) is taken
over in seconds, by a process that waits for locks (a suite waiting for a warm-up) or not (`run
--resume` after a kill). Every wait here has a deadline, so a lock that is never released fails the
test with a message instead of hanging the whole suite."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEADLINE_SECONDS = 30  # a take-over needs well under a second; this leaves room for a loaded 2-core machine

HOLD = """
import pathlib, sys, time
from cocobench.io import directory_lock
with directory_lock(sys.argv[1]):
    pathlib.Path(sys.argv[2]).touch()
    time.sleep(600)
"""
TAKE = """
import sys
from cocobench.io import DirectoryInUse, directory_lock
try:
    with directory_lock(sys.argv[1], wait=sys.argv[2] == "wait"):
        print("taken")
except DirectoryInUse as exc:
    print(exc)
"""


def python(code: str, *args) -> list[str]:
    return [sys.executable, "-c", code, *map(str, args)]


ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


def take(path: Path, how: str) -> str:
    """What a second process says when it asks for the lock on `path` (`how`: "wait" or "no-wait")."""
    try:
        done = subprocess.run(python(TAKE, path, how), cwd=REPO, env=ENV, capture_output=True, text=True, timeout=DEADLINE_SECONDS)
    except subprocess.TimeoutExpired:  # run() has killed it
        done = None
    if done is None:
        pytest.fail(f"a {how} lock on '{path}' was still not taken after {DEADLINE_SECONDS} s")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["wait", "no-wait"])
def test_a_live_holder_refuses_and_a_killed_holders_lock_is_taken_over(how, tmp_path):
    run_dir, holding = tmp_path / "run", tmp_path / "holding"
    holder = subprocess.Popen(python(HOLD, run_dir, holding), cwd=REPO, env=ENV, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not holding.exists() and holder.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert holding.exists(), holder.stderr.read() if holder.poll() is not None else f"the holder took no lock in {DEADLINE_SECONDS} s"
        refused = take(run_dir, "no-wait")
        assert refused.startswith(f"'{run_dir}' is in use by cocobench") and "\n" not in refused, refused
        holder.kill()  # SIGKILL: no `finally`, no clean-up; the lock is left as a crash leaves it
        holder.wait(timeout=DEADLINE_SECONDS)  # reaped: a zombie would still look alive
        assert take(run_dir, how) == "taken"
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
