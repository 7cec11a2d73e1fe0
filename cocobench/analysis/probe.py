"""The latent value probe (paper Section 5, ProsQA): what the continuous thoughts hold about the graph.

After k thoughts the model is forced into language (`Q bot <latent>xk eot`) and the next reasoning
step is teacher-forced up to its subject: the step after k hops reads "Every X is a Y." with X a node
k hops from the root, so the prefix is `... eot Every` (the step's first token, as training tokenized
it). The **value** of a frontier node X is the probability the model gives X's name as the next tokens:
for a name of several tokens, the product of each token's probability with the earlier ones
teacher-forced, p("lempus") = p(" lem") p("pus" | " lem"). Values are raw probabilities, not
renormalised over the frontier (a model may put mass outside it).

- Frontier at k: the nodes at the end of a k-edge walk from the root (the root's children at k = 1,
  their children at k = 2). A node on walks of several lengths belongs to each of those frontiers.
- Correct node: the target is reachable from it (it lies on a path to the answer).
- Height: the distance from the node down to a leaf, `shortest` (the paper's text: "the shortest
  distance to any leaf") or `longest` (its figure caption); both are recorded for every node.
Symbolic ProsQA ("Reasoning by Superposition"): every node is one token and a reasoning step is the
node itself, so the prefix is the k-thought prompt alone (for node supervision `Q <latent>xk`, which
training taught to name a node at depth k+1) and the probed frontier is one hop further: depth k+1
(k = 0 probes the root's children without any thought).
Outputs: the parallelism curves (per thought, the cumulative value of the top-1/2/3 frontier nodes,
sorted over the test set and drawn against the percentile of examples) and value vs height for
correct and incorrect nodes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch

from cocobench.errors import CocobenchError
from cocobench.examples import Example
from cocobench.rundir import RUNS_ROOT
from cocobench.tasks.prosqa_symbolic import is_symbolic, node_count

SUBJECT_PREFIX = "Every"  # how a step about a concept starts ("Every X is a Y.")
TOP = (1, 2, 3)  # the parallelism curves: cumulative value of the top-n frontier nodes
HEIGHTS = ("shortest", "longest")


@dataclass(frozen=True)
class Graph:
    names: list[str]
    children: list[list[int]]
    root: int
    target: int


def _graph_of(example: Example) -> Graph:
    """The question's graph from the example's structured ProsQA fields (idx_to_symbol, edges, root,
    target), which the probe needs by node index; `tasks.prosqa.parse_question` reads the same graph
    from the question text (tests check that the two agree on the official files). A symbolic node's
    name is its id, the token the model reads."""
    if is_symbolic(example):
        names = [str(node) for node in range(node_count(example))]
    else:
        names = example["idx_to_symbol"]
    children: list[list[int]] = [[] for _ in names]
    for u, v in example["edges"]:
        children[u].append(v)
    return Graph(list(names), children, example["root"], example["target"])


def probed_depth(example: Example, k: int) -> int:
    """The depth of the frontier probed after k thoughts: k for English steps ("Every X ..." with X k hops
    from the root), k + 1 for symbolic ones (the step is the next node)."""
    return k + 1 if is_symbolic(example) else k


def frontier(graph: Graph, k: int) -> list[int]:
    """The nodes at the end of a k-edge walk from the root, in index order."""
    nodes = {graph.root}
    for _ in range(k):
        nodes = {child for node in nodes for child in graph.children[node]}
    return sorted(nodes)


def heights(graph: Graph, how: str) -> list[int]:
    """Per node: the shortest or longest number of edges down to a leaf (a leaf: 0)."""
    pick = min if how == "shortest" else max

    @cache
    def height(node: int) -> int:
        below = graph.children[node]
        return 0 if not below else 1 + pick(height(child) for child in below)

    return [height(node) for node in range(len(graph.names))]


def reaches_target(graph: Graph) -> list[bool]:
    """Per node: whether the target is reachable from it (the node itself included)."""

    @cache
    def reaches(node: int) -> bool:
        return node == graph.target or any(reaches(child) for child in graph.children[node])

    return [reaches(node) for node in range(len(graph.names))]


def name_tokens(encode, name: str) -> tuple[int, ...]:
    """The tokens of `name` as the subject of a step: those after "Every" in "Every <name>"."""
    prefix, whole = encode(SUBJECT_PREFIX), encode(f"{SUBJECT_PREFIX} {name}")
    if tuple(whole[: len(prefix)]) != tuple(prefix) or len(whole) == len(prefix):
        raise CocobenchError(f"the tokenizer does not split 'Every {name}' into 'Every' + the name; the probe cannot read this concept's value")
    return tuple(whole[len(prefix) :])


# ---------------------------------------------------------------------------------------------------
# Values


def continuation_probabilities(model, ids, prefixes: Sequence[Sequence[int]], continuations: Sequence[Sequence[Sequence[int]]], *, batch_size: int,
                               feed: str = "hidden", quiet: bool = True) -> list[list[float]]:
    """P(continuation | prefix) under teacher forcing, for each prefix and each of its continuations:
    the product over the continuation's tokens of their probability after prefix + the tokens before.

    Each distinct `prefix + continuation[:i]` is one generation prompt whose first-step logits the
    engine hands out (`logits_at=(0,)`); continuations of one token share their prefix's prompt."""
    from cocobench.engine import generate
    from cocobench.evaluate import batches_by_length
    from cocobench.progress import counter

    needed: dict[tuple[int, ...], set[int]] = {}  # prompt -> the tokens whose probability is read after it
    for prefix, options in zip(prefixes, continuations):
        for tokens in options:
            for i, token in enumerate(tokens):
                needed.setdefault((*prefix, *tokens[:i]), set()).add(token)
    prompts = list(needed)
    log_probs: dict[tuple[int, ...], dict[int, float]] = {}
    with counter("probe", len(prompts), quiet) as advance:
        for batch in batches_by_length([len(p) for p in prompts], batch_size):
            generations = generate(model, [list(prompts[i]) for i in batch], ids=ids, max_new_tokens=1, feed=feed, logits_at=(0,))
            for i, generation in zip(batch, generations):
                row = torch.log_softmax(generation.trace.logits[0].double(), -1)  # (V,)
                log_probs[prompts[i]] = {token: float(row[token]) for token in needed[prompts[i]]}
            advance(len(batch))
    return [[math.exp(sum(log_probs[(*prefix, *tokens[:i])][token] for i, token in enumerate(tokens))) for tokens in options]
            for prefix, options in zip(prefixes, continuations)]


