"""The k-sweep (paper Section 5, ProsQA): one Coconut model, `<eot>` forced after exactly k continuous
thoughts for each k, after which the model writes the rest of the chain in language.

Forcing is the inference prompt `Q bot <latent>xk eot` (what `cocobench eval --k` runs): the model
gets exactly k thoughts, then the end-latent token, then decodes greedily. The model is loaded once
and evaluated for every k; each k's evaluation is an ordinary results.json (OUT/k<k>/), so `table`,
`compare` and `analyze paths` read it like any run. Per k: accuracy, generated tokens, forward passes
and, for ProsQA, the shares of the reasoning categories (`cocobench.analysis.paths`, when present).
CoT / No-CoT runs given as references join as rows of their own (and horizontal lines in the plot).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cocobench.analysis.plots import PLOT_HINT
from cocobench.errors import CocobenchError
from cocobench.examples import Example
from cocobench.rundir import RESULTS_FILE, RUNS_ROOT

Categorize = Callable[[dict[int, Example], list[dict[str, Any]], int], dict[str, float]]  # (examples by idx, samples, k) -> shares
METRICS = ("accuracy", "correct", "total", "generated_tokens_mean", "forward_passes_mean")
MAX_K = 1000  # a typo guard: "0..60000" would be a day of decoding; the model's context bounds k anyway

_RANGE = re.compile(r"^(\d+)\.\.(\d+)$")


def parse_ks(text: str) -> list[int]:
    """'0..6' (inclusive), '0,1,3', '4', or a mix ('0..2,5') -> the distinct ks in increasing order."""
    ks: set[int] = set()
    for part in (p.strip() for p in str(text).split(",")):
        bounds = _RANGE.match(part)
        if bounds:
            first, last = int(bounds.group(1)), int(bounds.group(2))
            if first > last:
                raise CocobenchError(f"--k range '{part}' runs backwards; write it as {last}..{first}")
            ks.update(range(first, last + 1))
        elif part.isdigit():
            ks.add(int(part))
        else:
            raise CocobenchError(f"--k '{text}' is not a number of thoughts, a range or a list; write e.g. 0..6 or 0,1,3")
    if max(ks) > MAX_K:
        raise CocobenchError(f"--k '{text}' asks for {max(ks)} thoughts; at most {MAX_K} (the model's context allows far fewer)")
    return sorted(ks)


def load_categorizer(completion: str | None = None) -> Categorize | None:
    """The ProsQA category shares of `cocobench.analysis.paths`, or None when that module is missing."""
    try:
        from cocobench.analysis.paths import category_shares
    except ModuleNotFoundError as exc:
        if exc.name != "cocobench.analysis.paths":
            raise
        return None
    from cocobench.analysis.paths import check_completion

    options = {"completion": check_completion(completion)} if completion is not None else {}
    return lambda examples, samples, k: category_shares(examples, samples, k=k, **options)


def run(checkpoint: Path, data: Path, *, ks_text: str | None, references: list[Path], out: Path | None, overwrite: bool,
        overrides: dict[str, Any], completion: str | None = None) -> dict[str, Any]:
    """`cocobench analyze ksweep`: check everything, load the checkpoint once, sweep, write
    OUT/ksweep.json, ksweep.csv and ksweep.png (with matplotlib); returns the report."""
    from cocobench.io import atomic_write_json, atomic_write_text, directory_lock, file_fingerprint, holds_files, remove_outputs
    from cocobench.progress import log, quiet_libraries
    from cocobench.results import utc_now
    from cocobench.checkpoint_eval import check_evaluation_fits, limited, load_for_evaluation, read_test_examples, require_checkpoint_dir, task_of

    quiet_libraries()
    started_at = utc_now()
    ks = parse_ks(ks_text) if ks_text is not None else None
    checkpoint = require_checkpoint_dir(checkpoint)
    test_file, all_examples = read_test_examples(data)
    _read_runs(references)  # bad reference paths fail now, before the model loads
    categorizer = load_categorizer(completion)  # and a bad --completion
    loaded = load_for_evaluation(checkpoint, overrides)
    cfg = loaded.cfg
    if not loaded.method.takes_k:
        raise CocobenchError(f"method '{cfg.method}' has no thoughts to force <eot> after; pass a checkpoint of coconut (or another method with thoughts)")
    ks = ks if ks is not None else list(range(getattr(loaded.method, "default_k", cfg.max_thoughts_allowed) + 1))  # 0 .. the trained number (CODI: --codi-thoughts)
    run_name = checkpoint.parent.parent.name or checkpoint.name
    out_dir = Path(out) if out else RUNS_ROOT / f"ksweep-{run_name}-{test_file.stem}"
    if not overwrite and holds_files(out_dir):
        raise CocobenchError(f"--out '{out_dir}' already holds files; pass --overwrite to replace them, or choose another --out")
    examples = limited(all_examples, cfg)
    check_evaluation_fits(loaded, examples, tuple(ks))
    task = task_of(examples)
    notes = [note] if (note := limit_note(overrides, len(examples), len(all_examples))) else []
    categorize = categorizer if task in ("prosqa", "prosqa-symbolic") else None
    if task not in ("prosqa", "prosqa-symbolic"):
        notes.append(f"reasoning categories are defined for ProsQA only; this data is {task}")
    elif categorize is None:
        notes.append("reasoning categories skipped: this cocobench has no cocobench.analysis.paths")
    with directory_lock(out_dir):
        remove_outputs(out_dir, previous_outputs(out_dir))  # a sweep over other ks leaves none of its k<k> beside ours
        rows = sweep(loaded, examples, ks, out_dir=out_dir, task=task, test_file=test_file, started_at=started_at, categorize=categorize)
        reference, reference_notes = reference_rows(references, test_file, all_examples, categorize)
        report = {
            "analysis": "ksweep", "run": run_name, "checkpoint": str(checkpoint), "method": cfg.method, "task": task,
            "test_file": str(test_file), "test_fingerprint": file_fingerprint(test_file), "examples": len(examples),
            "max_new_tokens": cfg.max_new_tokens, "completion": completion, "ks": ks,
            "categories": category_names(rows + reference) if categorize else [],
            "rows": rows, "references": reference, "notes": notes + reference_notes,
        }
        atomic_write_json(out_dir / "ksweep.json", report)
        atomic_write_text(out_dir / "ksweep.csv", to_csv(report))
        figure = plot(report, out_dir / "ksweep.png")
    for note in report["notes"] + ([] if figure else [f"wrote no ksweep.png: install matplotlib ({PLOT_HINT})"]):
        log(f"note: {note}", cfg.quiet)
    log(f"k-sweep of {run_name} over k = {', '.join(map(str, ks))} -> {out_dir}", cfg.quiet)
    return report


def limit_note(overrides: dict[str, Any], used: int, total: int) -> str | None:
    """Say so when the run's own --limit-eval (not this command's) leaves examples out."""
    if overrides.get("limit_eval") is None and used < total:
        return f"the first {used} of {total} examples, the run's --limit-eval; pass --limit-eval {total} for all of them"
    return None


def previous_outputs(out_dir: Path) -> tuple[str, ...]:
    """What an earlier sweep wrote into `out_dir` (k<k>/ folders, ksweep.*), and nothing of the user's."""
    names = [p.name for p in out_dir.glob("k*") if p.is_dir() and p.name[1:].isdigit()] if out_dir.is_dir() else []
    return (*sorted(names), "ksweep.json", "ksweep.csv", "ksweep.png")


