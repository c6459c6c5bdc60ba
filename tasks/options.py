"""The one parser of option values: integers, numbers, sizes, choices and lists.

A task declares how each of its value options parses (`@command(parse={"port": PORT})`); the value
arrives as the string the user typed (or the signature's default) and leaves as a number, a tuple or a
list. A bad value raises `OptionError`, which the command prints as one line and exit status 2, as
argparse does: `error: --port: 'x' is not an integer`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from training.errors import UserError


class OptionError(UserError, ValueError):
    """A command-line option has a value it does not allow."""


def flag(name: str) -> str:
    """The option as the user types it: max_jobs -> --max-jobs."""
    return "--" + name.replace("_", "-")


def _given(value: Any) -> bool:
    return value is not None and value != ""


def _bounded(name: str, number, low, high, kind: str):
    if (low is not None and number < low) or (high is not None and number > high):
        allowed = (f"{kind} from {low} to {high}" if low is not None and high is not None
                   else f"{kind} >= {low}" if low is not None else f"{kind} <= {high}")
        raise OptionError(f"{flag(name)}: {number} is not allowed; allowed: {allowed}")
    return number


@dataclass(frozen=True)
class Integer:
    """A whole number, optionally within [low, high]."""
    low: int | None = None
    high: int | None = None

    def __call__(self, name: str, value: Any) -> int | None:
        if not _given(value):
            return None
        if isinstance(value, bool):
            raise OptionError(f"{flag(name)}: needs a value, an integer")
        try:
            number = int(str(value).strip())
        except ValueError:
            raise OptionError(f"{flag(name)}: {value!r} is not an integer") from None
        return _bounded(name, number, self.low, self.high, "an integer")


@dataclass(frozen=True)
class Number:
    """A decimal number, optionally within [low, high]."""
    low: float | None = None
    high: float | None = None

    def __call__(self, name: str, value: Any) -> float | None:
        if not _given(value):
            return None
        try:
            number = float(str(value).strip())
        except ValueError:
            raise OptionError(f"{flag(name)}: {value!r} is not a number") from None
        if number != number:  # NaN compares false with every bound
            raise OptionError(f"{flag(name)}: {value!r} is not a number")
        return _bounded(name, number, self.low, self.high, "a number")


@dataclass(frozen=True)
class Size:
    """A photo size: N (square) or HxW, each a whole number; 0 means no size."""

    def __call__(self, name: str, value: Any) -> tuple[int, int] | None:
        if not _given(value):
            return None
        parts = str(value).lower().split("x")
        if len(parts) > 2 or not all(p.strip().isdigit() for p in parts):
            raise OptionError(f"{flag(name)}: {value!r} is not allowed; allowed: N, HxW, or 0 (no check)")
        return int(parts[0]), int(parts[-1])


@dataclass(frozen=True)
class Choice:
    """One of a fixed set of words."""
    allowed: tuple[str, ...]

    def __call__(self, name: str, value: Any) -> str | None:
        if not _given(value):
            return None
        if value not in self.allowed:
            raise OptionError(f"{flag(name)}: {value!r} is not allowed; allowed: {', '.join(self.allowed)}")
        return value


@dataclass(frozen=True)
class Names:
    """A comma-separated list of words, each one of `allowed` when that is given."""
    allowed: tuple[str, ...] | None = None

    def __call__(self, name: str, value: Any) -> list[str] | None:
        if not _given(value):
            return None
        names = [n.strip() for n in str(value).split(",") if n.strip()]
        unknown = sorted(set(names) - set(self.allowed)) if self.allowed is not None else []
        if unknown or not names:
            raise OptionError(f"{flag(name)}: {', '.join(unknown) or repr(value)} is not allowed; "
                              f"allowed: {', '.join(self.allowed or ('a comma-separated list',))}")
        return names


PORT = Integer(1, 65535)
COUNT = Integer(1)  # how many of something: at least one
TARGET = Choice(("local", "aws"))
