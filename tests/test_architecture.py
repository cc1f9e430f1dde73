"""The package's architecture, held by the code rather than by habit: the sizes the layout
promises, the one edge (`cli/`), each wing importing only what its docstring says, no import
cycles, a plugin that stands alone, and every rule file matched by a `cli/` module of its name.

Each failure names the file and line to change. The limits are the ones the layout was built to
(README.md, *Where the code is*); raising one is a decision to write down there, not a fix.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "telepathy"
PLUGIN = REPO / "snakemake_executor_plugin_submitit"
RULES = REPO / "workflow" / "rules"

MAX_TOP_LEVEL_MODULES = 10  # __init__ and __main__ included
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
# Every wing may import these (atomic writes, provenance and digests, progress in logs): the
# package's foundation.
FOUNDATION = {
    "telepathy.results.atomic",
    "telepathy.results.provenance",
    "telepathy.results.progress",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules(root: Path = PACKAGE) -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(root.rglob("*.py"))}


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _type_checking_lines(path: Path) -> set[int]:
    """The lines inside `if TYPE_CHECKING:` blocks (imports for annotations only)."""
    lines: set[int] = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, child.end_lineno + 1))
    return lines


def _imports(path: Path, runtime_only: bool = False) -> list[tuple[str, list[str], int]]:
    """(module, imported names, line) of every import, lazy ones included, and TYPE_CHECKING
    ones unless `runtime_only`; relative imports resolved against the module's package."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    skip = _type_checking_lines(path) if runtime_only else set()
    found = []
    for node in ast.walk(_tree(path)):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            found.append((module, [alias.name for alias in node.names], node.lineno))
    return found


def _targets(path: Path, runtime_only: bool = False) -> list[tuple[str, int]]:
    """The telepathy modules a file imports (`from telepathy.x import y` counts y when y is a
    module), with the line."""
    modules = _modules()
    targets = []
    for module, names, line in _imports(path, runtime_only):
        if not module.startswith("telepathy"):
            continue
        subs = [f"{module}.{name}" for name in names if f"{module}.{name}" in modules]
        targets += [(t, line) for t in subs or [module]]
    return targets


