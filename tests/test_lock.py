"""The whole dependency tree is locked (issue 15): requirements/dev.lock is what `make dev` and
`make test` install, requirements/runtime.lock what the image installs. Both are made by
`make lock` from pyproject.toml; these tests fail when a pin in pyproject.toml and the locks
part, when the image's lock carries the dev stack, and when this environment is not the lock.
"""

from __future__ import annotations

import importlib.metadata as md
import operator
import platform
import re
import shlex
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV_LOCK = ROOT / "requirements" / "dev.lock"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.lock"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


PIN = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(?P<version>\S+)")
CLAUSE = re.compile(r"(?P<var>\w+) (?P<op>==|!=|<=|>=|<|>) '(?P<value>[^']*)'")
OPS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le}
OPS |= {">": operator.gt, ">=": operator.ge}


def _requirement(text: str) -> tuple[str, str, str]:
    """``name==1.2 ; marker`` -> (normalised name, version, marker); only exact pins."""
    pin, _, marker = text.partition(";")
    match = PIN.fullmatch(pin.strip())
    assert match, f"not an exact pin: {text}"
    return _norm(match["name"]), match["version"], marker.strip()


def _applies(marker: str) -> bool:
    """The markers uv writes here (`or` of `and` of `var op 'value'`), for this interpreter."""
    if not marker:
        return True
    here = {
        "python_full_version": platform.python_version(),
        "sys_platform": sys.platform,
        "platform_system": platform.system(),
        "implementation_name": sys.implementation.name,
        "platform_python_implementation": platform.python_implementation(),
    }

    def clause(text: str) -> bool:
        match = CLAUSE.fullmatch(text.strip())
        assert match and match["var"] in here, f"marker not understood: {text}"
        have, want = here[match["var"]], match["value"]
        if match["var"] == "python_full_version":
            as_tuple = lambda v: tuple(int(p) for p in re.findall(r"\d+", v)[:3])  # noqa: E731
            return OPS[match["op"]](as_tuple(have), as_tuple(want))
        return OPS[match["op"]](have, want)

    return any(all(clause(c) for c in part.split(" and ")) for part in marker.split(" or "))


def _lock(path: Path) -> dict[str, list[tuple[str, str]]]:
    """name -> [(version, marker)]; a package may be pinned twice under exclusive markers."""
    pins: dict[str, list[tuple[str, str]]] = {}
    for line in path.read_text().splitlines():
        if not line or line[0] in " #":
            continue
        name, version, marker = _requirement(line)
        pins.setdefault(name, []).append((version, marker))
    return pins


def _here(pins: list[tuple[str, str]]) -> list[str]:
    """The versions that apply to this interpreter and platform."""
    return [version for version, marker in pins if _applies(marker)]


def _pyproject() -> dict[str, dict[str, str]]:
    """group -> {name: pinned version} as pyproject.toml declares them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {"runtime": project["dependencies"], **project["optional-dependencies"]}
    out: dict[str, dict[str, str]] = {}
    for group, reqs in groups.items():
        out[group] = {}
        for text in reqs:
            if text.startswith(project["name"] + "["):
                continue  # dev pulls in devstack by naming the project
            name, version, _ = _requirement(text)
            out[group][name] = version
    return out


def test_every_pin_of_pyproject_is_the_pin_of_the_dev_lock() -> None:
    lock = _lock(DEV_LOCK)
    wrong = [
        f"{group}: {name}=={version} but dev.lock has {lock.get(name)}"
        for group, pins in _pyproject().items()
        for name, version in pins.items()
        if [v for v, _ in lock.get(name, [])] != [version]
    ]
    assert not wrong, "run `make lock`:\n" + "\n".join(wrong)


def test_the_runtime_lock_is_the_runtime_part_of_the_dev_lock() -> None:
    dev, runtime = _lock(DEV_LOCK), _lock(RUNTIME_LOCK)
    declared = _pyproject()
    for name, version in declared["runtime"].items():
        assert [v for v, _ in runtime.get(name, [])] == [version], (name, runtime.get(name))
    for name, pins in runtime.items():
        assert sorted(v for v, _ in pins) == sorted(v for v, _ in dev.get(name, [])), name
    dev_only = (set(declared["dev"]) | set(declared["devstack"])) - set(declared["runtime"])
    assert not dev_only & set(runtime), "the image's lock carries the dev stack"


def test_the_locks_are_made_by_make_lock() -> None:
    """The header of each lock is the command the Makefile's `lock` target runs."""
    makefile = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    for lock in (DEV_LOCK, RUNTIME_LOCK):
        header = lock.read_text().splitlines()[1].lstrip("# ").strip()
        made = [
            shlex.split(line.strip().removeprefix("$(BIN)/").replace(" --quiet", ""))
            for line in makefile.splitlines()
            if "uv pip compile" in line and f"-o requirements/{lock.name}" in line
        ]
        assert made == [shlex.split(header)], (lock.name, header)


def test_this_environment_is_the_dev_lock() -> None:
    """What `make install` installed is what the lock says (uv or pip honoured it)."""
    wrong = []
    for name, pins in _lock(DEV_LOCK).items():
        wanted = _here(pins)
        if not wanted:
            continue  # another platform's package (pywin32, colorama on Windows)
        try:
            have = md.version(name)
        except md.PackageNotFoundError:
            have = "missing"
        if have != wanted[0]:
            wrong.append(f"{name}: lock {wanted[0]}, installed {have}")
    assert not wrong, "run `make install`:\n" + "\n".join(wrong)


def test_the_image_installs_the_runtime_lock() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    text = " ".join(line.rstrip("\\") for line in lines if not line.startswith("#"))
    assert "COPY requirements/runtime.lock" in text
    assert re.search(r"pip install (--\S+ )*-r \S*runtime\.lock", text), text
    assert re.search(r"pip install (--\S+ )*--no-deps /tmp/src", text), text
