"""ProsQA: generator determinism and statistics, the checker, the official files, the CLI."""

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cocobench.cli import app
from cocobench.errors import CocobenchError
from cocobench.examples import load_examples
from cocobench.tasks import get_task
from cocobench.tasks import prosqa
from tests.conftest import assert_generator_cli_is_deterministic, one_line_error

SHARED = Path(__file__).resolve().parents[2] / "shared"
OFFICIAL = [SHARED / "data" / "prosqa" / f"prosqa_{split}.json" for split in ("valid", "test")]
FIELDS = ["question", "answer", "steps", "idx_to_symbol", "edges", "root", "target", "neg_target"]

# Measured on the official valid+test files (800 examples), so the statistics test runs without them.
OFFICIAL_STATS = {
    "nodes": 22.81, "edges": 36.00, "steps": 3.771, "shortest_paths": 1.586, "root_is_node1": 0.636,
    "steps_histogram": {3: 0.407, 4: 0.438, 5: 0.131, 6: 0.024},
    "in_degree": {0: 0.112, 1: 0.437, 2: 0.278, 3: 0.122, 4: 0.038},
    # Per example: nodes reachable from both start nodes, leaves reachable only from root / only from
    # the other start node, the longest root -> target chain, people (parentless nodes).
    "shared_descendants": 1.241, "root_exclusive_leaves": 3.655, "other_exclusive_leaves": 2.464,
    "longest_target_chain": 5.350, "people": 2.556, "four_or_more_people": 0.107,
}  # fmt: skip

STRUCTURE = ("shared_descendants", "root_exclusive_leaves", "other_exclusive_leaves", "longest_target_chain", "people")


@pytest.fixture(scope="module")
def sample():
    """About 1500 generated examples (under a second), shared by the tests below."""
    return prosqa.generate_splits(seed=0, sizes={"train": 1200, "valid": 150, "test": 150})


def gen(*args):
    return CliRunner().invoke(app, ["gen", "prosqa", *args])


def make_example(names, edges, root, target, neg_target, path, first=None):
    """Render a hand-made graph in the official layout (facts in edge order, target asked first)."""
    is_person = [True] * len(names)
    for _, v in edges:
        is_person[v] = False
    facts = [prosqa.fact(names, is_person, u, v) for u, v in edges]
    a, b = (target, neg_target) if first in (None, target) else (neg_target, target)
    return {
        "question": " ".join(facts) + f" Is {names[root]} a {names[a]} or {names[b]}?",
        "answer": f"{names[root]} is a {names[target]}.",
        "steps": [prosqa.fact(names, is_person, u, v) for u, v in zip(path, path[1:])],
        "idx_to_symbol": names,
        "edges": [list(e) for e in edges],
        "root": root,
        "target": target,
        "neg_target": neg_target,
    }


# Tom -> wumpus -> lempus -> yumpus and Tom -> timpus -> yumpus; Bob -> zumpus.
TWO_ROUTES = dict(
    names=["Bob", "Tom", "wumpus", "lempus", "zumpus", "timpus", "yumpus"],
    edges=[(1, 2), (2, 3), (0, 4), (1, 5), (3, 6), (5, 6)],
    root=1, target=6, neg_target=4,
)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Generator


def test_cli_output_is_byte_identical_on_rerun(tmp_path):
    assert_generator_cli_is_deterministic(gen, tmp_path, train=30)


def test_cli_meta_records_generator_version_seed_and_params(tmp_path):
    result = gen("--out", str(tmp_path), "--seed", "7", "--train", "5", "--valid", "2", "--test", "3", "--quiet")
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["generator"] == "prosqa" and meta["version"] == prosqa.VERSION and meta["seed"] == 7
    assert meta["params"]["min_hops"] == 3 and meta["params"]["max_nodes"] == 28 and meta["params"]["train"] == 5
    assert meta["counts"] == {"train": 5, "valid": 2, "test": 3}
    assert len(load_examples(tmp_path / "train.json")) == 5


