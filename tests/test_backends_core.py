"""Registry, fake and replay backends, image encoder, limits, cost accounting and budget."""

from __future__ import annotations

import asyncio
import io
import threading
import time

import pytest
from PIL import Image, ImageFilter

from scigenbench._registry import UnknownNameError
from scigenbench.generators.backends import (
    BudgetExceededError, ConfigurationError, ImageEncodingError, ReplayMissError, ScriptExhaustedError,
    TransientError, get_backend, parse_spec,
)
from scigenbench.generators.backends.images import MAX_INPUT_PIXELS, encode_image
from scigenbench.generators.backends.limits import ConcurrencyLimiter
from scigenbench.generators.backends.replay import recording_key, write_recording

USER = [{"role": "user", "content": "Draw a triangle."}]
PRICES = {"fake": {"input": 1000.0, "output": 2000.0}}  # USD per 1M tokens: 0.001 / 0.002 per token


# -- registry -------------------------------------------------------------------------------------------------
def test_unknown_backend_suggests_the_closest_name():
    with pytest.raises(UnknownNameError, match=r"Did you mean 'openai'\?.*Valid names: fake, hf-inference"):
        get_backend("opena:gpt-4o")


def test_spec_keeps_colons_in_model_names():
    assert parse_spec("openai:llama3:8b@http://localhost:11434/v1") == (
        "openai", "llama3:8b", "http://localhost:11434/v1")
    assert parse_spec("transformers:/models/tiny") == ("transformers", "/models/tiny", None)


def test_unknown_option_is_named():
    with pytest.raises(TypeError, match="does not take option"):
        get_backend("fake", temperatur=0)


# -- fake -----------------------------------------------------------------------------------------------------
def test_fake_runs_out_with_a_clear_error():
    backend = get_backend("fake", responses=["one"])
    assert backend.chat(USER).text == "one"
    with pytest.raises(ScriptExhaustedError, match="all 1 scripted responses are used up"):
        backend.chat(USER)


def test_fake_scripted_transient_error_is_retried():
    backend = get_backend("fake", responses=[TransientError("flaky"), "ok"], backoff_base=0.01)
    result = backend.chat(USER)
    assert result.text == "ok" and result.provenance["attempts"] == 2


def test_fake_callable_sees_params():
    backend = get_backend("fake", responses=lambda messages, **p: f"t={p.get('temperature')}")
    assert backend.chat(USER, temperature=0.5, prompt_version="x").text == "t=0.5"


