"""Shared fixtures: tiny deterministic data for end-to-end tests, and the shared/ data location."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[2] / "shared"

# One torch thread per test process: the models are tiny, so threads only add synchronisation, and a
# second busy process on a 2-core machine makes 2-thread OpenMP kernels stall badly.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)


# A backstop for every test: the slowest takes about a minute, so one still running after this has hung
# (a lock or a process that never lets go) and fails with its name instead of holding CI until it is
# killed. Tests that wait on a lock or a process set a tighter one: @pytest.mark.deadline(seconds).
DEFAULT_DEADLINE_SECONDS = 900


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    marker = item.get_closest_marker("deadline")
    seconds = marker.args[0] if marker else DEFAULT_DEADLINE_SECONDS
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield  # no SIGALRM here (Windows, a worker thread): no deadline
        return

    def expire(signum, frame):
        raise TimeoutError(f"{item.nodeid} still running after its {seconds} s deadline: something it waits for never came")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def one_line_error(result, *fragments) -> str:
    """Assert a CLI result is the project's bad-input contract: exit 2, one `error: ...` line naming the fragments."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@contextlib.contextmanager
def lm_head_inputs(model):
    """Collects the hidden states the LM head reads inside the block, one (A, C) tensor per call."""
    read: list[torch.Tensor] = []
    hook = model.get_output_embeddings().register_forward_hook(lambda module, args, out: read.append(args[0].detach().clone()))
    try:
        yield read
    finally:
        hook.remove()


def assert_generator_cli_is_deterministic(gen, out: Path, train: int) -> None:
    """`gen --seed 3` twice writes byte-identical splits and meta.json; `--seed 4` writes other data."""
    args = ["--train", str(train), "--valid", "10", "--test", "10", "--quiet"]
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        result = gen("--out", str(out / name), "--seed", seed, *args)
        assert result.exit_code == 0, result.output
    for file in ("train.json", "valid.json", "test.json", "meta.json"):
        assert (out / "a" / file).read_bytes() == (out / "b" / file).read_bytes(), file
    assert (out / "c" / "test.json").read_bytes() != (out / "a" / "test.json").read_bytes()


@contextlib.contextmanager
def held_by_another_process(path: Path, *, beside: bool = False):
    """Another live process holding cocobench's lock on `path` (as a second `run` or `gen` would) until
    the block ends; yields that process, whose pid the refusals name."""
    import subprocess
    import sys

    code = ("import sys; from cocobench.io import directory_lock\n"
            f"with directory_lock({str(path)!r}, beside={beside!r}):\n"
            "    print('held', flush=True); sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held", "the other process could not take the lock"
        yield holder
    finally:
        holder.stdin.close()  # lets it go
        try:
            holder.wait(timeout=30)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()


def shared_file(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"../shared/{'/'.join(parts)} not present: the official data lives beside the repo checkout")
    return path


@pytest.fixture(scope="session")
def tiny_prosqa(tmp_path_factory) -> Path:
    """A small generated ProsQA data directory (train 48, valid 8, test 8)."""
    from cocobench.tasks.prosqa import generate_splits
    from cocobench.examples import write_splits

    out = tmp_path_factory.mktemp("prosqa")
    splits = generate_splits(seed=0, sizes={"train": 48, "valid": 8, "test": 8})
    write_splits(out, splits, {"generator": "prosqa", "seed": 0})
    return out


@pytest.fixture(scope="session")
def tiny_run(tiny_prosqa, tmp_path_factory):
    """Trains `cocobench run --data tiny_prosqa FLAGS...` once per session for each set of flags:
    `tiny_run("--method", "coconut", "--epochs", "2", *FAST)` -> the run's directory. Tests read it and
    copy it before they change anything: another test may hold the same run."""
    from tests.helpers import train_run

    made: dict[tuple[str, ...], Path] = {}

    def train(*flags) -> Path:
        key = tuple(map(str, flags))
        if key not in made:
            made[key] = train_run(tmp_path_factory.mktemp("run") / "run", tiny_prosqa, *key)
        return made[key]

    return train

