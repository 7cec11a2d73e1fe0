"""ProntoQA: generator determinism and shape (docs/tasks.md, ProntoQA), an independent solver, the checker, the CLI."""

import dataclasses
import json
import re
from collections import Counter, deque

import pytest
from typer.testing import CliRunner

from cocobench.cli import app
from cocobench.examples import load_examples
from cocobench.tasks import detect_task, get_task, prontoqa, prosqa
from tests.conftest import assert_generator_cli_is_deterministic, one_line_error

SPLITS = ("train", "valid", "test")


@pytest.fixture(scope="module")
def sample():
    """About 1000 generated examples (a fraction of a second), shared by the tests below."""
    return prontoqa.generate_splits(seed=0, sizes={"train": 801, "valid": 100, "test": 100})


def all_examples(splits):
    return [ex for examples in splits.values() for ex in examples]


def gen(*args):
    return CliRunner().invoke(app, ["gen", "prontoqa", *map(str, args)])


def split_sentences(text):
    return [s.strip() for s in re.findall(r"[^.]*\.", text)]


# ---------------------------------------------------------------------------------------------
# An independent solver: an is-a graph and property table from regexes, then breadth-first search.


def solve(question):
    """'True' / 'False' for the query, or None when the context settles neither."""
    context, query = question.split(" True or false: ")
    person, negated, adjective = re.fullmatch(r"(\w+) is (not )?(\w+)\.", query).groups()
    parents, properties, start = {}, {}, []
    for s in split_sentences(context):
        if m := re.fullmatch(r"([A-Z]\w+) is an? (\w+)\.", s):
            if m.group(1) == person:
                start.append(m.group(2))
        elif m := re.fullmatch(r"(?:Each|Every) (\w+) is (not )?(an? )?(\w+)\.", s):
            concept, neg, article, obj = m.groups()
            if article:
                assert not neg, s  # the generator writes no negated is-a rule
                parents.setdefault(concept, []).append(obj)
            else:
                properties.setdefault(concept, []).append((obj, not neg))
        elif m := re.fullmatch(r"([A-Z]\w+)es are (not )?(\w+)\.", s):
            concept, neg, obj = m.group(1).lower(), m.group(2), m.group(3)
            if obj.endswith("puses"):
                assert not neg, s
                parents.setdefault(concept, []).append(obj[:-2])
            else:
                properties.setdefault(concept, []).append((obj, not neg))
        else:
            raise AssertionError(f"unparsed sentence {s!r}")
    reached, queue = set(start), deque(start)
    while queue:
        for parent in parents.get(queue.popleft(), []):
            if parent not in reached:
                reached.add(parent)
                queue.append(parent)
    values = {value for c in reached for adj, value in properties.get(c, []) if adj == adjective}
    if len(values) != 1:
        return None
    return str(values.pop() != bool(negated))


# ---------------------------------------------------------------------------------------------
# Generator


def test_same_seed_gives_identical_splits_and_another_seed_differs():
    sizes = {"train": 40, "valid": 10, "test": 10}
    first = prontoqa.generate_splits(seed=5, sizes=sizes)
    assert first == prontoqa.generate_splits(seed=5, sizes=sizes)
    other = prontoqa.generate_splits(seed=6, sizes=sizes)
    assert all(first[split] != other[split] for split in SPLITS)


def test_cli_output_is_byte_identical_on_rerun(tmp_path):
    assert_generator_cli_is_deterministic(gen, tmp_path, train=30)


@pytest.mark.slow
def test_every_generated_example_passes_the_checker(sample):
    for split, examples in sample.items():
        for i, example in enumerate(examples):
            assert prontoqa.check_example(example) == [], (split, i)
            assert list(example) == ["question", "steps", "answer"]  # Coconut's preprocessed format


def test_an_independent_solver_derives_every_answer(sample):
    for example in all_examples(sample):
        assert solve(example["question"]) == example["answer"], example["question"]