def probe_examples(loaded, examples: list[Example], ks: Sequence[int], *, quiet: bool = True) -> list[dict[str, Any]]:
    """Per example: its frontier nodes at each k, with value, correctness and both heights."""
    from cocobench.tokenizer import token_ids

    method = loaded.method
    encode = method.encode
    plans = []  # (example index, k, frontier nodes, prefix, continuations)
    for idx, example in enumerate(examples):
        graph, symbolic = _graph_of(example), is_symbolic(example)
        for k in ks:
            nodes = frontier(graph, probed_depth(example, k))
            if symbolic:
                prefix, continuations = method.step_prompt(example, k=k), [tuple(encode(graph.names[n])) for n in nodes]
            else:
                prefix = method.step_prompt(example, k=k) + list(encode(SUBJECT_PREFIX))
                continuations = [name_tokens(encode, graph.names[n]) for n in nodes]
            plans.append((idx, k, nodes, prefix, continuations))
    values = continuation_probabilities(loaded.model, token_ids(loaded.tokenizer), [p[3] for p in plans], [p[4] for p in plans],
                                        batch_size=loaded.cfg.eval_batch_size, feed=method.thought_feed or "hidden", quiet=quiet)
    records = [{"idx": idx, "frontiers": {}} for idx in range(len(examples))]
    for (idx, k, nodes, _, _), node_values in zip(plans, values):
        graph = _graph_of(examples[idx])
        shortest, longest, correct = heights(graph, "shortest"), heights(graph, "longest"), reaches_target(graph)
        records[idx]["frontiers"][str(k)] = [
            {"node": n, "name": graph.names[n], "value": value, "correct": correct[n], "height_shortest": shortest[n], "height_longest": longest[n]}
            for n, value in zip(nodes, node_values)
        ]
    return records


# ---------------------------------------------------------------------------------------------------
# Summaries


def parallelism(records: list[dict[str, Any]], k: int) -> dict[str, list[float]]:
    """top<n> -> the cumulative value of each example's n most valued frontier nodes at k, sorted
    ascending over the examples (the curve against the percentile of examples)."""
    curves: dict[str, list[float]] = {f"top{n}": [] for n in TOP}
    for record in records:
        values = sorted((node["value"] for node in record["frontiers"].get(str(k), [])), reverse=True)
        if not values:
            continue
        for n in TOP:
            curves[f"top{n}"].append(sum(values[:n]))
    return {name: sorted(curve) for name, curve in curves.items()}


