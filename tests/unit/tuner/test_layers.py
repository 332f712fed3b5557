"""tuner's layers, read from its source with `ast`: no module imports a higher layer, no
command imports another command, rich and Optuna stay in their modules.

Run as a script, it prints tuner's import graph layer by layer, for this
checkout or another one's tuner folder (modules in no layer come last):

    python tests/unit/tuner/test_layers.py [path/to/tuner]
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

TUNER = Path(__file__).resolve().parents[3] / "tuner"

# Lowest first. A module may import tuner modules of its own layer or below.
LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    (
        "values and statistics",
        frozenset(
            {
                "_errors",
                "_objectives",
                "_statistics",
                "_words",
                "_measurement",
                "_atomic_file",
                "_convergence",
                "_outage",
                "_stacks",
            }
        ),
    ),
    (
        "study parts",
        frozenset(
            {
                "_space",
                "_owners",
                "_hosts",
                "_records",
                "_optuna",
                "_pruning",
                "_lease_keeper",
                "_intensify",
            }
        ),
    ),
    ("study phases", frozenset({"_gate", "_ceiling", "_strategies", "_transfer", "_settle"})),
    ("study configuration", frozenset({"_config"})),
    ("study set-up, trials and results", frozenset({"_prepare", "_study", "_results", "_probe"})),
    ("confirmation and profile", frozenset({"_confirm", "_profile"})),
    ("command data", frozenset({"_report", "_analysis", "_paired_view", "_plot_data"})),
    ("renderers", frozenset({"_json", "_terminal", "_html", "_svg"})),
    ("shared flags and exit codes", frozenset({"_commands", "_commands._common"})),
    (
        "commands",
        frozenset(
            {
                "_commands.tune",
                "_commands.confirm",
                "_commands.report",
                "_commands.export",
                "_commands.analyze",
                "_commands.measure",
                "_commands.profile",
                "_commands.strategies",
                "_commands.run",
                "_commands.worker",
            }
        ),
    ),
    ("entry point", frozenset({"_cli"})),
    ("face", frozenset({"__init__", "__main__"})),
)
COMMANDS = dict(LAYERS)["commands"]
# Third-party packages only these modules may import.
CONTAINED = {
    "rich": frozenset({"_terminal"}),
    "optuna": frozenset(
        {"_optuna", "_pruning", "_space", "_settle", "_prepare", "_study", "_results"}
    ),
}


def layer_of(module: str) -> int:
    for number, (_, modules) in enumerate(LAYERS):
        if module in modules:
            return number
    raise AssertionError(f"tuner.{module} is in no layer: add it to LAYERS")


def modules(tuner: Path = TUNER) -> dict[str, Path]:
    """ "_commands.tune" -> its file, for every module of the tuner package at `tuner`."""
    found = {}
    for path in sorted(tuner.rglob("*.py")):
        parts = path.relative_to(tuner).with_suffix("").parts
        name = (
            ".".join(parts[:-1]) if parts[-1] == "__init__" and len(parts) > 1 else ".".join(parts)
        )
        found[name] = path
    return found


def imports(path: Path) -> tuple[set[str], set[str]]:
    """(tuner modules, other top-level packages) that `path` imports, at any depth,
    TYPE_CHECKING blocks included."""
    inside: set[str] = set()
    outside: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "tuner":
                inside |= {a.name for a in node.names if a.name.startswith("_")}
                continue
            if node.module == "tuner._commands":
                inside |= {f"_commands.{a.name}" for a in node.names}
                continue
            names = [node.module]
        for name in names:
            if name.startswith("tuner."):
                inside.add(name.removeprefix("tuner."))
            else:
                outside.add(name.split(".")[0])
    return inside, outside


def test_every_module_has_a_layer() -> None:
    for module in modules():
        layer_of(module)


def test_no_module_imports_a_higher_layer() -> None:
    wrong = []
    for module, path in modules().items():
        for imported in imports(path)[0]:
            if layer_of(imported) > layer_of(module):
                wrong.append(f"tuner.{module} imports tuner.{imported}")
    assert not wrong, wrong


def test_commands_import_no_other_command_nor_the_entry_point() -> None:
    wrong = []
    for module, path in modules().items():
        if module in COMMANDS:
            for imported in imports(path)[0] & (COMMANDS | {"_cli"}):
                wrong.append(f"tuner.{module} imports tuner.{imported}")
    assert not wrong, wrong


def test_rich_and_optuna_stay_in_their_modules() -> None:
    wrong = []
    for module, path in modules().items():
        for package in imports(path)[1] & set(CONTAINED):
            if module not in CONTAINED[package]:
                wrong.append(f"tuner.{module} imports {package}")
    assert not wrong, wrong


def test_the_check_sees_an_import_that_points_up(tmp_path: Path) -> None:
    # The rule is only as good as the parser behind it: a function-level import counts.
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from tuner._commands import tune\n    import rich.table\n")
    assert imports(probe) == ({"_commands.tune"}, {"rich"})


if __name__ == "__main__":
    found = modules(Path(sys.argv[1]) if len(sys.argv) > 1 else TUNER)
    placed: set[str] = set().union(*(members for _, members in LAYERS))
    groups = [(f"L{n} {title}", members) for n, (title, members) in enumerate(LAYERS)]
    for title, members in [*groups, ("no layer", frozenset(found) - placed)]:
        if members & set(found):
            print(title)
        for module in sorted(members & set(found)):
            below = sorted(imports(found[module])[0])
            print(f"    tuner.{module} -> {', '.join(below) or '-'}")