def test_answers_are_a_coin_per_example_unless_balanced(sample):
    counts = Counter(ex["answer"] for ex in all_examples(sample))
    assert counts["True"] / sum(counts.values()) == pytest.approx(0.5, abs=0.05)  # 1001 examples: 3 sd
    assert any(Counter(ex["answer"] for ex in examples)["True"] * 2 != len(examples) for examples in sample.values())
    balanced = prontoqa.generate_splits(seed=0, sizes={"train": 31, "valid": 10, "test": 12}, balanced=True)
    for split, examples in balanced.items():
        counts = Counter(ex["answer"] for ex in examples)
        assert set(counts) == {"True", "False"} and abs(counts["True"] - counts["False"]) <= len(examples) % 2, split


@pytest.mark.parametrize("hops", [1, 3, 5, 6])
def test_proof_length_follows_hops(hops):
    examples = all_examples(prontoqa.generate_splits(seed=1, sizes={"train": 20, "valid": 5, "test": 5}, hops=hops))
    for example in examples:
        proof = [s for step in example["steps"] for s in split_sentences(step)]
        assert len(proof) == 2 * hops + 1 and len(example["steps"]) == hops + 1
        assert prontoqa.check_example(example) == []
        assert solve(example["question"]) == example["answer"]
    assert prontoqa.extra_stats(examples)["hops_histogram"] == {str(hops): len(examples)}


def test_examples_have_the_original_generators_shape(sample):
    """The original generator's shape (docs/tasks.md): 25 sentences (11 is-a, 12 property, 2 memberships last), 14 concepts, 11 proof sentences."""
    for example in all_examples(sample):
        context, query = example["question"].split(" True or false: ")
        facts = split_sentences(context)
        person, adjective = re.fullmatch(r"(\w+) is (?:not )?(\w+)\.", query).group(1, 2)
        memberships = [s for s in facts if s.startswith(person + " ")]
        assert len(facts) == 25 and facts[-2:] == memberships and person in prontoqa.NAMES
        is_a = [s for s in facts if re.search(r" (is an? \w+|are \w+puses)\.$", s)]
        assert len(is_a) == 11 + 2  # the rules plus the two memberships
        assert len(facts) - len(is_a) == 12
        concepts = {w.lower().removesuffix("es") for w in re.findall(r"\b\w+pus(?:es)?\b", context, flags=re.I)}
        assert len(concepts) == 14 and concepts <= set(prontoqa.CONCEPTS)
        assert len(re.findall(rf"\b{adjective}\b", context)) == 2  # the proof's rule and the opposite-polarity distractor
        proof = [s for step in example["steps"] for s in split_sentences(step)]
        assert len(proof) == 11 and all(s in facts for s in [proof[0], *proof[1::2]])  # reused word for word
        assert [" ".join(proof[i : i + 2]) for i in range(0, 11, 2)] == example["steps"]


def test_question_length_matches_the_original(sample):
    words = [len(ex["question"].split()) for ex in all_examples(sample)]
    assert sum(words) / len(words) == pytest.approx(104.6, abs=2) and min(words) >= 85 and max(words) <= 125


def test_no_question_appears_in_two_splits(sample):
    keys = [prontoqa.example_key(ex) for ex in all_examples(sample)]
    assert len(keys) == len(set(keys))  # not even with the sentences in another order


def test_test_split_does_not_depend_on_train_size():
    small = prontoqa.generate_splits(seed=1, sizes={"train": 5, "valid": 5, "test": 20})
    large = prontoqa.generate_splits(seed=1, sizes={"train": 50, "valid": 5, "test": 20})
    assert small["test"] == large["test"] and small["valid"] == large["valid"]


def test_generate_default_writes_the_default_splits(tmp_path, monkeypatch):
    monkeypatch.setattr(prontoqa, "TASK", dataclasses.replace(prontoqa.TASK, default_sizes=(12, 4, 6)))
    prontoqa.generate_default(tmp_path, seed=2)
    assert json.loads((tmp_path / "meta.json").read_text())["counts"] == {"train": 12, "valid": 4, "test": 6}
    assert len(load_examples(tmp_path / "test.json")) == 6