def _wing(module: str) -> str | None:
    """`telepathy.<wing>...` -> wing (a sub-package or a top-level module)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "telepathy" else None


def _relative(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_the_top_level_holds_at_most_ten_modules():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, f"telepathy/ has {len(top)} modules: {top}"


@pytest.mark.parametrize("root", [PACKAGE, PLUGIN], ids=["telepathy", "plugin"])
def test_no_module_is_over_400_lines(root):
    long = {
        _relative(p): n
        for p in root.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}, f"split these (more than {MAX_MODULE_LINES} lines): {long}"


@pytest.mark.parametrize("root", [PACKAGE, PLUGIN], ids=["telepathy", "plugin"])
def test_no_function_is_over_80_lines(root):
    long = [
        f"{_relative(p)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for p in root.rglob("*.py")
        for node in ast.walk(_tree(p))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []


@pytest.mark.parametrize("root", [PACKAGE, PLUGIN], ids=["telepathy", "plugin"])
def test_no_module_imports_a_private_name_of_another(root):
    private = [
        f"{_relative(p)}:{line} imports {name} from {module}"
        for p in root.rglob("*.py")
        for module, names, line in _imports(p)
        if module.startswith(("telepathy", "snakemake_executor_plugin_submitit"))
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert private == [], "make the name public where it is shared, or move the code"


def test_only_cli_parses_arguments_and_nothing_below_it_imports_it():
    offenders = [
        f"{_relative(p)}:{line} imports {module}"
        for name, p in _modules().items()
        if not name.startswith("telepathy.cli") and name != "telepathy.__main__"
        for module, _, line in _imports(p)
        if module == "argparse" or module.startswith("telepathy.cli")
    ]
    assert offenders == [], "argument parsing and the commands live in telepathy/cli/ only"


def test_the_plugin_imports_nothing_from_telepathy():
    offenders = [
        f"{_relative(p)}:{line} imports {module}"
        for p in PLUGIN.rglob("*.py")
        for module, _, line in _imports(p)
        if module.split(".")[0] == "telepathy"
    ]
    # an import by name (importlib, __import__) would slip past the import statements
    mentions = [
        f"{_relative(p)}:{node.lineno} names {node.value!r}"
        for p in PLUGIN.rglob("*.py")
        for node in ast.walk(_tree(p))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and re.fullmatch(r"telepathy(\.[\w.]+)?", node.value)
    ]
    assert offenders == [] and mentions == [], offenders + mentions


def _declared_imports(wing: Path) -> set[str]:
    doc = ast.get_docstring(_tree(wing / "__init__.py")) or ""
    assert "Owns:" in doc, f"{_relative(wing)}/__init__.py does not say what it owns (Owns: ...)"
    match = re.search(r"May import:(.*?)(?:\.\s*$|\.\s*\n\n|\Z)", doc, flags=re.S)
    assert match, f"{_relative(wing)}/__init__.py does not say what it may import"
    text = match.group(1)
    if "every other part" in text:
        return {_wing(m) for m in _modules()} - {None}
    return set(re.findall(r"\b([a-z_]+)\b", re.sub(r"\([^)]*\)", "", text))) - {"nothing"}


WINGS = sorted(p.parent for p in PACKAGE.glob("*/__init__.py"))


@pytest.mark.parametrize("wing", WINGS, ids=[w.name for w in WINGS])
def test_each_wing_says_what_it_owns_and_imports_only_what_it_says(wing):
    allowed = _declared_imports(wing) | {wing.name}
    unknown = allowed - {_wing(m) for m in _modules()} - {None}
    assert unknown == set(), f"{wing.name}'s docstring names no such part: {sorted(unknown)}"
    undeclared = [
        f"{_relative(p)}:{line} imports {target}"
        for name, p in _modules().items()
        if _wing(name) == wing.name
        for target, line in _targets(p)
        if target not in FOUNDATION and _wing(target) not in allowed
    ]
    assert undeclared == [], f"not in {wing.name}'s 'May import:' list"


def test_the_modules_import_each_other_without_a_cycle():
    graph = {
        name: {t for t, _ in _targets(path, runtime_only=True) if t != name and t in _modules()}
        for name, path in _modules().items()
    }
    # a package's __init__ re-exporting its own modules is not a dependency of theirs
    graph = {
        name: {t for t in targets if not name.startswith(t + ".")}
        for name, targets in graph.items()
    }
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            cycle = (*path[path.index(name) :], name)
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, (*path, name))
        done.add(name)

    for name in sorted(graph):
        visit(name, ())


def _commands_called(rule_file: Path) -> set[str]:
    """The `telepathy <command>` names a rule file's shell lines call (a rule that takes its
    command from params names it as `command="..."`)."""
    text = rule_file.read_text()
    called = set(re.findall(r"python -m telepathy ([a-z][a-z-]+)", text))
    called |= set(re.findall(r'command="([a-z][a-z-]+)"', text))
    return called


STAGES = sorted(p.stem for p in RULES.glob("*.smk") if p.stem != "common")


def test_every_rule_file_has_a_cli_module_of_its_name_and_the_reverse():
    # submit.py and warm.py run the workflow itself (the driver as a SLURM job, or beside a
    # warm job server): no rule calls them
    cli = {p.stem for p in (PACKAGE / "cli").glob("*.py")} - {"__init__", "args", "submit", "warm"}
    assert set(STAGES) == cli, "workflow/rules/<stage>.smk and telepathy/cli/<stage>.py pair up"


@pytest.mark.parametrize("stage", STAGES)
def test_a_rule_calls_only_commands_of_its_stage_s_cli_module(stage):
    import importlib

    module = importlib.import_module(f"telepathy.cli.{stage}")
    registered = {command.name for command in module.COMMANDS}
    called = _commands_called(RULES / f"{stage}.smk")
    assert called, f"workflow/rules/{stage}.smk calls no telepathy command"
    assert called <= registered, (
        f"workflow/rules/{stage}.smk calls {sorted(called - registered)}, which "
        f"telepathy/cli/{stage}.py does not register ({sorted(registered)})"
    )


def test_the_command_table_is_the_only_registration():
    from telepathy.cli import COMMANDS
    from telepathy.cli import STAGES as CLI_STAGES

    names = [command.name for stage in CLI_STAGES for command in stage.COMMANDS]
    assert len(names) == len(set(names)) == len(COMMANDS)
    sources = [p for p in (PACKAGE / "cli").glob("*.py")]
    stray = [
        f"{_relative(p)}:{n}"
        for p in sources
        for n, line in enumerate(p.read_text().splitlines(), start=1)
        if "add_parser(" in line and p.name != "__init__.py"
    ]
    assert stray == [], "commands are added to the parser in cli/__init__.py only"


def _readme_output_rows() -> list[list[str]]:
    """The rows of README.md's output table (*Where the code is*) as cells."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("| output | rule") :].split("\n\n")[0]
    return [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines()[2:]]


def test_the_readme_names_every_product_with_its_rule_and_command():
    from telepathy.grid.products import CATALOGUE

    rows = _readme_output_rows()
    listed = " ".join(row[0] for row in rows)
    assert [name for name in CATALOGUE if name not in listed] == []
    for output, rule_cell, command_cell, _ in rows:
        for cell, suffix in ((rule_cell, ".smk"), (command_cell, ".py")):
            stage = re.search(r"\((\w+)\)$", cell)
            if stage is None:  # the plan: no rule makes it
                continue
            names = re.findall(r"`([a-z_<>-]+)`", cell)
            if suffix == ".smk":
                text = (RULES / f"{stage.group(1)}.smk").read_text()
                for name in names:
                    pattern = re.escape(name).replace("<method>", r"\w+")
                    assert re.search(rf"^(use )?rule {pattern}\b", text, re.M), (output, name)
            else:
                import importlib

                module = importlib.import_module(f"telepathy.cli.{stage.group(1)}")
                registered = {c.name for c in module.COMMANDS}
                assert set(names) <= registered, (output, names, registered)
