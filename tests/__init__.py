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