@pytest.mark.slow
def test_generated_examples_pass_the_checker_and_follow_the_official_layout(sample):
    for split, examples in sample.items():
        for i, example in enumerate(examples):
            assert prosqa.check_example(example) == [], (split, i)
            assert list(example) == FIELDS
            people = [name for name in example["idx_to_symbol"] if name[0].isupper()]
            assert set(people) <= set(prosqa.PEOPLE)
            assert set(example["idx_to_symbol"]) - set(people) <= set(prosqa.CONCEPTS)
            assert example["root"] in (0, 1) and 3 <= len(example["steps"]) <= 6


def test_no_problem_appears_in_two_splits(sample):
    questions = [ex["question"] for examples in sample.values() for ex in examples]
    assert len(questions) == len(set(questions))
    keys = [prosqa.example_key(ex) for examples in sample.values() for ex in examples]
    assert len(keys) == len(set(keys))  # not even with the facts in another order


def test_test_split_does_not_depend_on_train_size():
    small = prosqa.generate_splits(seed=1, sizes={"train": 5, "valid": 5, "test": 20})
    large = prosqa.generate_splits(seed=1, sizes={"train": 50, "valid": 5, "test": 20})
    assert small["test"] == large["test"] and small["valid"] == large["valid"]


def test_generated_statistics_match_the_official_files(sample):
    examples = [ex for split in sample.values() for ex in split]
    stats = prosqa.extra_stats(examples)
    steps = Counter(len(ex["steps"]) for ex in examples)
    n = len(examples)
    assert stats["nodes"]["mean"] == pytest.approx(OFFICIAL_STATS["nodes"], rel=0.03)
    assert stats["edges"]["mean"] == pytest.approx(OFFICIAL_STATS["edges"], rel=0.03)
    assert sum(k * v for k, v in steps.items()) / n == pytest.approx(OFFICIAL_STATS["steps"], rel=0.03)
    assert set(steps) == set(OFFICIAL_STATS["steps_histogram"])
    for hops, share in OFFICIAL_STATS["steps_histogram"].items():
        assert steps[hops] / n == pytest.approx(share, abs=0.03), hops
    assert stats["shortest_paths_mean"] == pytest.approx(OFFICIAL_STATS["shortest_paths"], rel=0.1)
    assert stats["root_is_node1"] == pytest.approx(OFFICIAL_STATS["root_is_node1"], abs=0.05)
    total = sum(stats["in_degree_histogram"].values())
    for degree, share in OFFICIAL_STATS["in_degree"].items():
        assert stats["in_degree_histogram"][str(degree)] / total == pytest.approx(share, abs=0.03), degree


@pytest.fixture(scope="module")
def large_sample():
    """3,000 generated examples (about 1.5 s): the structural means need them to sit within 5%."""
    return prosqa.generate_splits(seed=0, sizes={"train": 3000})["train"]


@pytest.mark.slow
def test_generated_structure_matches_the_official_files_within_5_percent(large_sample):
    stats = prosqa.extra_stats(large_sample)
    for name in STRUCTURE:
        assert stats[name]["mean"] == pytest.approx(OFFICIAL_STATS[name], rel=0.05), name
    # 3,000 vs 800 examples: the share's difference has sd ~0.012.
    assert stats["four_or_more_people"] == pytest.approx(OFFICIAL_STATS["four_or_more_people"], abs=0.03)


def test_graph_features_of_a_hand_made_example():
    # TWO_ROUTES plus wumpus -> zumpus: zumpus is then reachable from both start nodes.
    example = make_example(**{**TWO_ROUTES, "edges": [*TWO_ROUTES["edges"], (2, 4)]}, path=[1, 5, 6])
    assert prosqa.check_example(example) == ["neg_target is reachable from root: the answer would be ambiguous"]
    features = prosqa.graph_features(make_example(**TWO_ROUTES, path=[1, 5, 6]))
    assert features == {
        "nodes": 7, "edges": 6, "people": 2, "shared_descendants": 0, "root_exclusive_leaves": 1,
        "other_exclusive_leaves": 1, "reachable_from_root": 4, "reachable_from_other": 1, "longest_target_chain": 3,
        "shortest_paths": 1, "neg_target_depth": 1, "target_in_degree": 2, "neg_target_in_degree": 1,
        "root_is_node1": 1, "target_asked_first": 1,
    }  # fmt: skip
    # Carol -> lempus -> yumpus and Bob -> yumpus: a third person; lempus and yumpus now shared with Bob's side.
    shared = make_example(
        names=["Bob", "Tom", "wumpus", "Carol", "lempus", "zumpus", "yumpus"],
        edges=[(1, 2), (3, 4), (0, 5), (2, 4), (0, 4), (4, 6)], root=1, target=2, neg_target=5, path=[1, 2], first=5,
    )  # fmt: skip
    features = prosqa.graph_features(shared)
    assert features["people"] == 3 and features["shared_descendants"] == 2 and features["target_asked_first"] == 0
    assert features["root_exclusive_leaves"] == 0 and features["other_exclusive_leaves"] == 1


