"""Response cache semantics through a real loopback server: warm re-runs make zero calls."""

from __future__ import annotations

import json
import threading

from PIL import Image

from scigenbench.generators.backends import get_backend
from scigenbench.generators.backends.testing import OpenAICompatServer

USER = [{"role": "user", "content": "Name the shape."}]


def backend_for(server, cache_dir, **options):
    return get_backend(f"openai:test-model@{server.base_url}", cache_dir=cache_dir, backoff_base=0.01, **options)


def test_second_run_makes_zero_calls(tmp_path):
    with OpenAICompatServer() as server:
        first = [backend_for(server, tmp_path).chat([{"role": "user", "content": f"q{i}"}], temperature=0)
                 for i in range(3)]
        warm = backend_for(server, tmp_path)
        second = [warm.chat([{"role": "user", "content": f"q{i}"}], temperature=0) for i in range(3)]
    assert server.calls == 3
    assert [r.text for r in second] == [r.text for r in first]
    assert all(r.cached and r.cost_usd == 0 and r.provenance["cache"] == "hit" for r in second)
    assert warm.stats()["cache_hits"] == 3 and warm.stats()["calls"] == 0


def test_changing_a_semantic_param_misses(tmp_path):
    with OpenAICompatServer() as server:
        backend_for(server, tmp_path).chat(USER, temperature=0)
        backend_for(server, tmp_path).chat(USER, temperature=0.7)
        backend_for(server, tmp_path).chat(USER, temperature=0, max_tokens=10)
    assert server.calls == 3


def test_same_model_name_on_another_server_misses(tmp_path):
    # two servers may serve different weights under one name: their answers are never shared
    with OpenAICompatServer(["from A"]) as a, OpenAICompatServer(["from B"]) as b:
        assert backend_for(a, tmp_path).chat(USER, temperature=0).text == "from A"
        assert backend_for(b, tmp_path).chat(USER, temperature=0).text == "from B"
    assert (a.calls, b.calls) == (1, 1)


def test_changing_timeout_retries_or_prompt_version_hits(tmp_path):
    with OpenAICompatServer() as server:
        backend_for(server, tmp_path, timeout=30).chat(USER, temperature=0, prompt_version="a")
        again = backend_for(server, tmp_path, timeout=5, max_retries=0, concurrency=2, rpm=6000)
        result = again.chat(USER, temperature=0, prompt_version="b")
        per_call = again.chat(USER, temperature=0, timeout=1.5)
    assert server.calls == 1 and result.cached and per_call.cached
    assert result.provenance["prompt_version"] == "b"


def test_image_bytes_are_part_of_the_key(tmp_path):
    def ask(color):
        return [{"role": "user", "content": [{"type": "text", "text": "colour?"},
                                             {"type": "image", "image": Image.new("RGB", (8, 8), color)}]}]

    with OpenAICompatServer() as server:
        backend_for(server, tmp_path).chat(ask("red"))
        backend_for(server, tmp_path).chat(ask("red"))
        backend_for(server, tmp_path).chat(ask("blue"))
    assert server.calls == 2


def test_cache_dir_defaults_to_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIGENBENCH_CACHE_DIR", str(tmp_path / "envcache"))
    with OpenAICompatServer() as server:
        get_backend(f"openai:test-model@{server.base_url}").chat(USER)
    files = list((tmp_path / "envcache" / "responses").rglob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["result"]["text"] == "echo: Name the shape."


def test_concurrent_writers_leave_one_valid_entry_per_key(tmp_path):
    with OpenAICompatServer(latency=0.05) as server:
        backends = [backend_for(server, tmp_path) for _ in range(8)]
        threads = [threading.Thread(target=b.chat, args=(USER,)) for b in backends]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    files = list((tmp_path / "responses").rglob("*"))
    entries = [f for f in files if f.is_file()]
    assert len(entries) == 1 and entries[0].suffix == ".json"  # no leftover temp files
    assert json.loads(entries[0].read_text())["result"]["text"] == "echo: Name the shape."


def test_corrupt_entry_is_a_miss_and_gets_rewritten(tmp_path):
    with OpenAICompatServer() as server:
        backend_for(server, tmp_path).chat(USER)
        (entry,) = [f for f in (tmp_path / "responses").rglob("*.json")]
        entry.write_text("{truncated")
        result = backend_for(server, tmp_path).chat(USER)
    assert server.calls == 2 and not result.cached and json.loads(entry.read_text())["result"]["text"]


def test_cache_off_always_calls(tmp_path):
    with OpenAICompatServer() as server:
        for _ in range(2):
            backend_for(server, tmp_path, cache=False).chat(USER)
    assert server.calls == 2 and not (tmp_path / "responses").exists()
