"""hf-inference: backend (huggingface_hub.InferenceClient) against the loopback OpenAI-compatible server."""

from __future__ import annotations

import pytest

from scigenbench.generators.backends import (
    ConfigurationError, MalformedResponseError, PermanentError, RequestTimeoutError, get_backend,
)
from scigenbench.generators.backends.testing import Fault, OpenAICompatServer, Reply

pytest.importorskip("huggingface_hub")

from huggingface_hub import constants  # noqa: E402

# huggingface_hub refuses every request in offline mode, a loopback server included
pytestmark = pytest.mark.skipif(constants.HF_HUB_OFFLINE, reason="HF_HUB_OFFLINE is set: InferenceClient "
                                "refuses all requests, even to the test's loopback server")

USER = [{"role": "user", "content": "hello"}]
FAST = {"backoff_base": 0.01, "cache": False}
TOKEN = "hf_SENTINELtoken0123456789"


def test_answers_and_retries_through_inference_client(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    script = [Fault.rate_limited(retry_after=0.1), Fault.server_error(), Fault.malformed({"choices": []}),
              Reply("hi there", prompt_tokens=5, completion_tokens=2)]
    with OpenAICompatServer(script) as server:
        result = get_backend(f"hf-inference:test-model@{server.base_url}", max_retries=3, **FAST).chat(
            USER, temperature=0, stop="\n")
    assert (result.text, result.usage.prompt_tokens, result.usage.completion_tokens) == ("hi there", 5, 2)
    assert result.provenance["attempts"] == 4
    last = server.chat_requests()[-1]
    assert last.json["model"] == "test-model" and last.json["stop"] == ["\n"]
    assert last.headers["Authorization"] == f"Bearer {TOKEN}"


def test_permanent_error_is_redacted_and_not_retried(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with OpenAICompatServer([Fault.bad_request(f"bad token {TOKEN}", status=403), "never"]) as server:
        with pytest.raises(PermanentError) as info:
            get_backend(f"hf-inference:test-model@{server.base_url}", **FAST).chat(USER)
    assert server.calls == 1 and info.value.status == 403
    assert TOKEN not in str(info.value.to_dict()) and "***" in str(info.value)


def test_timeouts_and_garbage_end_in_typed_errors(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with OpenAICompatServer([Fault.timeout(1.0)] * 2 + [Fault.malformed()] * 2) as server:
        backend = get_backend(f"hf-inference:test-model@{server.base_url}", max_retries=1, timeout=0.2, **FAST)
        with pytest.raises(RequestTimeoutError):
            backend.chat(USER)
        with pytest.raises(MalformedResponseError):
            backend.chat([{"role": "user", "content": "other"}])


def test_missing_token_names_the_variable(monkeypatch):
    monkeypatch.delenv("MY_HF_TOKEN", raising=False)
    with pytest.raises(ConfigurationError, match="MY_HF_TOKEN"):
        get_backend("hf-inference:some/model", token_env="MY_HF_TOKEN")


def test_a_deadline_does_not_build_one_client_per_call(monkeypatch):
    # with a deadline shorter than the timeout every call's timeout is a slightly different float
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with OpenAICompatServer() as server:
        backend = get_backend(f"hf-inference:test-model@{server.base_url}", deadline=30, timeout=60, **FAST)
        for i in range(5):
            backend.chat([{"role": "user", "content": f"q{i}"}])
    assert server.calls == 5 and len(backend.inner._clients) == 1
