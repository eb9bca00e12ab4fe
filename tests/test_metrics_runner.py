"""The evaluation runner: --concurrency is model requests in flight across the whole run; images are encoded once;
results are written in crash-safe batches; the synchronous API works from any thread or event loop."""

import asyncio
import json
import threading

import pytest

from scigenbench.generators.backends.testing import OpenAICompatServer
from scigenbench.metrics import _calls
from scigenbench.metrics.evaluation import evaluate_run
from scigenbench.metrics.records import ItemResult
from scigenbench.metrics.runner import EvalContext, ItemTask, RecordWriter, compute_item
from scigenbench.metrics.store import ResultStore
from scigenbench.metrics.testing import make_run, png, scripted_judge, toy_problem


class InFlight:
    """A server handler that counts requests in flight and holds the first ``wave`` until they are all there."""

    def __init__(self, wave: int, answer=None):
        self.answer = answer or scripted_judge()
        self.lock = threading.Lock()
        self.now = self.peak = 0
        self.barrier = threading.Barrier(wave)
        self.wave_met = None

    def __call__(self, request):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            if self.wave_met is None:
                try:
                    self.barrier.wait(timeout=60)
                    self.wave_met = True
                except threading.BrokenBarrierError:
                    self.wave_met = False
            return self.answer(request)
        finally:
            with self.lock:
                self.now -= 1


@pytest.fixture
def toy_run(tmp_path):
    problems = [toy_problem(f"item-{i}", n_quizzes=4) for i in range(6)]
    run_dir = make_run(tmp_path / "run", {p["id"]: png("white", (96, 64), text=p["id"]) for p in problems})
    return run_dir, problems


def test_concurrency_is_requests_in_flight_across_metrics_and_quizzes(toy_run, tmp_path):
    run_dir, problems = toy_run
    handler = InFlight(wave=9)
    with OpenAICompatServer(handler=handler) as server:
        report = evaluate_run(run_dir, "judge,quiz,rinv", f"openai:j@{server.base_url}", problems=problems,
                              concurrency=9, progress=False, n_boot=0,
                              backend_options={"cache_dir": str(tmp_path / "cache")})
    # 6 items x (1 judge + 4 quizzes) = 30 calls could run at once: 9 did, never more
    assert handler.wave_met is True and handler.peak == 9
    assert report.summaries["quiz"]["coverage"]["n_scored"] == 6


def test_one_item_is_encoded_once_for_every_metric(tmp_path):
    from PIL import Image
    import io

    buf = io.BytesIO()
    Image.new("RGBA", (40, 30), (255, 0, 0, 128)).save(buf, format="PNG")  # needs compositing: a real encode
    source = _calls.SourceImage(buf.getvalue())
    first, sha = _calls.prepare_for(source, "judge")
    again, _ = _calls.prepare_for(source, "quiz")
    assert again is first and sha == first.sha256

    path = tmp_path / "x.png"
    path.write_bytes(buf.getvalue())
    ctx = EvalContext(answerers={"j": _fake()}, default="j")
    problem = toy_problem("x", n_quizzes=3)
    records = compute_item(ctx, problem, path, [ItemTask("judge", "k1"), ItemTask("quiz", "k2"),
                                                ItemTask("rinv", "k3")])
    assert [r.metric for r in records] == ["judge", "quiz", "rinv"]
    assert len({r.image_sha256 for r in records}) == 1 and records[0].image_sha256 == sha


def _fake():
    from scigenbench.generators.backends import get_backend

    return get_backend("fake", responses=scripted_judge())


def _record(item_id: str) -> ItemResult:
    return ItemResult(id=item_id, metric="judge", state="scored", score=1.0)


def test_record_writer_batches_writes_and_never_glues_onto_a_torn_line(tmp_path):
    scores = tmp_path / "scores"
    scores.mkdir()
    (scores / "judge.jsonl").write_text(json.dumps({"key": "old", **_record("old").to_dict()}) + "\n{\"key\": \"to")
    writer = RecordWriter(scores, flush_records=3, flush_seconds=3600)
    writer.add("a", _record("a"))
    writer.add("b", _record("b"))
    assert ResultStore(scores, "judge").load().keys() == {"old"}  # still buffered
    writer.add("c", _record("c"))  # the third record writes the batch
    assert ResultStore(scores, "judge").load().keys() == {"old", "a", "b", "c"}
    writer.add("d", _record("d"))
    writer.close()
    assert ResultStore(scores, "judge").load().keys() == {"old", "a", "b", "c", "d"}


def test_sync_metric_api_works_inside_a_running_event_loop():
    from scigenbench.metrics.quiz import quiz_item

    async def caller():
        return quiz_item(toy_problem("y", n_quizzes=2), png(), _fake())

    record = asyncio.run(caller())
    assert record.state == "scored" and record.score == 1.0


def test_rpm_and_concurrency_options_apply_to_the_run_not_per_backend(toy_run, tmp_path):
    run_dir, problems = toy_run
    unsettled = scripted_judge(lambda kind, text: "Final answer: about five" if kind == "rinv" else None)
    handler = InFlight(wave=2, answer=unsettled)
    with OpenAICompatServer(handler=handler) as server:
        # judge and grader are different backends: together they stay within the one limit
        evaluate_run(run_dir, "quiz,rinv", f"openai:j@{server.base_url}", grader=f"openai:g@{server.base_url}",
                     problems=problems, concurrency=2, progress=False, n_boot=0,
                     backend_options={"cache_dir": str(tmp_path / "cache")})
        models = {r.json["model"] for r in server.chat_requests()}
    assert models == {"j", "g"}
    assert handler.wave_met is True and handler.peak == 2


def test_generate_concurrency_is_imgcoder_backbone_requests_in_flight(tmp_path):
    import json as _json

    from scigenbench.scripts.cli import main

    program = "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([0, 1], [0, 1])\n"

    def model(request):
        prompt = request["messages"][-1]["content"]
        prompt = prompt if isinstance(prompt, str) else " ".join(p.get("text", "") for p in prompt)
        if prompt.startswith("Read the problem below"):
            return _json.dumps({"entities": ["x"], "given_values": [], "hidden": []})
        if prompt.startswith("Plan the figure"):
            return "```json\n" + _json.dumps({"language": "python", "elements": ["x"], "layout": "", "labels": [],
                                              "must_not_show": []}) + "\n```"
        return f"```python\n{program}```\n"

    handler = InFlight(wave=10, answer=model)
    with OpenAICompatServer(handler=handler) as server:
        code = main(["generate", "--dataset", "mini", "--generator", "imgcoder", "--backbone",
                     f"openai:m@{server.base_url}", "--concurrency", "10", "--limit", "12", "--out",
                     str(tmp_path / "run"), "--no-progress", "-o", "max_repair_rounds=0", "-o", "cache=false"])
    assert code in (0, 1)
    # the backbone's own default limit (8) no longer caps it: --concurrency 10 means 10 requests in flight
    assert handler.wave_met is True and handler.peak == 10
