"""ProsQA reasoning-path categories (`cocobench analyze paths`): what kind of path each output writes.

The paper (Coconut, Section 5 of v2, "interpolating between latent and language reasoning") sorts
every ProsQA output into six categories. The rules here, applied in this order:

1. The output is read as language steps (the sentences before the first '#') and an answer (the text
   after the last '#', as scoring reads it). A step is "Every A is a B." or "Tom is a A.".
2. No steps: **correct_label** if the answer is right (scored as the run scores it), else
   **incorrect_label**. An output with neither steps nor answer (empty, or only '#') is an incorrect
   label too: it states no path.
3. Otherwise the steps must form one valid path, else **hallucination**: every step well formed and
   naming concepts (or people) of this question, each one a fact of the question (an existing edge),
   each starting where the previous one ended (connected), the first starting where the hidden part
   can end (rule 4), and the answer, "Tom is a X.", naming the root and the last step's concept (a
   chain that never reaches its stated answer, or states none, is disconnected from it).
4. Where the path may start. k = the number of reasoning steps done as continuous thoughts (with c
   thoughts per step: thoughts // c; 0 for methods whose thoughts replace no steps). With k = 0 the
   whole path is visible and must start at the root. With k > 0 only the language suffix is visible,
   and it must be completed by a path through the graph from the root to its first node:
     completion "exact" (default): a path of exactly k edges, one per hidden step, as the curriculum
       trains it (at stage k, k*c thoughts replace the first k steps);
     completion "any": a path of any length (0 or more edges: a model that starts over from the root
       in language is also complete).
5. A valid path ending at the target: **correct_path** if (hidden edges + visible edges) equals the
   shortest root -> target distance, else **longer_path**. Under "exact" the hidden part has k edges;
   under "any" the shortest completion counts (the suffix is a correct path when it lies on some
   shortest path). A valid path ending anywhere else: **wrong_target** (its destination is not the
   concept asked about; the other option is never reachable from the root, so it cannot be it).

Beside the categories, every answer is read for the option it names (`choice`): **right** (scored
correct), **other** (the question's other option, about the person asked) or **neither** (any other
text, or none). Two shares follow, which the categories do not separate: how often a run names an
option at all (the answer's form), and how often it names the right one when it does (the choice
between the two, 50% for a guess).

Symbolic ProsQA (task prosqa-symbolic, "Reasoning by Superposition"): the output is node ids, the
chain's nodes before `[A]` and the answer after it (a text without `[A]` of one node is an answer, as
node-supervised Coconut writes it after its prompt's `[A]`). The path is the root, the chain's nodes,
then the answer; the same rules apply to it, edge by edge, with the graph read from the question.

Step templates are read leniently ("Every Tom is a A." counts as the edge Tom -> A); the graph is read
from the question text, not from the example's edges fields, so any ProsQA-format file works.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cocobench.errors import CocobenchError
from cocobench.examples import Example
from cocobench.scoring import is_correct
from cocobench.tasks.prosqa import QuestionGraph, ReasoningOutput, parse_output, question_graph

CORRECT_PATH = "correct_path"
LONGER_PATH = "longer_path"
HALLUCINATION = "hallucination"
WRONG_TARGET = "wrong_target"
CORRECT_LABEL = "correct_label"
RIGHT = (CORRECT_PATH, LONGER_PATH, CORRECT_LABEL)  # the categories whose answer is right
INCORRECT_LABEL = "incorrect_label"
CATEGORIES = (CORRECT_PATH, LONGER_PATH, HALLUCINATION, WRONG_TARGET, CORRECT_LABEL, INCORRECT_LABEL)  # the paper's order
TITLES = {
    CORRECT_PATH: "Correct Path", LONGER_PATH: "Longer Path", HALLUCINATION: "Hallucination",
    WRONG_TARGET: "Wrong Target", CORRECT_LABEL: "Correct Label", INCORRECT_LABEL: "Incorrect Label",
}  # fmt: skip
# Good outcomes green, bad red/orange, answer-only grey-blue: the stacked bars read at a glance.
COLORS = {
    CORRECT_PATH: "#2ca02c", LONGER_PATH: "#98df8a", HALLUCINATION: "#d62728",
    WRONG_TARGET: "#ff7f0e", CORRECT_LABEL: "#1f77b4", INCORRECT_LABEL: "#aec7e8",
}  # fmt: skip
COMPLETIONS = ("exact", "any")
DEFAULT_COMPLETION = "exact"  # the curriculum's reading: at stage k, k*c thoughts replace the first k steps
PER_SAMPLE_FILE = "paths.json"  # written beside a run's results.json
TASK = "prosqa"
TASKS = ("prosqa", "prosqa-symbolic")


# ----------------------------------------------------------------------------------------------
# One output


def categorize(example: Example, output_text: str, k: int = 0, completion: str = DEFAULT_COMPLETION) -> str:
    """The category (one of CATEGORIES) of a generated text for a ProsQA example, with the first k
    reasoning steps done as continuous thoughts (rules in the module docstring)."""
    check_completion(completion)
    if k < 0:
        raise CocobenchError(f"k must be 0 or more hidden steps, got {k}")
    from cocobench.tasks.prosqa_symbolic import is_symbolic

    if is_symbolic(example):
        return _categorize_symbolic(example, output_text, k, completion)
    output = parse_output(output_text)
    if not output.steps:
        return CORRECT_LABEL if output.answer is not None and is_correct(output.answer, example["answer"]) else INCORRECT_LABEL
    graph = question_graph(example)
    path = _valid_path(graph, output)
    if path is None:
        return HALLUCINATION
    hidden = _hidden_edges(graph, path[0], k, completion)
    if hidden is None:
        return HALLUCINATION
    if path[-1] != graph.target:
        return WRONG_TARGET
    shortest = graph.distances()[graph.target]
    return CORRECT_PATH if hidden + len(path) - 1 == shortest else LONGER_PATH


def _categorize_symbolic(example: Example, output_text: str, k: int, completion: str) -> str:
    from cocobench.tasks.prosqa_symbolic import parse_question

    chain, answer = _symbolic_output(output_text)
    if not chain:
        return CORRECT_LABEL if answer is not None and answer == str(example["answer"]) else INCORRECT_LABEL
    if answer is None:  # a chain that states no answer never reaches one
        return HALLUCINATION
    edges, options, root = parse_question(example["question"])
    graph = QuestionGraph(tuple((str(u), str(v)) for u, v in edges), str(root), (str(options[0]), str(options[1])), str(example["target"]))
    # A symbolic step is written as the node it reaches: with k steps hidden, the first written node
    # ends step k+1, so the hidden part leads to it in k+1 edges; with none hidden the path starts at the root.
    path = [graph.root, *chain, answer] if k == 0 else [*chain, answer]
    if any(b not in graph.children.get(a, ()) for a, b in zip(path, path[1:])):
        return HALLUCINATION
    hidden = 0 if k == 0 else _hidden_edges(graph, path[0], k + 1, completion)
    if hidden is None:
        return HALLUCINATION
    if path[-1] != graph.target:
        return WRONG_TARGET
    return CORRECT_PATH if hidden + len(path) - 1 == graph.distances()[graph.target] else LONGER_PATH


def _symbolic_output(text: str) -> tuple[list[str], str | None]:
    """(the chain's nodes, the answer node or None) of a symbolic output: the nodes before `[A]` and the
    one after it; a text of one node and no `[A]` is an answer (node supervision's prompt ends with `[A]`)."""
    tokens = text.split()
    if "[A]" not in tokens:
        return ([], tokens[0]) if len(tokens) == 1 else (tokens, None)
    at = tokens.index("[A]")
    return tokens[:at], (tokens[at + 1] if at + 1 < len(tokens) else None)


def _valid_path(graph: QuestionGraph, output: ReasoningOutput) -> list[str] | None:
    """The nodes of the visible path (first step's subject, then each step's concept), or None when a
    step is malformed, not a fact of the question, not connected, or the answer does not follow."""
    nodes: list[str] = []
    for step in output.steps:
        if not step.well_formed or not graph.is_edge(step.subject, step.concept):
            return None
        if nodes and step.subject != nodes[-1]:
            return None
        nodes = nodes or [step.subject]
        nodes.append(step.concept)
    if output.answer_fact != (graph.root, nodes[-1]):
        return None
    return nodes


def _hidden_edges(graph: QuestionGraph, start: str, k: int, completion: str) -> int | None:
    """How many edges the hidden part of the path has, when one can lead from the root to `start`; None when none can."""
    if k == 0:
        return 0 if start == graph.root else None
    if completion == "exact":
        return k if start in graph.reachable_in(k) else None
    return graph.distances().get(start)  # "any": the shortest completion


def check_completion(completion: str) -> str:
    if completion not in COMPLETIONS:
        raise CocobenchError(f"unknown completion rule '{completion}'; use one of {', '.join(COMPLETIONS)}")
    return completion


def answer_choice(example: Example, output_text: str, correct: bool) -> str:
    """Which option the output's answer names: "right" (scored correct), "other" or "neither"."""
    if correct:
        return "right"
    from cocobench.tasks.prosqa_symbolic import is_symbolic, parse_question

    if is_symbolic(example):
        answer = _symbolic_output(output_text)[1]
        return "other" if answer is not None and answer in map(str, parse_question(example["question"])[1]) else "neither"
    graph = question_graph(example)
    fact = parse_output(output_text).answer_fact
    return "other" if fact is not None and fact[0] == graph.root and fact[1] in graph.options else "neither"


# ----------------------------------------------------------------------------------------------
# A set of samples


def category_shares(examples_by_idx: Mapping[int, Example], samples: Iterable[dict[str, Any]], k: int = 0,
                    completion: str = DEFAULT_COMPLETION) -> dict[str, float]:  # fmt: skip
    """The fraction of samples in each category (every category a key, the values summing to 1; all 0
    without samples). Each sample needs `idx` (its example) and `text` (the generated output)."""
    categories = [categorize(_example(examples_by_idx, s), s["text"], k, completion) for s in samples]
    return shares(categories)


def shares(categories: list[str]) -> dict[str, float]:
    n = len(categories)
    return {c: (categories.count(c) / n if n else 0.0) for c in CATEGORIES}


def _example(examples_by_idx: Mapping[int, Example], sample: dict[str, Any]) -> Example:
    try:
        return examples_by_idx[sample["idx"]]
    except KeyError:
        raise CocobenchError(f"sample idx {sample['idx']} is not in the test file ({len(examples_by_idx)} examples); pass the test file the run used") from None


def hidden_steps(results: dict[str, Any], sample: dict[str, Any]) -> int:
    """Reasoning steps a sample did as thoughts: thoughts // c for the Coconut family (its curriculum
    replaces one step by c thoughts), 0 for other methods (pause tokens and iCoT hide no whole steps)."""
    from cocobench.methods import method_class
    from cocobench.methods.coconut import Coconut

    try:
        replaces_steps = issubclass(method_class(results["method"]), Coconut)
    except CocobenchError:  # a method this cocobench does not know: read its output as a full path
        replaces_steps = False
    c = results["options"].get("c") or 1
    return int(sample.get("num_thoughts") or 0) // c if replaces_steps else 0


# ----------------------------------------------------------------------------------------------
# A run: join its samples to the test file, categorize, write the per-sample file


@dataclass
class RunPaths:
    name: str
    method: str
    source: str  # its results.json
    test_file: str
    completion: str
    categories: list[dict[str, Any]] = field(default_factory=list)  # per sample: idx, k, category, correct, choice
    notes: list[str] = field(default_factory=list)

    @property
    def shares(self) -> dict[str, float]:
        return shares([c["category"] for c in self.categories])

    @property
    def counts(self) -> dict[str, int]:
        found = [c["category"] for c in self.categories]
        return {c: found.count(c) for c in CATEGORIES}

    @property
    def names_an_option(self) -> float:
        """The share of answers that name one of the question's two options (right or other)."""
        named = sum(c["choice"] != "neither" for c in self.categories)
        return named / len(self.categories) if self.categories else 0.0

    @property
    def right_of_named(self) -> float | None:
        """Of the answers that name an option, the share naming the right one (None if none names one)."""
        named = [c["choice"] for c in self.categories if c["choice"] != "neither"]
        return named.count("right") / len(named) if named else None

    def to_json(self) -> dict[str, Any]:
        return {"run": self.name, "method": self.method, "source": self.source, "test_file": self.test_file,
                "completion": self.completion, "n": len(self.categories), "shares": self.shares, "counts": self.counts,
                "names_an_option": self.names_an_option, "right_of_named": self.right_of_named}  # fmt: skip


def analyze_run(results: dict[str, Any], completion: str = DEFAULT_COMPLETION, data: str | Path | None = None) -> RunPaths:
    """Categorize every sample of one validated ProsQA run (from `cocobench.results.load_results`)."""
    check_completion(completion)
    source = Path(results["_source"])
    if results["task"] not in TASKS:
        raise CocobenchError(f"{source}: task '{results['task']}', but path categories are defined for ProsQA only; pass ProsQA or symbolic ProsQA runs")
    test_file, notes = test_file_of(results, source, data)
    from cocobench.examples import load_examples

    examples = dict(enumerate(load_examples(test_file)))
    run = RunPaths(run_name(results), results["method"], str(source), str(test_file), completion, notes=notes)
    for sample in results["samples"]:
        example = _example(examples, sample)
        if example["answer"] != sample["gold"]:
            raise CocobenchError(
                f"{source}: sample idx {sample['idx']} has gold {sample['gold']!r} but {test_file} says {example['answer']!r}; "
                "pass the test file the run used with --data"
            )
        k = hidden_steps(results, sample)
        category = categorize(example, sample.get("text", ""), k, completion)
        choice = answer_choice(example, sample.get("text", ""), sample["correct"])
        run.categories.append({"idx": sample["idx"], "k": k, "category": category, "correct": sample["correct"], "choice": choice})
    return run


def run_name(results: dict[str, Any]) -> str:
    return str(results.get("run_name") or Path(results["_source"]).parent.name)


def test_file_of(results: dict[str, Any], source: Path, data: str | Path | None) -> tuple[Path, list[str]]:
    """The test file to join samples to: --data, else data.test_file as written (relative to the working
    directory, or to a folder above the results file: a repository's data/). A file whose fingerprint
    differs from the run's is used with a note; the golds are checked one by one afterwards."""
    from cocobench.io import file_fingerprint

    if data is not None:
        path = Path(data)
        if not path.is_file():
            raise CocobenchError(f"--data '{path}' is not a file; pass the test file (.json or .jsonl) the run was evaluated on")
    else:
        written = results["data"].get("test_file")
        if not written:
            raise CocobenchError(f"{source}: no data.test_file recorded; pass the test file the run used with --data")
        candidates = [Path(written)] if Path(written).is_absolute() else [Path(written), *(p / written for p in source.resolve().parents)]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise CocobenchError(f"{source}: its test file '{written}' is not here (relative to this directory or above the run); pass it with --data")
    notes = []
    if file_fingerprint(path) != results["data"]["test_fingerprint"]:
        notes.append(f"{path} is not byte-identical to the file the run used (data.test_fingerprint); samples are joined by idx and their golds checked")
    return path, notes


def write_per_sample(run: RunPaths) -> Path:
    """RUN/paths.json: the shares and every sample's category, beside the run's results.json (atomic)."""
    from cocobench.io import atomic_write_json

    path = Path(run.source).parent / PER_SAMPLE_FILE
    atomic_write_json(path, {**run.to_json(), "samples": run.categories})
    return path


# ----------------------------------------------------------------------------------------------
# Output: rich table, markdown, csv, json, stacked bars


def to_json(runs: list[RunPaths]) -> dict[str, Any]:
    return {"categories": list(CATEGORIES), "completion": runs[0].completion if runs else DEFAULT_COMPLETION,
            "runs": [run.to_json() for run in runs]}  # fmt: skip


CSV_FIELDS = ("run", "method", "n", *CATEGORIES, "names_an_option", "right_of_named", "source")


def render_csv(runs: list[RunPaths]) -> str:
    """One line per run: its shares (fractions) of each category."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for run in runs:
        right = run.right_of_named
        writer.writerow({"run": run.name, "method": run.method, "n": len(run.categories), **{c: round(v, 4) for c, v in run.shares.items()},
                         "names_an_option": round(run.names_an_option, 4), "right_of_named": "" if right is None else round(right, 4), "source": run.source})
    return buffer.getvalue()


def _row(run: RunPaths) -> list[str]:
    right = run.right_of_named
    return [run.name, str(len(run.categories)), *(f"{100 * run.shares[c]:.1f}" for c in CATEGORIES),
            f"{100 * run.names_an_option:.1f}", "-" if right is None else f"{100 * right:.1f}"]  # fmt: skip


HEADERS = ("run", "n", *(TITLES[c] + " %" for c in CATEGORIES), "Names an Option %", "Right of Those %")


def render_markdown(runs: list[RunPaths]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|---|" + "---:|" * (len(HEADERS) - 1)]
    lines += ["| " + " | ".join(_row(run)) + " |" for run in runs]
    return "\n".join(lines) + "\n"


def render_rich(runs: list[RunPaths], console) -> None:
    from rich.markup import escape
    from rich.table import Table

    from cocobench.progress import wide_enough

    completion = runs[0].completion if runs else DEFAULT_COMPLETION
    table = Table(title="ProsQA reasoning paths (% of samples)", title_justify="left",
                  caption=f"k > 0: a language suffix counts as a path when a hidden path of {'exactly k' if completion == 'exact' else 'any number of'} edges completes it; "
                          "the last two columns: answers naming one of the question's two options, and of those the share naming the right one (50%: a guess)",
                  caption_justify="left")  # fmt: skip
    for header in HEADERS:
        table.add_column(header, justify="left" if header == "run" else "right", no_wrap=header == "run")
    for run in runs:
        table.add_row(escape(run.name), *_row(run)[1:])
    wide_enough(console, table).print(table)


def plot(runs: list[RunPaths], path: str | Path) -> Path:
    """A stacked bar per configuration (the seeds of one run name, merged): the mean category shares in
    percent, with ±1 std over seeds on the top of the right-answer categories; a caption names the
    test file and the seeds (needs matplotlib)."""
    import statistics

    from cocobench.analysis import plots
    from cocobench.analysis.curve import seedless

    merged: dict[str, list[RunPaths]] = {}
    for run in runs:
        merged.setdefault(seedless(run.name), []).append(run)
    names = list(merged)
    fig, (ax,) = plots.figure(1, width=max(6.0, 0.55 * len(names) + 4), height=5.0)
    plots.stacked_bars(
        ax, [f"{name} ({len(members)})" if len(members) > 1 else name for name, members in merged.items()],
        {TITLES[c]: [100 * statistics.fmean(r.shares[c] for r in members) for members in merged.values()] for c in CATEGORIES},
        colors=[COLORS[c] for c in CATEGORIES], title="ProsQA reasoning paths (mean over seeds)", xlabel="run (seeds)", ylabel="% of test examples",
    )  # fmt: skip
    right = [[100 * sum(r.shares[c] for c in RIGHT) for r in members] for members in merged.values()]
    spread = [statistics.stdev(values) if len(values) > 1 else 0.0 for values in right]
    ax.errorbar(range(len(names)), [statistics.fmean(values) for values in right], yerr=spread, fmt="D", color="black", markersize=4, capsize=3,
                linewidth=1, label="right answers, ±1 std")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    tests = sorted({r.test_file for r in runs})
    fig.suptitle(f"{', '.join(tests)}; {len(runs)} runs; bars: mean share over seeds; diamonds: right answers "
                 f"({' + '.join(TITLES[c] for c in RIGHT)}), ±1 std over seeds", fontsize=8)
    return plots.save_png(fig, path)
