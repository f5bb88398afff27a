"""`lifecycles` commands as processes of their own, at the cost of one import.

A fresh `lifecycles` process spends about 1.3 s of CPU importing the CLI before it does
anything; the CLI tests run dozens. Here one interpreter imports the CLI once and forks a
child per command; the child takes the command's arguments, environment and folder, calls
the console script's ``main()`` (the Temporal client, its Rust core and threads are made in
the child, on connect) and leaves with its exit code through ``run_then_exit``; the parent
reports the child's exit status, output and errors. A run then costs about 0.25 s of CPU.

What a forked run still proves: the exit code and output of the console script's body in a
process of its own, including how it leaves (sdk-python#300, scripts/exits.py). Checked
against that bug: with ``--finalize`` the children leave through CPython's finalization as
before the fix, and 10 of 136 forked runs of `devices overdue` aborted (SIGABRT); through
``main()``, 0 of 136. What it does not: the import of the CLI in a fresh interpreter, which
tests/test_entry_points.py runs through the installed script.

Two ways to use it:

- ``lifecycles(args, env=..., cwd=..., timeout=...)`` from a test: a ``CompletedProcess``
  like ``subprocess.run([LIFECYCLES, *args], capture_output=True, text=True)`` gives, from
  one server process per test process (started on first use, ``--serve``).
- ``python tests/cli_forks.py RUNS AT_ONCE [--finalize] -- devices overdue --json``: the same
  command RUNS times, AT_ONCE at a time; prints a JSON list of ``{"code", "out", "err"}``.

A code below 0 means the child was killed by that signal.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- the forking side (a process that imported the CLI) ----------------------------------


def _run_in_child(args: list[str], env: dict[str, str] | None, cwd: str | None) -> None:
    """In a forked child whose fds 0, 1 and 2 are set: one run of the command, then leave
    (never returns into the forking loop)."""
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        if cwd:
            os.chdir(cwd)
        sys.argv = ["lifecycles", *args]
        from scripts.cli.main import app, main
        from workers.settings import get_settings

        get_settings.cache_clear()  # this run's environment
    except BaseException:
        os._exit(121)  # never back into the parent's loop
    if os.environ.get("CLI_FORKS_FINALIZE"):  # as before the fix: finalize on the way out
        try:
            app(prog_name="lifecycles")
        except SystemExit as stop:
            sys.exit(stop.code)  # unwinds to the top: the interpreter finalizes
        sys.exit(0)
    try:
        main()  # run_then_exit: leaves with the command's code, never returns
    finally:
        os._exit(120)


def _fork(
    args: list[str], env: dict[str, str] | None, cwd: str | None, folder: str, name: str
) -> int:
    """Start one run in a child; return its pid. Its output goes to files in ``folder``."""
    out = os.open(f"{folder}/{name}.out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    err = os.open(f"{folder}/{name}.err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    pid = os.fork()
    if pid == 0:  # the child: one run of the command, then leave
        try:
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(out, 1)
            os.dup2(err, 2)
        except BaseException:
            os._exit(121)
        _run_in_child(args, env, cwd)
    os.close(out)
    os.close(err)
    return pid


def _collect(folder: str, name: str, code: int) -> dict[str, Any]:
    with open(f"{folder}/{name}.out") as out, open(f"{folder}/{name}.err") as err:
        result = {"code": code, "out": out.read(), "err": err.read()}
    os.unlink(f"{folder}/{name}.out")
    os.unlink(f"{folder}/{name}.err")
    return result


def _wait(pid: int, timeout: float) -> int:
    """The child's exit status as a code; killed (SIGKILL) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status)
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def serve() -> None:
    """One request per line on stdin (``{"args", "env", "cwd", "timeout"}``), one answer per
    line on stdout (``{"code", "out", "err"}``), until stdin closes."""
    sys.path.insert(0, ROOT)
    import scripts.cli.main  # noqa: F401  # the import every run shares

    answers = os.fdopen(os.dup(1), "w")
    folder = tempfile.mkdtemp(prefix="cli-forks-")
    for n, line in enumerate(sys.stdin):
        req = json.loads(line)
        pid = _fork(req["args"], req.get("env"), req.get("cwd"), folder, str(n))
        code = _wait(pid, float(req.get("timeout") or 60))
        answers.write(json.dumps(_collect(folder, str(n), code)) + "\n")
        answers.flush()
    os.rmdir(folder)


