"""Start-up time and peak memory of `cocobench run` on large data: from process start to the trainer's
entry (just before its first step), where the process stops. Run it twice with the same data and
model: the first run tokenizes (and counts the word-level vocabulary), the second reads both from the
cache (`COCOBENCH_CACHE`, default the datasets cache's cocobench-tokenized/).

    python benchmarks/startup_speed.py --gsm-aug-shaped DIR      # make a 385,620-example data directory
    python benchmarks/startup_speed.py --data DIR --method cot --model gpt2-tiny --epochs 1 --quiet --out RUN_DIR

GSM8k-Aug-shaped data: iCoT's validation file (500 lines, `shared/data/gsm8k/valid.txt`) repeated to
385,620 training lines, each number of a repeat shifted by a seeded draw from 1-99 (distinct examples,
GSM8k-Aug's lengths), converted by `cocobench gen gsm`; the last line printed is JSON.
"""

from __future__ import annotations

import json
import os
import random
import re
import resource
import sys
import time
from pathlib import Path

STARTED = time.perf_counter()
TRAIN_EXAMPLES = 385_620  # GSM8k-Aug's training split
ICOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k"


def make_gsm_aug_shaped(out: Path, icot: Path = ICOT) -> None:
    from cocobench.cli import app

    source = (icot / "valid.txt").read_text(encoding="utf-8").splitlines()
    rng = random.Random(0)
    lines = [source[i % len(source)] if i < len(source) else re.sub(r"\d+", lambda m: str(int(m.group()) + rng.randint(1, 99)), source[i % len(source)])
             for i in range(TRAIN_EXAMPLES)]  # fmt: skip
    text_dir = out.with_name(out.name + "-icot")
    text_dir.mkdir(parents=True, exist_ok=True)
    (text_dir / "train.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (text_dir / "valid.txt").write_text("\n".join(source) + "\n", encoding="utf-8")
    (text_dir / "test.txt").write_text((icot / "test.txt").read_text(encoding="utf-8"), encoding="utf-8")
    sys.argv = ["cocobench", "gen", "gsm", "--from", str(text_dir), "--out", str(out)]
    app()


def time_startup(run_args: list[str]) -> None:
    import cocobench.train
    from cocobench.cli import app

    def stop(*args, **kwargs):  # the trainer's entry: everything before the first step is done
        seconds = time.perf_counter() - STARTED
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"startup_seconds": round(seconds, 1), "peak_rss_mb": round(peak_mb)}), flush=True)
        os._exit(0)

    cocobench.train.train = stop
    sys.argv = ["cocobench", "run", *run_args]
    app()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--gsm-aug-shaped"]:
        make_gsm_aug_shaped(Path(sys.argv[2]))
    else:
        time_startup(sys.argv[1:])
