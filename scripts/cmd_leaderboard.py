"""Placeholder for `scigenbench leaderboard`: being built."""

HELP_leaderboard = "(not built yet)"


def add_arguments_leaderboard(parser):
    pass


def run_leaderboard(args):
    raise SystemExit("scigenbench leaderboard: not built yet")