def serve_socket(path: str) -> None:
    """``--socket PATH``: one run per connection on a Unix socket at ``path``, for a shell
    (tests/test_readme.py): the caller (``--call PATH -- args``) sends its arguments,
    environment and folder with its own stdin, stdout and stderr (SCM_RIGHTS), so the child
    writes into the caller's pipes and terminal exactly as the installed script would; the
    answer is the child's exit code. Runs may overlap (a child per connection). Stops when
    its own stdin closes."""
    import select
    import socket

    sys.path.insert(0, ROOT)
    import scripts.cli.main  # noqa: F401  # the import every run shares

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    print("ready", flush=True)
    running: dict[int, socket.socket] = {}
    while True:
        ready, _, _ = select.select([listener, sys.stdin], [], [], 0.01 if running else None)
        if sys.stdin in ready and not sys.stdin.readline():
            break
        if listener in ready:
            conn, _ = listener.accept()
            data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
            while not data.endswith(b"\n"):
                more = conn.recv(1 << 20)
                if not more:
                    break
                data += more
            req = json.loads(data)
            pid = os.fork()
            if pid == 0:  # the child: the caller's fds as its own, then one run
                try:
                    for own, theirs in enumerate(fds):
                        os.dup2(theirs, own)
                    listener.close()
                    conn.close()
                except BaseException:
                    os._exit(121)
                _run_in_child(req["args"], req["env"], req["cwd"])
            for fd in fds:
                os.close(fd)
            running[pid] = conn
        while running:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if not pid:
                break
            conn = running.pop(pid)
            with conn:
                conn.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
    for pid in running:
        os.kill(pid, signal.SIGKILL)
    listener.close()
    os.unlink(path)


def call(path: str, args: list[str]) -> int:
    """``--call PATH -- args``: `lifecycles args` run by the ``--socket`` server at ``path``
    with this process's stdin, stdout, stderr, environment and folder; its exit code (a child
    killed by a signal gives 128 + the signal, as a shell says)."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(path)
        request = {"args": args, "env": dict(os.environ), "cwd": os.getcwd()}
        socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
        answer = b""
        while chunk := conn.recv(64):
            answer += chunk
    code = int(answer or b"120")
    return 128 - code if code < 0 else code


def many() -> None:
    """``RUNS AT_ONCE [--finalize] -- command...``: see the module's docstring."""
    sys.path.insert(0, ROOT)
    own, _, command = " ".join(sys.argv[1:]).partition(" -- ")
    runs, at_once, *flags = own.split()
    if "--finalize" in flags:
        os.environ["CLI_FORKS_FINALIZE"] = "1"
    import scripts.cli.main  # noqa: F401

    folder = tempfile.mkdtemp(prefix="cli-forks-")
    running: dict[int, int] = {}
    codes: dict[int, int] = {}
    started = 0
    while started < int(runs) or running:
        while started < int(runs) and len(running) < int(at_once):
            running[_fork(command.split(), None, None, folder, str(started))] = started
            started += 1
        pid, status = os.wait()
        codes[running.pop(pid)] = os.waitstatus_to_exitcode(status)
    results = []
    for i in range(int(runs)):
        result = _collect(folder, str(i), codes[i])
        results.append({**result, "err": result["err"][-2000:]})
    os.rmdir(folder)
    print(json.dumps(results))


# --- the test side ------------------------------------------------------------------------


class _Server:
    """The forking process of this test process (one per xdist worker), started on first
    use; calls from several threads take turns."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[str] | None = None

    def run(
        self, args: list[str], env: dict[str, str] | None, cwd: str | None, timeout: float
    ) -> dict[str, Any]:
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                self.proc = subprocess.Popen(
                    [sys.executable, os.path.abspath(__file__), "--serve"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    cwd=ROOT,
                )
                atexit.register(self.close)
            assert self.proc.stdin is not None and self.proc.stdout is not None
            request = {"args": args, "env": env, "cwd": cwd, "timeout": timeout}
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            answer = self.proc.stdout.readline()
            if not answer:
                raise RuntimeError("the cli_forks server died")
            return json.loads(answer)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


_server = _Server()


def lifecycles(
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """`lifecycles *args` in a process of its own (see the module's docstring): what
    ``subprocess.run([LIFECYCLES, *args], env=env, cwd=cwd, capture_output=True, text=True,
    timeout=timeout)`` returns, except that a run over ``timeout`` is killed (code -9)."""
    result = _server.run(list(args), dict(env) if env is not None else None, cwd, timeout)
    return subprocess.CompletedProcess(
        ["lifecycles", *args], result["code"], result["out"], result["err"]
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    elif sys.argv[1:2] == ["--socket"]:
        serve_socket(sys.argv[2])
    elif sys.argv[1:2] == ["--call"]:
        sys.exit(call(sys.argv[2], sys.argv[4:]))  # --call PATH -- args
    else:
        many()