def value_by_height(records: list[dict[str, Any]], k: int, height: str) -> list[dict[str, Any]]:
    """Mean value of the frontier nodes at k, by (correct, height), with the number of nodes."""
    groups: dict[tuple[bool, int], list[float]] = {}
    for record in records:
        for node in record["frontiers"].get(str(k), []):
            groups.setdefault((node["correct"], node[f"height_{height}"]), []).append(node["value"])
    return [{"correct": correct, "height": h, "mean_value": sum(v) / len(v), "nodes": len(v)} for (correct, h), v in sorted(groups.items())]


def summary(records: list[dict[str, Any]], ks: Sequence[int], height: str) -> list[dict[str, Any]]:
    """One row per thought count: frontier size, mean top-n cumulative values, mean value of correct
    and incorrect nodes."""
    rows = []
    for k in ks:
        nodes = [node for record in records for node in record["frontiers"].get(str(k), [])]
        curves = parallelism(records, k)
        correct = [node["value"] for node in nodes if node["correct"]]
        wrong = [node["value"] for node in nodes if not node["correct"]]
        rows.append({
            "k": k, "examples": len(curves["top1"]), "frontier_mean": len(nodes) / max(len(curves["top1"]), 1),
            **{f"top{n}_mean": _mean(curves[f"top{n}"]) for n in TOP},
            "correct_mean": _mean(correct), "incorrect_mean": _mean(wrong),
            "value_by_height": value_by_height(records, k, height),
        })
    return rows


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def plots(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """parallelism.png (one panel per thought) and value_height.png; none without matplotlib."""
    from cocobench.analysis.plots import optional_figure, save_png

    ks = report["ks"]
    made = optional_figure(len(ks))
    if made is None:
        return []
    figure, axes = made
    for axis, k in zip(axes, ks):
        for name, curve in report["parallelism"][str(k)].items():
            percentiles = [100 * (i + 0.5) / len(curve) for i in range(len(curve))]
            axis.plot(percentiles, curve, label=name.replace("top", "top-"))
        axis.set(title=f"Thought {k}: top frontier nodes (depth {k + report.get('depth_offset', 0)})", xlabel="percentile of test examples", ylabel="cumulative value", ylim=(0, 1.02))
        axis.legend(fontsize="small")
    figure.suptitle(caption(report), fontsize="medium")
    written = [save_png(figure, out_dir / "parallelism.png")]
    figure, axes = optional_figure(len(ks))
    for axis, row in zip(axes, report["summary"]):
        for correct, style in ((True, "o-"), (False, "s--")):
            points = [p for p in row["value_by_height"] if p["correct"] is correct]
            axis.plot([p["height"] for p in points], [p["mean_value"] for p in points], style, label="correct nodes" if correct else "incorrect nodes")
        axis.set(title=f"Thought {row['k']}: value vs {report['height']} height", xlabel=f"height ({report['height']} distance to a leaf)", ylabel="mean value", ylim=(0, 1.02))
        axis.legend(fontsize="small")
    figure.suptitle(caption(report), fontsize="medium")
    written.append(save_png(figure, out_dir / "value_height.png"))
    return written


def caption(report: dict[str, Any]) -> str:
    """The figures' caption: the run, its method and the test data (what a test's report lacks is left out)."""
    method = f" ({report['method']})" if report.get("method") else ""
    data = f" on {report['test_file']}, {report['examples']} examples" if report.get("test_file") else ""
    return f"{report['run']}{method}{data}; one seed"


def case_study(example: Example, record: dict[str, Any], ks: Sequence[int]):
    """A rich Tree of one example down to the deepest probed frontier: each node at depth d with its
    value after the thoughts that probe depth d (d, or d - 1 on symbolic data; where probed), correct nodes green, incorrect red, the target bold; heights shortest/longest."""
    from rich.tree import Tree

    graph = _graph_of(example)
    offset = probed_depth(example, 0)
    values = {int(k) + offset: {node["node"]: node for node in nodes} for k, nodes in record["frontiers"].items()}

    def label(node: int, depth: int) -> str:
        entry = values.get(depth, {}).get(node)
        name = f"[bold]{graph.names[node]}[/]" if node == graph.target else graph.names[node]
        if entry is None:
            return name
        style = "green" if entry["correct"] else "red"
        return f"[{style}]{name}[/]  value {entry['value']:.3g} (height {entry['height_shortest']}/{entry['height_longest']})"

    tree = Tree(f"example {record['idx']}: {graph.names[graph.root]} (target {graph.names[graph.target]})")

    def grow(branch, node: int, depth: int) -> None:
        if depth > max(ks) + offset:
            return
        for child in graph.children[node]:
            grow(branch.add(label(child, depth)), child, depth + 1)

    grow(tree, graph.root, 1)
    return tree


# ---------------------------------------------------------------------------------------------------
# The command


def run(checkpoint: Path, data: Path, *, ks_text: str, height: str, out: Path | None, overwrite: bool, overrides: dict[str, Any],
        show: int | None = None) -> tuple[dict[str, Any], list[Example]]:
    """`cocobench analyze probe`: check (`show`: an example index to print), load once, probe every example
    at each k, write OUT/probe.json and the PNGs; returns (the report, the examples probed)."""
    from cocobench.analysis.plots import PLOT_HINT
    from cocobench.analysis.ksweep import parse_ks
    from cocobench.io import atomic_write_json, directory_lock, file_fingerprint, holds_files
    from cocobench.progress import log, quiet_libraries
    from cocobench.checkpoint_eval import check_evaluation_fits, limited, load_for_evaluation, read_test_examples, require_checkpoint_dir
    from cocobench.tasks.prosqa import recognizes

    quiet_libraries()
    if height not in HEIGHTS:
        raise CocobenchError(f"--height must be one of {', '.join(HEIGHTS)}, got '{height}'")
    ks = parse_ks(ks_text)
    checkpoint = require_checkpoint_dir(checkpoint)
    test_file, all_examples = read_test_examples(data)
    odd = next((i for i, example in enumerate(all_examples) if not (recognizes(example) or is_symbolic(example))), None)
    if odd is not None:
        raise CocobenchError(f"{test_file}: example {odd} is not ProsQA (no edges/root/target); the probe reads ProsQA graphs, pass a ProsQA test file")
    depth_offset = probed_depth(all_examples[0], 0)
    if ks[0] == 0 and depth_offset == 0:
        raise CocobenchError("--k 0 has no frontier to probe (the next step's subject is the root itself); use k of 1 or more, e.g. 1,2")
    loaded = load_for_evaluation(checkpoint, overrides)
    cfg = loaded.cfg
    if not loaded.method.takes_k:
        raise CocobenchError(f"method '{cfg.method}' has no thoughts to probe; pass a checkpoint of coconut (or another method with thoughts)")
    run_name = checkpoint.parent.parent.name or checkpoint.name
    out_dir = Path(out) if out else RUNS_ROOT / f"probe-{run_name}-{test_file.stem}"
    if not overwrite and holds_files(out_dir):
        raise CocobenchError(f"--out '{out_dir}' already holds files; pass --overwrite to replace them, or choose another --out")
    examples = limited(all_examples, cfg)
    if show is not None and not 0 <= show < len(examples):
        raise CocobenchError(f"--show {show} is outside the {len(examples)} examples probed (0..{len(examples) - 1})")
    check_evaluation_fits(loaded, examples, tuple(ks))
    with directory_lock(out_dir):
        records = probe_examples(loaded, examples, ks, quiet=cfg.quiet)
        report = {
            "analysis": "probe", "run": run_name, "checkpoint": str(checkpoint), "method": cfg.method,
            "test_file": str(test_file), "test_fingerprint": file_fingerprint(test_file), "examples": len(examples),
            "ks": ks, "depth_offset": depth_offset, "height": height, "subject_prefix": None if depth_offset else SUBJECT_PREFIX,
            "summary": summary(records, ks, height),
            "parallelism": {str(k): parallelism(records, k) for k in ks},
            "records": records,
        }
        atomic_write_json(out_dir / "probe.json", report)
        figures = plots(report, out_dir)
    from cocobench.analysis.ksweep import limit_note

    for note in filter(None, [limit_note(overrides, len(examples), len(all_examples)), None if figures else f"wrote no plots: install matplotlib ({PLOT_HINT})"]):
        log(f"note: {note}", cfg.quiet)
    log(f"probe of {run_name} at k = {', '.join(map(str, ks))} -> {out_dir}", cfg.quiet)
    return report, examples
