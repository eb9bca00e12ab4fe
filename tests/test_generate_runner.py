"""The generation runner: resume, retry-failed, budget stop, config guard, batching, failure accounting.

The generator here is a small scripted ``Generator`` subclass (the runner is the component under test); the run
folder is the real ``RunFolder`` on disk.
"""

from __future__ import annotations

import io
import threading

import pytest
from PIL import Image

from scigenbench.dataset.runs import RunFolder
from scigenbench.generators.backends.base import BudgetExceededError
from scigenbench.generators.base import GenerationOutput, Generator
from scigenbench.generators.runner import RunConfigMismatchError, run_generation


def _png(color=(0, 0, 255)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), color).save(buf, format="PNG")
    return buf.getvalue()


PNG = _png()


class Scripted(Generator):
    """Returns ok (or failed for ``fail_ids``), records every id it was asked for."""

    name = "scripted"

    def __init__(self, *, fail_ids=(), cost=0.0, version=1, budget_after=None, extra=None):
        self.fail_ids = set(fail_ids)
        self.cost = cost
        self.version = version
        self.budget_after = budget_after
        self.extra = extra or {}
        self.calls: list[str] = []
        self.batches: list[list[str]] = []
        self._lock = threading.Lock()

    def config(self):
        return {"generator": self.name, "version": self.version}

    def generate(self, problem):
        with self._lock:
            self.calls.append(problem["id"])
            n = len(self.calls)
        if self.budget_after is not None and n > self.budget_after:
            raise BudgetExceededError("budget $0.10 would be exceeded")
        usage = {"calls": 1, "cost_usd": self.cost, "prompt_tokens": 10, "completion_tokens": 5}
        if problem["id"] in self.fail_ids:
            return GenerationOutput(status="failed", error="scripted failure", usage=usage)
        return GenerationOutput(status="ok", image_png=PNG, usage=usage, extra=dict(self.extra))


class Batched(Scripted):
    batch_size = 3

    def generate_batch(self, problems):
        with self._lock:
            self.batches.append([p["id"] for p in problems])
        return [super(Batched, self).generate(p) for p in problems]


def _problems(n):
    return [{"id": f"p{i}", "question": f"Question {i}?"} for i in range(n)]


def _attempt_rows(run_dir):
    return RunFolder.open(run_dir).attempts()


def test_first_run_writes_every_item_and_the_config(tmp_path):
    gen = Scripted()
    summary = run_generation(gen, _problems(5), tmp_path / "run", concurrency=3, progress=False)
    run = RunFolder.open(tmp_path / "run")
    assert run.done_ids() == {f"p{i}" for i in range(5)}
    assert run.info["config_hash"] == gen.config_hash() and run.info["config"] == gen.config()
    assert summary.counts == {"ok": 5} and summary.exit_code() == 0
    assert summary.calls == 5 and summary.prompt_tokens == 50
    assert all(row["config_hash"] == gen.config_hash() for row in _attempt_rows(tmp_path / "run"))


def test_resume_skips_done_ids(tmp_path):
    run_generation(Scripted(), _problems(3), tmp_path / "run", progress=False)
    again = Scripted()
    summary = run_generation(again, _problems(5), tmp_path / "run", progress=False)
    assert sorted(again.calls) == ["p3", "p4"]
    assert summary.n_skipped_done == 3 and summary.run_counts == {"ok": 5}
    assert len(_attempt_rows(tmp_path / "run")) == 5


def test_failed_ids_are_retried_only_when_asked(tmp_path):
    run_generation(Scripted(fail_ids={"p1", "p3"}), _problems(5), tmp_path / "run", progress=False)

    plain = Scripted()
    summary = run_generation(plain, _problems(5), tmp_path / "run", progress=False)
    assert plain.calls == [] and summary.n_skipped_failed == 2
    assert summary.run_counts == {"ok": 3, "failed": 2}

    retry = Scripted()
    summary = run_generation(retry, _problems(5), tmp_path / "run", retry_failed=True, progress=False)
    assert sorted(retry.calls) == ["p1", "p3"]
    rows = _attempt_rows(tmp_path / "run")
    assert sorted((r["id"], r["attempt"], r["status"]) for r in rows if r["id"] in ("p1", "p3")) == [
        ("p1", 1, "failed"), ("p1", 2, "ok"), ("p3", 1, "failed"), ("p3", 2, "ok")]
    assert summary.run_counts == {"ok": 5}


