"""cocobench data in the Hugging Face `datasets` world: a data directory exported as parquet with a
dataset card (`cocobench data export`), so that `datasets.load_dataset(DIR)` reads it and
`push_to_hub` can share it.

cocobench's splits are train/valid/test; `datasets` calls the middle one `validation`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cocobench.errors import CocobenchError
from cocobench.examples import SPLITS, Example, find_split, load_examples

HF_SPLIT = {"train": "train", "valid": "validation", "test": "test"}  # cocobench's name -> datasets'
COCOBENCH_SPLIT = {hf: ours for ours, hf in HF_SPLIT.items()}
EXPORT_FORMATS = ("parquet",)
CARD_FILE = "README.md"  # where the Hub (and load_dataset) look for a dataset card


def read_data_dir(data_dir: Path) -> tuple[dict[str, list[Example]], dict[str, Path], dict[str, Any]]:
    """The splits a data directory has (at least one), their files, and its meta.json ({} without one)."""
    files = {}
    for split in SPLITS:
        try:
            files[split] = find_split(data_dir, split)
        except CocobenchError:
            if not data_dir.is_dir():
                raise
    if not files:
        raise CocobenchError(f"data directory '{data_dir}' has no train, valid or test split; pass a directory `cocobench gen` wrote")
    meta_file = data_dir / "meta.json"
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.is_file() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CocobenchError(f"{meta_file}: not valid JSON; regenerate the data, or remove meta.json to export the splits alone") from None
    return {split: load_examples(file) for split, file in files.items()}, files, meta if isinstance(meta, dict) else {}


def export_parquet(data_dir: Path, out: Path) -> dict[str, int]:
    """Write OUT/data/SPLIT-00000-of-00001.parquet per split and OUT/README.md (the card); the whole of
    OUT at once (a temporary sibling, then a rename). Returns the examples written per datasets split."""
    import datasets

    from cocobench.io import atomic_directory

    splits, files, meta = read_data_dir(data_dir)
    datasets.disable_progress_bars()  # a bar per tiny parquet file is noise; cocobench says what it wrote
    with atomic_directory(out) as tmp:
        (tmp / "data").mkdir()
        for split, examples in splits.items():
            # from_list infers one schema over all examples: steps become a list of strings
            datasets.Dataset.from_list(examples).to_parquet(str(tmp / "data" / f"{HF_SPLIT[split]}-00000-of-00001.parquet"))
        (tmp / CARD_FILE).write_text(dataset_card(splits, files, meta), encoding="utf-8")
    return {HF_SPLIT[split]: len(examples) for split, examples in splits.items()}


def dataset_card(splits: dict[str, list[Example]], files: dict[str, Path], meta: dict[str, Any]) -> str:
    """The card: YAML front matter naming each split's files (what load_dataset reads) and cocobench's
    record of where the data came from (generator, version, seed, parameters, fingerprints)."""
    import yaml

    from cocobench import __version__
    from cocobench.io import file_fingerprint, json_fingerprint

    record = {
        "cocobench_version": __version__,
        **{key: meta[key] for key in ("generator", "version", "seed", "params", "source") if key in meta},
        "splits": {HF_SPLIT[split]: {"examples": len(examples), "from": files[split].name, "file_fingerprint": file_fingerprint(files[split]),
                                     "examples_fingerprint": json_fingerprint(examples)} for split, examples in splits.items()},
    }  # fmt: skip
    front = {
        "configs": [{"config_name": "default", "data_files": [{"split": HF_SPLIT[s], "path": f"data/{HF_SPLIT[s]}-*"} for s in splits]}],
        "tags": ["cocobench", "reasoning"],
        "cocobench": record,
    }
    generator = meta.get("generator")
    what = f"`{generator}` data made by `cocobench gen {generator}` (generator version {meta.get('version')})" if generator else "cocobench example data"
    counts = ", ".join(f"{len(examples)} {HF_SPLIT[split]}" for split, examples in splits.items())
    body = (
        f"# {generator or 'cocobench'} examples\n\n"
        f"{what}: {counts}. Each example has `question`, `steps` (the reasoning chain, one string per step) and "
        "`answer`, plus the task's own fields.\n\n"
        "```python\nimport datasets\nds = datasets.load_dataset(\"PATH_OR_HUB_ID\")\n```\n\n"
        "`cocobench run --data hf:HUB_ID` (or the local folder) trains on it. The `cocobench` block above records the "
        "generator's settings and each split's SHA-256 fingerprints (of the JSON file it came from, and of its examples).\n"
    )
    return "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n\n" + body


def check_export_format(fmt: str) -> str:
    if fmt not in EXPORT_FORMATS:
        raise CocobenchError(f"--to {fmt} is not an export format; use one of {', '.join(EXPORT_FORMATS)}")
    return fmt
