"""The docs against the code: generated pages current, every cited file present, the README short.

- The pages `docs/generate.py` writes (docs/reference/) equal what the code gives now, and
  the same on a machine with other reactors and CPUs.
- Every reference to a file of this repository that a reader meets (a Markdown link, a
  `*.md` name, a path under docs/, benchmarks/, tests/ or a package) in README.md,
  CHANGELOG.md, docs/, the packages' source (help strings included) and benchmarks/
  names a file or folder that exists; a link's #anchor names a heading of its page.
- The README keeps to 150 lines and carries `.ci/run`'s test command word for word.

Reads files only; runs nothing.
"""

from __future__ import annotations

import importlib.util
import os
import re
import select
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
README_MAX_LINES = 150

# Where a reader meets references to the repository's files.
SCANNED = ("README.md", "CHANGELOG.md", "docs", "tuner", "harness", "storage", "benchmarks")
SCANNED_SUFFIXES = (".md", ".py")
# Its page texts link relative to the pages it writes, which are scanned themselves.
NOT_SCANNED = ("docs/generate.py",)

# A Markdown link's target: [text](target).
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
# A repository path (a file with its suffix, or a folder with its slash), or any *.md name,
# standing alone: not part of a longer path, a URL,
# a module's dotted name or a `git show COMMIT:PATH` (history, not the tree).
REPO_PATH = re.compile(
    r"(?<![\w./:@-])"
    r"(?:(?:docs|benchmarks|tests|tuner|harness|storage|\.ci)/(?:[\w./-]*\.\w+|[\w./-]*/)(?![\w/])"
    r"|[\w./-]*\w\.md(?!\w))"
)


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return load_generator()


# -- generated pages


def test_every_generated_page_matches_the_code(generator: ModuleType) -> None:
    stale = [generator.first_difference(path) for path in generator.stale_pages()]
    assert not stale, "stale: " + "\n".join(stale) + "\nrun: python docs/generate.py"