# Measured on 10,000 examples of the original generator with the paper's settings.
ORIGINAL = {"proved_negated": 0.466, "negated_below_c1": 1.09, "shortcut_correct": 0.534, "answer_true": 0.492}


@pytest.mark.slow
def test_placement_and_polarity_match_the_original_on_10000_examples():
    f = prontoqa.features(prontoqa.generate_splits(seed=0, sizes={"train": 10_000})["train"])

    def mean(name):
        return sum(f[name]) / len(f[name])

    assert len(f["proved_negated"]) == 10_000
    # Roots (c0, e0) never carry a property; c1's other parent and e1 always do.
    assert set(f["c1_parents_with_property"]) == {1} and set(f["e1_has_property"]) == {1} and set(f["e0_has_property"]) == {0}
    assert set(f["property_sentences"]) == {12}
    # Two samples of 10,000: a share's difference has sd <= 0.007, a count of four 0/1's about 0.013.
    assert mean("proved_negated") == pytest.approx(ORIGINAL["proved_negated"], abs=0.02)
    assert mean("negated_below_c1") == pytest.approx(ORIGINAL["negated_below_c1"], abs=0.04)
    assert mean("answer_true") == pytest.approx(ORIGINAL["answer_true"], abs=0.02)
    assert sum(f["negated_properties"]) / sum(f["property_sentences"]) == pytest.approx(0.339, abs=0.01)
    # The shortcut "True iff the query is not negated": within 2 points of the original's 53.4%.
    assert mean("shortcut_correct") == pytest.approx(ORIGINAL["shortcut_correct"], abs=0.02)


def test_walk_accepts_only_a_stop_at_c1():
    class Draws:  # random() returns these in turn
        def __init__(self, *values):
            self.values = list(values)

        def random(self):
            return self.values.pop(0)

    # Climb (draw < 1 / (1 + stop)) at c3 and c2, stop at c1: accepted.
    assert prontoqa.walk_accepts(Draws(0.1, 0.1, 0.99), [False, False, False])
    assert not prontoqa.walk_accepts(Draws(0.1, 0.99), [False, False, False])  # stopped at c2: 2 hops short
    assert not prontoqa.walk_accepts(Draws(0.1, 0.1, 0.1), [False, False, False])  # climbed past c1
    # A negated property stops the walk more often: 0.65 climbs past a positive (1/1.3) but not a negated one (1/1.7).
    assert prontoqa.walk_accepts(Draws(0.65), [True]) and not prontoqa.walk_accepts(Draws(0.65), [False])


def test_ontology_features_of_a_hand_made_example():
    """Max is a c2 (impus) and an e1 (lempus); c2 -> c1 (wumpus) -> c0 (numpus), c1 -> dumpus, e1 -> e0 (zumpus)."""
    context = ("Impuses are not red. Impuses are wumpuses. Every wumpus is not wooden. Wumpuses are numpuses. "
               "Each wumpus is a dumpus. Dumpuses are small. Numpuses are hot. Lempuses are zumpuses. "
               "Yumpuses are wooden. Max is an impus. Max is a lempus.")  # fmt: skip
    example = {
        "question": context + " True or false: Max is wooden.",
        "steps": ["Max is an impus. Impuses are wumpuses.", "Max is a wumpus. Every wumpus is not wooden.", "Max is not wooden."],
        "answer": "False",
    }
    assert prontoqa.check_example(example) == []
    assert prontoqa.ontology_features(example) == {
        "proved_negated": 1, "query_negated": 0, "answer_true": 0,
        "shortcut_correct": 0,  # the query is not negated, yet the answer is False
        "negated_below_c1": 1,  # impus is not red
        "c1_parents_with_property": 2,  # numpus (hot) and dumpus (small)
        "e1_has_property": 0, "e0_has_property": 0,
        "negated_properties": 2, "property_sentences": 5,
    }  # fmt: skip
    stats = prontoqa.extra_stats([example])
    assert stats["shortcut_not_negated_accuracy"] == 0 and stats["c1_parents_with_property"] == 2
    assert prontoqa.features([{"question": "Is Tom a cat?", "steps": [], "answer": "True"}]) == {}


