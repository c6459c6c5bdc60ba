"""The project's command line: invoke's `Program` over the tasks' Collection, with the documented exit codes.

    0  done
    1  a failure that is not the user's to fix (a bug keeps its traceback), or a check that failed (lint)
    2  a usage error: an unknown task or option, a missing or bad value, any error the user can fix
    3  the command ran, but some photos were refused (`invoke predict`: each refusal is in its output)

invoke's own program exits 1 on its parse errors (an unknown task or option): `UsageExitProgram`
makes those 2, as argparse does. `dogs` (the console command an install of the package gives, from any
folder) is this program over `tasks.ns`; `invoke` run in a checkout gets the same codes, as loading
the tasks switches invoke's own program to this class (tasks/__init__.py).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import invoke
from invoke import Exit, ParseError

USAGE_ERROR = 2
PHOTOS_REFUSED = 3


@contextmanager
def _usage_errors() -> Iterator[None]:
    try:
        yield
    except ParseError as exc:
        raise Exit(str(exc), code=USAGE_ERROR) from None


class UsageExitProgram(invoke.Program):
    """invoke's Program, but a parse error (an unknown task or option, a missing value) exits 2."""

    def parse_core(self, argv) -> None:
        with _usage_errors():
            super().parse_core(argv)

    def parse_tasks(self) -> None:
        with _usage_errors():
            super().parse_tasks()

    def parse_cleanup(self) -> None:
        with _usage_errors():
            super().parse_cleanup()


def adopt(program: invoke.Program) -> None:
    """Give a running invoke Program (invoke's own `invoke`) these exit codes from its next step on."""
    if type(program) is invoke.Program:
        program.__class__ = UsageExitProgram


def main() -> None:
    """`dogs TASK ...`: the tasks from any folder (the project is the folder you are in)."""
    from importlib.metadata import PackageNotFoundError, version

    import tasks

    try:
        release = version("dog-breeds")
    except PackageNotFoundError:
        release = "unknown"
    UsageExitProgram(namespace=tasks.ns, name="dog-breeds", binary="dogs", version=release).run()