def sweep(loaded, examples: list[Example], ks: list[int], *, out_dir: Path, task: str, test_file: Path, started_at: str | None,
          categorize: Categorize | None) -> list[dict[str, Any]]:
    """Evaluate the loaded checkpoint with eot forced after each k; write OUT/k<k>/results.json; one row per k."""
    from cocobench.checkpoint_eval import evaluate_loaded, write_evaluation

    by_idx = dict(enumerate(examples))  # samples' idx is the position in `examples`
    rows = []
    for k in ks:
        run_dir = out_dir / f"k{k}"
        cfg = dataclasses.replace(loaded.cfg, k=k, out=str(run_dir))  # the results record this k
        evaluation = evaluate_loaded(loaded, examples, k=k, label=f"k={k}")
        write_evaluation(cfg, evaluation, run_dir=run_dir, task=task, test_file=test_file, train_file=None, device=loaded.device, started_at=started_at)
        rows.append({
            "label": f"k={k}", "k": k, **{name: evaluation.metrics[name] for name in METRICS},
            "categories": categorize(by_idx, evaluation.samples, k) if categorize else None,
            "results": str(Path(f"k{k}") / RESULTS_FILE),
        })
    return rows


def reference_rows(paths: list[Path], test_file: Path, examples: list[Example], categorize: Categorize | None) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per results file under `paths` (CoT / No-CoT runs), with notes on what could not be compared."""
    from cocobench.io import file_fingerprint

    fingerprint = file_fingerprint(test_file)
    by_idx = dict(enumerate(examples))
    rows, notes = [], []
    for results in _read_runs(paths):
        label = f"{results['method']} ({results.get('run_name', Path(results['_source']).parent.name)})"
        same_test = (results.get("data") or {}).get("test_fingerprint") == fingerprint
        categories = None
        if categorize and same_test and isinstance(results.get("samples"), list):
            categories = categorize(by_idx, results["samples"], 0)  # a reference writes its whole chain in language
        elif categorize and not same_test:
            notes.append(f"reference {label}: its test file differs from --data, so its samples were not categorised")
        rows.append({
            "label": label, "k": None, "method": results["method"],
            **{name: results["metrics"].get(name) for name in METRICS},
            "categories": categories, "results": results["_source"],
        })
    return rows, notes


def _read_runs(paths: list[Path]) -> list[dict[str, Any]]:
    """Validated results under each path (a results.json, a run or suite directory)."""
    from cocobench.results import load_results

    return load_results(paths)


def category_names(rows: list[dict[str, Any]]) -> list[str]:
    """Every category, in the categoriser's order (its CATEGORIES), then any others the rows hold."""
    try:
        from cocobench.analysis.paths import CATEGORIES
    except ImportError:
        CATEGORIES = ()
    seen = dict.fromkeys(name for row in rows for name in (row["categories"] or {}))
    return [*CATEGORIES, *(name for name in seen if name not in CATEGORIES)]


