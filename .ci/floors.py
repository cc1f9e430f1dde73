"""The lowest versions pyproject.toml allows for each direct dependency, as pip constraints.

`make test-floors` installs the project against these and runs a fast subset of the tests, so
every lower bound in pyproject.toml is one the code was run with (issue: floors that hold).
torch is the exception: it stays at the CPU wheel this machine kind has on disk (TORCH_SPEC).

  python .ci/floors.py constraints pyproject.toml --torch 'torch==2.13.0'   # pip -c file
  python .ci/floors.py check pyproject.toml --torch 'torch==2.13.0'         # installed == floor
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest brings tomli there
    import tomli as tomllib


def floors(pyproject: Path) -> dict[str, str]:
    """{package: lowest version} for every direct dependency (dev extras included)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements += [r for r in extra if not r.startswith(project["name"])]
    lowest: dict[str, str] = {}
    for text in requirements:
        requirement = Requirement(text)
        bounds = [s.version for s in requirement.specifier if s.operator in (">=", "==", "~=")]
        if not bounds:
            raise SystemExit(f"{text!r} in {pyproject} has no lower bound: give it one")
        lowest[canonicalize_name(requirement.name)] = bounds[0]
    return lowest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["constraints", "check"])
    parser.add_argument("pyproject", type=Path)
    parser.add_argument("--torch", required=True, help="the torch requirement that replaces it")
    args = parser.parse_args()
    pinned = floors(args.pyproject)
    torch = Requirement(args.torch)
    pinned["torch"] = str(next(iter(torch.specifier)).version)
    if args.action == "constraints":
        for name, version in sorted(pinned.items()):
            print(f"{name}=={version}")
        return 0
    wrong = []
    for name, version in sorted(pinned.items()):
        installed = metadata.version(name)
        print(f"{name:40} floor {version:12} installed {installed}")
        if Version(installed.split("+")[0]) != Version(version):
            wrong.append(f"{name} {installed} (floor {version})")
    if wrong:
        print("not at their floor: " + ", ".join(wrong), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