# ---------------------------------------------------------------------------------------------
# Checker


HAND_MADE = {
    "question": "Every wumpus is not wooden. Impuses are wumpuses. Yumpuses are wooden. Max is an impus. "
    "True or false: Max is wooden.",
    "steps": [
        "Max is an impus. Impuses are wumpuses.",
        "Max is a wumpus. Every wumpus is not wooden.",
        "Max is not wooden.",
    ],
    "answer": "False",
}


def test_hand_made_example_is_valid():
    assert prontoqa.check_example(HAND_MADE) == []
    assert solve(HAND_MADE["question"]) == "False"


def corrupt(example, **changes):
    return {**example, "steps": list(example["steps"]), **changes}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda ex: {"answer": {"True": "False", "False": "True"}[ex["answer"]]}, "answer must be"),
        (lambda ex: {"answer": "true"}, "answer must be"),
        (lambda ex: {"steps": ex["steps"][:-1]}, "steps must be an odd number of sentences"),
        (lambda ex: {"steps": [ex["steps"][1], ex["steps"][0], *ex["steps"][2:]]}, "proof must start with"),
        (lambda ex: {"steps": [ex["steps"][0], ex["steps"][2], ex["steps"][1], *ex["steps"][3:]]}, "proof sentence 3"),
        (lambda ex: {"steps": [ex["steps"][0].replace(" is a", " is not a", 1), *ex["steps"][1:]]}, "proof must start with"),
        (lambda ex: {"steps": [" ".join(ex["steps"][:2]), *ex["steps"][2:]]}, "two per step"),
        (lambda ex: {"question": ex["question"].replace(" True or false: ", " Is it true that ")}, "question must end with"),
        (lambda ex: {"question": "Wumpuses sing. " + ex["question"]}, "context sentence 1"),
        (lambda ex: {"steps": "Max is a wumpus."}, "field 'steps'"),
    ],
)
def test_checker_rejects_corrupted_examples(sample, change, expected):
    example = sample["valid"][0]
    problems = prontoqa.check_example(corrupt(example, **change(example)))
    assert any(expected in p for p in problems), problems


def test_checker_rejects_a_derived_fact_that_does_not_follow(sample):
    example = corrupt(sample["valid"][1])
    membership, _ = split_sentences(example["steps"][0])
    _, rule = split_sentences(example["steps"][1])
    example["steps"][1] = f"{membership} {rule}"  # derives the starting concept again instead of its parent
    expected = split_sentences(sample["valid"][1]["steps"][1])[0]
    assert prontoqa.check_example(example) == [f"proof sentence 3 {membership!r} does not follow; expected {expected!r}"]


def test_checker_rejects_a_rule_missing_from_the_context(sample):
    example = sample["test"][0]
    rule = split_sentences(example["steps"][-2])[1]  # the proof's property rule
    problems = prontoqa.check_example(corrupt(example, question=example["question"].replace(rule + " ", "")))
    assert any("proves neither" in p for p in problems), problems
    assert any("is not a context rule" in p for p in problems), problems


def test_checker_rejects_a_contradictory_context():
    both = HAND_MADE["question"].replace("Max is an impus.", "Max is an impus. Max is a yumpus.")
    problems = prontoqa.check_example(corrupt(HAND_MADE, question=both))
    assert any("proves both" in p for p in problems), problems


# ---------------------------------------------------------------------------------------------
# Registry and recognition


