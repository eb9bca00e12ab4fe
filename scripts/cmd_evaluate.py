"""Placeholder for `scigenbench evaluate`: being built."""

HELP_evaluate = "(not built yet)"


def add_arguments_evaluate(parser):
    pass


def run_evaluate(args):
    raise SystemExit("scigenbench evaluate: not built yet")
