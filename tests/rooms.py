"""Which of the repository's folders are the product and which are dev tooling: the product is what
pyproject.toml installs (its packages and modules) and the image copies; the rest never ships. The
tests that scan "the product's code" take their list from here, so a new product package is scanned
as soon as pyproject.toml installs it."""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]

# The top-level packages and modules the product installs: plan, workflows, …, worker, starter.
PRODUCT = frozenset({p.split(".")[0] for p in SETUPTOOLS["packages"]} | set(SETUPTOOLS["py-modules"]))
# Dev tooling, by what it is: the fakes, the local stack and the demo, the tests, the benchmarks,
# the deploy files' checks and generators (deploy/*.py). `demo` is the demo's old top-level name.
DEV = frozenset({"sandbox", "devstack", "tests", "benchmarks", "deploy", "demo"})


def python_files(names: Iterable[str], root: Path = ROOT) -> list[Path]:
    """Every .py file of the named top-level packages and modules under `root`."""
    files = []
    for name in sorted(names):
        if (root / f"{name}.py").is_file():
            files.append(root / f"{name}.py")
        elif (root / name).is_dir():
            files += sorted((root / name).rglob("*.py"))
    return files


def product_sources() -> list[Path]:
    """Every .py file the product ships."""
    return python_files(PRODUCT)


def imports(path: Path) -> set[str]:
    """The top-level names a module imports, anywhere in it (inside functions too), absolute only."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def imports_of(paths: Iterable[Path], names: Iterable[str], root: Path = ROOT) -> list[str]:
    """`file: name` for each import of one of `names` in `paths`."""
    wanted = set(names)
    return [f"{path.relative_to(root)}: {name}" for path in paths for name in sorted(imports(path) & wanted)]


def third_party(paths: Iterable[Path]) -> dict[str, set[str]]:
    """Imported top-level name → the files importing it, for names neither the standard library's
    nor the repository's own."""
    ours = PRODUCT | DEV
    found: dict[str, set[str]] = {}
    for path in paths:
        for name in imports(path) - set(sys.stdlib_module_names) - ours:
            found.setdefault(name, set()).add(
                str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
            )
    return found


def requirement_closure(requirements: Iterable[str]) -> set[str]:
    """The distributions (canonical names) the requirements install: themselves and, transitively,
    what each requires for this platform and for the extras asked of it."""
    seen: set[str] = set()
    todo = [(Requirement(r), {""}) for r in requirements]
    while todo:
        requirement, extras = todo.pop()
        if requirement.marker and not any(requirement.marker.evaluate({"extra": e}) for e in extras):
            continue
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(requirement.name) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed here: it provides nothing the check could map a name to
        todo += [(Requirement(r), {"", *requirement.extras}) for r in requires]
    return seen


def undeclared(paths: Iterable[Path], requirements: Iterable[str]) -> list[str]:
    """`name (distribution) in files` for each third-party import in `paths` that no distribution of
    `requirements` (or what they pull in) provides."""
    allowed = requirement_closure(requirements)
    providers = importlib.metadata.packages_distributions()
    problems = []
    for name, files in sorted(third_party(paths).items()):
        dists = {canonicalize_name(d) for d in providers.get(name, [])}
        if not dists & allowed:
            problems.append(
                f"{name} ({', '.join(sorted(dists)) or 'not installed'}) in {', '.join(sorted(files))}"
            )
    return problems
