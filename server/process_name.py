"""Names for the service's worker processes, as `ps -o comm`, `top` and `pkill` show them.

The decision-log writer and the validation workers are Python processes like
the server; an operator who must kill, watch or limit one of them finds it by
name (`tierline-log`, `tierline-check`), and so do the fault tests.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys

PR_SET_NAME = 15  # linux/prctl.h


def set_process_name(name: str) -> None:
    """Linux only (at most 15 bytes are kept); elsewhere nothing happens."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)
