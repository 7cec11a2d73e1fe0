"""A repository that stands alone: no reference to a document outside it, and no link in its docs that
points nowhere. A contributor who clones cocobench must be able to follow every reference it makes."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("cocobench", "tests", "benchmarks", "docs", "examples", ".ci", "README.md", "CONTRIBUTING.md", "CHANGELOG.md",
           "results/README.md")
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".sh", ".toml", ".txt", ""}
DOCS = ("README.md", "CONTRIBUTING.md", "docs/*.md", "results/README.md")

# Spelled in pieces so that this file does not match itself: the project's former design notes (a
# specification and a contracts file that lived outside the repository) and the folder they lived in.
OUTSIDE_REFERENCE = re.compile(r"\b" + "SP" + r"EC\b" + "|" + "CONTR" + "ACTS" + "|" + "shared/" + "docs")


def tracked_files() -> list[Path]:
    """The files git tracks under CHECKED (a copy that is no git checkout: every file there)."""
    try:
        done = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--", *CHECKED], capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        done = None
    if done is not None and done.returncode == 0 and done.stdout:
        return [ROOT / name for name in done.stdout.decode().split("\0") if name]
    found = []
    for name in CHECKED:
        path = ROOT / name
        found += [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return found


def test_no_reference_outside_the_repository():
    hits = []
    for path in tracked_files():
        if path.suffix not in TEXT_SUFFIXES or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if OUTSIDE_REFERENCE.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert not hits, "state the fact (in a docstring or a docs/ page) instead of citing a file outside the repository:\n" + "\n".join(hits)


def test_the_check_catches_what_it_should():
    for line in ("see " + "SP" + "EC section 3", "(" + "SP" + "EC 10)", "SP" + "EC.md", "as in " + "CONTR" + "ACTS.md", "../" + "shared/" + "docs/x.md"):
        assert OUTSIDE_REFERENCE.search(line), line
    for line in ("spec = load_yaml(path)", "WORKED_EXAMPLE_LINE", "../shared/data/prosqa/prosqa_test.json", "inspect"):
        assert not OUTSIDE_REFERENCE.search(line), line


FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {slug(heading) for heading in HEADING.findall(text)}


def doc_files() -> list[Path]:
    files = []
    for pattern in DOCS:
        files += sorted(ROOT.glob(pattern))
    return files


@pytest.mark.parametrize("doc", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(doc: Path):
    text = INLINE_CODE.sub("", FENCE.sub("", doc.read_text(encoding="utf-8")))
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not ours to check offline
            continue
        path_part, _, fragment = target.partition("#")
        path = (doc.parent / path_part).resolve() if path_part else doc
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif fragment and path.suffix == ".md" and fragment not in anchors(path):
            broken.append(f"{target}: no heading '#{fragment}' in {path.relative_to(ROOT)}")
    assert not broken, f"{doc.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_docs_are_there():
    names = {str(p.relative_to(ROOT)) for p in doc_files()}
    assert {"README.md", "CONTRIBUTING.md", "results/README.md", "docs/running.md"} <= names


def test_the_contributing_layout_names_every_module():
    """The layout in CONTRIBUTING.md goes stale when a module is added or renamed: every module of the
    package is named there, and every module named there exists."""
    import re

    package = ROOT / "cocobench"
    modules = {p.name for p in package.rglob("*.py") if p.name != "__init__.py"}
    layout = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8").split("## Layout", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"\b([a-z_0-9]+\.py)\b", layout))
    assert modules - named == set(), f"modules missing from CONTRIBUTING.md's layout: {sorted(modules - named)}"
    stale = {name for name in named - modules if name != "__init__.py" and not (ROOT / "benchmarks" / name).exists()}
    assert not stale, f"CONTRIBUTING.md's layout names modules that do not exist: {sorted(stale)}"