@pytest.mark.slow
def test_out_of_distribution_hops_give_only_the_requested_step_counts(tmp_path):
    result = gen("--out", str(tmp_path), "--min-hops", "7", "--max-hops", "8",
                 "--train", "4", "--valid", "2", "--test", "4", "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    for split in ("train", "valid", "test"):
        for example in load_examples(tmp_path / f"{split}.json"):
            assert len(example["steps"]) in (7, 8)
            assert prosqa.check_example(example) == []


def test_unreachable_hop_range_stops_with_a_clear_error(monkeypatch):
    monkeypatch.setattr(prosqa, "STALL_LIMIT", 50)
    with pytest.raises(CocobenchError, match="raise --max-nodes or lower --min-hops"):
        prosqa.generate_splits(seed=0, sizes={"test": 1}, min_hops=20, max_hops=25)


# ---------------------------------------------------------------------------------------------
# Checker


def test_hand_made_example_is_valid():
    assert prosqa.check_example(make_example(**TWO_ROUTES, path=[1, 5, 6])) == []
    assert prosqa.check_example(make_example(**TWO_ROUTES, path=[1, 5, 6], first=4)) == []


def test_checker_rejects_a_path_that_is_not_shortest():
    problems = prosqa.check_example(make_example(**TWO_ROUTES, path=[1, 2, 3, 6]))
    assert problems == ["steps take 3 hops; the shortest root -> target path takes 2"]


def test_checker_rejects_a_broken_path(sample):
    example = dict(sample["test"][0])
    names = example["idx_to_symbol"]
    # Replace the second step by a fact between two concepts that are not connected.
    example["steps"] = [*example["steps"][:1], f"Every {names[example['target']]} is a {names[example['neg_target']]}.",
                        *example["steps"][2:]]  # fmt: skip
    assert any("step 2" in p for p in prosqa.check_example(example))
    example["steps"] = sample["test"][0]["steps"][:-1]  # stops one short of the target
    assert any("not at the target" in p for p in prosqa.check_example(example))


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (lambda ex, names: ex.update(answer=f"{names[ex['root']]} is a {names[ex['neg_target']]}."), "answer must be"),
        (lambda ex, names: ex.update(answer=ex["answer"][:-1]), "answer must be"),
        (lambda ex, names: ex.update(question=ex["question"].split(" ", 5)[-1]), "facts do not match edges"),
        (lambda ex, names: ex.update(question=ex["question"].replace(" or ", " or not ")), "question must end with"),
        (lambda ex, names: ex.update(neg_target=ex["target"]), "neg_target is reachable from root"),
        (lambda ex, names: ex.update(edges=[[v, u] for u, v in ex["edges"]]), "u < v"),
        (lambda ex, names: ex.update(root=5), "root must be node 0 or 1"),
        (lambda ex, names: ex.update(idx_to_symbol=[names[1], *names[1:]]), "repeated names"),
        (lambda ex, names: ex.update(edges=[*ex["edges"], [0, 99]]), "edges must be a list"),
    ],
)
def test_checker_rejects_corrupted_examples(sample, corrupt, expected):
    example = {**sample["valid"][0], "steps": list(sample["valid"][0]["steps"])}
    corrupt(example, example["idx_to_symbol"])
    problems = prosqa.check_example(example)
    assert any(expected in p for p in problems), problems


