"""The test suite.

Imported before ``conftest.py`` (and so before any product module), which is why the one setting below lives here:
where the environment sets ``PYTHONDONTWRITEBYTECODE`` (many container images do), every test process (one per
core, the xdist controller, and each ``python -m bot`` a test starts) compiles the ~300 modules of ``bot``,
``subscribers`` and ``tests`` from source again, and pytest rewrites the asserts of every test module again: about
5 s of CPU per process. Writing ``__pycache__`` (ignored by git) makes every later process read compiled code, as
Python does by default; the processes a test starts read it too, whatever their environment says.
"""

import sys

sys.dont_write_bytecode = False