def test_task_is_registered_and_recognizes_only_prontoqa_examples(sample):
    task = get_task("prontoqa")
    assert task is prontoqa.TASK and task.default_sizes == (9000, 200, 800)
    assert task.recognizes(sample["test"][0]) and detect_task(sample["test"][0]) is task
    prosqa_example = prosqa.generate_splits(seed=0, sizes={"test": 1})["test"][0]
    assert not task.recognizes(prosqa_example) and detect_task(prosqa_example) is prosqa.TASK
    assert not task.recognizes({**sample["test"][0], "edges": [[0, 1]]})
    assert not task.recognizes({"question": "2 + 2?", "steps": [], "answer": "4"})
    assert task.extra_stats([]) == {} and task.extra_stats([prosqa_example]) == {}


# ---------------------------------------------------------------------------------------------
# CLI


def test_cli_writes_splits_and_meta_that_data_check_and_stats_accept(tmp_path):
    result = gen("--out", tmp_path, "--train", 50, "--valid", 10, "--test", 10, "--seed", 4, "--balanced")
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["generator"] == "prontoqa" and meta["version"] == prontoqa.VERSION and meta["seed"] == 4
    assert meta["params"]["hops"] == 5 and meta["params"]["balanced"] is True and meta["counts"] == {"train": 50, "valid": 10, "test": 10}
    assert "wrote 50 train, 10 valid, 10 test" in result.stderr

    check = CliRunner().invoke(app, ["data", "check", str(tmp_path / "train.json"), "--quiet"])
    assert check.exit_code == 0, check.output
    assert check.stdout.strip() == f"{tmp_path / 'train.json'}: 50 examples checked as prontoqa, 0 invalid"

    stats = CliRunner().invoke(app, ["data", "stats", str(tmp_path / "test.json"), "--json"])
    assert stats.exit_code == 0, stats.output
    file_stats = json.loads(stats.stdout)["files"][0]
    assert file_stats["task"] == "prontoqa" and file_stats["answers"]["distribution"] == {"False": 5, "True": 5}
    assert file_stats["extra"]["hops_histogram"] == {"5": 10} and file_stats["extra"]["concepts"]["mean"] == 14


def test_cli_hops_option(tmp_path):
    result = gen("--out", tmp_path, "--train", 6, "--valid", 2, "--test", 2, "--hops", 3, "--quiet")
    assert result.exit_code == 0 and result.stderr == ""
    assert all(len(ex["steps"]) == 4 for ex in load_examples(tmp_path / "train.json"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--train", "0"], "--train must be a positive integer"),
        (["--valid", "-1"], "--valid must be a positive integer"),
        (["--hops", "0"], "--hops must be between 1 and 6"),
        (["--hops", "7"], "--hops must be between 1 and 6"),
        (["--hops", "five"], "Invalid value for '--hops'"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "out"
    one_line_error(gen("--out", out, *args), message)
    assert not out.exists()


def test_cli_unwritable_out_exits_2_before_generating(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = gen("--out", blocker / "out", "--train", 9_000_000)  # would take long if it started
    assert result.exit_code == 2 and "choose another --out" in result.stderr


def test_default_data_of_an_older_generator_version_is_made_again(tmp_path, monkeypatch):
    import types

    from cocobench import runner

    monkeypatch.setattr(runner, "DEFAULT_DATA_ROOT", tmp_path)
    monkeypatch.setattr(prontoqa, "TASK", dataclasses.replace(prontoqa.TASK, default_sizes=(6, 2, 2)))
    monkeypatch.setattr("cocobench.tasks.get_task", lambda name: prontoqa.TASK)
    data_dir = tmp_path / "prontoqa-default"
    data_dir.mkdir()
    (data_dir / "meta.json").write_text(json.dumps({"generator": "prontoqa", "version": "1"}))
    assert runner.prepare_data(types.SimpleNamespace(data=None, task="prontoqa", quiet=True)) == ("prontoqa", data_dir)
    assert json.loads((data_dir / "meta.json").read_text())["version"] == prontoqa.VERSION
    assert len(load_examples(data_dir / "train.json")) == 6
    before = (data_dir / "train.json").stat().st_mtime_ns
    runner.prepare_data(types.SimpleNamespace(data=None, task="prontoqa", quiet=True))  # current: kept as is
    assert (data_dir / "train.json").stat().st_mtime_ns == before
