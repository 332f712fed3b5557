"""harness's rooms, read from its source with `ast`: a module lives in the room of the
process it runs in, and imports only the rooms and third-party packages its room allows.

Run as a script, it prints the rooms (their modules with line counts), the imports between
rooms, and the third-party packages each room imports, for this checkout or another one's
harness folder (modules in no room come last):

    python tests/unit/harness/test_harness_rooms.py [path/to/harness]
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[3] / "harness"


@dataclass(frozen=True, slots=True)
class Room:
    """A folder of harness (or one top-level module) and what its modules may import:
    the standard library, modules of their own room, the `rooms` named, and the
    third-party `packages` named; nothing else."""

    name: str
    runs_in: str
    rooms: frozenset[str] = frozenset()
    packages: frozenset[str] = frozenset()


ROOMS: tuple[Room, ...] = (
    Room("_values", "every process"),
    Room("_ipc", "both ends of a pipe"),
    Room(
        "_loadgen",
        "the load-generator child",
        frozenset({"_ipc"}),
        frozenset({"uvloop", "hdrh", "httptools"}),
    ),
    Room(
        "_apply",
        "any Twisted program: the server child, a shimmed program, harness.serve",
        frozenset({"_values", "_ipc"}),
        frozenset({"twisted", "uvloop"}),
    ),
    Room(
        "serve",
        "a user's Twisted program; public, harness/serve.py",
        frozenset({"_values", "_apply"}),
        frozenset({"twisted"}),
    ),
    Room(
        "_server",
        "the server child",
        frozenset({"_values", "_ipc", "_apply", "serve"}),
        frozenset({"twisted", "zope", "uvloop", "httptools"}),
    ),
    # hdrh: reading stored latency histograms back (`_run.spectrum`).
    Room(
        "_run",
        "the caller's process",
        frozenset({"_values", "_ipc"}),
        frozenset({"psutil", "hdrh"}),
    ),
    Room(
        "face",
        "the caller's process; harness/__init__.py, lazy",
        frozenset({"_values", "_ipc", "_loadgen", "_apply", "serve", "_server", "_run"}),
    ),
)
ROOMS_BY_NAME = {room.name: room for room in ROOMS}
# Top-level modules are rooms of their own; a new one must be placed here or in a folder.
TOP = {"__init__": "face", "serve": "serve"}
# Modules held to less than their room allows (they may not import their own room either):
# the reference servers give the ceiling of what Python does without Twisted.
NARROWER = {
    "_server.reference": Room("_server.reference", "reference mode", frozenset({"_ipc"})),
    "_server.reference_http": Room(
        "_server.reference_http", "reference mode", frozenset({"_ipc"}), frozenset({"httptools"})
    ),
}
# Not third-party: the standard library's own names, and typeshed's (TYPE_CHECKING only).
STDLIB = frozenset(sys.stdlib_module_names) | {"__future__", "_typeshed"}


def modules(harness: Path = HARNESS) -> dict[str, Path]:
    """ "_values.settings" -> its file, for every module of the harness package at `harness`
    (a room's `__init__.py` is the room's own name; the shim's folder counts as a module's)."""
    found = {}
    for path in sorted(harness.rglob("*.py")):
        parts = path.relative_to(harness).with_suffix("").parts
        name = (
            ".".join(parts[:-1]) if parts[-1] == "__init__" and len(parts) > 1 else ".".join(parts)
        )
        found[name] = path
    return found


def rooms(found: dict[str, Path], harness: Path = HARNESS) -> dict[str, str | None]:
    """Each module's room: its folder's, or for a top-level file its `TOP` entry; None: in
    no room."""
    placed: dict[str, str | None] = {}
    for module, path in found.items():
        parts = path.relative_to(harness).parts
        if len(parts) == 1:
            placed[module] = TOP.get(module)
        else:
            folder = parts[0]
            placed[module] = folder if folder in ROOMS_BY_NAME and folder not in TOP else None
    return placed


def imports(path: Path, module: str, known: set[str]) -> tuple[set[str], set[str]]:
    """(harness modules, other top-level packages) that `path` (the module `module`)
    imports, at any depth, TYPE_CHECKING blocks included. `known` are harness's modules:
    `from harness._run import trial` imports `_run.trial`, `from harness import Settings`
    imports the face, `__init__`."""
    inside: set[str] = set()
    outside: set[str] = set()
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    package = [] if module == "__init__" else package
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [(alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package this module is in
                up = package[: len(package) - node.level + 1]
                base = ".".join(["harness", *up, *([base] if base else [])])
            targets = [(base, tuple(alias.name for alias in node.names))]
        else:
            continue
        for name, members in targets:
            if name != "harness" and not name.startswith("harness."):
                outside.add(name.split(".")[0])
                continue
            inner = name.removeprefix("harness").removeprefix(".")
            submodules = [f"{inner}.{m}".lstrip(".") for m in members]
            found = [m for m in submodules if m in known]
            if found:
                inside.update(found)
            if not found or len(found) < len(members):  # a name, not a module
                inside.add(inner or "__init__")
    inside.discard(module)
    return inside, outside - STDLIB


def test_every_module_is_in_a_room() -> None:
    unplaced = sorted(m for m, room in rooms(modules()).items() if room is None)
    assert not unplaced, f"harness modules in no room (add a folder or TOP): {unplaced}"


def test_every_room_has_modules() -> None:
    assert {room.name for room in ROOMS} <= set(rooms(modules()).values())


def test_each_module_imports_only_what_its_room_allows() -> None:
    found = modules()
    placed = rooms(found)
    wrong = []
    for module, path in found.items():
        own = placed[module]
        if own is None:
            continue  # test_every_module_is_in_a_room says so
        rule = NARROWER.get(module, ROOMS_BY_NAME[own])
        allowed = rule.rooms if module in NARROWER else rule.rooms | {own}
        inside, outside = imports(path, module, set(found))
        for imported in sorted(inside):
            room = placed[imported]
            if room not in allowed:
                wrong.append(f"harness.{module} ({own}) imports harness.{imported} ({room})")
        for package in sorted(outside - rule.packages):
            wrong.append(f"harness.{module} ({own}) imports {package}")
    assert not wrong, "\n".join(wrong)


def test_the_load_generator_may_reach_neither_twisted_nor_psutil() -> None:
    # A rule on ROOMS itself, the one a change is likeliest to loosen: the load generator's
    # CPU seconds are what a trial charges its client, and it starts in every trial. Not
    # its room, nor any room it may import, allows either.
    rule = ROOMS_BY_NAME["_loadgen"]
    for room in [rule, *(ROOMS_BY_NAME[name] for name in rule.rooms)]:
        assert not {"twisted", "psutil"} & room.packages, room.name


def test_the_face_names_each_public_name_once_with_its_home() -> None:
    # harness/__init__.py's `_HOMES` table and its TYPE_CHECKING imports say the same thing.
    tree = ast.parse((HARNESS / "__init__.py").read_text())
    homes: dict[str, str] = {}
    typed: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_HOMES" for t in node.targets
        ):
            homes = ast.literal_eval(node.value)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom), ast.unparse(statement)
                for alias in statement.names:
                    assert alias.asname in (None, alias.name), ast.unparse(statement)
                    assert alias.name not in typed, alias.name
                    typed[alias.name] = str(statement.module).removeprefix("harness.")
    assert homes, "harness/__init__.py has no _HOMES table"
    assert typed == homes
    known = set(modules())
    assert {home for home in homes.values() if home not in known} == set()


def test_the_check_sees_every_kind_of_import(tmp_path: Path) -> None:
    # The rule is only as good as the parser behind it: a function-level import counts,
    # and so does a module imported by `from harness._x import module` or relatively.
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import typing\n"
        "if typing.TYPE_CHECKING:\n    from harness import Settings\n"
        "def f():\n    from harness._run import trial\n    import psutil.tests\n"
        "from . import clients\nfrom .pacer import Pacer\nfrom .._ipc.wire import x\n"
    )
    known = {"_run.trial", "_loadgen.clients", "_loadgen.pacer", "_ipc.wire"}
    assert imports(probe, "_loadgen.probe", known) == (
        {"__init__", "_run.trial", "_loadgen.clients", "_loadgen.pacer", "_ipc.wire"},
        {"psutil"},
    )


def print_graph(harness: Path) -> None:
    """Each room with its modules (lines, and what each imports), then the imports between
    rooms; modules in no room come last, as one group."""
    found = modules(harness)
    placed = {module: room or "no room" for module, room in rooms(found, harness).items()}
    groups: dict[str, list[str]] = {}
    for module in found:
        groups.setdefault(placed[module], []).append(module)
    order = [room.name for room in ROOMS if room.name in groups]
    order += ["no room"] if "no room" in groups else []
    edges: Counter[tuple[str, str]] = Counter()
    packages: dict[str, set[str]] = {name: set() for name in order}
    print(f"harness: {len(found)} modules, {_lines(found.values())} lines")
    for name in order:
        members = sorted(groups[name])
        room = ROOMS_BY_NAME.get(name)
        title = f"{name} ({room.runs_in})" if room else name
        print(f"\n{title}: {len(members)} modules, {_lines(found[m] for m in members)} lines")
        if room:
            allowed = sorted(room.rooms) + sorted(room.packages)
            print(f"    may import: stdlib, its own room, {', '.join(allowed) or 'nothing else'}")
        for module in members:
            inside, outside = imports(found[module], module, set(found))
            packages[name] |= outside
            for imported in inside:
                edges[(name, placed[imported])] += 1
            uses = ", ".join(sorted(inside) + sorted(outside)) or "-"
            print(f"    {module:<28} {_lines([found[module]]):>5}  -> {uses}")
    print("\nimports between rooms (count of module -> module imports):")
    for name in order:
        out = sorted((to, n) for (source, to), n in edges.items() if source == name != to)
        rooms_text = ", ".join(f"{to} ({n})" for to, n in out) or "-"
        third = ", ".join(sorted(packages[name])) or "-"
        print(f"    {name:<9} -> {rooms_text}; third-party: {third}")


def _lines(paths: Iterable[Path]) -> int:
    return sum(len(path.read_text().splitlines()) for path in paths)


if __name__ == "__main__":
    print_graph(Path(sys.argv[1]) if len(sys.argv) > 1 else HARNESS)
