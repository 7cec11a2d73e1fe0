"""benchmarks/plain_lookup.py, the plain-PyTorch learnability reference: it reads the prompt the harness
builds for No-CoT on symbolic ProsQA, and it trains and reports on tiny data."""

from __future__ import annotations

import importlib.util
import random
import subprocess
import sys
from pathlib import Path

from cocobench.config import RunConfig
from cocobench.examples import write_splits
from cocobench.methods import get_method
from cocobench.tasks import prosqa_symbolic
from cocobench.tokenizer import build_symbolic_tokenizer

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "plain_lookup.py"


def plain():
    spec = importlib.util.spec_from_file_location("plain_lookup", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class InOrder(random.Random):
    """Draws that keep every list as it is, so the prompt is the example's own order."""

    def shuffle(self, x):
        return None


def test_the_plain_prompt_is_the_harness_prompt():
    """With draws that keep every order, the plain script's prompt is token for token the harness's No-CoT
    prompt (plus `[A]`) for the question written with the target first."""
    module = plain()
    tokenizer = build_symbolic_tokenizer()
    method = get_method("no-cot", RunConfig(method="no-cot"), tokenizer)
    names = {index: name for name, index in module.VOCAB.items()}
    for example in prosqa_symbolic.generate_splits(seed=1, sizes={"train": 1, "valid": 1, "test": 6})["test"]:
        target_first = {**example, "question": prosqa_symbolic.render_question(example["edges"], (example["target"], example["neg_target"]), example["root"])}
        ids, answer = module.encode(example, InOrder())
        assert [names[i] for i in ids] == tokenizer.convert_ids_to_tokens(method.inference_prompt(target_first)) + ["[A]"]
        assert answer == example["target"]


def test_it_trains_and_reports_on_tiny_data(tmp_path):
    splits = prosqa_symbolic.generate_splits(seed=0, sizes={"train": 40, "valid": 2, "test": 8}, min_nodes=8, max_nodes=8, min_hops=1, max_hops=1)
    write_splits(tmp_path, splits, {"generator": "prosqa-symbolic", "seed": 0})
    result = subprocess.run([sys.executable, str(SCRIPT), "--data", str(tmp_path), "--steps", "6", "--every", "3", "--batch-size", "4",
                             "--width", "16", "--heads", "2"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[1] for line in lines] == ["3", "6"] and all("test" in line for line in lines)


def test_rotary_scores_depend_on_the_distance_only():
    """--rope: shifting every position by the same amount leaves each query-key score unchanged, and a
    different distance changes it (so a lookup learned at one offset holds at every offset)."""
    import torch

    module = plain()
    torch.manual_seed(0)
    q, k = torch.randn(1, 1, 5, 8), torch.randn(1, 1, 5, 8)
    positions = torch.tensor([[0, 1, 2, 3, 4]])

    def scores(offset):
        return module.rotate(q, positions + offset) @ module.rotate(k, positions + offset).transpose(-1, -2)

    torch.testing.assert_close(scores(0), scores(37))
    assert not torch.allclose(scores(0), module.rotate(q, positions) @ module.rotate(k, positions.flip(-1)).transpose(-1, -2))


def test_it_trains_with_rotary_positions(tmp_path):
    splits = prosqa_symbolic.generate_splits(seed=0, sizes={"train": 40, "valid": 2, "test": 8}, min_nodes=8, max_nodes=8, min_hops=1, max_hops=1)
    write_splits(tmp_path, splits, {"generator": "prosqa-symbolic", "seed": 0})
    result = subprocess.run([sys.executable, str(SCRIPT), "--data", str(tmp_path), "--steps", "4", "--every", "4", "--batch-size", "4",
                             "--width", "16", "--heads", "2", "--rope"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:2] == ["step", "4"]
