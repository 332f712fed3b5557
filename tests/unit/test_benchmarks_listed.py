"""The benchmarks' scripts, read as text: each one has a smoke run in the e2e tier
(tests/e2e/test_benchmarks.py) and a usage line naming itself (what they cite is
checked with every other reference by tests/unit/test_docs.py).

No benchmark runs here: these tests read files only.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.e2e.test_benchmarks import SMOKES

REPOSITORY = Path(__file__).resolve().parents[2]
BENCHMARKS = REPOSITORY / "benchmarks"


def scripts() -> set[str]:
    """Every `benchmarks/**/*.py` with a top-level `main`, by its path from the root."""
    found = set()
    for path in BENCHMARKS.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        if any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body):
            found.add(path.relative_to(REPOSITORY).as_posix())
    return found


def test_every_benchmark_has_a_smoke_run() -> None:
    listed = [smoke.script for smoke in SMOKES]
    assert len(listed) == len(set(listed))
    assert set(listed) == scripts()
    # Not two empty sets: the scan finds a product benchmark and a decision record.
    assert {"benchmarks/decisions/gc_knobs.py", "benchmarks/http_workload.py"} <= set(listed)


def test_every_benchmark_takes_smoke() -> None:
    for script in scripts():
        assert '"--smoke"' in (REPOSITORY / script).read_text(), script


def test_usage_lines_name_the_script_itself() -> None:
    # `python benchmarks/NAME.py ...` in a script's docstring runs that very script.
    for script in scripts():
        docstring = ast.get_docstring(ast.parse((REPOSITORY / script).read_text())) or ""
        named = re.findall(r"python (\S+\.py)", docstring)
        assert named, f"{script}: no usage line"
        assert set(named) == {script}, (script, named)