def test_checker_rejects_a_target_the_other_start_node_also_reaches(tmp_path):
    """ProsQA's defining invariant: only root reaches the target, so the question has one answer. With
    Bob -> yumpus added, Bob reaches the target too; `data check` names the problem."""
    example = make_example(**{**TWO_ROUTES, "edges": [*TWO_ROUTES["edges"], (0, 6)]}, path=[1, 5, 6])
    assert prosqa.check_example(example) == ["target is also reachable from the other start node"]
    path = tmp_path / "examples.json"
    path.write_text(json.dumps([make_example(**TWO_ROUTES, path=[1, 5, 6]), example]))
    result = CliRunner().invoke(app, ["data", "check", str(path)])
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[1:] == ["  example 1: target is also reachable from the other start node"]


def test_checker_rejects_a_target_that_is_not_the_deepest_leaf():
    # Tom -> wumpus -> lempus, Tom -> timpus: timpus is a leaf, but lempus is deeper.
    example = make_example(
        names=["Bob", "Tom", "wumpus", "lempus", "zumpus", "timpus"],
        edges=[(1, 2), (2, 3), (0, 4), (1, 5)], root=1, target=5, neg_target=4, path=[1, 5],
    )  # fmt: skip
    assert prosqa.check_example(example) == ["target is not the deepest leaf reachable only from root"]


# ---------------------------------------------------------------------------------------------
# Official files and the task registry


@pytest.fixture(scope="module")
def official():
    if not all(path.is_file() for path in OFFICIAL):
        pytest.skip(f"../shared/data not present: {OFFICIAL[0].parent} has no prosqa_valid/test.json")
    return {path.name: load_examples(path) for path in OFFICIAL}


@pytest.mark.slow
def test_official_files_load_and_pass_the_checker(official):
    assert {name: len(ex) for name, ex in official.items()} == {"prosqa_valid.json": 300, "prosqa_test.json": 500}
    for name, examples in official.items():
        for i, example in enumerate(examples):
            assert list(example) == FIELDS
            assert prosqa.check_example(example) == [], (name, i)


def test_official_statistics_are_the_ones_the_generator_was_calibrated_on(official):
    examples = [ex for split in official.values() for ex in split]
    stats = prosqa.extra_stats(examples)
    assert stats["nodes"] == {"mean": pytest.approx(OFFICIAL_STATS["nodes"], abs=0.01), "min": 14, "max": 28}
    assert stats["edges"]["mean"] == pytest.approx(OFFICIAL_STATS["edges"], abs=0.01)
    assert stats["shortest_paths_mean"] == pytest.approx(OFFICIAL_STATS["shortest_paths"], abs=0.001)
    assert prosqa.extra_stats(official["prosqa_valid.json"])["in_degree_histogram"] == {
        "0": 754, "1": 2989, "2": 1899, "3": 848, "4": 256, "5": 80, "6": 17, "7": 3,
    }  # fmt: skip


def test_task_is_registered_and_recognizes_only_prosqa_examples(sample):
    task = get_task("prosqa")
    assert task is prosqa.TASK and task.default_sizes == (17886, 300, 500)
    assert task.recognizes(sample["test"][0])
    assert not task.recognizes({"question": "2 + 2?", "steps": [], "answer": "4"})
    assert task.extra_stats([]) == {} and task.features([]) == {}
    assert task.generate_default is prosqa.generate_default


# ---------------------------------------------------------------------------------------------
# CLI input errors


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--train", "0"], "--train must be a positive integer"),
        (["--test", "-5"], "--test must be a positive integer"),
        (["--min-nodes", "30", "--max-nodes", "20"], "--min-nodes 30 is larger than --max-nodes 20"),
        (["--min-hops", "5", "--max-hops", "4"], "--min-hops 5 is larger than --max-hops 4"),
        (["--min-hops", "0"], "--min-hops must be at least 1"),
        (["--max-nodes", "60"], "--max-nodes 60 exceeds 40"),
        (["--min-hops", "26", "--max-hops", "30"], "cannot fit in graphs of at most 28 nodes"),
        (["--train", "many"], "Invalid value for '--train'"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "out"
    one_line_error(gen("--out", str(out), *args), message)
    assert not out.exists()


def test_cli_unwritable_out_exits_2_before_generating(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    for out in (blocker, blocker / "out"):
        result = gen("--out", str(out), "--train", "9000000")  # would take hours if it started
        assert result.exit_code == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "choose another --out" in lines[0], result.stderr
