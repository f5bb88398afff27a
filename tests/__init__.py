"""The test suite writes bytecode caches even where ``PYTHONDONTWRITEBYTECODE`` is set (as in
this machine's sessions): without them every test process, every CLI and worker process a test
starts, and the workflow sandbox at every workflow run compiled each module it imports from
source, every run; in a fresh clone that was most of the suite's CPU (docs/testing.md).
Imported first (``tests`` is the package of tests/conftest.py), before anything of the project;
the variable is dropped for the processes the tests start. Caches go to ``__pycache__`` folders
(ignored by git), as without the variable."""

import os
import sys

sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

# Temporal's deadlock detector fails a workflow activation (or answers a query with an error)
# that has not yielded within 2 s of wall time. That guards against workflow code that never
# yields; on a loaded test machine it also fires on honest code (a cold replay in the sandbox at
# load 10: "Potential deadlock detected" in a fresh-clone run), so a test would depend on load.
# The tests' workers run without it (the SDK's TEMPORAL_DEBUG: the sandbox's determinism
# restrictions stay; only the 2-s wall clock and the breakpoint() ban are lifted), as do the
# worker processes tests start. `lifecycles worker` and `lifecycles dev` keep it.
os.environ.setdefault("TEMPORAL_DEBUG", "1")
