"""``--executor ray`` on a real Ray started by the tests, on loopback only.

A two-node cluster (``ray.cluster_utils.Cluster``: a head and a second node, both on 127.0.0.1) is started once
for the module, *without* any API key in its environment: a key that reaches the workers got there through our
secret shipping. Runs on Ray must give the same run folder as the local executor; a worker killed with SIGKILL
mid-run must not lose or duplicate anything; a resumed run makes no model call; keys never leak.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from scigenbench.dataset import load_mini_problems  # noqa: E402
from scigenbench.dataset.runs import RunFolder  # noqa: E402
from scigenbench.generators import get_generator  # noqa: E402
from scigenbench.generators.backends.testing import OpenAICompatServer  # noqa: E402
from scigenbench.generators.runner import run_generation  # noqa: E402

pytestmark = pytest.mark.slow

SENTINEL = "sk-SENTINEL-ray-executor-4f9c1e"
IMAGES_ROUTE = "/v1/images/generations"
MINI = list(load_mini_problems())
_NODE = {"num_cpus": 2, "object_store_memory": 80 * 1024 * 1024}


@pytest.fixture(scope="module")
def ray_tmp():
    """A short RAY_TMPDIR of our own (Ray's socket paths must stay under 107 bytes)."""
    path = tempfile.mkdtemp(prefix="sgbray-", dir="/tmp")
    saved = {k: os.environ.get(k) for k in ("RAY_TMPDIR", "RAY_USAGE_STATS_ENABLED",
                                            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "OPENAI_API_KEY")}
    os.environ.update(RAY_TMPDIR=path, RAY_USAGE_STATS_ENABLED="0", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    os.environ.pop("OPENAI_API_KEY", None)  # the cluster must not inherit a key
    yield Path(path)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(ray_tmp):
    """Head + a second node, both on 127.0.0.1; shut down (all its processes) after the module."""
    from ray._private import ray_constants
    from ray.cluster_utils import Cluster

    ray_constants.ENABLE_RAY_CLUSTER = False  # keep 127.0.0.1 (see generators.executors._pin_loopback)
    c = Cluster(initialize_head=True, head_node_args={**_NODE, "include_dashboard": False,
                                                      "node_ip_address": "127.0.0.1"})
    try:
        c.add_node(**_NODE, node_ip_address="127.0.0.1")
        c.wait_for_nodes()
        yield c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()


def _api_ray(cluster, **extra):
    return {"address": cluster.address, **extra}


def _rows(run_dir: Path) -> dict[str, dict]:
    """metadata.jsonl rows by id, without the fields that differ between two runs (time, timings)."""
    rows = {}
    for line in (run_dir / "metadata.jsonl").read_text().splitlines():
        row = json.loads(line)
        assert row["id"] not in rows, f"{row['id']} twice in metadata.jsonl"
        rows[row["id"]] = {k: v for k, v in row.items() if k not in ("time", "timings")}
        rows[row["id"]]["png"] = (run_dir / row["file_name"]).read_bytes()
    return rows


def _attempt_ids(run_dir: Path) -> list[str]:
    return [json.loads(line)["id"] for line in (run_dir / "attempts.jsonl").read_text().splitlines()]


# -- same outputs as the local executor ----------------------------------------------------------------------

def test_text_card_on_ray_writes_the_same_run_folder_as_local(cluster, tmp_path):
    import datasets

    problems = [{k: p[k] for k in ("id", "question", "elements", "image_type")} for p in MINI[:8]]
    local = run_generation(get_generator("text-card"), problems, tmp_path / "local", progress=False)
    hub = datasets.Dataset.from_list(problems)  # read on Ray with ray.data.from_huggingface
    on_ray = run_generation(get_generator("text-card"), hub, tmp_path / "ray", progress=False,
                            executor="ray", ray_options=_api_ray(cluster, model_workers=2, in_flight=2))
    assert local.counts == on_ray.counts == {"ok": 8}
    assert _rows(tmp_path / "ray") == _rows(tmp_path / "local")
    assert sorted(_attempt_ids(tmp_path / "ray")) == sorted(p["id"] for p in problems)


def test_imgcoder_over_replay_on_ray_matches_local(cluster, tmp_path):
    from scigenbench.generators.imgcoder import build_replay_recordings, load_reference

    problems = [p for p in MINI if load_reference(p["id"])["language"] == "python"][:4]
    replay = build_replay_recordings(problems, tmp_path / "mini.replay.jsonl")["path"]
    spec = f"replay:{replay}"
    local = run_generation(get_generator("imgcoder", backbone=spec), problems, tmp_path / "local", progress=False)
    on_ray = run_generation(get_generator("imgcoder", backbone=spec), problems, tmp_path / "ray", progress=False,
                            executor="ray", ray_options=_api_ray(cluster, render_workers=1, in_flight=2))
    assert local.counts == on_ray.counts == {"ok": 4}
    assert on_ray.n_render_ok_first_try == local.n_render_ok_first_try == 4
    ours, theirs = _rows(tmp_path / "ray"), _rows(tmp_path / "local")
    assert {k: (v["status"], v["code"], v["plan"], v["png"]) for k, v in ours.items()} == \
        {k: (v["status"], v["code"], v["plan"], v["png"]) for k, v in theirs.items()}


def test_tiny_diffusers_pipeline_on_ray_matches_local(cluster, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from scigenbench.generators.diffusers_tiny import save_tiny_pipeline

    folder = save_tiny_pipeline("qwen-image", tmp_path / "tiny-qwen")
    options = {"steps": 2, "width": 32, "height": 32, "local_files_only": True, "device": "cpu", "batch_size": 2}
    problems = MINI[:2]
    spec = f"diffusers:{folder}"
    run_generation(get_generator(spec, **options), problems, tmp_path / "local", progress=False, concurrency=1)
    on_ray = run_generation(get_generator(spec, **options), problems, tmp_path / "ray", progress=False,
                            executor="ray", ray_options=_api_ray(cluster, gpus_per_worker=0, gpu_workers=1))
    assert on_ray.counts == {"ok": 2}
    ours, theirs = _rows(tmp_path / "ray"), _rows(tmp_path / "local")
    assert {k: v["png"] for k, v in ours.items()} == {k: v["png"] for k, v in theirs.items()}


# -- one request rate for the whole cluster ------------------------------------------------------------------

def test_the_shared_rate_limit_spaces_requests_from_every_worker(cluster):
    from scigenbench.generators.executors import SharedRateLimiter

    ray.init(address=cluster.address, logging_level="ERROR")
    try:
        limiter = SharedRateLimiter.create(ray, rpm=6)  # one start every 10 s, whoever asks

        @ray.remote(num_cpus=0)
        def reserve_twice(shared):
            return [shared.reserve(), shared.reserve()]

        delays = sorted(d for pair in ray.get([reserve_twice.remote(limiter) for _ in range(3)]) for d in pair)
        limiter.close()
    finally:
        ray.shutdown()
    # six reservations from three worker processes: the sixth starts 50 s after the first (not 10 s, as it
    # would if each worker had its own 6 rpm); the calls themselves take well under 10 s
    assert delays[-1] > 40, delays


# -- a killed worker, a resumed run, keys that must not leak (one CLI run against the cluster) -----------------

def _png_b64() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (24, 16), (20, 120, 200)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


class _GatedImages:
    """An images route whose first request waits until the test has killed the worker that sent it."""

    def __init__(self):
        self.first_arrived, self.release = threading.Event(), threading.Event()
        self.count = 0
        self._lock = threading.Lock()
        self.png = _png_b64()

    def __call__(self, body):
        with self._lock:
            self.count += 1
            first = self.count == 1
        if first:
            self.first_arrived.set()
            self.release.wait(120)
        return {"created": 0, "data": [{"b64_json": self.png}]}


def _generate_cli(out: Path, server: OpenAICompatServer, address: str, env: dict) -> list[str]:
    return [sys.executable, "-m", "scigenbench.scripts", "generate", "--no-progress", "--dataset", "mini",
            "--limit", "6", "--generator", f"openai-image:test-image-model@{server.base_url}", "-o", "cache=false",
            "--out", str(out), "--executor", "ray", "--ray-address", address, "--ray-workers", "1",
            "--ray-in-flight", "2"]


def _batch_workers() -> list:
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "MapBatches(_BatchWorker)" in cmdline:
            found.append(proc)
    return found


@pytest.fixture(scope="module")
def killed_run(cluster, tmp_path_factory):
    """`generate --executor ray` whose only worker is SIGKILLed while its first request is in flight; then the
    same command again. Returns what both invocations did."""
    out = tmp_path_factory.mktemp("killed") / "run"
    gate = _GatedImages()
    server = OpenAICompatServer().start()
    server.add_route("POST", IMAGES_ROUTE, gate)
    env = {**os.environ, "OPENAI_API_KEY": SENTINEL}
    try:
        cmd = _generate_cli(out, server, cluster.address, env)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            assert gate.first_arrived.wait(180), "no request reached the loopback server"
            workers = _batch_workers()
            assert len(workers) == 1, workers
            killed_pid = workers[0].pid
            os.kill(killed_pid, signal.SIGKILL)
        finally:
            gate.release.set()
        first_out, first_err = proc.communicate(timeout=240)
        calls_after_first = gate.count
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
        yield {"out": out, "first": (proc.returncode, first_out, first_err), "second": second, "gate": gate,
               "calls_after_first": calls_after_first, "killed_pid": killed_pid, "server": server}
    finally:
        server.stop()


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(killed_run):
    code, stdout, stderr = killed_run["first"]
    assert code == 0, stderr[-3000:]
    out = killed_run["out"]
    ids = [p["id"] for p in MINI[:6]]
    assert sorted(_rows(out)) == sorted(ids)  # every id once in metadata.jsonl
    assert sorted(_attempt_ids(out)) == sorted(ids)  # and one attempt each: the killed one was never recorded
    assert RunFolder.open(out).done_ids() == set(ids)
    assert killed_run["calls_after_first"] >= 7  # the killed worker's request was sent again
    import psutil

    assert not psutil.pid_exists(killed_run["killed_pid"])


def test_a_resumed_run_makes_no_model_call(killed_run):
    second = killed_run["second"]
    assert second.returncode == 0, second.stderr[-3000:]
    assert killed_run["gate"].count == killed_run["calls_after_first"]
    assert "skipped 6 done" in second.stdout and "model calls 0" in second.stdout


def test_api_keys_reach_the_workers_but_no_log_or_output(killed_run, ray_tmp):
    requests = [r for r in killed_run["server"].requests if r.path == IMAGES_ROUTE]
    assert requests and all(r.headers.get("Authorization") == f"Bearer {SENTINEL}" for r in requests)
    code, stdout, stderr = killed_run["first"]
    for text in (stdout, stderr, killed_run["second"].stdout, killed_run["second"].stderr):
        assert SENTINEL not in text
    leaks = [str(path) for root in (ray_tmp, killed_run["out"]) for path in root.rglob("*")
             if path.is_file() and not path.is_socket() and SENTINEL.encode() in _read(path)]
    assert leaks == []


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


# -- a local Ray started for the command -----------------------------------------------------------------------

def test_without_an_address_ray_starts_on_loopback_for_the_command_and_stops(tmp_path):
    import psutil

    ray_tmp = Path(tempfile.mkdtemp(prefix="sgbray1-", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS",)}
    env.update(RAY_TMPDIR=str(ray_tmp))
    try:
        done = subprocess.run(
            [sys.executable, "-m", "scigenbench.scripts", "generate", "--no-progress", "--dataset", "mini",
             "--limit", "3", "--generator", "text-card", "--out", str(tmp_path / "run"), "--executor", "ray",
             "--ray-num-cpus", "1"], capture_output=True, text=True, timeout=240, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "ok 3" in done.stdout
        sessions = list((ray_tmp / "ray").glob("session_2*"))
        assert sessions, "RAY_TMPDIR was not used"
        leftovers = [p.pid for p in psutil.process_iter(["cmdline"])
                     if str(ray_tmp) in " ".join(p.info["cmdline"] or [])]
        assert leftovers == [], "Ray processes outlived the command"
        # Ray names the address it advertises all over its session files: never this machine's public one
        public = [a.address for addrs in psutil.net_if_addrs().values() for a in addrs
                  if a.family.name == "AF_INET" and not a.address.startswith("127.")]
        mentions = [str(f) for f in sessions[0].rglob("*") if f.is_file() and not f.is_socket()
                    and any(ip.encode() in _read(f) for ip in public)]
        assert mentions == []
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


# -- evaluate ------------------------------------------------------------------------------------------------

def _score_rows(run_dir: Path) -> dict[tuple[str, str], dict]:
    rows = {}
    for path in sorted((run_dir / "scores").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            assert (path.stem, row["key"]) not in rows, f"{row['key']} twice in {path.name}"
            rows[(path.stem, row["key"])] = row
    return rows


def test_evaluate_on_ray_scores_like_local_and_resumes_without_calls(cluster, tmp_path):
    from scigenbench.metrics.evaluation import evaluate_run
    from scigenbench.metrics.testing import make_run, png, scripted_judge, toy_problem

    problems = [toy_problem(f"item-{i}") for i in range(6)]
    images = {p["id"]: png(text=p["id"]) for p in problems[:5]}  # item-5 was never generated: missing
    with OpenAICompatServer(handler=scripted_judge()) as server:
        judge = f"openai:test-model@{server.base_url}"
        kwargs = dict(problems=problems, progress=False, n_boot=50, backend_options={"cache": False, "rpm": 6000})
        local = evaluate_run(make_run(tmp_path / "local", images), "judge,quiz,rinv", judge, **kwargs)
        calls_local = server.calls
        on_ray = evaluate_run(make_run(tmp_path / "ray", images), "judge,quiz,rinv", judge, executor="ray",
                              ray_options=_api_ray(cluster, model_workers=2, in_flight=4), **kwargs)
        calls_ray = server.calls - calls_local
        again = evaluate_run(tmp_path / "ray", "judge,quiz,rinv", judge, executor="ray",
                             ray_options=_api_ray(cluster), **kwargs)
        assert server.calls - calls_local == calls_ray  # the resumed run asked nothing
    assert calls_ray == calls_local and sum(on_ray.calls.values()) == calls_ray
    assert sum(again.calls.values()) == 0 and again.reused == {"judge": 6, "quiz": 6, "rinv": 6}
    assert on_ray.summaries == local.summaries
    ours, theirs = _score_rows(tmp_path / "ray"), _score_rows(tmp_path / "local")
    assert ours.keys() == theirs.keys()
    assert {k: (r["state"], r["score"]) for k, r in ours.items()} == {k: (r["state"], r["score"])
                                                                    for k, r in theirs.items()}


def test_evaluate_with_a_worker_killed_mid_run_writes_each_score_once(cluster, tmp_path):
    from scigenbench.metrics.testing import make_run, png, scripted_judge

    ids = [p["id"] for p in MINI[:6]]
    run = make_run(tmp_path / "run", {i: png(text=i) for i in ids})
    answer, gate = scripted_judge(), _GatedImages()

    def judge(request):
        gate({})  # the first request waits until its worker is killed
        return answer(request)

    with OpenAICompatServer(handler=judge) as server:
        cmd = [sys.executable, "-m", "scigenbench.scripts", "evaluate", "--run", str(run), "--metrics", "judge",
               "--judge", f"openai:test-model@{server.base_url}", "--no-cache", "--no-progress", "--bootstrap", "20",
               "--executor", "ray", "--ray-address", cluster.address, "--ray-workers", "1", "--ray-in-flight", "2"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert gate.first_arrived.wait(180), "no request reached the loopback judge"
            workers = _batch_workers()
            assert len(workers) == 1, workers
            os.kill(workers[0].pid, signal.SIGKILL)
        finally:
            gate.release.set()
        stdout, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 0, stderr[-3000:]
    rows = [json.loads(line) for line in (run / "scores" / "judge.jsonl").read_text().splitlines()]
    # every mini item once (those without an image as "missing"): nothing lost, nothing twice
    assert sorted(r["id"] for r in rows) == sorted(p["id"] for p in MINI)
    assert len({r["key"] for r in rows}) == len(rows)
    assert {r["id"] for r in rows if r["state"] == "scored"} == set(ids)
    assert gate.count > len(ids)  # the killed worker's item was asked again


# -- synthesize ----------------------------------------------------------------------------------------------

def _stage_rows(out: Path) -> dict[str, list[str]]:
    return {path.name: sorted(json.dumps({k: v for k, v in json.loads(line).items() if k != "time"}, sort_keys=True)
                              for line in path.read_text().splitlines())
            for path in sorted((out / "stages").glob("*.jsonl"))}


def _verified_rows(out: Path) -> list[dict]:
    import pyarrow.parquet as pq

    rows = [row for path in sorted((out / "verified" / "data").glob("*.parquet"))
            for row in pq.read_table(path).to_pylist()]
    return sorted(({k: v for k, v in row.items() if k != "data_source"} for row in rows), key=lambda r: r["id"])


@pytest.mark.skipif(not shutil.which("tesseract"), reason="the demo's OCR proxy needs the tesseract binary")
def test_synthesize_demo_on_ray_gives_the_same_outputs_as_local(cluster, tmp_path, capsys):
    from scigenbench.training.demo import run_demo

    assert run_demo(tmp_path / "local", progress=False) == 0
    assert run_demo(tmp_path / "ray", progress=False, executor="ray",
                    ray_options=_api_ray(cluster, render_workers=2, in_flight=4)) == 0
    assert _stage_rows(tmp_path / "ray") == _stage_rows(tmp_path / "local")
    assert _verified_rows(tmp_path / "ray") == _verified_rows(tmp_path / "local")
    ours, theirs = RunFolder.open(tmp_path / "ray" / "run"), RunFolder.open(tmp_path / "local" / "run")
    assert sorted(a["id"] for a in ours.attempts()) == sorted(a["id"] for a in theirs.attempts())
    for item_id in theirs.done_ids():
        assert ours.image_path(item_id).read_bytes() == theirs.image_path(item_id).read_bytes()
