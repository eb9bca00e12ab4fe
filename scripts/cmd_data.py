"""Placeholder for `scigenbench info, validate, export`: being built."""

HELP_info = "(not built yet)"


def add_arguments_info(parser):
    pass


def run_info(args):
    raise SystemExit("scigenbench info: not built yet")


HELP_validate = "(not built yet)"


def add_arguments_validate(parser):
    pass


def run_validate(args):
    raise SystemExit("scigenbench validate: not built yet")


HELP_export = "(not built yet)"


def add_arguments_export(parser):
    pass


def run_export(args):
    raise SystemExit("scigenbench export: not built yet")
