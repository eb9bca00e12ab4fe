"""``openai-image:<model>@<base_url>`` against the loopback OpenAI-compatible server's images route."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from scigenbench.generators import get_generator
from scigenbench.generators.backends.testing import Fault, OpenAICompatServer

PROBLEM = {"id": "mini-physics-incline", "question": "A 2 kg block rests on a 30° incline. Find the friction."}
ROUTE = "/v1/images/generations"


def _image_bytes(fmt="PNG", color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), color).save(buf, format=fmt)
    return buf.getvalue()


def _b64(fmt="PNG") -> dict:
    return {"created": 0, "data": [{"b64_json": base64.b64encode(_image_bytes(fmt)).decode()}],
            "usage": {"input_tokens": 40, "output_tokens": 272}}


def _images_server(*answers):
    """A loopback server whose images route gives ``answers`` in order."""
    queue = list(answers)
    server = OpenAICompatServer().start()
    server.add_route("POST", ROUTE, lambda body: queue.pop(0))
    return server


def _generator(server, **options):
    options.setdefault("max_retries", 2)
    options.setdefault("cache", False)  # the cache dir is shared by the session; the cache test turns it on
    return get_generator(f"openai-image:test-image-model@{server.base_url}", **options)


def _image_requests(server):
    return [r for r in server.requests if r.path == ROUTE]


def test_a_429_is_retried_then_the_image_is_returned_with_cost():
    server = _images_server(Fault.rate_limited(retry_after=0.05), _b64())
    try:
        out = _generator(server, price_per_image=0.04, size="512x512", quality="low").generate(PROBLEM)
    finally:
        server.stop()
    assert out.status == "ok", out.error
    assert Image.open(io.BytesIO(out.image_png)).size == (16, 12)
    requests = _image_requests(server)
    assert [r.status for r in requests] == [429, 200]
    body = requests[-1].json
    assert body["model"] == "test-image-model" and body["size"] == "512x512" and body["quality"] == "low"
    assert PROBLEM["question"] in body["prompt"]
    assert out.extra["attempts"] == 2
    assert out.usage["cost_usd"] == pytest.approx(0.04) and out.usage["images"] == 1


def test_the_same_request_is_answered_from_the_cache(tmp_path):
    server = _images_server(_b64())
    try:
        first = _generator(server, price_per_image=0.04, cache=True, cache_dir=tmp_path).generate(PROBLEM)
        # a new generator object (as in a new process) finds the answer on disk
        second = _generator(server, price_per_image=0.04, cache=True, cache_dir=tmp_path).generate(PROBLEM)
        other_size = _generator(server, size="256x256", cache=True, cache_dir=tmp_path)  # another key
        server.add_route("POST", ROUTE, lambda body: _b64())
        third = other_size.generate(PROBLEM)
    finally:
        server.stop()
    assert first.image_png == second.image_png and second.extra["cached"] is True
    assert second.usage["cost_usd"] == 0.0 and second.usage["calls"] == 0
    assert third.status == "ok" and third.extra["cached"] is False
    assert len(_image_requests(server)) == 2


def test_url_responses_are_downloaded_and_non_png_is_stored_as_png():
    server = OpenAICompatServer().start()
    try:
        server.add_route("GET", "/files/figure.jpg", lambda body: _image_bytes("JPEG"))
        server.add_route("POST", ROUTE, lambda body: {"created": 0, "data": [
            {"url": server.base_url.replace("/v1", "") + "/files/figure.jpg"}]})
        out = _generator(server, response_format="url").generate(PROBLEM)
    finally:
        server.stop()
    assert out.status == "ok", out.error
    assert out.image_png.startswith(b"\x89PNG")
    assert _image_requests(server)[0].json["response_format"] == "url"


def test_a_moderation_refusal_is_recorded_as_blocked():
    refusal = Fault(400, {"error": {"message": "Your request was rejected by the safety system.",
                                    "type": "image_generation_user_error", "code": "moderation_blocked"}})
    server = _images_server(refusal)
    try:
        out = _generator(server).generate(PROBLEM)
    finally:
        server.stop()
    assert out.status == "blocked" and out.image_png is None
    assert len(_image_requests(server)) == 1  # permanent: not retried


def test_a_malformed_answer_fails_after_bounded_retries():
    server = _images_server({"created": 0, "data": []}, {"created": 0, "data": []}, {"created": 0})
    try:
        out = _generator(server, max_retries=2, backoff_base=0.01).generate(PROBLEM)
    finally:
        server.stop()
    assert out.status == "failed" and "malformed_response" in out.error
    assert out.extra["backend_error"]["attempts"] == 3


def test_the_per_image_budget_stops_before_the_call_that_would_pass_it():
    server = _images_server(_b64(), _b64())
    try:
        gen = _generator(server, price_per_image=0.04, budget_usd=0.05, cache=False)
        first = gen.generate(PROBLEM)
        second = gen.generate({**PROBLEM, "id": "other", "question": "Another question?"})
    finally:
        server.stop()
    assert first.status == "ok" and second.status == "budget_exceeded"
    assert len(_image_requests(server)) == 1


def test_spec_and_option_errors_are_clear():
    with pytest.raises(ValueError, match="needs a model"):
        get_generator("openai-image")
    with pytest.raises(ValueError, match="does not take option"):
        get_generator("openai-image:m@http://127.0.0.1:9/v1", sizes="1x1")
