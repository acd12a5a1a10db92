"""How a command reads its flags and ends: one ``error: ...`` line and status 2 for a bad flag or bad input,
a traceback for a bug.

Our validation raises ``ValueError`` (a bad value), ``FileNotFoundError`` and its kin (a missing folder or
file) with a sentence that names the fix; a user needs that sentence, not the stack under it. Any other
exception is a bug and keeps its traceback. ``--debug`` shows the traceback of every error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from transformers import HfArgumentParser

USAGE_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)
USAGE_STATUS = 2  # argparse's status for a bad command line; ours for bad input too


class OneLineErrors:
    """An argparse parser that ends a bad command line with one line, not a usage block (of 200 Trainer flags)."""

    prog: str

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_STATUS, f"error: {message} (see {self.prog} --help)\n")  # type: ignore[attr-defined]


class CommandParser(OneLineErrors, argparse.ArgumentParser):
    """``argparse.ArgumentParser`` with one-line errors."""


class ArgumentParser(OneLineErrors, HfArgumentParser):
    """``HfArgumentParser`` (flags from dataclasses) with one-line errors."""


def pop_debug_flag(argv: list[str]) -> bool:
    """Remove a bare ``--debug`` (not followed by a value) from ``argv`` before any ``--``; say if there was one.

    ``TrainingArguments`` has its own ``--debug VALUE``; a bare ``--debug`` is never one of its values, and
    flags after ``--`` belong to the runs a sweep launches.
    """
    end = argv.index("--") if "--" in argv else len(argv)
    for i in range(end):
        if argv[i] == "--debug" and (i + 1 == end or argv[i + 1].startswith("-")):
            del argv[i]
            return True
    return False


def one_line(error: BaseException) -> str:
    """The error's message on one line (several-line messages are joined), without the exception's name."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        message = f"{error.strerror}: {error.filename}"
    else:
        message = str(error) or type(error).__name__
    return " ".join(message.split())


def run_command(command: Callable[[list[str]], int | None], argv: Sequence[str] | None = None) -> int:
    """Run ``command(argv)`` (default: ``sys.argv[1:]``) and return its exit status; a usage error prints one
    ``error: ...`` line on stderr and returns 2 (re-raised with ``--debug``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = pop_debug_flag(argv)
    try:
        return command(argv) or 0
    except USAGE_ERRORS as error:
        if debug:
            raise
        print(f"error: {one_line(error)}", file=sys.stderr)
        return USAGE_STATUS