# -- replay ---------------------------------------------------------------------------------------------------
def test_replay_serves_recordings_and_ignores_non_semantic_params(tmp_path):
    path = tmp_path / "rec.jsonl"
    image = Image.new("RGB", (10, 10), "white")
    messages = [{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image", "image": image}]}]
    key = write_recording(path, messages, "recorded answer", temperature=0)
    assert key == recording_key(messages, temperature=0, timeout=3, prompt_version="v9")
    result = get_backend(f"replay:{path}").chat(messages, temperature=0, prompt_version="v9")
    assert result.text == "recorded answer" and result.provenance["recording_key"] == key


def test_replay_miss_shows_what_was_asked_and_the_difference(tmp_path):
    path = tmp_path / "rec.jsonl"
    write_recording(path, USER, "a triangle", temperature=0)
    backend = get_backend(f"replay:{path}")
    with pytest.raises(ReplayMissError) as info:
        backend.chat(USER, temperature=0.7)
    message = str(info.value)
    assert "Draw a triangle." in message and "'temperature': 0.7" in message
    assert "same messages, params {'temperature': 0}" in message and info.value.attempts == 1
    with pytest.raises(ReplayMissError, match="messages differ"):
        backend.chat([{"role": "user", "content": "Draw a square."}], temperature=0)


def test_replay_missing_file_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        get_backend(f"replay:{tmp_path / 'nope.jsonl'}")


# -- images ---------------------------------------------------------------------------------------------------
def test_encoder_is_deterministic_and_downscales_keeping_aspect():
    image = Image.linear_gradient("L").resize((3000, 1500)).convert("RGB")
    a, b = encode_image(image), encode_image(image.copy())
    assert a.sha256 == b.sha256 and (a.width, a.height) == (2048, 1024)
    small = encode_image(Image.new("RGB", (100, 50), "red"))
    assert (small.width, small.height) == (100, 50)  # never upscaled


def test_encoder_falls_back_to_jpeg_over_the_byte_cap():
    photo_like = Image.effect_noise((400, 400), 10).convert("RGB").filter(ImageFilter.GaussianBlur(1))
    assert encode_image(photo_like).format == "png"  # ~90 kB as PNG, under the default cap
    enc = encode_image(photo_like, max_bytes=50_000)
    assert enc.format == "jpeg" and enc.size <= 50_000 and enc.data[:2] == b"\xff\xd8"


def test_encoder_refuses_decompression_bombs_and_garbage(tmp_path):
    big = Image.new("1", (9000, 9000))  # 81 Mpx, tiny file
    buf = io.BytesIO()
    big.save(buf, format="PNG")
    assert 9000 * 9000 > MAX_INPUT_PIXELS
    with pytest.raises(ImageEncodingError, match="decompression-bomb"):
        encode_image(buf.getvalue())
    with pytest.raises(ImageEncodingError, match="cannot read image"):
        encode_image(b"not an image")


def test_bad_image_fails_the_request_without_calling():
    backend = get_backend("fake", responses=["never"])
    with pytest.raises(ImageEncodingError):
        backend.chat([{"role": "user", "content": [{"type": "image", "image": b"garbage"}]}])
    assert backend.inner.calls == []


# -- limits ---------------------------------------------------------------------------------------------------
def test_concurrency_limit_holds_for_threads_and_tasks_together():
    limiter = ConcurrencyLimiter(3)
    peak, active, lock = [0], [0], threading.Lock()
    full = threading.Event()  # set once 3 holders are in at the same time: until then each holder stays in

    def enter():
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            if active[0] == 3:
                full.set()

    def leave():
        with lock:
            active[0] -= 1

    def thread_job():
        with limiter.hold():
            enter()
            full.wait(60)
            leave()

    async def task_job():
        async with limiter.ahold():
            enter()
            await asyncio.to_thread(full.wait, 60)
            leave()

    async def tasks():
        await asyncio.gather(*[task_job() for _ in range(10)])

    threads = [threading.Thread(target=thread_job) for _ in range(10)]
    for t in threads:
        t.start()
    asyncio.run(tasks())
    for t in threads:
        t.join()
    assert peak[0] == 3 and limiter.active == 0


def test_rpm_limit_spaces_requests():
    backend = get_backend("fake", rpm=600)  # one start every 0.1 s
    start = time.monotonic()
    for _ in range(4):
        backend.chat(USER)
    assert time.monotonic() - start >= 0.3


# -- cost and budget ------------------------------------------------------------------------------------------
def test_cost_accounting_with_price_table():
    backend = get_backend("fake", responses=["one two"], prices=PRICES)
    result = backend.chat([{"role": "user", "content": "a b c"}])
    assert result.usage.prompt_tokens == 3 and result.usage.completion_tokens == 2
    assert result.cost_usd == pytest.approx(0.003 + 0.004) and result.provenance["cost"] == "priced"
    assert backend.stats()["cost_usd"] == pytest.approx(0.007)


def test_unpriced_model_costs_zero_and_is_flagged():
    backend = get_backend("fake", responses=["x"])
    result = backend.chat(USER)
    assert result.cost_usd == 0 and result.provenance["cost"] == "unpriced"
    assert backend.stats()["unpriced_calls"] == 1


def test_budget_stops_before_a_call_would_exceed_it():
    backend = get_backend("fake", responses=["ok"] * 10, prices=PRICES, budget_usd=0.05)
    backend.chat(USER, max_tokens=10)  # worst case 0.001*~8 + 0.002*10 < 0.05
    with pytest.raises(BudgetExceededError, match="would be exceeded"):
        backend.chat(USER, max_tokens=100)  # worst case 0.2 > remaining
    assert len(backend.inner.calls) == 1


def test_budget_without_price_is_refused_up_front():
    with pytest.raises(ConfigurationError, match="needs a price"):
        get_backend("fake", budget_usd=1.0)


def test_dry_run_estimate_counts_calls_tokens_and_cost(tmp_path):
    backend = get_backend("fake", prices=PRICES, cache=True, cache_dir=tmp_path)
    backend.chat([{"role": "user", "content": "q0"}], max_tokens=50)
    plan = [([{"role": "user", "content": f"q{i}"}], {"max_tokens": 50}) for i in range(3)]
    est = backend.estimate(plan)
    assert (est["requests"], est["cached"], est["calls"], est["completion_tokens_max"]) == (3, 1, 2, 100)
    assert est["cost_usd_max"] > 0 and est["priced"]
    assert len(backend.inner.calls) == 1  # the estimate made no call


def test_chat_batch_serves_cache_hits_and_sends_only_misses(tmp_path):
    backend = get_backend("fake", cache=True, cache_dir=tmp_path)
    backend.chat([{"role": "user", "content": "q1"}], temperature=0)
    results = backend.chat_batch([[{"role": "user", "content": q}] for q in ("q0", "q1", "q2")], temperature=0)
    assert [r.text for r in results] == ["fake: q0", "fake: q1", "fake: q2"]
    assert [r.cached for r in results] == [False, True, False]
    assert [m[0]["content"] for m, _ in backend.inner.calls] == ["q1", "q0", "q2"]
