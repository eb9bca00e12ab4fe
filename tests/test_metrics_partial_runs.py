"""Partial runs: a run generated for a selection is evaluated over it ("3 of 26 mini items"), the selection is in
run.json, --over split scores the whole split with the rest missing, and the leaderboard never ranks a partial run
with full ones."""

import json

import pytest

from scigenbench.generators.backends.testing import OpenAICompatServer
from scigenbench.metrics.leaderboard import build_leaderboard
from scigenbench.metrics.testing import scripted_judge
from scigenbench.scripts.cli import main


def _generate(out, *extra):
    assert main(["generate", "--dataset", "mini", "--generator", "text-card", "--out", str(out), "--no-progress",
                 *extra]) == 0


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("partial")
    _generate(root / "partial", "--limit", "3")
    _generate(root / "full")
    return root


def _evaluate(run_dir, server, *extra):
    return main(["evaluate", "--run", str(run_dir), "--metrics", "judge", "--judge", f"openai:j@{server.base_url}",
                 "--no-progress", "--bootstrap", "0", *extra])


def test_the_selection_is_recorded_in_run_json(runs):
    selection = json.loads((runs / "partial" / "run.json").read_text())["selection"]
    assert (selection["n_selected"], selection["n_split"], selection["partial"]) == (3, 26, True)
    assert selection["criteria"] == [{"limit": 3}] and len(selection["ids"]) == 3
    full = json.loads((runs / "full" / "run.json").read_text())["selection"]
    assert full["partial"] is False and full["n_selected"] == 26


def test_a_partial_run_is_evaluated_over_its_selection_and_says_so(runs, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SCIGENBENCH_CACHE_DIR", str(tmp_path / "cache"))
    with OpenAICompatServer(handler=scripted_judge()) as server:
        assert _evaluate(runs / "partial", server) == 0
        assert server.calls == 3
    out = capsys.readouterr().out
    assert "3 of 26 mini items" in out and "partial run" in out
    assert "judge: 3 scored, 0 unscored, 0 missing" in out
    summary = json.loads((runs / "partial" / "scores" / "summary.json").read_text())
    assert summary["scope"]["partial"] is True and summary["metrics"]["judge"]["scope"]["n_items"] == 3


def test_over_split_scores_the_whole_split_with_the_rest_missing(runs, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SCIGENBENCH_CACHE_DIR", str(tmp_path / "cache"))
    with OpenAICompatServer(handler=scripted_judge()) as server:
        assert _evaluate(runs / "partial", server, "--over", "split") == 0
    out = capsys.readouterr().out
    assert "26 of 26 mini items" in out and "judge: 3 scored, 0 unscored, 23 missing" in out
    with OpenAICompatServer(handler=scripted_judge()) as server:  # back to the selection for the next test
        assert _evaluate(runs / "partial", server) == 0


def test_the_leaderboard_marks_partial_runs_and_never_ranks_them_with_full_ones(runs, tmp_path, monkeypatch):
    monkeypatch.setenv("SCIGENBENCH_CACHE_DIR", str(tmp_path / "cache"))
    with OpenAICompatServer(handler=scripted_judge()) as server:
        assert _evaluate(runs / "full", server) == 0
        assert _evaluate(runs / "partial", server) == 0
    board = build_leaderboard([runs / "partial", runs / "full"], tmp_path / "board", include_published=False)
    overall = (tmp_path / "board" / "overall.md").read_text()
    assert "| full |" in overall and "partial" not in overall
    partial = (tmp_path / "board" / "partial.md").read_text()
    assert "partial [partial: 3 of 26 mini items]" in partial
    assert board.index("## Partial runs") > board.index("| full |")
