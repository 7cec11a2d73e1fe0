"""ProsQA reasoning-path categories (`cocobench analyze paths`) on hand-made outputs and the official data."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cocobench.analysis.paths import (
    CATEGORIES, CORRECT_LABEL, CORRECT_PATH, HALLUCINATION, INCORRECT_LABEL, LONGER_PATH, WRONG_TARGET,
    categorize, category_shares, hidden_steps,
)  # fmt: skip
from cocobench.cli import app
from cocobench.errors import CocobenchError
from cocobench.io import file_fingerprint
from cocobench.tasks.prosqa import parse_output, parse_question, question_graph
from tests.conftest import SHARED, one_line_error

# Tom -> lempus -> zumpus -> rompus is a shortest path (3 edges; so is Tom -> gorpus -> zumpus -> rompus);
# Tom -> gorpus -> felpus -> impus -> rompus a longer one (4); zumpus -> yimpus a wrong target; felpus ->
# zumpus makes zumpus 3 edges from Tom as well as 2. Bob -> brimpus is the other option's side.
FACTS = [
    ("Tom", "lempus"), ("Tom", "gorpus"), ("lempus", "zumpus"), ("gorpus", "zumpus"), ("gorpus", "felpus"),
    ("zumpus", "rompus"), ("zumpus", "yimpus"), ("felpus", "impus"), ("impus", "rompus"), ("felpus", "zumpus"),
    ("Bob", "brimpus"),
]  # fmt: skip
PEOPLE = {"Tom", "Bob"}


def sentence(parent: str, child: str) -> str:
    return f"{parent} is a {child}." if parent in PEOPLE else f"Every {parent} is a {child}."


EXAMPLE = {
    "question": " ".join(sentence(*fact) for fact in reversed(FACTS)) + " Is Tom a rompus or brimpus?",
    "steps": ["Tom is a lempus.", "Every lempus is a zumpus.", "Every zumpus is a rompus."],
    "answer": "Tom is a rompus.",
}


def output(*chain: str, answer: str | None = "rompus") -> str:
    """Steps along the chain of names, then the answer about Tom (none: the output stops before '#')."""
    steps = [sentence(u, v) for u, v in zip(chain, chain[1:])]
    return "\n".join(steps + ([] if answer is None else [f"### Tom is a {answer}."]))


# ----------------------------------------------------------------------------------------------
# the parsers


def test_question_parser_returns_the_graph():
    graph = parse_question(EXAMPLE["question"], EXAMPLE["answer"])
    assert set(graph.edges) == set(FACTS) and len(graph.edges) == len(FACTS)
    assert (graph.root, graph.options, graph.target) == ("Tom", ("rompus", "brimpus"), "rompus")
    assert graph.first_concepts == ("gorpus", "lempus")  # in the order of the facts (written in reverse here)
    assert set(graph.people) == PEOPLE
    assert graph.children["zumpus"] == ("yimpus", "rompus") and graph.children["rompus"] == ()
    assert graph.distances()["rompus"] == 3 and "brimpus" not in graph.distances()
    assert graph.reachable_in(3) == {"rompus", "yimpus", "impus", "zumpus"}
    assert graph.is_edge("Tom", "lempus") and not graph.is_edge("lempus", "Tom")


@pytest.mark.parametrize("question", ["Every lempus is a zumpus.", "Every lempus is zumpus. Is Tom a a or b?", ""])
def test_question_parser_rejects_other_text(question):
    with pytest.raises(CocobenchError, match="not a ProsQA"):
        parse_question(question)


def test_output_parser_reads_steps_and_the_scored_answer():
    parsed = parse_output("Tom is a lempus.\nEvery lempus is a zumpus. Every zumpus is\n### Tom is a zumpus.")
    assert [(s.subject, s.concept) for s in parsed.steps] == [("Tom", "lempus"), ("lempus", "zumpus"), (None, None)]
    assert parsed.steps[2].text == "Every zumpus is" and not parsed.steps[2].well_formed
    assert parsed.answer == "Tom is a zumpus." and parsed.answer_fact == ("Tom", "zumpus")
    assert parse_output("a # b ### Tom is a x.").answer == "Tom is a x."  # the last '#', as scoring reads it
    assert parse_output("Tom is a lempus.").answer is None and parse_output("").steps == ()
    assert parse_output("### Every a is a b.").answer_fact is None  # the answer is about a person


# ----------------------------------------------------------------------------------------------
# the six categories, k = 0


@pytest.mark.parametrize(
    ("text", "category"),
    [
        (output("Tom", "lempus", "zumpus", "rompus"), CORRECT_PATH),
        (output("Tom", "gorpus", "zumpus", "rompus"), CORRECT_PATH),  # another shortest path
        (output("Tom", "gorpus", "felpus", "impus", "rompus"), LONGER_PATH),
        (output("Tom", "gorpus", "felpus", "zumpus", "rompus"), LONGER_PATH),
        (output("Tom", "lempus", "zumpus", "yimpus", answer="yimpus"), WRONG_TARGET),
        (output("Tom", "gorpus", "felpus", answer="felpus"), WRONG_TARGET),  # stops short of any leaf
        (output("Tom", "lempus", "rompus"), HALLUCINATION),  # no such fact
        (output("Tom", "zumpus", "rompus"), HALLUCINATION),  # a shortcut: Tom is not directly a zumpus
        (output("Tom", "lempus", "zumpus", "lempus", answer="lempus"), HALLUCINATION),  # an edge backwards
        ("Tom is a lempus.\nEvery zumpus is a rompus.\n### Tom is a rompus.", HALLUCINATION),  # disconnected
        (output("lempus", "zumpus", "rompus"), HALLUCINATION),  # does not start at the root
        (output("Bob", "brimpus", answer="brimpus"), HALLUCINATION),  # another person's path
        (output("Tom", "lempus", "zumpus", "rompus", answer="brimpus"), HALLUCINATION),  # the answer does not follow
        (output("Tom", "lempus", "zumpus", "rompus", answer=None), HALLUCINATION),  # no answer (cut off)
        ("Tom is a lempus.\nEvery lempus is a is a zumpus.\n### Tom is a zumpus.", HALLUCINATION),  # malformed
        ("Tom is a wumpus.\n### Tom is a wumpus.", HALLUCINATION),  # a concept of no fact
        ("### Tom is a rompus.", CORRECT_LABEL),
        ("###   Tom is a rompus.", CORRECT_LABEL),
        ("### Tom is a brimpus.", INCORRECT_LABEL),
        ("### Tom is a yimpus.", INCORRECT_LABEL),
        ("########", INCORRECT_LABEL),
        ("", INCORRECT_LABEL),
    ],
)
def test_categories_of_full_paths(text, category):
    assert categorize(EXAMPLE, text) == category


def test_an_answer_only_output_is_a_label_whatever_k():
    for k in (0, 1, 3, 6):
        for completion in ("exact", "any"):
            assert categorize(EXAMPLE, "### Tom is a rompus.", k, completion) == CORRECT_LABEL
            assert categorize(EXAMPLE, "### Tom is a brimpus.", k, completion) == INCORRECT_LABEL


# ----------------------------------------------------------------------------------------------
# k > 0: only a suffix is visible; exact: completed by a path of k edges, any: by a path of any length


@pytest.mark.parametrize(
    ("chain", "answer", "k", "exact", "any_length"),
    [
        (("lempus", "zumpus", "rompus"), "rompus", 1, CORRECT_PATH, CORRECT_PATH),
        (("zumpus", "rompus"), "rompus", 2, CORRECT_PATH, CORRECT_PATH),
        (("felpus", "impus", "rompus"), "rompus", 2, LONGER_PATH, LONGER_PATH),
        (("impus", "rompus"), "rompus", 3, LONGER_PATH, LONGER_PATH),
        # zumpus is 2 edges from Tom and 3 through felpus: with 3 hidden edges the path is one too long
        (("zumpus", "rompus"), "rompus", 3, LONGER_PATH, CORRECT_PATH),
        # no 1-edge path ends at zumpus; some longer one does
        (("zumpus", "rompus"), "rompus", 1, HALLUCINATION, CORRECT_PATH),
        # starting over from the root after the thoughts: 0 hidden edges
        (("Tom", "lempus", "zumpus", "rompus"), "rompus", 1, HALLUCINATION, CORRECT_PATH),
        (("lempus", "zumpus", "yimpus"), "yimpus", 1, WRONG_TARGET, WRONG_TARGET),
        (("zumpus", "yimpus"), "yimpus", 1, HALLUCINATION, WRONG_TARGET),
        (("lempus", "rompus"), "rompus", 1, HALLUCINATION, HALLUCINATION),  # no such fact
        (("Bob", "brimpus"), "brimpus", 1, HALLUCINATION, HALLUCINATION),  # unreachable from the root
        (("impus", "rompus"), "rompus", 5, HALLUCINATION, LONGER_PATH),  # no path of 5 edges exists
        (("zumpus", "rompus"), "yimpus", 2, HALLUCINATION, HALLUCINATION),  # the answer does not follow
    ],
)
def test_categories_of_suffixes(chain, answer, k, exact, any_length):
    text = output(*chain, answer=answer)
    assert categorize(EXAMPLE, text, k, "exact") == exact
    assert categorize(EXAMPLE, text, k, "any") == any_length


def test_exact_is_the_default_and_bad_arguments_are_refused():
    text = output("zumpus", "rompus")
    assert categorize(EXAMPLE, text, 1) == HALLUCINATION == categorize(EXAMPLE, text, 1, "exact")
    with pytest.raises(CocobenchError, match="completion"):
        categorize(EXAMPLE, text, 1, "some")
    with pytest.raises(CocobenchError, match="k must be"):
        categorize(EXAMPLE, text, -1)


def test_category_shares_sum_to_one_in_the_papers_order():
    examples = {7: EXAMPLE}
    texts = [output("Tom", "lempus", "zumpus", "rompus"), output("Tom", "lempus", "rompus"), "### Tom is a rompus.", "### Tom is a brimpus."]
    shares = category_shares(examples, [{"idx": 7, "text": t} for t in texts])
    assert list(shares) == list(CATEGORIES)
    assert shares == {CORRECT_PATH: 0.25, LONGER_PATH: 0.0, HALLUCINATION: 0.25, WRONG_TARGET: 0.0, CORRECT_LABEL: 0.25, INCORRECT_LABEL: 0.25}
    # k applies to every sample: with one hidden step this suffix is a correct path
    assert category_shares(examples, [{"idx": 7, "text": output("lempus", "zumpus", "rompus")}], k=1)[CORRECT_PATH] == 1.0
    assert sum(category_shares(examples, []).values()) == 0.0
    with pytest.raises(CocobenchError, match="idx 3 is not in the test file"):
        category_shares(examples, [{"idx": 3, "text": ""}])


@pytest.mark.parametrize(
    ("method", "c", "thoughts", "hidden"),
    [("coconut", 1, 3, 3), ("coconut", 2, 4, 2), ("pause-as-thought", 1, 2, 2), ("pause-multipass", 1, 2, 2),
     ("coconut-no-curriculum", 1, 6, 6), ("pause", 1, 6, 0), ("cot", 1, 0, 0), ("icot", 1, 0, 0), ("someone-elses", 1, 3, 0)],
)  # fmt: skip
def test_hidden_steps_are_thoughts_per_c_for_the_coconut_family(method, c, thoughts, hidden):
    assert hidden_steps({"method": method, "options": {"c": c}}, {"num_thoughts": thoughts}) == hidden


# ----------------------------------------------------------------------------------------------
# the official data: every gold chain is a correct path, however much of it is hidden


def official_examples():
    files = [SHARED / "data" / "prosqa" / f"prosqa_{split}.json" for split in ("valid", "test")]
    if not all(f.exists() for f in files):
        pytest.skip("../shared/data/prosqa/prosqa_{valid,test}.json not present: the official data lives beside the repo checkout")
    return [ex for f in files for ex in json.loads(f.read_text())]


@pytest.mark.slow
def test_the_parser_reads_every_official_question():
    for ex in official_examples():
        names = ex["idx_to_symbol"]
        graph = question_graph(ex)
        assert sorted(graph.edges) == sorted((names[u], names[v]) for u, v in ex["edges"])
        assert graph.root == names[ex["root"]] and graph.target == names[ex["target"]]
        assert set(graph.options) == {names[ex["target"]], names[ex["neg_target"]]}
        assert set(graph.first_concepts) == {names[v] for u, v in ex["edges"] if u == ex["root"]}
        assert graph.distances()[graph.target] == len(ex["steps"])


@pytest.mark.slow
def test_every_official_gold_chain_is_a_correct_path():
    """800 examples: the gold steps with the answer are a correct path at k = 0, and so is every suffix
    after k hidden steps under both completion rules; the bare answers are labels."""
    for ex in official_examples():
        answer = f"### {ex['answer']}"
        assert categorize(ex, "\n".join([*ex["steps"], answer])) == CORRECT_PATH, ex["steps"]
        for k in range(1, len(ex["steps"])):
            suffix = "\n".join([*ex["steps"][k:], answer])
            assert categorize(ex, suffix, k, "exact") == CORRECT_PATH == categorize(ex, suffix, k, "any")
        assert categorize(ex, answer) == CORRECT_LABEL
        neg = ex["idx_to_symbol"][ex["neg_target"]]
        assert categorize(ex, f"### {ex['idx_to_symbol'][ex['root']]} is a {neg}.") == INCORRECT_LABEL


# ----------------------------------------------------------------------------------------------
# the command


def write_run(directory: Path, test_file: Path, texts: list[str], *, method="cot", task="prosqa", thoughts=0, golds=None) -> Path:
    """A results.json whose samples hold `texts` for the examples of `test_file`, idx in order."""
    golds = golds or [EXAMPLE["answer"]] * len(texts)
    samples = [
        {"idx": i, "prediction": t.rsplit("#", 1)[-1].strip() if "#" in t else "", "gold": golds[i], "text": t,
         "correct": "#" in t and t.rsplit("#", 1)[-1].strip() == golds[i], "generated_tokens": 10, "forward_passes": 11, "num_thoughts": thoughts}
        for i, t in enumerate(texts)
    ]  # fmt: skip
    correct = sum(s["correct"] for s in samples)
    results = {
        "schema_version": 2, "run_name": directory.name, "task": task, "method": method, "seed": 0, "options": {"c": 1},
        "data": {"test_file": str(test_file), "test_fingerprint": file_fingerprint(test_file)},
        "metrics": {"accuracy": correct / len(samples), "correct": correct, "total": len(samples),
                    "generated_tokens_mean": 10.0, "forward_passes_mean": 11.0, "examples_per_second": None},
        "samples": samples,
    }  # fmt: skip
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "results.json").write_text(json.dumps(results))
    return directory


@pytest.fixture
def runs(tmp_path):
    """A test file of 4 copies of EXAMPLE; a CoT run with one output per category it can reach, and a
    Coconut run (1 thought) whose suffix only the `any` completion accepts."""
    test_file = tmp_path / "data" / "test.json"
    test_file.parent.mkdir()
    test_file.write_text(json.dumps([EXAMPLE] * 4))
    cot = [output("Tom", "lempus", "zumpus", "rompus"), output("Tom", "gorpus", "felpus", "impus", "rompus"),
           output("Tom", "lempus", "rompus"), "### Tom is a brimpus."]  # fmt: skip
    coconut = [output("zumpus", "rompus"), output("lempus", "zumpus", "rompus"), "### Tom is a rompus.", "### Tom is a rompus."]
    write_run(tmp_path / "suite" / "prosqa-cot-seed0", test_file, cot)
    write_run(tmp_path / "suite" / "prosqa-coconut-seed0", test_file, coconut, method="coconut", thoughts=1)
    return tmp_path


def analyze(*args):
    return CliRunner().invoke(app, ["analyze", *map(str, args)])


@pytest.mark.slow
def test_paths_command_writes_shares_per_sample_categories_and_prints_them(runs):
    result = analyze("paths", runs / "suite", "--out", runs / "out", "--format", "json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    shares = {run["run"]: run["shares"] for run in printed["runs"]}
    assert shares["prosqa-cot-seed0"] == {CORRECT_PATH: 0.25, LONGER_PATH: 0.25, HALLUCINATION: 0.25, WRONG_TARGET: 0.0, CORRECT_LABEL: 0.0, INCORRECT_LABEL: 0.25}
    assert shares["prosqa-coconut-seed0"] == {CORRECT_PATH: 0.25, LONGER_PATH: 0.0, HALLUCINATION: 0.25, WRONG_TARGET: 0.0, CORRECT_LABEL: 0.5, INCORRECT_LABEL: 0.0}
    assert json.loads((runs / "out" / "paths.json").read_text()) == printed
    assert (runs / "out" / "paths.csv").read_text().splitlines()[0] == "run,method,n," + ",".join(CATEGORIES) + ",names_an_option,right_of_named,source"
    per_sample = json.loads((runs / "suite" / "prosqa-coconut-seed0" / "paths.json").read_text())
    assert [(s["idx"], s["k"], s["category"]) for s in per_sample["samples"]] == [
        (0, 1, HALLUCINATION), (1, 1, CORRECT_PATH), (2, 1, CORRECT_LABEL), (3, 1, CORRECT_LABEL)]  # fmt: skip
    assert per_sample["completion"] == "exact" and per_sample["n"] == 4


@pytest.mark.slow
def test_answers_are_read_for_the_option_they_name(runs, tmp_path):
    """right (scored correct), the other option (about the person asked), or neither: another concept, another
    person, a chain without an answer, nothing."""
    texts = ["### Tom is a rompus.", output("Tom", "lempus", "zumpus", "rompus"), "### Tom is a brimpus.", output("Tom", "gorpus", answer="brimpus"),
             "### Tom is a zumpus.", "### Bob is a brimpus.", output("Tom", "lempus", answer=None), ""]  # fmt: skip
    test_file = runs / "data" / "test8.json"
    test_file.write_text(json.dumps([EXAMPLE] * len(texts)))
    run = write_run(tmp_path / "choices" / "prosqa-no-cot-seed0", test_file, texts, method="no-cot")
    result = analyze("paths", run, "--out", tmp_path / "out", "--format", "json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)["runs"][0]
    per_sample = json.loads((run / "paths.json").read_text())["samples"]
    assert [s["choice"] for s in per_sample] == ["right", "right", "other", "other", "neither", "neither", "neither", "neither"]
    assert printed["names_an_option"] == 0.5 and printed["right_of_named"] == 0.5
    nothing = write_run(tmp_path / "choices" / "prosqa-pause-seed0", test_file, [""] * len(texts), method="pause")
    csv_row = analyze("paths", nothing, "--out", tmp_path / "out2", "--format", "csv").stdout.splitlines()[1].split(",")
    assert csv_row[-3:-1] == ["0.0", ""]  # no answer names an option: the share of right ones is undefined, not 0


def test_completion_any_accepts_the_suffix_exact_refuses(runs):
    result = analyze("paths", runs / "suite" / "prosqa-coconut-seed0", "--out", runs / "out", "--completion", "any", "--format", "csv", "--no-per-sample")
    assert result.exit_code == 0, result.output
    row = result.stdout.splitlines()[1].split(",")
    assert row[:5] == ["prosqa-coconut-seed0", "coconut", "4", "0.5", "0.0"]  # both suffixes now correct paths
    assert not (runs / "suite" / "prosqa-coconut-seed0" / "paths.json").exists()
    one_line_error(analyze("paths", runs / "suite", "--completion", "some"), "--completion")
    run = runs / "suite" / "prosqa-cot-seed0"
    one_line_error(analyze("paths", run, "--out", run), "is a run directory", "choose another --out")


@pytest.mark.slow
def test_rich_and_markdown_tables_show_percent(runs):
    rich = analyze("paths", runs / "suite", "--out", runs / "out", "-q")
    assert rich.exit_code == 0 and "Correct Path %" in rich.stdout and "25.0" in rich.stdout and rich.stderr == ""
    markdown = analyze("paths", runs / "suite", "--out", runs / "out", "--format", "markdown", "-q").stdout
    assert markdown.startswith("| run | n | Correct Path % |") and "| prosqa-cot-seed0 | 4 | 25.0 | 25.0 | 25.0 | 0.0 | 0.0 | 25.0 | 100.0 | 75.0 |" in markdown


@pytest.mark.slow
def test_the_test_file_is_found_from_the_run_or_given_with_data(runs, tmp_path, monkeypatch):
    run = runs / "suite" / "prosqa-cot-seed0"
    results = json.loads((run / "results.json").read_text())
    results["data"]["test_file"] = "data/test.json"  # relative, as `cocobench run` records it: found above the run
    (run / "results.json").write_text(json.dumps(results))
    monkeypatch.chdir(tmp_path / "suite")
    assert analyze("paths", run, "--out", runs / "out", "-q").exit_code == 0
    results["data"]["test_file"] = "elsewhere/test.json"
    (run / "results.json").write_text(json.dumps(results))
    one_line_error(analyze("paths", run, "--out", runs / "out"), "elsewhere/test.json", "--data")
    assert analyze("paths", run, "--out", runs / "out", "--data", runs / "data" / "test.json", "-q").exit_code == 0


@pytest.mark.slow
def test_a_different_test_file_is_refused_or_noted(runs):
    other = runs / "data" / "other.json"
    swapped = {**EXAMPLE, "answer": "Tom is a brimpus."}
    other.write_text(json.dumps([swapped] * 4))
    one_line_error(analyze("paths", runs / "suite", "--data", other, "--out", runs / "out"), "sample idx 0 has gold", "--data")
    reformatted = runs / "data" / "test.jsonl"  # the same examples as JSON Lines: other bytes, same golds
    reformatted.write_text("\n".join(json.dumps(EXAMPLE) for _ in range(4)) + "\n")
    result = analyze("paths", runs / "suite", "--data", reformatted, "--out", runs / "out")
    assert result.exit_code == 0 and "not byte-identical" in result.stderr
    short = runs / "data" / "short.json"
    short.write_text(json.dumps([EXAMPLE] * 2))
    one_line_error(analyze("paths", runs / "suite", "--data", short, "--out", runs / "out"), "idx 2 is not in the test file")


def test_runs_of_other_tasks_are_skipped_and_none_is_an_error(runs):
    write_run(runs / "suite" / "prontoqa-cot-seed0", runs / "data" / "test.json", ["### True"], task="prontoqa", golds=["True"])
    result = analyze("paths", runs / "suite", "--out", runs / "out", "--format", "json")
    assert result.exit_code == 0 and "skipped 1 runs of prontoqa" in result.stderr
    assert len(json.loads(result.stdout)["runs"]) == 2
    one_line_error(analyze("paths", runs / "suite" / "prontoqa-cot-seed0", "--out", runs / "out"), "none of the 1 runs is a ProsQA run")



# Symbolic ProsQA: root 1 -> {3, 4}; 3 -> 5; 4 -> 5; 4 -> 6; 5 -> 7 (target, 3 edges); 0 -> 2 -> 8 (the other option).
SYMBOLIC = {"question": "0 2 | 1 3 | 1 4 | 3 5 | 4 5 | 4 6 | 5 7 | 2 8 [Q] 7 8 [R] 1", "steps": ["3", "5", "7"], "answer": "7",
            "edges": [[0, 2], [1, 3], [1, 4], [3, 5], [4, 5], [4, 6], [5, 7], [2, 8]], "root": 1, "target": 7, "neg_target": 8,
            "neighbor_k": {"0": [1], "1": [3, 4], "2": [5], "3": [7]}}


@pytest.mark.parametrize("text, k, expected", [
    ("3 5 [A] 7", 0, "correct_path"),           # root -> 3 -> 5 -> 7: the shortest path
    ("4 5 [A] 7", 0, "correct_path"),
    ("3 7 [A] 7", 0, "hallucination"),          # 3 -> 7 is no edge
    ("5 [A] 7", 0, "hallucination"),            # the root has no edge to 5
    ("4 6 [A] 8", 0, "hallucination"),          # 6 -> 8 is no edge
    ("4 [A] 6", 0, "wrong_target"),             # a valid path that ends elsewhere
    ("3 5", 0, "hallucination"),                # a chain with no answer
    ("[A] 7", 0, "correct_label"), ("7", 2, "correct_label"), ("8", 3, "incorrect_label"), ("", 0, "incorrect_label"),
    ("5 [A] 7", 1, "correct_path"),             # one step hidden: 5 ends step 2, two edges from the root
    ("5 [A] 7", 2, "hallucination"),            # ...but not three
])  # fmt: skip
def test_symbolic_outputs_are_categorized_edge_by_edge(text, k, expected):
    assert categorize(SYMBOLIC, text, k) == expected


def test_symbolic_answers_name_an_option():
    from cocobench.analysis.paths import answer_choice

    assert [answer_choice(SYMBOLIC, t, False) for t in ("3 [A] 8", "8", "4 [A] 6", "")] == ["other", "other", "neither", "neither"]