# ---------------------------------------------------------------------------------------------------
# Output


def table_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(header, cells) shared by the rich, markdown and csv renderings."""
    names = report["categories"]
    header = ["run", "k", "accuracy", "correct/total", "generated tokens", "forward passes", *names]
    cells = []
    for row in report["rows"] + report["references"]:
        shares = row["categories"] or {}
        cells.append([
            row["label"], "" if row["k"] is None else str(row["k"]), _number(row["accuracy"], 3), f"{row['correct']}/{row['total']}",
            _number(row["generated_tokens_mean"], 1), _number(row["forward_passes_mean"], 1),
            *(_number(shares.get(name), 3) for name in names),
        ])
    return header, cells


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def to_csv(report: dict[str, Any]) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = report["categories"]
    writer.writerow(["run", "k", *METRICS, *names])
    for row in report["rows"] + report["references"]:
        shares = row["categories"] or {}
        writer.writerow([row["label"], row["k"], *(row[name] for name in METRICS), *(shares.get(name) for name in names)])
    return buffer.getvalue()


def plot(report: dict[str, Any], path: Path) -> Path | None:
    """Accuracy vs k (references as horizontal lines), left; stacked category shares vs k, right.
    None without matplotlib."""
    from cocobench.analysis.plots import optional_figure, save_png

    names = report["categories"]
    made = optional_figure(2 if names else 1)
    if made is None:
        return None
    figure, axes = made
    ks = [row["k"] for row in report["rows"]]
    left = axes[0]
    left.plot(ks, [row["accuracy"] for row in report["rows"]], marker="o", label=report["method"])
    for i, reference in enumerate(report["references"]):
        left.axhline(reference["accuracy"], linestyle="--", color=f"C{i + 1}", label=reference["label"])
    left.set(title=f"Accuracy vs thoughts before <eot> ({report['run']})", xlabel="k (continuous thoughts)", ylabel="accuracy", ylim=(0, 1.02), xticks=ks)
    left.legend(fontsize="small")
    if names:  # one bar per k, then one per categorised reference (labelled by its method)
        bars = report["rows"] + [row for row in report["references"] if row["categories"]]
        positions = list(range(len(bars)))
        bottom = [0.0] * len(bars)
        for i, name in enumerate(names):
            shares = [(row["categories"] or {}).get(name, 0.0) for row in bars]
            axes[1].bar(positions, shares, bottom=bottom, label=name, color=f"C{i}")
            bottom = [b + s for b, s in zip(bottom, shares)]
        axes[1].set_xticks(positions, [str(row["k"]) if row["k"] is not None else row["method"] for row in bars])
        axes[1].set(title="Reasoning categories vs k", xlabel="k (continuous thoughts), then the references", ylabel="share of test examples", ylim=(0, 1.02))
        axes[1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside: the bars fill the panel
    figure.suptitle(f"{report['run']} ({report['method']}) on {report['test_file']}, {report['examples']} examples; one seed, one point per k", fontsize=8)
    return save_png(figure, path)
