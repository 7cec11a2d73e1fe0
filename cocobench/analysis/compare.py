"""Regression comparison of two sets of runs (`cocobench compare BASELINE NEW`), built for CI.

Each side is a results.json, a run directory or a suite directory (searched recursively). Runs are
matched on (task, method, seed, options); for every matched pair we judge

  accuracy  McNemar exact test on per-sample correctness paired by idx, plus a paired bootstrap CI.
            A drop with p < alpha is a regression; any change with p >= alpha is "within noise".
  tokens    generated_tokens_mean and forward_passes_mean within a relative tolerance. Beyond it the
            method behaves differently (more or fewer thoughts, longer chains): a regression either way.
  speed     examples/second: only ever a warning, because CI machines differ.

CPU runs are bit-for-bit reproducible for a fixed torch version, so a pair whose every sample record
and every non-timing metric are equal is reported as IDENTICAL, which is stronger than "within noise".

Verdicts (each pair or unmatched run gets exactly one; any FAILING one makes the exit code 1):
  pass  identical, improved, within noise, only in new
  fail  regressed, tokens changed, unpaired samples, options differ, missing in new
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cocobench.checks import MAX_SEED
from cocobench.errors import CocobenchError
from cocobench.results import load_results
from cocobench.stats import discordant_pairs, mcnemar_exact, paired_bootstrap_ci

IDENTICAL = "identical"
IMPROVED = "improved"
WITHIN_NOISE = "within noise"
ONLY_IN_NEW = "only in new"
REGRESSED = "regressed"
TOKENS_CHANGED = "tokens changed"
UNPAIRED = "unpaired samples"
OPTIONS_DIFFER = "options differ"
MISSING = "missing in new"
FAILING = (REGRESSED, TOKENS_CHANGED, UNPAIRED, OPTIONS_DIFFER, MISSING)
VERDICTS = (IDENTICAL, IMPROVED, WITHIN_NOISE, ONLY_IN_NEW, *FAILING)

TOKEN_METRICS = ("generated_tokens_mean", "forward_passes_mean")


MAX_BOOTSTRAP = 1_000_000  # the CI's quantiles are stable long before; the resamples are held in memory (3 ints each)


@dataclass
class Settings:
    alpha: float = 0.05  # significance of the McNemar test; the CI has confidence 1 - alpha
    tokens_rtol: float = 0.05  # token counts are deterministic per model: 5% is a real behaviour change
    speed_rtol: float = 0.25  # only warn when >25% slower: shared CI machines jitter a lot
    bootstrap: int = 10_000  # bootstrap resamples for the CI
    seed: int = 0  # bootstrap seed: fixed so output is deterministic

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise CocobenchError(f"--alpha must be between 0 and 1 (exclusive), got {self.alpha}")
        for name, value in (("--tokens-rtol", self.tokens_rtol), ("--speed-rtol", self.speed_rtol)):
            if not value >= 0.0:  # also rejects nan
                raise CocobenchError(f"{name} must be a non-negative fraction (0.05 = 5%), got {value}")
        if not 0 < self.bootstrap <= MAX_BOOTSTRAP:
            raise CocobenchError(f"--bootstrap must be a number of resamples in 1..{MAX_BOOTSTRAP:,}, got {self.bootstrap}")
        if not 0 <= self.seed <= MAX_SEED:
            raise CocobenchError(f"--seed must be in 0..{MAX_SEED} (2**32 - 1), got {self.seed}")


# ----------------------------------------------------------------------------------------------
# Loading: a side is a file, a run directory or a suite directory


@dataclass
class Run:
    path: Path
    results: dict[str, Any]

    @property
    def name(self) -> str:
        r = self.results
        return str(r.get("run_name") or f"{r['task']}-{r['method']}-seed{r['seed']}")

    @property
    def identity(self) -> tuple[str, str, int]:
        """(task, method, seed): the same experiment, whatever its options."""
        return self.results["task"], self.results["method"], self.results["seed"]

    @property
    def key(self) -> tuple[str, str, int, str]:
        """What runs are matched on: identity plus options (canonical JSON, so key order is irrelevant)."""
        return (*self.identity, json.dumps(self.results["options"], sort_keys=True))


def load_side(path: str | Path, label: str) -> list[Run]:
    """Every run under `path` (a results.json, a run directory or a suite directory)."""
    runs = [Run(Path(r.pop("_source")), r) for r in load_results([path], label)]
    seen: dict[tuple, Run] = {}
    for run in runs:
        if run.key in seen:
            raise CocobenchError(
                f"{seen[run.key].path} and {run.path} are the same run (task, method, seed and options) in {label} '{path}'; "
                "keep one of them or pass a narrower directory"
            )
        seen[run.key] = run
    return runs


# ----------------------------------------------------------------------------------------------
# Judging one matched pair


@dataclass
class Pair:
    """A baseline run and the new run with the same (task, method, seed, options)."""

    base: Run
    new: Run
    verdict: str = WITHIN_NOISE
    reasons: list[str] = field(default_factory=list)  # why it failed (or improved)
    warnings: list[str] = field(default_factory=list)  # speed and environment notes; never fail
    numbers: dict[str, Any] = field(default_factory=dict)  # everything the JSON output reports


@dataclass
class Unmatched:
    """A run without a partner: missing in new, only in new, or same experiment with other options."""

    verdict: str
    base: Run | None
    new: Run | None
    reason: str
    options_diff: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # only for "options differ"

    @property
    def run(self) -> Run:
        return self.base or self.new


def judge(base: Run, new: Run, settings: Settings) -> Pair:
    pair = Pair(base, new)
    b_metrics, n_metrics = base.results["metrics"], new.results["metrics"]
    pair.numbers["accuracy"] = _change(b_metrics["accuracy"], n_metrics["accuracy"])
    for name in TOKEN_METRICS:
        pair.numbers[name] = _change(b_metrics[name], n_metrics[name])
    pair.numbers["examples_per_second"] = _change(b_metrics["examples_per_second"], n_metrics["examples_per_second"])

    unpaired = _unpaired_reason(base, new)
    if unpaired:
        pair.verdict, pair.reasons = UNPAIRED, [unpaired]
        pair.numbers.update(n=None, lost=None, gained=None, p_value=None, ci=None, confidence=None)
        return pair

    by_idx = {s["idx"]: s for s in new.results["samples"]}
    base_correct = [s["correct"] for s in base.results["samples"]]
    new_correct = [by_idx[s["idx"]]["correct"] for s in base.results["samples"]]
    lost, gained = discordant_pairs(base_correct, new_correct)
    p_value = mcnemar_exact(lost, gained)
    ci = paired_bootstrap_ci(base_correct, new_correct, resamples=settings.bootstrap, confidence=1 - settings.alpha, seed=settings.seed)
    pair.numbers.update(n=len(base_correct), lost=lost, gained=gained, p_value=p_value, ci=list(ci), confidence=1 - settings.alpha)

    regressed = gained < lost and p_value < settings.alpha
    if regressed:
        pair.reasons.append(f"accuracy dropped significantly: {lost} examples lost, {gained} gained, McNemar p={p_value:.3g} < alpha {settings.alpha:g}")
    for name in TOKEN_METRICS:
        rel = pair.numbers[name]["relative_change"]
        if _beyond(pair.numbers[name], settings.tokens_rtol):
            shown = "from zero" if rel is None else f"{rel:+.1%}"
            pair.reasons.append(f"{name} changed {shown} (tolerance {settings.tokens_rtol:.0%}): the method behaves differently")
    if regressed:
        pair.verdict = REGRESSED
    elif pair.reasons:
        pair.verdict = TOKENS_CHANGED
    elif _identical(base.results, new.results):
        pair.verdict = IDENTICAL
    elif gained > lost and p_value < settings.alpha:
        pair.verdict = IMPROVED
        pair.reasons.append(f"accuracy rose significantly: {gained} examples gained, {lost} lost, McNemar p={p_value:.3g}")
    else:
        pair.verdict = WITHIN_NOISE
    pair.warnings = _warnings(base, new, pair.numbers["examples_per_second"], settings, identical=pair.verdict == IDENTICAL)
    return pair


def _change(base: float | None, new: float | None) -> dict[str, Any]:
    if base is None or new is None:
        return {"base": base, "new": new, "change": None, "relative_change": None}
    relative = (new - base) / base if base else (0.0 if new == base else None)  # None: from zero
    return {"base": base, "new": new, "change": new - base, "relative_change": relative}


def _beyond(change: dict[str, Any], rtol: float) -> bool:
    if change["change"] is None or change["change"] == 0:
        return False
    rel = change["relative_change"]
    return rel is None or abs(rel) > rtol


def _unpaired_reason(base: Run, new: Run) -> str | None:
    """Why the samples cannot be paired example by example (None when they can)."""
    b_fp, n_fp = base.results["data"]["test_fingerprint"], new.results["data"]["test_fingerprint"]
    if b_fp != n_fp:
        return f"different test data: data.test_fingerprint {_short(b_fp)} vs {_short(n_fp)}; evaluate both on the same test file"
    b_samples = {s["idx"]: s for s in base.results["samples"]}
    n_samples = {s["idx"]: s for s in new.results["samples"]}
    if b_samples.keys() != n_samples.keys():
        only_b, only_n = len(b_samples.keys() - n_samples.keys()), len(n_samples.keys() - b_samples.keys())
        return f"different examples: {only_b} idx only in baseline, {only_n} only in new; evaluate both on the same examples"
    wrong_gold = sorted(i for i in b_samples if b_samples[i]["gold"] != n_samples[i]["gold"])
    if wrong_gold:
        more = f" (and {len(wrong_gold) - 1} more)" if len(wrong_gold) > 1 else ""
        return f"gold answer differs at idx {wrong_gold[0]}{more}; the test data differ, evaluate both on the same test file"
    return None


def _short(fingerprint: str) -> str:
    return fingerprint[:19] + "..." if len(fingerprint) > 22 else fingerprint


def _without_timing(value: Any) -> Any:
    """The value with every timing field removed (at any depth): timing never reproduces."""
    if isinstance(value, dict):
        return {k: _without_timing(v) for k, v in value.items() if not (k.endswith("seconds") or k.endswith("per_second"))}
    if isinstance(value, list):
        return [_without_timing(v) for v in value]
    return value


def _identical(base: dict[str, Any], new: dict[str, Any]) -> bool:
    """Every sample record (prediction, text, correct, generated_tokens, ...) and every metric equal."""
    by_idx = {s["idx"]: s for s in new["samples"]}
    same_samples = all(_without_timing(s) == _without_timing(by_idx[s["idx"]]) for s in base["samples"])
    shared = base["metrics"].keys() & new["metrics"].keys()  # a metric a newer schema added (accuracy_stderr) is not a difference
    return same_samples and _without_timing({k: base["metrics"][k] for k in shared}) == _without_timing({k: new["metrics"][k] for k in shared})


def _warnings(base: Run, new: Run, speed: dict[str, Any], settings: Settings, *, identical: bool) -> list[str]:
    notes = []
    rel = speed["relative_change"]
    if rel is not None and rel < -settings.speed_rtol:
        devices = (base.results.get("device"), new.results.get("device"))
        where = f" (devices differ: {devices[0]} vs {devices[1]})" if devices[0] != devices[1] else ""
        notes.append(f"{-rel:.0%} slower in examples/second{where}; a warning only, machines differ")
    torch_versions = (base.results.get("torch_version"), new.results.get("torch_version"))
    if not identical and torch_versions[0] != torch_versions[1]:
        notes.append(f"torch {torch_versions[0]} vs {torch_versions[1]}: runs are only bit-for-bit reproducible on one torch version")
    b_train, n_train = base.results["data"].get("train_fingerprint"), new.results["data"].get("train_fingerprint")
    if b_train != n_train:
        notes.append("different training data (data.train_fingerprint)")
    return notes


# ----------------------------------------------------------------------------------------------
# Matching both sides


@dataclass
class Comparison:
    baseline: Path
    new: Path
    settings: Settings
    pairs: list[Pair]
    unmatched: list[Unmatched]

    @property
    def failed(self) -> bool:
        return any(v in FAILING for v in self.verdicts())

    def verdicts(self) -> list[str]:
        return [p.verdict for p in self.pairs] + [u.verdict for u in self.unmatched]

    def summary(self) -> str:
        counts = {v: self.verdicts().count(v) for v in (*FAILING, IDENTICAL, IMPROVED, WITHIN_NOISE, ONLY_IN_NEW)}
        parts = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        s = self.settings
        return f"{'FAIL' if self.failed else 'PASS'}: {parts} (alpha {s.alpha:g}, tokens rtol {s.tokens_rtol:g}, speed rtol {s.speed_rtol:g})"


def compare_paths(baseline: str | Path, new: str | Path, settings: Settings | None = None) -> Comparison:
    settings = settings or Settings()
    base_runs, new_runs = load_side(baseline, "baseline"), load_side(new, "new")
    pairs, unmatched = match(base_runs, new_runs)
    judged = [judge(b, n, settings) for b, n in pairs]
    return Comparison(Path(baseline), Path(new), settings, judged, unmatched)


def match(base_runs: list[Run], new_runs: list[Run]) -> tuple[list[tuple[Run, Run]], list[Unmatched]]:
    """Pair runs with equal keys; leftovers of the same (task, method, seed) are "options differ"."""
    new_by_key = {run.key: run for run in new_runs}
    pairs = [(run, new_by_key.pop(run.key)) for run in base_runs if run.key in new_by_key]
    paired_keys = {b.key for b, _ in pairs}
    left_base = [run for run in base_runs if run.key not in paired_keys]
    left_new = list(new_by_key.values())
    unmatched: list[Unmatched] = []
    for run in left_base:
        # Of the new runs of the same experiment, the closest (fewest differing options) is its counterpart.
        same = [other for other in left_new if other.identity == run.identity]
        if same:
            other = min(same, key=lambda o: len(_option_diff(run, o)))
            left_new.remove(other)
            diffs = _option_diff(run, other)
            shown = ", ".join(f"{key} {_show(old)} -> {_show(now)}" for key, (old, now) in diffs.items())
            unmatched.append(Unmatched(OPTIONS_DIFFER, run, other, f"{shown}; rerun one side with the other's options", diffs))
        else:
            unmatched.append(Unmatched(MISSING, run, None, f"no run with these task, method, seed and options in new (baseline: {run.path})"))
    unmatched += [Unmatched(ONLY_IN_NEW, None, run, f"not in the baseline (new: {run.path}); informational") for run in left_new]
    pairs.sort(key=lambda p: p[0].key)
    unmatched.sort(key=lambda u: u.run.key)
    return pairs, unmatched


_ABSENT = object()


def _option_diff(base: Run, new: Run) -> dict[str, tuple[Any, Any]]:
    """{key: (baseline value, new value)} for every option that differs (_ABSENT where missing)."""
    b_opts, n_opts = base.results["options"], new.results["options"]
    diffs = {}
    for key in sorted(b_opts.keys() | n_opts.keys()):
        old, now = b_opts.get(key, _ABSENT), n_opts.get(key, _ABSENT)
        if _show(old) != _show(now):  # as in Run.key: 1 and 1.0 (or true) are different settings
            diffs[key] = (old, now)
    return diffs


def _show(value: Any) -> str:
    return "(absent)" if value is _ABSENT else json.dumps(value, sort_keys=True)


# ----------------------------------------------------------------------------------------------
# Output: rich table, markdown (PR comment), JSON


def _changed(change: dict[str, Any], digits: int) -> str:
    """`6.0→6.5 (+8%)`; the percentage only when something changed."""
    if change["change"] is None:
        return "-"
    text = f"{change['base']:.{digits}f}→{change['new']:.{digits}f}"
    rel = change["relative_change"]
    if change["change"]:
        text += " (from 0)" if rel is None else f" ({rel:+.0%})"
    return text


def _cells(pair: Pair) -> list[str]:
    num, acc = pair.numbers, pair.numbers["accuracy"]
    return [
        pair.base.name,
        f"{100 * acc['base']:.1f}→{100 * acc['new']:.1f} %",  # percent, as `table` shows it; the JSON keeps fractions
        f"{100 * acc['change']:+.1f} pts",
        "-" if num["p_value"] is None else f"{num['p_value']:.3g}",
        "-" if num["ci"] is None else f"[{100 * num['ci'][0]:+.1f}, {100 * num['ci'][1]:+.1f}] pts",
        _changed(num["generated_tokens_mean"], 1),
        _changed(num["forward_passes_mean"], 1),
        _changed(num["examples_per_second"], 0),
        pair.verdict.upper() if pair.verdict == IDENTICAL else pair.verdict,
    ]


def _unmatched_cells(item: Unmatched) -> list[str]:
    return [item.run.name, *["-"] * (len(HEADERS) - 2), item.verdict]


HEADERS = ("run", "accuracy", "change", "p", "CI", "tokens", "passes", "examples/s", "verdict")


def _notes(comparison: Comparison) -> list[tuple[str, str]]:
    """(run, note) lines: failure reasons first, then warnings."""
    notes = [(p.base.name, r) for p in comparison.pairs for r in p.reasons]
    notes += [(u.run.name, f"{u.verdict}: {u.reason}") for u in comparison.unmatched]
    notes += [(p.base.name, f"warning: {w}") for p in comparison.pairs for w in p.warnings]
    return notes


def render_rich(comparison: Comparison, console) -> None:
    from rich.table import Table

    from cocobench.progress import wide_enough

    passing = {IDENTICAL: "green", IMPROVED: "green", WITHIN_NOISE: "green", ONLY_IN_NEW: "cyan"}
    table = Table(title=f"cocobench compare: {comparison.baseline} → {comparison.new}", title_justify="left")
    for header in HEADERS:
        table.add_column(header, justify="left" if header in ("run", "verdict") else "right", overflow="fold")
    for pair in comparison.pairs:
        table.add_row(*_cells(pair), style=None if pair.verdict in passing else "red")
    for item in comparison.unmatched:
        table.add_row(*_unmatched_cells(item), style=passing.get(item.verdict, "red"))
    console = wide_enough(console, table)  # CI logs: full width rather than wrapped cells
    console.print(table)
    for run, note in _notes(comparison):
        console.print(f"  {run}: {note}", markup=False, highlight=False)
    console.print(comparison.summary(), style="bold red" if comparison.failed else "bold green", markup=False, highlight=False)


def render_markdown(comparison: Comparison) -> str:
    """A PR comment: summary line, table, notes."""
    def row(cells: Iterable[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    mark = ":x:" if comparison.failed else ":white_check_mark:"
    lines = [f"### cocobench compare {mark}", "", f"**{comparison.summary()}**", "", row(HEADERS), row(["---"] * len(HEADERS))]
    lines += [row(_cells(p)) for p in comparison.pairs]
    lines += [row(_unmatched_cells(u)) for u in comparison.unmatched]
    notes = _notes(comparison)
    if notes:
        lines += ["", *(f"- `{run}`: {note}" for run, note in notes)]
    return "\n".join(lines) + "\n"


def _run_json(run: Run | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {"path": str(run.path), "run_name": run.name, "options": run.results["options"]}


def to_json(comparison: Comparison) -> dict[str, Any]:
    """Machine-readable: every pair with its numbers, p-value, CI and verdict; unmatched runs; status.

    Accuracies, their change and its CI are fractions (0.35), as in results.json; the tables show percent."""
    s = comparison.settings
    pairs = [
        {
            "task": p.base.results["task"], "method": p.base.results["method"], "seed": p.base.results["seed"],
            "verdict": p.verdict, "reasons": p.reasons, "warnings": p.warnings,
            "baseline": _run_json(p.base), "new": _run_json(p.new), **p.numbers,
        }
        for p in comparison.pairs
    ]
    unmatched = [
        {
            "task": u.run.results["task"], "method": u.run.results["method"], "seed": u.run.results["seed"],
            "verdict": u.verdict, "reason": u.reason, "baseline": _run_json(u.base), "new": _run_json(u.new),
            "differing_options": {k: [None if v is _ABSENT else v for v in pair] for k, pair in u.options_diff.items()},
        }
        for u in comparison.unmatched
    ]
    verdicts = comparison.verdicts()
    return {
        "status": "fail" if comparison.failed else "pass",
        "summary": comparison.summary(),
        "baseline": str(comparison.baseline), "new": str(comparison.new),
        "settings": {"alpha": s.alpha, "tokens_rtol": s.tokens_rtol, "speed_rtol": s.speed_rtol, "bootstrap": s.bootstrap, "seed": s.seed},
        "counts": {v: verdicts.count(v) for v in VERDICTS if v in verdicts},
        "pairs": pairs,
        "unmatched": unmatched,
    }

