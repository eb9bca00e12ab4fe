"""The ``scigenbench`` command line: a thin dispatcher.

Each sub-command lives in its own module ``scigenbench.scripts.cmd_<name>`` exposing ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Command modules import heavy libraries only inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

#: command name -> module (in the order ``--help`` lists them)
COMMANDS = {
    "demo": "scigenbench.scripts.cmd_demo",
    "info": "scigenbench.scripts.cmd_data",
    "validate": "scigenbench.scripts.cmd_data",
    "export": "scigenbench.scripts.cmd_data",
    "generate": "scigenbench.scripts.cmd_generate",
    "render": "scigenbench.scripts.cmd_render",
    "doctor": "scigenbench.scripts.cmd_render",
    "evaluate": "scigenbench.scripts.cmd_evaluate",
    "leaderboard": "scigenbench.scripts.cmd_leaderboard",
    "judge-check": "scigenbench.scripts.cmd_judge_check",
    "synthesize": "scigenbench.scripts.cmd_synthesize",
    "export-training": "scigenbench.scripts.cmd_export_training",
    "app": "scigenbench.scripts.cmd_app",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scigenbench",
        description="Load SciGenBench, generate scientific images (ImgCoder, Diffusers, image APIs), score them.",
        epilog="Start with `scigenbench demo` (offline). `scigenbench COMMAND --help` explains each command.")
    parser.add_argument("--version", action="version", version=f"scigenbench {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        # a module may serve several commands: it then exposes HELP/add_arguments/run per command
        help_text = _per_command(module, "HELP", name)
        p = sub.add_parser(name, help=help_text, description=help_text)
        _per_command(module, "add_arguments", name)(p)
        p.set_defaults(_run=_per_command(module, "run", name))
    return parser


def _per_command(module, attr: str, name: str):
    found = getattr(module, f"{attr}_{name}", None) or getattr(module, attr, None)
    if found is None:
        raise AttributeError(f"{module.__name__} must define {attr} or {attr}_{name}")
    return found


def _version() -> str:
    from scigenbench import __version__

    return __version__


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that describe a problem with the input or setup: shown as one line, not as a traceback."""
    from scigenbench.generators.backends.base import BackendError

    return (OSError, ValueError, ImportError, BackendError)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print(f"scigenbench {args.command}: interrupted", file=sys.stderr)
        return 130
    except _user_errors() as exc:
        if os.environ.get("SCIGENBENCH_DEBUG"):
            raise
        print(f"scigenbench {args.command}: error: {exc}\n(set SCIGENBENCH_DEBUG=1 to see the traceback)",
              file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
