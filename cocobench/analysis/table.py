"""The paper's Table 1 for the user's runs (`cocobench table`): one row per method, one column group per task.

Data flows: results.json files -> `cocobench.results.load_results` (validated dicts) -> `build_table`
(pure numbers) -> one renderer per format (rich, markdown, csv, json). Nothing here trains or evaluates.

A cell aggregates the runs of one (task, method, variant) over seeds: accuracy mean +- sample std
(n-1; none for one seed), and the means of generated tokens, forward passes and examples/second.

Runs are only averaged when they are the same experiment: same task, method, `options` (except the
seed) and test file. Runs of one (task, method) that differ in anything else become separate rows
labelled by what differs ("coconut (c=2)"), never a silent average: a sweep over c reads as a sweep,
and a forgotten --epochs does not hide inside a mean. Two files with the same (task, method, seed,
options, test file) are an error: averaging them would count one seed twice.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cocobench.errors import CocobenchError

_MISSING = object()  # an option absent from a run's file (written by an older cocobench)


# ----------------------------------------------------------------------------------------------
# The table as data


@dataclass
class Cell:
    """The runs of one (task, method, variant): the seeds and the statistics over them."""

    seeds: list[int]
    sources: list[str]
    accuracy: float  # percent, mean over seeds
    accuracy_std: float | None  # sample std (n-1) in percent points; None for one seed
    generated_tokens: float  # mean over seeds of the per-example mean (a thought counts 1; bot/eot, pauses, EOS 0)
    forward_passes: float
    examples_per_second: float | None  # None when no run recorded a throughput
    delta_accuracy: float | None = None  # percent points vs the baseline row; None without one
    delta_tokens: float | None = None
    runs: list[dict[str, Any]] = field(default_factory=list, repr=False)  # the results, one per seed
    significance: Significance | None = None  # vs the baseline row, when asked for (`--significance`)

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def choice(self) -> tuple[int, int, float] | None:
        """(right, named, p): of the answers that name one of a two-option question's options, pooled over
        the seeds, how many name the right one, and the exact binomial p against a coin flip. None when a
        run did not record it (open-answer tasks, results from before cocobench 0.2)."""
        from cocobench.stats import mcnemar_exact

        if not self.runs or any(r["metrics"].get("choice_named") is None for r in self.runs):
            return None
        named = sum(r["metrics"]["choice_named"] for r in self.runs)
        right = sum(round((r["metrics"]["choice_accuracy"] or 0.0) * r["metrics"]["choice_named"]) for r in self.runs)
        return right, named, mcnemar_exact(named - right, right)

    @property
    def choice_pct(self) -> float | None:
        choice = self.choice
        return None if choice is None or choice[1] == 0 else 100.0 * choice[0] / choice[1]

    @property
    def at_chance(self) -> bool:
        from cocobench.evaluate import CHANCE_P

        choice = self.choice
        return choice is not None and choice[2] >= CHANCE_P


@dataclass
class Significance:
    """A row against the baseline row, paired example by example over the seeds both cells have."""

    pairs: int  # (seed, example) pairs pooled
    seeds: list[int]
    lost: int  # examples only the baseline got right
    gained: int  # examples only this row got right
    p_value: float  # exact McNemar, two-sided
    ci_low: float  # paired-bootstrap 95% interval of the accuracy difference, percent points
    ci_high: float
    every_seed: bool = True  # the pairs cover every seed of both rows (else the cell names its seeds)

    @property
    def delta(self) -> float:
        """The paired accuracy difference, percent points: over the pooled pairs, unlike the Δacc of the
        means (which averages each row over its own seeds)."""
        return 100.0 * (self.gained - self.lost) / self.pairs


@dataclass
class WarmStart:
    """A suite's shared warm-up (suite.py) that rows start from, with its own test results."""

    identity: str
    methods: list[str]  # the rows' methods that start from it
    cell: Cell | None  # the warm-up runs themselves (None when they are not among the results)


@dataclass
class Row:
    method: str
    options: dict[str, Any] = field(default_factory=dict)  # only the options that tell variants apart
    cells: dict[str, Cell] = field(default_factory=dict)  # task -> cell

    @property
    def options_text(self) -> str:
        return ", ".join(f"{k}={format_option(v)}" for k, v in self.options.items())

    @property
    def label(self) -> str:
        """`coconut` or, for one of several variants, `coconut (c=2, lr=0.0001)`."""
        return f"{self.method} ({self.options_text})" if self.options else self.method


