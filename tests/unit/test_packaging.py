"""pyproject.toml ships every module: each package folder matches `packages.find`'s include
patterns, and each other .py file under the packages (the shim's sitecustomize.py) is
package data. Read from the files, so no wheel is built here; `pip wheel --no-deps .`
and `unzip -l` show the same list."""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("tuner", "harness", "storage")


def setuptools_config() -> Any:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


INCLUDE: Sequence[str] = setuptools_config()["packages"]["find"]["include"]
DATA: Mapping[str, Sequence[str]] = setuptools_config()["package-data"]


def shipped(
    path: Path, include: Sequence[str] = INCLUDE, data: Mapping[str, Sequence[str]] = DATA
) -> bool:
    """True when a wheel built with these `include` patterns and package `data` holds
    `path` (a .py file under one of the packages)."""
    folder = path.parent.relative_to(ROOT)
    if (path.parent / "__init__.py").is_file():
        dotted = ".".join(folder.parts)
        return any(fnmatch.fnmatchcase(dotted, pattern) for pattern in include)
    top = folder.parts[0]
    inside = path.relative_to(ROOT / top).as_posix()
    return any(fnmatch.fnmatchcase(inside, pattern) for pattern in data.get(top, ()))


def test_every_module_of_the_three_packages_is_shipped() -> None:
    files = [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))]
    missing = [str(p.relative_to(ROOT)) for p in files if not shipped(p)]
    assert not missing, missing
    assert len(files) > 90


def test_the_shim_is_package_data_not_a_package() -> None:
    shim = ROOT / "harness" / "_apply" / "shim" / "sitecustomize.py"
    assert not (shim.parent / "__init__.py").exists()
    assert shipped(shim)
    assert not shipped(shim, data={})


def test_the_check_sees_a_sub_package_the_patterns_leave_out() -> None:
    # What the old `packages = ["tuner", "harness", "storage"]` did to tuner._commands.
    old = ["tuner", "harness", "storage"]
    assert shipped(ROOT / "tuner" / "_cli.py", include=old)
    assert not shipped(ROOT / "tuner" / "_commands" / "tune.py", include=old)
    assert not shipped(ROOT / "harness" / "_run" / "trial.py", include=old)