def test_the_check_names_a_page_edited_by_hand_and_a_missing_one(
    generator: ModuleType, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs" / "reference", docs / "reference")
    knobs = docs / "reference" / "knobs.md"
    knobs.write_text(knobs.read_text(encoding="utf-8").replace("65536", "65535"), "utf-8")
    (docs / "reference" / "exit-codes.md").unlink()

    assert generator.stale_pages(docs) == ["reference/knobs.md", "reference/exit-codes.md"]
    assert generator.first_difference("reference/exit-codes.md", docs) == (
        "docs/reference/exit-codes.md: missing"
    )
    assert "the code gives" in generator.first_difference("reference/knobs.md", docs)
    assert "65535" in generator.first_difference("reference/knobs.md", docs)
    assert generator.write(docs) == ["reference/knobs.md", "reference/exit-codes.md"]
    assert generator.stale_pages(docs) == []


def test_the_pages_do_not_depend_on_this_machine(
    generator: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = generator.render()
    # Another machine: no epoll (so another default reactor), one CPU, a narrow terminal.
    monkeypatch.delattr(select, "epoll", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    monkeypatch.setenv("COLUMNS", "40")
    there = generator.render()
    assert there == here
    for text in here.values():
        assert not re.search(r"\b20\d\d-\d\d-\d\d\b", text)  # no dates
        assert str(ROOT) not in text


def test_a_computed_default_without_stable_wording_is_refused(
    generator: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(generator, "COMPUTED_DEFAULTS", {})
    with pytest.raises(LookupError, match=r"Settings\.reactor's default is computed"):
        generator.knobs_page()


def test_the_generated_pages_show_what_the_code_holds(generator: ModuleType) -> None:
    import harness
    from storage import SCHEMA_VERSION
    from tuner import _cli

    pages = generator.render()
    for knob in harness.KNOBS:
        assert f"| `{knob.name}` |" in pages["reference/knobs.md"]
    for code in _cli.ExitCode:
        assert f"| {code.value} | `{code.name}` |" in pages["reference/exit-codes.md"]
    assert f"Schema version **{SCHEMA_VERSION}**" in pages["reference/storage.md"]
    cli = pages["reference/cli.md"]
    for command in _cli.COMMANDS:
        name = command.__name__.rsplit(".", 1)[-1]
        assert f"## twistune {name}\n" in cli
    assert "| `--stability-gate STABILITY_GATE` | `0.5` |" in cli
    assert "| `-o, --output OUTPUT` (required) |" in cli


def test_the_frame_dtypes_sections_show_storages_mappings(
    generator: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    import storage

    monkeypatch.setattr(storage, "TRIALS_FRAME_DTYPES", {"number": "int64", "errors": "Int64"})
    page = generator.storage_page()
    section = page[page.index("## trials_frame columns") : page.index("## samples_frame")]
    assert section.endswith("| `number` | `int64` |\n| `errors` | `Int64` |\n\n")
    samples = page[page.index("## samples_frame columns") :]
    assert "| `server_rss_peak_bytes` | `Int64` |" in samples


# -- references to files


def scanned_files() -> Iterator[Path]:
    for name in SCANNED:
        path = ROOT / name
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from (
                p
                for p in sorted(path.rglob("*"))
                if p.suffix in SCANNED_SUFFIXES
                and p.is_file()
                and "__pycache__" not in p.parts
                and str(p.relative_to(ROOT)) not in NOT_SCANNED
            )


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    in_code = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        match = re.match(r"#{1,6} (.+)", line)
        if match and not in_code:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def resolves(reference: str, source: Path) -> bool:
    """Whether `reference` (a path, optionally #anchor) names something in the repository,
    relative to `source`'s folder or to the repository's root."""
    path, _, anchor = reference.partition("#")
    if not path:
        targets = [source]
    else:
        targets = [
            candidate
            for candidate in ((source.parent / path).resolve(), (ROOT / path).resolve())
            if candidate.exists() and candidate.is_relative_to(ROOT)
        ]
    if not targets:
        return False
    if anchor:
        return any(t.suffix == ".md" and anchor in anchors(t) for t in targets)
    return True


def references(source: Path) -> Iterator[tuple[int, str]]:
    text = source.read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), start=1):
        prose = line
        if source.suffix == ".md":
            for match in LINK.finditer(line):
                target = match.group(1)
                if not re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                    yield number, target
            prose = LINK.sub("", line)  # a link's text is a label; its target is checked
        for match in REPO_PATH.finditer(prose):
            reference = match.group(0).rstrip(".")  # a sentence's full stop
            if prose[match.end() : match.end() + 1] in ("{", "*"):
                continue  # a pattern (tuner/_commands/{tune,confirm}.py), not a file
            yield number, reference


def unresolved_references() -> list[str]:
    missing = []
    for source in scanned_files():
        for number, reference in references(source):
            if not resolves(reference, source):
                missing.append(f"{source.relative_to(ROOT)}:{number}: {reference}")
    return missing


def test_every_file_a_reader_is_pointed_at_is_in_the_repository() -> None:
    missing = unresolved_references()
    assert not missing, "references to files that are not in the repository:\n" + "\n".join(missing)


def test_the_reference_finder_sees_links_names_and_paths(tmp_path: Path) -> None:
    page = ROOT / "docs" / "guide" / "tuning.md"
    lines = dict(references(page))
    assert any(ref.startswith("../reference/cli.md") for ref in lines.values())
    assert not resolves("DESIGN.md", ROOT / "README.md")
    assert not resolves("docs/design/knobs.md#no-such-heading", ROOT / "README.md")
    assert resolves("docs/design/knobs.md", ROOT / "tuner" / "_strategies.py")
    source = tmp_path / "x.py"
    source.write_text(
        "# see DESIGN.md and docs/nowhere.md, `git show b9e2f23:benchmarks/gone.py`,\n"
        "# twisted/web/http.py, tuner/_commands/{tune,run}.py and harness/_children.py:31\n",
        "utf-8",
    )
    assert [ref for _, ref in references(source)] == [
        "DESIGN.md",
        "docs/nowhere.md",
        "harness/_children.py",
    ]


# -- the README


def test_the_readme_is_short_and_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= README_MAX_LINES
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    test_command = next(line for line in ci.splitlines() if line.startswith("python3 -m venv"))
    commands = [line.strip() for line in readme.splitlines() if line.startswith("    python3 ")]
    assert commands[:2] == [
        "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/twistune tune",
        test_command,
    ]
    assert readme.index(commands[1]) < readme.index("\n## ")


if __name__ == "__main__":  # python tests/unit/test_docs.py: list what does not resolve
    print("\n".join(unresolved_references()) or "every reference resolves")
    sys.exit(0)
