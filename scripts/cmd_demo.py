"""Placeholder for `scigenbench demo`: being built."""

HELP_demo = "(not built yet)"


def add_arguments_demo(parser):
    pass


def run_demo(args):
    raise SystemExit("scigenbench demo: not built yet")
