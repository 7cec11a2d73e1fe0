"""Answer extraction and scoring: the prediction is the text after the last '#', commas removed,
stripped, and must equal the gold answer (normalised the same way)."""

from __future__ import annotations

import pytest

from cocobench.scoring import extract_answer, is_correct, normalize_answer


@pytest.mark.parametrize(
    "generated, prediction",
    [
        ("### 42", "42"),  # the answer marker: after the *last* '#', not "## 42"
        ("3 * 4 = 12\n#### 1,234", "1234"),  # a chain before it; thousands commas removed (GSM8k style)
        ("Tom is a wumpus.\n### Tom is a zumpus.", "Tom is a zumpus."),
        ("#1 then # 7 ", "7"),  # an earlier '#' in the text does not count
        ("### ", ""),
        ("no marker at all", ""),
    ],
)
def test_extract_answer_takes_the_text_after_the_last_hash(generated, prediction):
    assert extract_answer(generated) == prediction


def test_normalisation_removes_commas_and_surrounding_space():
    assert normalize_answer(" 1,234,567 \n") == "1234567"
    assert normalize_answer("Tom is a zumpus.") == "Tom is a zumpus."


@pytest.mark.parametrize(
    "prediction, gold, correct",
    [
        ("1234", "1,234", True),
        ("1,234", "1234", True),
        (" 42", "42 ", True),
        ("42", "420", False),
        ("Tom is a zumpus.", "Tom is a zumpus.", True),
        ("Tom is a lempus.", "Tom is a zumpus.", False),
        ("", "42", False),
    ],
)
def test_is_correct_compares_normalised_answers(prediction, gold, correct):
    assert is_correct(prediction, gold) is correct
