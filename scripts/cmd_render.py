"""Placeholder for `scigenbench render, doctor`: being built."""

HELP_render = "(not built yet)"


def add_arguments_render(parser):
    pass


def run_render(args):
    raise SystemExit("scigenbench render: not built yet")


HELP_doctor = "(not built yet)"


def add_arguments_doctor(parser):
    pass


def run_doctor(args):
    raise SystemExit("scigenbench doctor: not built yet")
