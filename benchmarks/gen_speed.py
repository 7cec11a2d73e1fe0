"""Time the data generators at their default sizes and print examples/second.

    python benchmarks/gen_speed.py [--tasks prosqa prontoqa mult]

Runs the real CLI (`cocobench gen TASK --out TMP --quiet`) in a subprocess, so the numbers include
start-up and writing the files, as a user experiences them. A benchmark, not a test: nothing is asserted.
The last line is a JSON object with the raw numbers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = {
    "prosqa": ["gen", "prosqa"],
    "prontoqa": ["gen", "prontoqa"],
    "mult": ["gen", "mult", "--digits", "4"],
}


def time_generator(task: str, out: Path) -> dict:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cocobench", *COMMANDS[task], "--out", str(out), "--quiet"], check=True)
    seconds = time.perf_counter() - start
    counts = json.loads((out / "meta.json").read_text())["counts"]
    examples = sum(counts.values())
    return {"task": task, "examples": examples, "seconds": round(seconds, 2), "examples_per_second": round(examples / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(COMMANDS), choices=list(COMMANDS))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks:
            row = time_generator(task, Path(tmp) / task)
            rows.append(row)
            print(f"{task:10s} {row['examples']:>7d} examples in {row['seconds']:6.2f} s = {row['examples_per_second']:>9.1f} examples/s")
    print(json.dumps({"generators": rows}))


if __name__ == "__main__":
    main()