@dataclass
class Table:
    tasks: list[str]
    rows: list[Row]
    baseline: str
    warm_starts: list[WarmStart] = field(default_factory=list)
    significance: bool = False
    shortcuts: dict[str, tuple[float, int]] = field(default_factory=dict)  # task -> (accuracy %, questions) of its best shortcut

    def has_baseline(self, task: str) -> bool:
        return any(row.method == self.baseline and task in row.cells for row in self.rows)


def build_table(results: list[dict[str, Any]], baseline: str = "cot", *, significance: bool = False) -> Table:
    """Group runs into rows and cells and compute the statistics (pure; no I/O)."""
    results, warm_starts = _split_warm_starts(results)
    by_task_method = _by_task_method(_group_experiments(results))
    rows: dict[tuple[str, str], Row] = {}
    # Tasks with several variants of a method first: they create the labelled rows...
    for (task, method), variants in sorted(by_task_method.items(), key=lambda item: len(item[1]) == 1):
        differing = _differing_options([options for options, _ in variants])
        for options, runs in variants:
            shown = {k: options.get(k, _MISSING) for k in differing}
            row = rows.setdefault((method, json.dumps(plain_options(shown), sort_keys=True)), Row(method, shown))
            if len(variants) == 1:
                # ...then a task with one variant joins the one labelled row its options agree with
                # (ProntoQA's only coconut run, made with c=1, sits in the ProsQA c-sweep's "c=1" row).
                fits = [r for r in rows.values() if r.method == method and r.options and task not in r.cells and _agrees(r.options, options)]
                row = fits[0] if len(fits) == 1 else row
            row.cells[task] = _cell(runs)
    rows = {key: row for key, row in rows.items() if row.cells}  # an unlabelled row nobody used
    tasks = sorted({task for task, _ in by_task_method}, key=_task_order)
    table = Table(tasks, sorted(rows.values(), key=_row_order), baseline, warm_starts, significance)
    _add_deltas(table)
    return table


def _split_warm_starts(results: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[WarmStart]]:
    """A suite's warm-up runs are where rows start, not rows: they move to the caption. Given only
    warm-up runs (`cocobench table OUT/prosqa-cot-warmup-seed0`), they are the rows."""
    from cocobench.results import WARMUP_STAGE

    warmups = [r for r in results if (r.get("config") or {}).get("suite_stage") == WARMUP_STAGE]
    rows = [r for r in results if r not in warmups]
    if not rows:
        return results, []
    used: dict[str, list[str]] = {}
    for r in rows:
        if r["options"].get("warmup"):
            methods = used.setdefault(r["options"]["warmup"], [])
            methods += [r["method"]] if r["method"] not in methods else []
    by_identity: dict[str, list[dict[str, Any]]] = {}
    for w in warmups:
        for identity in _warm_start_identities(w):
            by_identity.setdefault(identity, []).append(w)
    return rows, [WarmStart(identity, methods, _cell(by_identity[identity]) if identity in by_identity else None)
                  for identity, methods in used.items()]


def _warm_start_identities(result: dict[str, Any]) -> set[str]:
    """The identities a warm-up's runs may record: hashing its data's fingerprints, and (results written
    before that) its data's path. None for a config from another cocobench version: it matches no row."""
    from cocobench.config import coerce, normalize_keys
    from cocobench.results import warmup_identity

    try:
        cfg = coerce(normalize_keys(result["config"], "results config"))
    except CocobenchError:
        return set()
    fingerprints = cfg.data and {key: result["data"].get(key) for key in ("train_fingerprint", "test_fingerprint")}
    return {warmup_identity(cfg, fingerprints), warmup_identity(cfg, cfg.data)}


def _agrees(shown: dict[str, Any], options: dict[str, Any]) -> bool:
    return all(options.get(k, _MISSING) == v for k, v in shown.items())


def plain_options(options: dict[str, Any]) -> dict[str, Any]:
    """Options as JSON values: an option absent from a run's file becomes "<unset>"."""
    return {k: ("<unset>" if v is _MISSING else v) for k, v in options.items()}


