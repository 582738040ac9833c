"""The ``gvis`` command line.

Each sub-command is one module in this package defining::

    COMMAND = "name"            # what the user types after ``gvis``
    HELP = "one line"           # shown by ``gvis --help``
    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def run(args: argparse.Namespace) -> int | None: ...
    READS = ("input", "detections")   # argument names (dests) of the files it reads
    WRITES = ("results",)             # argument names of the files it writes

Modules are discovered automatically, so adding a command touches no other file. Every command also takes
``--import MODULE`` (repeatable): modules registering components from outside gvis (:mod:`gvis.plugins`).
Keep imports of torch and friends inside ``run`` so that ``gvis --help`` stays fast.

Every command runs under one file policy (:class:`gvis.io.CommandFiles`, ``docs/reliability.md``): the
paths of ``READS`` and ``WRITES`` are resolved first and an output that is an input is refused; whatever
the command writes appears only when it succeeds. A command whose outputs keep their own atomic rules
(training checkpoints, ``gvis compare``'s work folder) sets ``OUTPUTS_STAGED = False``. Any error is one
line on stderr and exit code 2 (:mod:`gvis.errors` lists the exit codes); ``GVIS_DEBUG=1`` shows tracebacks.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import pkgutil
import sys
import warnings
from types import ModuleType
from typing import Callable

from gvis import __version__
from gvis.errors import EXIT_BUG, EXIT_ERROR, EXIT_SIGINT, STOPPED_EXIT_CODES, GvisError, GvisWarning
from gvis.plugins import COMMAND_LINE_IMPORT, import_modules


def _command_modules() -> list[ModuleType]:
    modules = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "COMMAND"):
            modules.append(module)
    return sorted(modules, key=lambda m: m.COMMAND)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gvis",
        description="Learned video instance segmentation tracking with recurrent graph neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"gvis {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        command = sub.add_parser(module.COMMAND, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP))
        module.add_arguments(command)
        command.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                             help="import MODULE first: components it registers become selectable by name "
                                  "(repeatable; docs/extending.md)")
        labels = {action.dest: action.option_strings[0] if action.option_strings else str(action.metavar or action.dest)
                  for action in command._actions}
        command.set_defaults(_module=module, _labels=labels)
    return parser


def command_files(args: argparse.Namespace):
    """The :class:`~gvis.io.CommandFiles` of a parsed command line: its ``READS`` and ``WRITES`` declared
    (so a clash is refused before anything runs); a null context for ``OUTPUTS_STAGED = False``."""
    from gvis.io import CommandFiles

    module = args._module
    if not getattr(module, "OUTPUTS_STAGED", True):
        return contextlib.nullcontext(None)
    files = CommandFiles()
    for kind, names in (("reads", getattr(module, "READS", ())), ("writes", getattr(module, "WRITES", ()))):
        for name in names:
            getattr(files, kind)(args._labels.get(name, name), getattr(args, name))
    return files


def _warning_printer(command: str, show: Callable) -> Callable:
    """A ``warnings.showwarning`` printing a :class:`~gvis.errors.GvisWarning` as one line
    ``gvis CMD: warning: ...`` and any other warning with ``show``."""
    def showwarning(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, GvisWarning):
            print(f"gvis {command}: warning: {message}", file=sys.stderr)
        else:
            show(message, category, filename, lineno, file, line)

    return showwarning


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    # torch_geometric touches TorchScript, which this torch deprecates; users can do nothing about it.
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    warnings.filterwarnings("always", category=GvisWarning)  # each one, every time: they report what was tolerated
    previous = warnings.showwarning
    warnings.showwarning = _warning_printer(args.command, previous)
    try:
        return _run(args)
    finally:
        warnings.showwarning = previous


def _run(args: argparse.Namespace) -> int:
    """Run the parsed command under its file policy; its exit code, every error printed as one line."""
    try:
        import_modules(args.imports, COMMAND_LINE_IMPORT)
        with command_files(args) as files:
            code = int(args._module.run(args) or 0)
            if code and files is not None:
                files.discard()  # a command that fails keeps every earlier output
        return code
    except KeyboardInterrupt:
        print(f"gvis {args.command}: interrupted", file=sys.stderr)
        return EXIT_SIGINT
    except Exception as exc:
        if os.environ.get("GVIS_DEBUG"):
            raise
        if isinstance(exc, GvisError):
            how = "stopped" if exc.exit_code in STOPPED_EXIT_CODES else "error"
            print(f"gvis {args.command}: {how}: {_first_line(exc)}", file=sys.stderr)
            return exc.exit_code
        if isinstance(exc, (OSError, RecursionError, MemoryError)):  # the system's words are the message
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            reason = getattr(exc, "strerror", None) or _first_line(exc)
            print(f"gvis {args.command}: error: {where}{reason}", file=sys.stderr)
            return EXIT_ERROR
        print(f"gvis {args.command}: internal error: {type(exc).__name__}: {_first_line(exc)} "
              "(a bug in gvis; GVIS_DEBUG=1 shows the traceback)", file=sys.stderr)
        return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
