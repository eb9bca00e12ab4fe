"""Placeholder for `scigenbench app`: being built."""

HELP_app = "(not built yet)"


def add_arguments_app(parser):
    pass


def run_app(args):
    raise SystemExit("scigenbench app: not built yet")
