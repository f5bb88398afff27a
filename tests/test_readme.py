"""Issue 15: the README runs as written. Every fenced ``sh`` block of README.md runs, in order,
against a real stack started the way `make dev` starts it (`lifecycles dev`, free ports, a
temporary folder), after `source .lifecycles/env`, and exits 0. The markers a block may carry
are documented in docs/readme-examples.md:

- ``# needs: docker`` (any ``# needs: ...``) as a block's first line: the block is skipped;
- ``# (long-running)`` in a line's comment: that line is skipped (`make dev`, `make test`).

Each `lifecycles ...` line runs in a process of its own forked from one that imported the CLI
once (tests/cli_forks.py ``--socket``; docs/testing.md): the blocks' shell calls a function
``lifecycles`` that first checks the env file put `lifecycles` on PATH, then hands its
arguments, environment, folder, stdin, stdout and stderr to that process, whose child runs the
console script's ``main()`` and answers its exit code. The CLI's import in a fresh interpreter
is proven by tests/test_entry_points.py and by `lifecycles dev` itself.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.long  # started first (tests/conftest.py): off the tail

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
LONG_RUNNING = "# (long-running)"
NEEDS = re.compile(r"^#\s*needs:\s*(\S.*)$")
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
BLOCK_SECONDS = 300  # a hang guard per block, not a timing check (one took 120+ s at load 15)


@dataclass
class Block:
    line: int  # where the block starts in README.md
    code: str
    needs: str | None


def readme_blocks(text: str) -> list[Block]:
    """The fenced ``sh`` blocks, long-running lines removed."""
    blocks = []
    for m in re.finditer(r"^```(?:sh|bash|shell)[ \t]*\n(.*?)^```[ \t]*$", text, re.M | re.S):
        lines = m.group(1).splitlines()
        first = lines[0].strip() if lines else ""
        needs = NEEDS.match(first)
        kept = []
        for i, line in enumerate(lines):
            if LONG_RUNNING in line:
                assert not line.rstrip().endswith("\\") and not (
                    i and lines[i - 1].rstrip().endswith("\\")
                ), f"README.md: {LONG_RUNNING} marks a line of a multi-line command: {line!r}"
                continue
            kept.append(line)
        start = text.count("\n", 0, m.start()) + 1
        blocks.append(Block(start, "\n".join(kept), needs.group(1) if needs else None))
    return blocks


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


@dataclass
class Stack:
    home: Path  # the folder a user would run `make dev` in
    env: dict[str, str]  # the environment of a fresh terminal there
    log: Path
    cli_socket: str = ""  # tests/cli_forks.py --socket: where `lifecycles` lines are run


@contextlib.contextmanager
def _cli_fork_server(env: dict[str, str]) -> Iterator[str]:
    """tests/cli_forks.py ``--socket`` in the fresh terminal's environment: the address of
    the process that forks a `lifecycles` run per call (stopped by closing its stdin)."""
    folder = tempfile.mkdtemp(prefix="lc-readme-")  # short: a socket's path has a limit
    path = os.path.join(folder, "cli.sock")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "cli_forks.py"), "--socket", path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        cwd=ROOT,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "ready", "the cli_forks socket server died"
        yield path
    finally:
        proc.stdin.close()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def dev_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`lifecycles dev` (what `make dev` runs) in a temporary folder holding `examples/`."""
    home = tmp_path_factory.mktemp("readme")
    (home / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    api, temporal, ui = _free_port(), _free_port(), _free_port()
    # A fresh terminal: nothing of ours on PATH, no LIFECYCLES_* or TEMPORAL_* of the caller.
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LIFECYCLES_", "TEMPORAL_", "VIRTUAL_ENV", "PYTEST", "COV_"))
    }
    base["PATH"] = SYSTEM_PATH
    dev_env = {
        **base,
        "LIFECYCLES_DATA_DIR": str(home / ".lifecycles"),
        "LIFECYCLES_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal}",
        "LIFECYCLES_UI_PORT": str(ui),
        "LIFECYCLES_API_BIND": f"127.0.0.1:{api}",
        "LIFECYCLES_METRICS_BIND": "",
    }
    log = home / "dev.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "lifecycles"), "dev"],
            cwd=home,
            env=dev_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        env_file = home / ".lifecycles" / "env"
        while not (env_file.exists() and _port_open(api) and "worker started" in log.read_text()):
            if proc.poll() is not None:
                pytest.fail(f"lifecycles dev exited {proc.returncode}:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"lifecycles dev not up in 180 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        with _cli_fork_server(base) as cli_socket:
            yield Stack(home, base, log, cli_socket)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C, as a user stops it
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _script(block: Block, state: Path, cli_socket: str) -> str:
    """One block as a user's terminal runs it: the env file sourced, the variables of the
    blocks before it kept (exported, then saved again for the next block). `lifecycles` is
    run by the fork server (see the module's docstring), once the env file has put the
    installed script on PATH."""
    forks = ROOT / "tests" / "cli_forks.py"
    return "\n".join(
        [
            "set -a",
            "source .lifecycles/env",
            f"if [ -f {state} ]; then source {state}; fi",
            "lifecycles() {",
            "  type -P lifecycles >/dev/null ||",
            '    { echo "lifecycles: not on PATH" >&2; return 127; }',
            f'  "{sys.executable}" -I -S "{forks}" --call "{cli_socket}" -- "$@"',
            "}",
            "set -eo pipefail",
            block.code,
            "set +e",
            f"export -p | grep -vE '^declare -x (PWD|OLDPWD|SHLVL|_)=' > {state}",
        ]
    )


def test_the_readme_names_the_env_file_and_runs_it_in_the_tour() -> None:
    text = README.read_text()
    blocks = readme_blocks(text)
    assert "source .lifecycles/env" in text
    assert any(b.code.strip() == "source .lifecycles/env" for b in blocks)
    assert any(LONG_RUNNING in line for line in text.splitlines() if "make dev" in line)


def test_every_readme_shell_example_runs(dev_stack: Stack) -> None:
    """Every `sh` block of README.md exits 0 against a running stack (issue 15)."""
    blocks = readme_blocks(README.read_text())
    runnable = [b for b in blocks if b.needs is None and b.code.strip()]
    assert len(runnable) >= 8, "the README's tour has lost its examples"
    state = dev_stack.home / ".readme-state.sh"
    for block in runnable:
        t0 = time.monotonic()
        try:
            done = subprocess.run(
                ["bash", "-c", _script(block, state, dev_stack.cli_socket)],
                cwd=dev_stack.home,
                env=dev_stack.env,
                capture_output=True,
                text=True,
                timeout=BLOCK_SECONDS,
            )
        except subprocess.TimeoutExpired as err:
            pytest.fail(
                f"README.md line {block.line}: still running after {BLOCK_SECONDS} s\n"
                f"{block.code}\n--- output\n{err.stdout!r}\n{err.stderr!r}"
            )
        print(f"README.md line {block.line}: {time.monotonic() - t0:.1f} s")
        assert done.returncode == 0, (
            f"README.md line {block.line}: exit {done.returncode}\n{block.code}\n"
            f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}\n"
            f"--- dev stack log (end)\n{dev_stack.log.read_text()[-2000:]}"
        )


OWN_DOCS = [
    "architecture.md",
    "decisions.md",
    "deploy.md",
    "performance.md",
    "readme-examples.md",
    "reference-billing.md",
    "reference-settings.md",
    "reference-setup-assist.md",
    "reference-trials.md",
    "reference-wholesale.md",
]


def _anchors(doc: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    out = set()
    for heading in re.findall(r"^#{1,6} (.+)$", doc.read_text(), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


def test_readme_links_and_example_files_exist() -> None:
    """Every relative link of the README (and of the docs it moved its reference to), with its
    #anchor, and every `examples/...` file the README names exists."""
    missing = []
    for doc in [README, *(ROOT / "docs" / name for name in OWN_DOCS)]:
        text = doc.read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (doc.parent / path) if path else doc
            if not linked.exists():
                missing.append(f"{doc.relative_to(ROOT)}: {target}")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                missing.append(f"{doc.relative_to(ROOT)}: {target} (no such heading)")
        for name in re.findall(r"\bexamples/[\w./-]*\w", text):
            if not (ROOT / name).exists():
                missing.append(f"{doc.relative_to(ROOT)}: {name}")
    assert missing == [], "\n".join(missing)