def _identity(result: dict[str, Any]) -> dict[str, Any]:
    """What must be equal for runs to be seeds of one experiment: options without the seed, and the test file."""
    options = {k: v for k, v in result["options"].items() if k != "seed"}
    if options.get("warmup"):
        # Each seed starts from its own warm-up checkpoint (as each would from its own random init):
        # the warm-up's identity, not the per-seed checkpoint, is what seeds of one experiment share.
        options.pop("init_from", None)
    fingerprint = (result.get("data") or {}).get("test_fingerprint")
    if fingerprint:
        options["test_data"] = _short(fingerprint)  # two test files are two experiments, whatever the options
    return dict(sorted(options.items()))


def _group_experiments(results: list[dict[str, Any]]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """(task, method, canonical options) -> its runs, one per seed (a repeated seed is an error)."""
    groups: dict[tuple[str, str, str], dict[int, dict[str, Any]]] = {}
    for result in results:
        key = (result["task"], result["method"], json.dumps(_identity(result), sort_keys=True))
        seeds = groups.setdefault(key, {})
        if result["seed"] in seeds:
            first, second = seeds[result["seed"]].get("_source", "a run"), result.get("_source", "another run")
            raise CocobenchError(
                f"{first} and {second} are the same run ({result['task']}, {result['method']}, seed {result['seed']}, same options); "
                "averaging both would count one seed twice: pass only one of them"
            )
        seeds[result["seed"]] = result
    return {key: [seeds[s] for s in sorted(seeds)] for key, seeds in groups.items()}


def _by_task_method(experiments) -> dict[tuple[str, str], list[tuple[dict[str, Any], list[dict[str, Any]]]]]:
    by: dict[tuple[str, str], list] = {}
    for (task, method, options), runs in experiments.items():
        by.setdefault((task, method), []).append((json.loads(options), runs))
    return by


def _differing_options(variants: list[dict[str, Any]]) -> list[str]:
    """The option names whose value (or presence) is not the same in every variant, sorted."""
    keys = sorted({k for options in variants for k in options})
    return [k for k in keys if len({json.dumps(options.get(k, "<absent>")) for options in variants}) > 1]


def _cell(runs: list[dict[str, Any]]) -> Cell:
    runs = sorted(runs, key=lambda r: r["seed"])
    accuracy = [100.0 * r["metrics"]["accuracy"] for r in runs]
    speeds = [r["metrics"]["examples_per_second"] for r in runs if r["metrics"]["examples_per_second"] is not None]
    return Cell(
        seeds=[r["seed"] for r in runs],
        sources=[r.get("_source", r.get("run_name", "")) for r in runs],
        accuracy=statistics.fmean(accuracy),
        accuracy_std=statistics.stdev(accuracy) if len(runs) > 1 else None,
        generated_tokens=statistics.fmean(r["metrics"]["generated_tokens_mean"] for r in runs),
        forward_passes=statistics.fmean(r["metrics"]["forward_passes_mean"] for r in runs),
        examples_per_second=statistics.fmean(speeds) if speeds else None,
        runs=runs,
    )


def _add_deltas(table: Table) -> None:
    """Differences to the baseline row of the same task: the same variant label if it has one, else its only row."""
    for task in table.tasks:
        base_rows = [row for row in table.rows if row.method == table.baseline and task in row.cells]
        for row in table.rows:
            if task not in row.cells or row.method == table.baseline:
                continue
            same = [b for b in base_rows if b.options == row.options]
            base = same[0] if same else base_rows[0] if len(base_rows) == 1 else None
            if base is not None:
                cell, ref = row.cells[task], base.cells[task]
                cell.delta_accuracy = cell.accuracy - ref.accuracy
                cell.delta_tokens = cell.generated_tokens - ref.generated_tokens
                if table.significance:
                    cell.significance = paired_significance(ref, cell)


def paired_significance(base: Cell, new: Cell) -> Significance | None:
    """McNemar's exact test and the paired-bootstrap 95% interval of new - base, over the samples of
    every seed both cells ran, paired by example (a seed whose test examples differ is left out).
    Pooling treats the (seed, example) pairs as independent: the same question answered under three
    seeds counts three times, which makes the interval somewhat narrower than a per-question bootstrap."""
    from cocobench.stats import discordant_pairs, mcnemar_exact, paired_bootstrap_ci

    base_by_seed, new_by_seed = {r["seed"]: r for r in base.runs}, {r["seed"]: r for r in new.runs}
    before: list[bool] = []
    after: list[bool] = []
    seeds = []
    for seed in sorted(base_by_seed.keys() & new_by_seed.keys()):
        old_samples = {s["idx"]: s for s in base_by_seed[seed]["samples"]}
        new_samples = {s["idx"]: s for s in new_by_seed[seed]["samples"]}
        if old_samples.keys() != new_samples.keys() or any(old_samples[i]["gold"] != new_samples[i]["gold"] for i in old_samples):
            continue
        seeds.append(seed)
        for idx in sorted(old_samples):
            before.append(bool(old_samples[idx]["correct"]))
            after.append(bool(new_samples[idx]["correct"]))
    if not before:
        return None
    lost, gained = discordant_pairs(before, after)
    low, high = paired_bootstrap_ci(before, after)
    every_seed = set(seeds) == base_by_seed.keys() == new_by_seed.keys()
    return Significance(len(before), seeds, lost, gained, mcnemar_exact(lost, gained), 100.0 * low, 100.0 * high, every_seed)


def _task_order(task: str) -> tuple:
    """The tasks with a `table_column` (the paper's Table 1 order, then iCoT's multiplication) first; others alphabetically."""
    from cocobench.tasks import get_task, task_names

    columns = {name: get_task(name).table_column for name in task_names() if get_task(name).table_column is not None}
    return (columns[task], "") if task in columns else (len(columns), task)


def _row_order(row: Row) -> tuple:
    """The method registry's order (Table 1's rows, then the controls from follow-up work, then CODI); others alphabetically."""
    from cocobench.methods import method_names

    methods = method_names()
    method = (methods.index(row.method), "") if row.method in methods else (len(methods), row.method)
    # Variants in the natural order of their option values (c=2 before c=10), the unlabelled row first.
    values = tuple((k, *_sortable(v)) for k, v in row.options.items())
    return (*method, values)


def _sortable(value: Any) -> tuple[int, Any]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    return (1, format_option(value))


def format_option(value: Any) -> str:
    if value is _MISSING:
        return "unset"  # the option is absent from this run's file (an older cocobench)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str) and value.startswith("sha256:"):
        return _short(value)  # a fingerprint (init_from): its first 8 hex digits tell runs apart
    return str(value)


def _short(fingerprint: str) -> str:
    return fingerprint.removeprefix("sha256:")[:8]


# ----------------------------------------------------------------------------------------------
# Renderers: rich (terminal), markdown (a paper or PR), csv (one line per cell, for pandas), json


def _columns(table: Table, tasks: list[str] | None = None, short: bool = False) -> list[tuple[str, str, str]]:
    """(task, key, header) of every column after `method`; delta columns only where a baseline exists."""
    vs = "" if short else f" vs {table.baseline}"
    columns = []
    for task in table.tasks if tasks is None else tasks:
        columns.append((task, "accuracy", "acc %"))
        if any(row.cells.get(task) is not None and row.cells[task].choice is not None for row in table.rows):
            columns.append((task, "choice", "choice %"))
        if table.has_baseline(task):
            columns.append((task, "delta_accuracy", f"Δacc{vs}"))
        columns += [(task, "generated_tokens", "tokens")]
        if table.has_baseline(task):
            columns.append((task, "delta_tokens", f"Δtok{vs}"))
        if table.significance and table.has_baseline(task):
            columns += [(task, "p_value", f"p{vs}"), (task, "ci", "paired Δacc (95% CI)")]
        columns += [(task, "forward_passes", "passes"), (task, "examples_per_second", "ex/s")]
    return columns


def _text(cell: Cell | None, key: str) -> str:
    if cell is None:
        return ""
    if key in ("p_value", "ci"):
        sig = cell.significance
        if sig is None:
            return "-"
        if key == "ci":
            seeds = "" if sig.every_seed else f", seed{'s' if len(sig.seeds) > 1 else ''} {','.join(map(str, sig.seeds))}"
            return f"{sig.delta:+.1f} ({sig.ci_low:+.1f} to {sig.ci_high:+.1f}{seeds})"
        return f"{sig.p_value:.3f}" if sig.p_value >= 0.001 else f"{sig.p_value:.1e}"
    if key == "choice":
        pct = cell.choice_pct
        if pct is None:
            return "-"
        return f"{pct:.1f} (chance)" if cell.at_chance else f"{pct:.1f}"
    if key == "accuracy":
        if cell.accuracy_std is None:
            return f"{cell.accuracy:.1f}"
        return f"{cell.accuracy:.1f} ± {cell.accuracy_std:.1f} (n={cell.n})"
    value = getattr(cell, key)
    if value is None:
        return "-"
    return f"{value:+.1f}" if key.startswith("delta_") else f"{value:.1f}"


def render_rich(table: Table, console) -> None:
    """Table 1's layout (task column groups side by side); one table per task when that is too wide for
    the terminal. Printed to a file or a pipe, every table keeps its full width (no cut digits)."""
    from cocobench.progress import wide_enough

    wide = _rich_table(table, table.tasks)
    if not console.is_terminal:
        console = wide_enough(console, wide)
    if len(table.tasks) > 1 and _width(console, wide) > console.width:
        for task in table.tasks:
            console.print(_rich_table(table, [task], title=task))
    else:
        console.print(wide)


def _rich_table(table: Table, tasks: list[str], title: str | None = None):
    from rich.markup import escape
    from rich.table import Table as RichTable

    caption = "accuracy %: mean ± sample std over n seeds"
    if any(table.has_baseline(task) for task in tasks):
        caption += f"; Δ: difference to the {table.baseline} row"
    caption = "\n".join([caption, *table_notes(table)])
    out = RichTable(title=title, title_justify="left", caption=caption, caption_justify="left")
    out.add_column("method", no_wrap=True)
    columns = _columns(table, tasks, short=True)
    for task, _, header in columns:
        out.add_column(header if title else f"{task}\n{header}", justify="right", no_wrap=True)
    for row in table.rows:
        if any(task in row.cells for task in tasks):
            out.add_row(escape(row.label), *(_text(row.cells.get(task), key) for task, key, _ in columns))
    return out


SHORTCUT_TASKS = ("prosqa", "prosqa-symbolic")  # tasks whose graphs have the farther-option shortcut


def add_shortcuts(table: Table, results: list[dict[str, Any]]) -> None:
    """For each ProsQA task of the table, the farther-option shortcut's accuracy on the questions its runs
    answered (read from the runs' test file; a task whose runs used different test files, or whose file
    is not here, gets none)."""
    from cocobench.analysis.paths import test_file_of
    from cocobench.errors import CocobenchError
    from cocobench.examples import load_examples
    from cocobench.tasks.prosqa import shortcut_accuracy

    for task in table.tasks:
        runs = [r for r in results if r["task"] == task]
        if task not in SHORTCUT_TASKS or not runs or len({r["data"].get("test_fingerprint") for r in runs}) != 1:
            continue
        try:
            test_file, _ = test_file_of(runs[0], Path(runs[0]["_source"]), None)
            examples = load_examples(test_file)
        except CocobenchError:
            continue
        asked = sorted({s["idx"] for r in runs for s in r["samples"]})
        if all(0 <= i < len(examples) for i in asked):
            table.shortcuts[task] = (100 * shortcut_accuracy([examples[i] for i in asked]), len(asked))


def table_notes(table: Table) -> list[str]:
    """What the numbers rest on, under the table: the shared warm start, how p and the interval were got."""
    notes = []
    for warm in table.warm_starts:
        own = ""
        if warm.cell is not None:
            std = f" ± {warm.cell.accuracy_std:.1f}" if warm.cell.accuracy_std is not None else ""
            own = f"; the warm-up alone scores {warm.cell.accuracy:.1f}{std}% (n={warm.cell.n})"
        notes.append(f"warm start: {', '.join(warm.methods)} train from the suite's warm-up '{warm.identity}', one per seed{own}")
    if any(cell.choice is not None for row in table.rows for cell in row.cells.values()):
        notes.append("choice %: of the answers that name one of the question's two options, the share naming the right one, pooled "
                     "over seeds; (chance): not above a coin flip (exact binomial p >= 0.01), so the row does not reason better than a guess")
    for task, (accuracy, n) in table.shortcuts.items():
        notes.append(f"shortcut on {task}: answering the option farther from the nearest start node, with no search, scores "
                     f"{accuracy:.1f}% of the same {n} test questions (ties as coin flips); a row near it shows no reasoning beyond it")
    if table.significance:
        notes.append(f"p: exact McNemar test vs the {table.baseline} row; paired Δacc and its 95% CI (paired bootstrap): "
                     "both over the test examples of the seeds both rows ran, pooled (named when the two rows ran other "
                     "seeds too); Δacc compares the means, each over its row's own seeds")
    return notes


def _width(console, renderable) -> int:
    from rich.measure import Measurement

    # Measured without the console's limit: rich would otherwise report the squeezed width.
    return Measurement.get(console, console.options.update_width(10**6), renderable).maximum


def render_markdown(table: Table) -> str:
    columns = _columns(table)
    lines = ["| method | " + " | ".join(f"{task} {header}" for task, _, header in columns) + " |"]
    lines.append("|---|" + "---:|" * len(columns))
    for row in table.rows:
        lines.append(f"| {row.label} | " + " | ".join(_text(row.cells.get(task), key) for task, key, _ in columns) + " |")
    notes = table_notes(table)
    return "\n".join(lines) + "\n" + ("\n" + "\n".join(f"{note}." for note in notes) + "\n" if notes else "")


CSV_FIELDS = (
    "method", "options", "task", "n", "seeds", "accuracy_pct", "accuracy_pct_std", "generated_tokens",
    "forward_passes", "examples_per_second", "delta_accuracy_pts", "delta_tokens", "choice_pct", "choice_named", "choice_p",
)  # fmt: skip
SIGNIFICANCE_CSV_FIELDS = ("p_value", "paired_delta_accuracy_pts", "ci95_low_pts", "ci95_high_pts", "paired_examples")


def _record(row: Row, task: str, cell: Cell) -> dict[str, Any]:
    """One cell, machine-readable: numbers rounded to 4 decimals, percent for accuracy."""
    def r(x):
        return None if x is None else round(x, 4)

    return {
        "method": row.method, "options": plain_options(row.options),
        "task": task, "n": cell.n, "seeds": cell.seeds,
        "accuracy_pct": r(cell.accuracy), "accuracy_pct_std": r(cell.accuracy_std),
        "generated_tokens": r(cell.generated_tokens), "forward_passes": r(cell.forward_passes),
        "examples_per_second": r(cell.examples_per_second),
        "delta_accuracy_pts": r(cell.delta_accuracy), "delta_tokens": r(cell.delta_tokens),
        "choice_pct": r(cell.choice_pct), "choice_named": cell.choice and cell.choice[1], "choice_p": cell.choice and cell.choice[2],
        **_significance_record(cell.significance),
        "sources": cell.sources,
    }  # fmt: skip


def _significance_record(sig: Significance | None) -> dict[str, Any]:
    if sig is None:
        return {}
    return {"p_value": sig.p_value, "paired_delta_accuracy_pts": round(sig.delta, 4), "ci95_delta_accuracy_pts": [round(sig.ci_low, 4), round(sig.ci_high, 4)],
            "paired_examples": sig.pairs, "paired_seeds": sig.seeds, "lost": sig.lost, "gained": sig.gained}


def render_csv(table: Table) -> str:
    """Long format: one line per (method, variant, task), empty fields for missing values."""
    buffer = io.StringIO()
    fields = CSV_FIELDS + (SIGNIFICANCE_CSV_FIELDS if table.significance else ())
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in table.rows:
        for task in table.tasks:
            if task in row.cells:
                record = _record(row, task, row.cells[task])
                record["options"] = row.options_text
                record["seeds"] = " ".join(map(str, record["seeds"]))
                if "ci95_delta_accuracy_pts" in record:
                    record["ci95_low_pts"], record["ci95_high_pts"] = record["ci95_delta_accuracy_pts"]
                writer.writerow({k: "" if v is None else v for k, v in record.items()})
    return buffer.getvalue()


def to_json(table: Table) -> dict[str, Any]:
    return {
        "baseline": table.baseline,
        "tasks": table.tasks,
        "warm_starts": [{"identity": w.identity, "methods": w.methods, "warmup": None if w.cell is None else _record(Row("warmup"), "", w.cell)}
                        for w in table.warm_starts],
        "notes": table_notes(table),
        "shortcuts": {task: {"accuracy_pct": accuracy, "questions": n, "rule": "the option farther from the nearest start node"}
                      for task, (accuracy, n) in table.shortcuts.items()},
        "rows": [
            {"method": row.method, "label": row.label, "options": plain_options(row.options),
             "cells": {task: _record(row, task, cell) for task, cell in row.cells.items()}}
            for row in table.rows
        ],
    }
