"""What every task shares: option parsing, one-line errors, `--help` after a positional, shared options.

`@command(...)` is invoke's `@task` with a `parse={option: parser}` map (tasks/options.py). Before the
body runs, each such option is parsed; a bad value, or any `UserError` the body raises, ends the
command with one line on stderr and exit status 2, no traceback.

`invoke TASK --help` on a task with a positional argument: invoke's parser feeds `--help` to the
positional argument instead (pyinvoke/invoke#982, open). The positional arguments of a `Command` then
count as given, and the task prints invoke's own help for itself instead of running.
"""
from __future__ import annotations

import inspect
import sys
from contextlib import contextmanager
from typing import Any, Callable

from invoke import Exit, Task, task
from invoke.parser import Argument

from training.errors import UserError

HELP_FLAGS = ("-h", "--help")

# The options that mean the same thing on every task that has them.
SHARED_HELP = {
    "target": "local (the embedded default: this machine and the local AWS) or aws",
    "config": "configuration file (default: config.yaml)",
    "model": "the model: a model.tar.gz (or its folder) or a model id from `invoke models` "
             "(default: the artifact `invoke train` recorded)",
}


def shared_help(name: str, detail: str | None, default: Any) -> str:
    """The shared option's help, then what this task adds, then its default when the task sets one."""
    text = SHARED_HELP[name] + (f"; {detail}" if detail else "")
    if default not in (None, inspect.Parameter.empty):
        text += f" (default: {default})"
    return text


@contextmanager
def user_errors():
    """Turn a UserError into one line on stderr and exit status 2 (no traceback)."""
    try:
        yield
    except UserError as exc:
        raise Exit(f"error: {exc}", code=2) from None


def load_config(path: str | None = None):
    """config.yaml (or `path`), validated; a bad one is a one-line error."""
    import ops.core.config as config

    with user_errors():
        return config.load(path)


class Command(Task):
    """A task whose value options are parsed (tasks/options.py) before its body runs."""

    def __init__(self, body: Callable, parse: dict[str, Callable] | None = None, **kwargs: Any):
        help_texts = dict(kwargs.pop("help", None) or {})
        for name, param in inspect.signature(body).parameters.items():
            if name in SHARED_HELP:
                help_texts[name] = shared_help(name, help_texts.pop(name, None), param.default)
        super().__init__(body, help=help_texts, **kwargs)
        self.parsers = dict(parse or {})
        self.option_help = dict(help_texts)  # invoke's get_arguments() pops self.help empty

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Argument]:
        self.help = dict(self.option_help)
        arguments = super().get_arguments(ignore_unknown_help)
        asked = {"help": False}  # one per parse: the parser deep-copies the arguments together
        for argument in arguments:
            if argument.positional:
                argument.__class__, argument.asked = _Positional, asked
        return arguments

    def arg_opts(self, name: str, default: Any, taken_names: set[str]) -> dict[str, Any]:
        opts = super().arg_opts(name, default, taken_names)
        if name in self.parsers:
            opts["kind"] = str  # invoke would int() it itself, with a traceback on a bad value
        return opts

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        bound = inspect.signature(self.body).bind(*args, **kwargs)
        if any(bound.arguments.get(name) in HELP_FLAGS for name in self.positional):
            print_help(self)
            return None
        with user_errors():
            for name, parser in self.parsers.items():
                if name in bound.arguments:
                    bound.arguments[name] = parser(name, bound.arguments[name])
                else:
                    bound.arguments[name] = parser(name, inspect.signature(self.body)
                                                   .parameters[name].default)
            return super().__call__(*bound.args, **bound.kwargs)


def command(*args: Any, **kwargs: Any):
    """`@task` making a `Command`: `@command(help={...}, parse={"port": options.PORT})`."""
    return task(*args, klass=Command, **kwargs)


class _Positional(Argument):
    """A positional argument that counts as given once a sibling (or itself) swallowed --help, so that
    invoke's parser lets the task run and print its help (pyinvoke/invoke#982)."""

    asked: dict

    @property
    def value(self) -> Any:
        value = Argument.value.fget(self)
        return HELP_FLAGS[1] if value is None and self.asked["help"] else value

    @value.setter
    def value(self, arg: Any) -> None:
        if arg in HELP_FLAGS:
            self.asked["help"] = True
        self.set_value(arg, cast=True)


def print_help(command_task: Task) -> None:
    """invoke's own `invoke --help NAME` for this task."""
    from invoke import Program

    root = sys.modules["tasks"].ns
    name = next(n for n in root.task_names if root[n].body is command_task.body)  # invoke copies tasks
    program = Program(namespace=root, binary="inv[oke]")  # as invoke.main.program says it
    program.run(["invoke", "--help", name], exit=False)
