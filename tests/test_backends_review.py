"""Review-wave regressions for the backends layer: single-flight cache, key canonical form, retry signals."""

from __future__ import annotations

import asyncio
import email.utils
import threading
import time

import pytest

from scigenbench.generators.backends import PermanentError, get_backend
from scigenbench.generators.backends.replay import write_recording
from scigenbench.generators.backends.testing import Fault, OpenAICompatServer, Reply

USER = [{"role": "user", "content": "Name the shape."}]
FAST = {"backoff_base": 0.01, "backoff_max": 0.02}


def backend_for(server, cache_dir, **options):
    return get_backend(f"openai:test-model@{server.base_url}", cache_dir=cache_dir, **{**FAST, **options})


def run_threads(target, n):
    out, threads = [None] * n, []
    for i in range(n):
        def work(i=i):
            try:
                out[i] = target()
            except Exception as exc:  # noqa: BLE001 - the test inspects it
                out[i] = exc
        threads.append(threading.Thread(target=work))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


# -- single-flight: identical requests in flight at once make one call --------------------------------------
def test_concurrent_identical_thread_requests_make_one_call(tmp_path):
    with OpenAICompatServer(latency=0.2) as server:
        backend = backend_for(server, tmp_path)
        results = run_threads(lambda: backend.chat(USER, temperature=0), 6)
    assert server.calls == 1
    assert {r.text for r in results} == {"echo: Name the shape."}
    assert sum(not r.cached for r in results) == 1
    stats = backend.stats()
    assert (stats["calls"], stats["cache_hits"], stats["cache_misses"]) == (1, 5, 1)


def test_concurrent_identical_async_requests_make_one_call(tmp_path):
    with OpenAICompatServer(latency=0.2) as server:
        backend = backend_for(server, tmp_path)

        async def main():
            return await asyncio.gather(*(backend.achat(USER) for _ in range(6)))

        results = asyncio.run(main())
    assert server.calls == 1 and len({r.text for r in results}) == 1
    assert backend.stats()["calls"] == 1 and backend.stats()["cache_hits"] == 5


def test_a_failed_leader_is_never_served_to_waiting_twins(tmp_path):
    # the first request fails for good while its twin waits; the twin then makes its own call
    arrived, release, served = threading.Event(), threading.Event(), []

    def handler(request):
        served.append(request)
        if len(served) == 1:  # the leader: held at the server until its twin has been sent
            arrived.set()
            release.wait(60)
            return Fault(400, {"error": {"message": "bad"}})
        return "fresh"

    with OpenAICompatServer(handler=handler) as server:
        backend = backend_for(server, tmp_path)
        first = []
        leader = threading.Thread(target=lambda: first.append(_catch(lambda: backend.chat(USER))))
        leader.start()
        assert arrived.wait(60)
        twin_result = []
        twin_thread = threading.Thread(target=lambda: twin_result.append(backend.chat(USER)))
        twin_thread.start()
        release.set()
        leader.join()
        twin_thread.join()
        twin = twin_result[0]
    assert isinstance(first[0], PermanentError)
    assert twin.text == "fresh" and not twin.cached and server.calls == 2


def test_cancelled_waiting_twin_does_not_cancel_the_leader(tmp_path):
    with OpenAICompatServer(latency=0.3) as server:
        backend = backend_for(server, tmp_path)

        async def main():
            leader = asyncio.create_task(backend.achat(USER))
            await asyncio.sleep(0.05)
            twin = asyncio.create_task(backend.achat(USER))
            await asyncio.sleep(0.05)
            twin.cancel()
            result = await leader
            with pytest.raises(asyncio.CancelledError):
                await twin
            return result, await backend.achat(USER)

        result, again = asyncio.run(main())
    assert result.text == "echo: Name the shape." and again.cached and server.calls == 1


def test_cache_off_sends_every_identical_request(tmp_path):
    with OpenAICompatServer(latency=0.1) as server:
        backend = backend_for(server, tmp_path, cache=False)
        run_threads(lambda: backend.chat(USER), 3)
    assert server.calls == 3


def _catch(fn):
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001
        return exc


# -- key canonical form -----------------------------------------------------------------------------------
def test_integral_float_and_int_params_share_one_cache_entry(tmp_path):
    with OpenAICompatServer() as server:
        backend_for(server, tmp_path).chat(USER, temperature=0, top_p=1)
        again = backend_for(server, tmp_path).chat(USER, temperature=0.0, top_p=1.0)
    assert again.cached and server.calls == 1


