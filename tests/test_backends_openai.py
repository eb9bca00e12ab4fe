"""The openai: backend against a real loopback HTTP server (OpenAICompatServer): answers, faults, retries."""

from __future__ import annotations

import asyncio
import base64
import io
import time

import pytest
from PIL import Image

from scigenbench.generators.backends import (
    ConfigurationError, ConnectionFailedError, MalformedResponseError, PermanentError, RateLimitError,
    RequestTimeoutError, TransientError, get_backend,
)
from scigenbench.generators.backends.testing import Fault, OpenAICompatServer, Reply

USER = [{"role": "user", "content": "What is 2 + 2?"}]
FAST = {"backoff_base": 0.01, "backoff_max": 0.05, "cache": False}


def backend_for(server, **options):
    return get_backend(f"openai:test-model@{server.base_url}", **{**FAST, **options})


def test_successful_answer_text_usage_and_request_shape():
    with OpenAICompatServer([Reply("4", prompt_tokens=11, completion_tokens=1)]) as server:
        result = backend_for(server).chat(USER, temperature=0, max_tokens=5, prompt_version="v1")
    assert (result.text, result.usage.prompt_tokens, result.usage.completion_tokens) == ("4", 11, 1)
    assert result.model == "test-model" and result.backend == "openai" and not result.cached
    sent = server.chat_requests()[0].json
    assert sent["messages"] == USER and sent["temperature"] == 0 and sent["max_tokens"] == 5
    assert "prompt_version" not in sent  # provenance only, never sent
    assert result.provenance["prompt_version"] == "v1" and result.provenance["params"] == {
        "max_tokens": 5, "temperature": 0}


def test_image_parts_arrive_as_data_urls_with_recorded_hash():
    image = Image.new("RGBA", (64, 32), (0, 0, 255, 128))
    messages = [{"role": "user", "content": [{"type": "text", "text": "Describe"},
                                             {"type": "image", "image": image}]}]
    with OpenAICompatServer(["a blue box"]) as server:
        result = backend_for(server).chat(messages)
    (url,) = server.chat_requests()[0].image_urls()
    assert url.startswith("data:image/png;base64,")
    sent = base64.b64decode(url.split(",", 1)[1])
    import hashlib
    assert result.provenance["images"] == [{"sha256": hashlib.sha256(sent).hexdigest(), "bytes": len(sent),
                                            "format": "png", "width": 64, "height": 32}]
    assert Image.open(io.BytesIO(sent)).mode == "RGB"


def test_429_with_retry_after_is_honoured_then_succeeds():
    with OpenAICompatServer([Fault.rate_limited(retry_after=0.3), "ok"]) as server:
        start = time.monotonic()
        result = backend_for(server).chat(USER)
        elapsed = time.monotonic() - start
    assert result.text == "ok" and result.provenance["attempts"] == 2
    assert elapsed >= 0.3  # waited what the server asked, not the 10 ms backoff
    assert [r.status for r in server.chat_requests()] == [429, 200]


def test_500_and_malformed_bodies_are_retried_until_a_valid_answer():
    script = [Fault.server_error(), Fault.malformed(), Fault.malformed({"choices": []}),
              Fault.malformed({"choices": [{"message": {"content": None}}]}), Fault.server_error(503), "fine"]
    with OpenAICompatServer(script) as server:
        backend = backend_for(server, max_retries=5)
        result = backend.chat(USER)
    assert result.text == "fine" and result.provenance["attempts"] == 6
    assert backend.stats()["retries"] == 5 and backend.stats()["failures"] == 0


def test_timeout_is_retried_and_bounded():
    with OpenAICompatServer([Fault.timeout(2.0), "late but fine"]) as server:
        result = backend_for(server, timeout=0.3).chat(USER)
    assert result.text == "late but fine" and result.provenance["attempts"] == 2


def test_retries_are_bounded_and_the_final_error_is_recorded():
    with OpenAICompatServer([Fault.server_error(502)] * 10) as server:
        backend = backend_for(server, max_retries=2)
        with pytest.raises(TransientError) as info:
            backend.chat(USER)
    err = info.value
    assert server.calls == 3 and err.attempts == 3 and err.status == 502
    record = err.to_dict()
    assert record["kind"] == "transient" and [h["status"] for h in record["history"]] == [502, 502, 502]
    assert backend.stats()["failures"] == 1 and backend.stats()["errors"] == {"transient": 1}


def test_malformed_forever_ends_in_malformed_response_error():
    with OpenAICompatServer([Fault.malformed()] * 5) as server:
        with pytest.raises(MalformedResponseError) as info:
            backend_for(server, max_retries=1).chat(USER)
    assert server.calls == 2 and "not a chat completion" in str(info.value)


def test_permanent_4xx_is_not_retried():
    with OpenAICompatServer([Fault.bad_request("model does not exist", status=404), "never"]) as server:
        with pytest.raises(PermanentError) as info:
            backend_for(server, max_retries=5).chat(USER)
    assert server.calls == 1 and info.value.status == 404 and info.value.attempts == 1


