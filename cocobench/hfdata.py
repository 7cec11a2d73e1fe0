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


# ----------------------------------------------------------------------------------------------
# `--data hf:ID` and local datasets folders: loaded with `datasets`, written once as a cocobench data
# directory (so runs, fingerprints and results work as for any other), reused while the source is unchanged.

HUB_PREFIX = "hf:"
HUB_DATA_ROOT = Path("data") / "hub"  # where a datasets source becomes a cocobench data directory
DATASETS_SPLITS = {"train": "train", "validation": "valid", "valid": "valid", "val": "valid", "dev": "valid", "test": "test"}
# Declared column mappings (cocobench field -> the dataset's column), read from each dataset's card.
# A dataset whose columns are already question/steps/answer (cocobench's export, the official
# ProsQA/ProntoQA JSON files) needs none.
KNOWN_COLUMNS: dict[str, dict[str, str]] = {
    # card: features question (string), cot (sequence of strings: iCoT's calculator steps), answer
    # (string); splits train 385,620 / valid 500 / test 1,319; "Converted from" iCoT's repository.
    "casperhansen/gsm8k_synthetic_cot": {"question": "question", "steps": "cot", "answer": "answer"},
}
SAVE_TO_DISK_MARKERS = ("dataset_dict.json", "state.json")
DATA_FILE_SUFFIXES = (".parquet", ".arrow")


def is_datasets_source(data: str | Path, columns: str | None = None) -> bool:
    """`hf:ID[@REVISION]`, a `save_to_disk` directory, or a folder of parquet/arrow files (or, with
    --columns, any folder `load_dataset` reads); a directory of cocobench JSON splits is not one."""
    text = str(data)
    if text.startswith(HUB_PREFIX):
        return True
    path = Path(text)
    if not path.is_dir():
        return False
    if any((path / marker).is_file() for marker in SAVE_TO_DISK_MARKERS):
        return True
    return columns is not None or any(p.suffix in DATA_FILE_SUFFIXES for p in path.rglob("*") if p.is_file())


def parse_columns(columns: str | None) -> dict[str, str] | None:
    """`--columns steps=cot,question=problem` -> {"steps": "cot", "question": "problem"}."""
    if columns is None:
        return None
    mapping = {}
    for pair in columns.split(","):
        field, _, column = pair.partition("=")
        if field.strip() not in ("question", "steps", "answer") or not column.strip():
            raise CocobenchError(f"--columns '{columns}': expected FIELD=COLUMN pairs for question, steps and answer, e.g. steps=cot")
        mapping[field.strip()] = column.strip()
    return mapping


def prepare_datasets_source(data: str, columns: str | None = None, *, root: Path = HUB_DATA_ROOT) -> Path:
    """The cocobench data directory for a datasets source, written (atomically) unless it is there already."""
    from cocobench.io import json_fingerprint

    loaded, record = load_source(data)
    mapping = {"question": "question", "steps": "steps", "answer": "answer", **KNOWN_COLUMNS.get(record["id"], {}), **(parse_columns(columns) or {})}
    record["columns"] = mapping
    out = root / f"{_slug(record['id'])}-{json_fingerprint(record).split(':')[1][:12]}"
    if (out / "meta.json").is_file():
        return out  # the same source, revision, fingerprints and mapping: made before
    splits = {ours: [] for ours in SPLITS}
    for name, split in loaded.items():
        if name not in DATASETS_SPLITS:
            continue
        splits[DATASETS_SPLITS[name]] = _examples(split, mapping, f"{data} ({name})")
    if not splits["train"] and not splits["test"]:
        raise CocobenchError(f"{data} has no train or test split (it has {', '.join(loaded) or 'none'}); "
                             f"the split names must be {', '.join(DATASETS_SPLITS)}")
    from cocobench.examples import write_data_dir

    write_data_dir(out, splits, {"generator": None, "dataset": record})
    return out


def local_data_dir(data: str | Path, columns: str | None = None) -> Path:
    """--data as a directory of cocobench splits: a Hugging Face or local datasets source is loaded and
    written as one first (rank 0; the others wait for it)."""
    from cocobench import distributed

    if not is_datasets_source(data, columns):
        return Path(data)
    if distributed.is_main():
        data_dir = prepare_datasets_source(str(data), columns)
    distributed.barrier()
    return data_dir if distributed.is_main() else prepare_datasets_source(str(data), columns)


def load_source(data: str):
    """The DatasetDict of a source and its record: id, revision and each split's fingerprint."""
    import datasets

    datasets.disable_progress_bars()
    text = str(data)
    if text.startswith(HUB_PREFIX):
        repo, _, revision = text[len(HUB_PREFIX):].partition("@")
        loaded = _load_from_hub(repo, revision or None)
        record = {"id": repo, "revision": revision or "main"}
    else:
        path = Path(text)
        try:
            if any((path / marker).is_file() for marker in SAVE_TO_DISK_MARKERS):
                loaded = datasets.load_from_disk(str(path))
            else:
                loaded = datasets.load_dataset(str(path))
        except (ValueError, FileNotFoundError, datasets.exceptions.DatasetGenerationError) as exc:
            raise CocobenchError(f"cannot read '{path}' as a datasets folder ({str(exc).splitlines()[0]}); "
                                 "pass a save_to_disk directory or a folder of parquet/arrow/json files") from None
        record = {"id": str(path.resolve()), "revision": None}
    if isinstance(loaded, datasets.Dataset):
        loaded = datasets.DatasetDict({"train": loaded})
    record["fingerprints"] = {name: split._fingerprint for name, split in loaded.items()}
    return loaded, record


def _load_from_hub(repo: str, revision: str | None):
    import datasets

    offline = datasets.config.HF_HUB_OFFLINE or _env_on("HF_DATASETS_OFFLINE") or _env_on("HF_HUB_OFFLINE")
    try:
        return datasets.load_dataset(repo, revision=revision)
    except Exception as exc:  # datasets raises many kinds (ConnectionError, DatasetNotFoundError, ...)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if offline:
            raise CocobenchError(f"cannot load 'hf:{repo}' offline (HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set and it is not "
                                 "in the datasets cache); run once with network access to cache it, or pass a local folder") from None
        raise CocobenchError(f"cannot load 'hf:{repo}' from the Hugging Face Hub ({first}); check the id and your network, "
                             "or pass a local folder") from None


def _env_on(name: str) -> bool:
    import os

    return os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE")


def _examples(split, mapping: dict[str, str], where: str) -> list[Example]:
    """The split's rows as cocobench examples: mapped columns renamed, every other column kept."""
    from cocobench.examples import validate_example

    missing = [column for column in mapping.values() if column not in split.column_names]
    if missing:
        raise CocobenchError(f"{where}: no column {', '.join(repr(m) for m in missing)} (it has {', '.join(split.column_names)}); "
                             "map the fields with --columns question=COL,steps=COL,answer=COL")
    renamed = {column: field for field, column in mapping.items()}
    return [validate_example({renamed.get(k, k): v for k, v in row.items()}, f"{where}: row {i}") for i, row in enumerate(split)]


def _slug(dataset_id: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", dataset_id.strip("/"))[-60:]
