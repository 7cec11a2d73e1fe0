"""Answer extraction and scoring (docs/data.md), shared by every task."""

from __future__ import annotations


def normalize_answer(text: str) -> str:
    return text.replace(",", "").strip()


def extract_answer(generated_text: str) -> str:
    """The prediction is the text after the last '#', commas removed, stripped ('' if no '#')."""
    if "#" not in generated_text:
        return ""
    return normalize_answer(generated_text.rsplit("#", 1)[1])


def is_correct(prediction: str, gold: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(gold)