def test_retry_after_longer_than_max_wait_fails_at_once():
    with OpenAICompatServer([Fault.rate_limited(retry_after=3600), "never"]) as server:
        with pytest.raises(RateLimitError) as info:
            backend_for(server, max_retry_wait=5).chat(USER)
    assert server.calls == 1 and "max_retry_wait" in str(info.value)


def test_deadline_stops_retrying():
    with OpenAICompatServer([Fault.rate_limited(retry_after=0.4)] * 20) as server:
        start = time.monotonic()
        with pytest.raises(RateLimitError) as info:
            backend_for(server, max_retries=50, deadline=1.0).chat(USER)
    assert time.monotonic() - start < 1.5 and "deadline" in str(info.value) and server.calls <= 3


def test_connection_refused_is_a_connection_error():
    with OpenAICompatServer() as server:
        url = server.base_url
    backend = get_backend(f"openai:test-model@{url}", max_retries=1, **FAST)
    with pytest.raises(ConnectionFailedError) as info:
        backend.chat(USER)
    assert info.value.attempts == 2


def test_timeout_forever_is_a_timeout_error():
    with OpenAICompatServer([Fault.timeout(1.0)] * 3) as server:
        with pytest.raises(RequestTimeoutError):
            backend_for(server, timeout=0.2, max_retries=1).chat(USER)


def test_async_chat_runs_concurrently_under_the_limit():
    with OpenAICompatServer(latency=0.2) as server:
        backend = backend_for(server, concurrency=8)

        async def run():
            return await asyncio.gather(*[backend.achat([{"role": "user", "content": f"q{i}"}]) for i in range(16)])

        start = time.monotonic()
        results = asyncio.run(run())
        elapsed = time.monotonic() - start
    assert sorted(r.text for r in results) == sorted(f"echo: q{i}" for i in range(16))
    assert 0.38 <= elapsed < 1.5  # two waves of 8, not 16 sequential requests


def test_missing_api_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("MY_PROVIDER_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="MY_PROVIDER_KEY"):
        get_backend("openai:some-model@https://api.example.com/v1", api_key_env="MY_PROVIDER_KEY")


def test_api_key_from_env_is_sent_as_bearer(monkeypatch):
    monkeypatch.setenv("MY_PROVIDER_KEY", "k-123456")
    with OpenAICompatServer(["ok"], require_api_key="k-123456") as server:
        result = get_backend(f"openai:test-model@{server.base_url}", api_key_env="MY_PROVIDER_KEY",
                             **FAST).chat(USER)
    assert result.text == "ok"


def test_loopback_server_lists_models_and_serves_extra_routes():
    import json
    import urllib.request

    with OpenAICompatServer(models=["m1", "m2"]) as server:
        server.add_route("POST", "/v1/images/generations", lambda body: {"data": [{"b64_json": body["prompt"]}]})
        models = json.load(urllib.request.urlopen(server.base_url + "/models"))
        req = urllib.request.Request(server.base_url + "/images/generations", data=b'{"prompt": "p"}',
                                     headers={"Content-Type": "application/json"})
        images = json.load(urllib.request.urlopen(req))
    assert [m["id"] for m in models["data"]] == ["m1", "m2"]
    assert images == {"data": [{"b64_json": "p"}]}


def test_adaptive_mode_halves_concurrency_on_429_and_still_answers():
    script = [Fault.rate_limited(retry_after=0.05)] * 3 + ["a", "b", "c"]
    with OpenAICompatServer(script) as server:
        backend = backend_for(server, concurrency=8, adaptive=True, max_retries=5)
        texts = sorted(backend.chat([{"role": "user", "content": f"{i}"}]).text for i in range(3))
    # three 429s: 8 → 4 → 2 → 1; then healthy: +1 after 1 success (2), +1 after 2 more (3)
    assert texts == ["a", "b", "c"] and backend.limiter.limit == 3
    assert backend.stats()["retries"] == 3


def test_server_side_rate_limit_with_client_rpm_collects_no_429s():
    with OpenAICompatServer(rate_limit=20, rate_limit_burst=2) as server:
        backend = backend_for(server, concurrency=4, rpm=20 * 60)
        results = [backend.chat([{"role": "user", "content": f"q{i}"}]) for i in range(6)]
    assert [r.text for r in results] == [f"echo: q{i}" for i in range(6)]
    assert [r.status for r in server.chat_requests()] == [200] * 6


def test_server_side_rate_limit_without_client_pacing_is_absorbed_by_retries():
    with OpenAICompatServer(rate_limit=10, rate_limit_burst=1) as server:
        backend = backend_for(server, concurrency=4, max_retries=10)

        async def run():
            return await asyncio.gather(*[backend.achat([{"role": "user", "content": f"q{i}"}]) for i in range(4)])

        results = asyncio.run(run())
    assert sorted(r.text for r in results) == [f"echo: q{i}" for i in range(4)]
    assert any(r.status == 429 for r in server.chat_requests())  # the limit really bit


def test_exhausted_server_script_fails_fast_with_its_reason():
    with OpenAICompatServer(["only one"]) as server:
        backend = backend_for(server, max_retries=3)
        backend.chat(USER)
        with pytest.raises(PermanentError, match="scripted responses exhausted after 1 requests"):
            backend.chat([{"role": "user", "content": "again"}])
    assert server.calls == 2
