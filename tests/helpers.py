"""Helpers the tests share: hand-made results files, the flags of a tiny run, and training one."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cocobench.cli import app

OPTIONS = {"model": "gpt2-tiny", "epochs": 2, "lr": 0.0001, "c": 1, "max_latent_stage": 3, "k": None, "limit_eval": None}

# A tiny run: gpt2-tiny, small batches, a two-stage curriculum of one epoch each (seconds on a CPU).
FAST = ["--model", "gpt2-tiny", "--batch-size", "8", "--grad-accum", "2", "--max-new-tokens", "20", "--eval-batch-size", "8",
        "--max-latent-stage", "2", "--epochs-per-stage", "1", "--lr", "1e-3", "--quiet"]


def invoke(*args, **kwargs):
    """`cocobench ARGS...` in this process (paths and numbers as text)."""
    return CliRunner().invoke(app, [str(a) for a in args], **kwargs)


def train_run(out: Path, data: Path, *args) -> Path:
    """Train `cocobench run --data DATA ARGS... --out OUT` and return OUT (the run must succeed)."""
    result = invoke("run", "--data", data, *args, "--out", out)
    assert result.exit_code == 0, result.output
    return out


def make_results(*, task="prosqa", method="coconut", seed=0, options=None, correct=8, total=10, tokens=6.0, passes=7.0,
                 examples_per_second=100.0, fingerprint="sha256:" + "a" * 64, golds=None, idxs=None, texts=None):  # fmt: skip
    """A complete results file (schema_version 1) as a dict. `correct`: how many of `total` samples are right
    (the first ones), or one bool per sample; every sample has `tokens` generated tokens and `passes`
    forward passes; golds, idxs and texts default to `answer i`, i and `thoughts # <prediction>`."""
    correct = [i < correct for i in range(total)] if isinstance(correct, int) else list(correct)
    n = len(correct)
    golds = golds or [f"answer {i}" for i in range(n)]
    idxs = idxs or list(range(n))
    texts = texts or [f"thoughts # {golds[i] if ok else 'wrong'}" for i, ok in enumerate(correct)]
    samples = [
        {"idx": idxs[i], "prediction": golds[i] if ok else "wrong", "gold": golds[i], "correct": ok,
         "generated_tokens": tokens, "forward_passes": passes, "num_thoughts": 3, "text": texts[i]}
        for i, ok in enumerate(correct)
    ]  # fmt: skip
    return {
        "schema_version": 1,
        "cocobench_version": "0.1.0", "torch_version": "2.13.0", "transformers_version": "5.24.0", "python_version": "3.11.9",
        "device": "cpu",
        "run_name": f"{task}-{method}-seed{seed}",
        "task": task,
        "method": method,
        "seed": seed,
        "options": dict(OPTIONS if options is None else options),
        "data": {"test_file": "data/test.json", "test_fingerprint": fingerprint, "train_fingerprint": "sha256:" + "b" * 64},
        "config": {"out": "runs/x", **OPTIONS},
        "metrics": {
            "accuracy": sum(correct) / n, "correct": sum(correct), "total": n,
            "generated_tokens_mean": float(tokens), "forward_passes_mean": float(passes),
            "examples_per_second": examples_per_second, "eval_seconds": n / examples_per_second if examples_per_second else 0.1,
            "train_seconds": 12.5, "epochs": [{"epoch": 0, "stage": 0, "train_loss": 1.5, "val_accuracy": 0.5, "seconds": 3.0}],
            "best_epoch": 0, "classifier_accuracy": None,
        },  # fmt: skip
        "samples": samples,
    }


def write_run(suite: Path, results: dict) -> Path:
    """`results` as SUITE/<run_name>/results.json, as a suite lays its runs out."""
    return write_results(suite / results["run_name"], results)


def write_results(directory: Path, results: dict) -> Path:
    """`results` as DIRECTORY/results.json."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "results.json"
    path.write_text(json.dumps(results, indent=2))
    return path