def test_every_item_failing_gives_a_nonzero_exit(tmp_path):
    summary = run_generation(Scripted(fail_ids={"p0", "p1"}), _problems(2), tmp_path / "run", progress=False)
    assert summary.all_failed and summary.exit_code() == 1
    assert "every attempted item failed" in summary.format()


def test_budget_stops_before_starting_more_items(tmp_path):
    gen = Scripted(cost=0.01)
    summary = run_generation(gen, _problems(6), tmp_path / "run", concurrency=1, budget_usd=0.025, progress=False)
    assert summary.stopped == "budget" and summary.exit_code() == 3
    assert len(gen.calls) == 2 and summary.n_not_started == 4
    assert summary.cost_usd == pytest.approx(0.02)
    assert {r["id"] for r in _attempt_rows(tmp_path / "run")} == {"p0", "p1"}  # not started = no record

    rest = Scripted(cost=0.01)
    run_generation(rest, _problems(6), tmp_path / "run", progress=False)
    assert sorted(rest.calls) == ["p2", "p3", "p4", "p5"]
    ids = [r["id"] for r in _attempt_rows(tmp_path / "run")]
    assert sorted(ids) == [f"p{i}" for i in range(6)]  # nothing lost, nothing twice


def test_backend_budget_error_stops_and_leaves_the_item_not_started(tmp_path):
    gen = Scripted(budget_after=2)
    summary = run_generation(gen, _problems(5), tmp_path / "run", concurrency=1, progress=False)
    assert summary.stopped == "budget" and "would be exceeded" in summary.stop_reason
    assert RunFolder.open(tmp_path / "run").records().keys() == {"p0", "p1"}
    assert summary.n_not_started == 3


def test_a_different_config_is_refused_unless_forced(tmp_path):
    run_generation(Scripted(version=1), _problems(2), tmp_path / "run", progress=False)
    with pytest.raises(RunConfigMismatchError, match="config_hash"):
        run_generation(Scripted(version=2), _problems(3), tmp_path / "run", progress=False)
    with pytest.raises(RunConfigMismatchError, match="dataset"):
        run_generation(Scripted(version=1), _problems(3), tmp_path / "run", dataset="scigen", progress=False)

    forced = Scripted(version=2)
    run_generation(forced, _problems(3), tmp_path / "run", force=True, progress=False)
    assert forced.calls == ["p2"]
    hashes = {r["id"]: r["config_hash"] for r in _attempt_rows(tmp_path / "run")}
    assert hashes["p0"] == Scripted(version=1).config_hash() and hashes["p2"] == forced.config_hash()


def test_batch_capable_generators_get_chunks_of_their_batch_size(tmp_path):
    gen = Batched()
    summary = run_generation(gen, _problems(7), tmp_path / "run", concurrency=1, progress=False)
    assert gen.batches == [["p0", "p1", "p2"], ["p3", "p4", "p5"], ["p6"]]
    assert summary.counts == {"ok": 7}


def test_a_generator_exception_becomes_a_failed_record(tmp_path):
    class Broken(Scripted):
        def generate(self, problem):
            if problem["id"] == "p1":
                raise ZeroDivisionError("division by zero")
            return super().generate(problem)

    summary = run_generation(Broken(), _problems(3), tmp_path / "run", progress=False)
    record = RunFolder.open(tmp_path / "run").records()["p1"]
    assert record["status"] == "failed" and "ZeroDivisionError" in record["error"]
    assert summary.counts == {"ok": 2, "failed": 1} and summary.exit_code() == 0


def test_render_rates_come_from_the_generator_report(tmp_path):
    class Repairing(Scripted):
        def generate(self, problem):
            out = super().generate(problem)
            out.extra = {"render_ok_first_try": problem["id"] != "p0", "render_ok_after_repair": True}
            return out

    summary = run_generation(Repairing(), _problems(4), tmp_path / "run", progress=False)
    assert summary.render_rate_first_try() == 0.75 and summary.render_rate() == 1.0
    assert "75.0% at first try, 100.0% after repair" in summary.format()


def test_duplicate_ids_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="duplicate problem ids"):
        run_generation(Scripted(), _problems(2) * 2, tmp_path / "run", progress=False)


def test_a_budget_reached_by_the_last_item_is_not_a_stop(tmp_path):
    summary = run_generation(Scripted(cost=0.01), _problems(2), tmp_path / "run", concurrency=1, budget_usd=0.02,
                             progress=False)
    assert summary.stopped is None and summary.exit_code() == 0 and summary.counts == {"ok": 2}
