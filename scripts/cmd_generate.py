"""Placeholder for `scigenbench generate`: being built."""

HELP_generate = "(not built yet)"


def add_arguments_generate(parser):
    pass


def run_generate(args):
    raise SystemExit("scigenbench generate: not built yet")