def test_replay_matches_a_recording_written_with_int_params_when_asked_with_floats(tmp_path):
    path = tmp_path / "rec.jsonl"
    write_recording(path, USER, "a square", temperature=0, max_tokens=64)
    backend = get_backend(f"replay:{path}", cache=False)
    assert backend.chat(USER, temperature=0.0, max_tokens=64).text == "a square"


# -- retry signals ----------------------------------------------------------------------------------------
def test_retry_after_as_http_date_is_understood(tmp_path):
    later = email.utils.formatdate(time.time() + 60, usegmt=True)
    with OpenAICompatServer([Fault(429, {"error": {"message": "slow down"}}, {"Retry-After": later}), "ok"]) as s:
        backend = backend_for(s, tmp_path, cache=False, max_retry_wait=5)
        with pytest.raises(Exception, match="server asked to wait") as info:
            backend.chat(USER)
    assert info.value.attempts == 1 and s.calls == 1


@pytest.mark.parametrize("status", [408, 409, 425, 502, 503, 504])
def test_transient_statuses_are_retried(tmp_path, status):
    with OpenAICompatServer([Fault.server_error(status), "ok"]) as server:
        result = backend_for(server, tmp_path, cache=False).chat(USER)
    assert result.text == "ok" and result.provenance["attempts"] == 2


def test_context_length_400_is_not_retried_and_history_is_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv("SENTINEL_KEY", "sk-sentinel-0123456789")
    body = {"error": {"message": "This model's maximum context length is 8192 tokens", "code":
                      "context_length_exceeded"}}
    with OpenAICompatServer([Fault(400, body), "never"]) as server:
        backend = get_backend(f"openai:test-model@{server.base_url}", api_key_env="SENTINEL_KEY", cache=False,
                              **FAST)
        with pytest.raises(PermanentError, match="maximum context length") as info:
            backend.chat(USER)
    err = info.value.to_dict()
    assert server.calls == 1 and err["attempts"] == 1 and err["status"] == 400 and len(err["history"]) == 1
    assert "sk-sentinel" not in repr(err)


def test_replay_key_is_stable_across_python_runs_with_set_params():
    import subprocess
    import sys

    code = ("from scigenbench.generators.backends.replay import recording_key as k;"
            "print(k([{'role': 'user', 'content': 'x'}], stop={'alpha', 'beta', 'gamma', 'delta'},"
            " temperature=0.7))")
    keys = {subprocess.run([sys.executable, "-c", code], env={"PYTHONHASHSEED": seed}, capture_output=True,
                           text=True, check=True).stdout for seed in ("1", "2", "3")}
    assert len(keys) == 1


# -- a cache that cannot be written never loses a paid answer ---------------------------------------------
def test_unwritable_cache_still_returns_the_answer(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    with OpenAICompatServer() as server:
        result = backend_for(server, blocker).chat(USER)
    assert result.text == "echo: Name the shape." and server.calls == 1


# -- budget: a cancelled call gives its reservation and its slot back -------------------------------------
def test_cancelled_call_releases_its_budget_reservation_and_slot(tmp_path):
    prices = {"test-model": {"input": 1000.0, "output": 2000.0}}  # 0.001 / 0.002 USD per token
    arrived, release = threading.Event(), threading.Event()

    def handler(request):  # answers by content, so no reply can go to the wrong request
        if request["messages"][-1]["content"] == "next":
            return Reply("ok", prompt_tokens=1, completion_tokens=1)
        arrived.set()
        release.wait(60)  # held at the server until the client has cancelled it
        return Reply("slow")

    with OpenAICompatServer(handler=handler) as s:
        # room for one call of max_tokens=10 in flight at a time, not two
        backend = backend_for(s, tmp_path, cache=False, prices=prices, budget_usd=0.03, concurrency=1)

        async def main():
            task = asyncio.create_task(backend.achat(USER, max_tokens=10))
            assert await asyncio.to_thread(arrived.wait, 60)  # in flight: it holds the slot and the reservation
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert backend.limiter.active == 0
            return await backend.achat([{"role": "user", "content": "next"}], max_tokens=10)

        try:
            result = asyncio.run(main())
        finally:
            release.set()
    assert result.text == "ok" and backend.stats()["cost_usd"] == pytest.approx(0.003)
