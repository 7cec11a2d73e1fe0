"""Learning curves of runs, finished or not: validation accuracy against epochs and against training hours.

    python benchmarks/learning_curves.py RUN_DIR [RUN_DIR ...] --out results/cpu-symbolic-explore

Reads each run's history from `checkpoints/last/trainer_state.pt` (written after every epoch, so a run
still training or stopped shows what it has done) and writes OUT/curves.json (per run: its settings
that differ from the defaults and, per epoch, stage, train loss, validation accuracy and seconds) and
OUT/curves.png (two panels; x: epochs, and cumulative training plus validation hours of one process);
with `--metric loss`, OUT/loss.png, the training loss instead of validation accuracy.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def history(run_dir: Path) -> dict:
    import torch
    import yaml

    from cocobench.config import resolve_config

    state = torch.load(run_dir / "checkpoints" / "last" / "trainer_state.pt", map_location="cpu", weights_only=False)["state"]
    settings = yaml.safe_load((run_dir / "config.yaml").read_text())
    cfg = resolve_config(base={k: v for k, v in settings.items() if k not in ("resume", "overwrite")})
    label = f"{cfg.method}" + (f" ({cfg.supervision})" if cfg.supervision else "")
    return {"run": run_dir.name, "label": label, "changed": cfg.changed_options(), "task": cfg.task, "history": state["history"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--title", default="")
    parser.add_argument("--metric", choices=("accuracy", "loss"), default="accuracy",
                        help="validation accuracy, or the training loss (what shows progress in Coconut's early stages, whose answer comes only after all the thoughts)")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cocobench.io import atomic_write_text

    curves = [history(run) for run in args.runs]
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "curves.json", json.dumps(curves, indent=1) + "\n")
    fig, (by_epoch, by_hour) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for curve in curves:
        epochs = [h["epoch"] + 1 for h in curve["history"]]
        if args.metric == "accuracy":
            values = [100 * h.get("val_accuracy", float("nan")) for h in curve["history"]]
        else:
            values = [h.get("train_loss", float("nan")) for h in curve["history"]]
        hours, total = [], 0.0
        for h in curve["history"]:
            total += h["seconds"] / 3600
            hours.append(total)
        label = f"{curve['label']}: {curve['run']}"
        by_epoch.plot(epochs, values, marker="o", markersize=3, label=label)
        by_hour.plot(hours, values, marker="o", markersize=3, label=label)
    for axis, xlabel in ((by_epoch, "epoch"), (by_hour, "training + validation time (hours, one CPU process)")):
        if args.metric == "accuracy":
            axis.axhline(50, color="grey", linestyle=":", linewidth=1)
        axis.set_xlabel(xlabel)
        axis.grid(alpha=0.3)
    if args.metric == "accuracy":
        by_epoch.set_ylabel("validation accuracy (%)")
        by_epoch.text(0.01, 49, "chance", color="grey", ha="left", va="top", transform=by_epoch.get_yaxis_transform())
    else:
        by_epoch.set_ylabel("training loss (nats per supervised token)")
    by_hour.legend(fontsize=8, loc="best")  # where it covers the fewest points
    if args.title:
        fig.suptitle(args.title, fontsize=10)
    fig.tight_layout()
    name = "curves.png" if args.metric == "accuracy" else "loss.png"
    fig.savefig(args.out / name, dpi=120)
    print(f"wrote {args.out / 'curves.json'} and {args.out / name}")


if __name__ == "__main__":
    main()
