"""The wrapper that gives ANY backend cache, retries, limits, accounting, budget and provenance.

``get_backend`` always returns a :class:`ManagedBackend` around the raw backend. One request goes:

1. normalise the messages (images encoded once by :func:`~.images.encode_image`);
2. cache lookup by content hash (a hit returns ``cached=True``, ``cost_usd=0`` and makes no call); identical
   requests in flight at once on one backend object make one call: the first leads, the others wait and are
   served from the cache (after a failure they try on their own: failures are never cached or shared);
3. budget check: worst-case cost of this call (prompt estimate + ``max_tokens``) on top of what is spent and
   reserved by calls in flight; over ``budget_usd`` → :class:`BudgetExceededError` before calling;
4. up to ``1 + max_retries`` attempts, each under the concurrency limit and the rpm limiter, with exponential
   backoff and jitter between transient failures (429, 5xx, timeouts, connection errors, malformed bodies);
   ``Retry-After`` is honoured (a wait longer than ``max_retry_wait`` or past the ``deadline`` ends the
   retries at once); permanent errors (other 4xx, bad config, replay miss) are not retried;
5. the final failure is raised as the last :class:`BackendError` with ``attempts`` and ``history`` filled in;
   a success is accounted (tokens, cost), stored in the cache and returned with provenance.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import random
import threading
import time
from dataclasses import replace
from typing import Any

from scigenbench.generators.backends._messages import (
    canonical_messages, images_of, normalize_messages, semantic_params, text_of,
)
from scigenbench.generators.backends.base import (
    BackendError, BudgetExceededError, ChatBackend, ChatResult, ConfigurationError, RateLimitError, TransientError,
    Usage,
)
from scigenbench.generators.backends.cache import ResponseCache, cache_key
from scigenbench.generators.backends.limits import CallLimits
from scigenbench.generators.backends.pricing import PriceTable

logger = logging.getLogger(__name__)

#: assumed completion length for budget checks and estimates when a call gives no ``max_tokens``
DEFAULT_COMPLETION_ESTIMATE = 1024


class _Request:
    """One prepared request: normalised messages, params split, cache key, provenance skeleton."""

    def __init__(self, backend: "ManagedBackend", messages: Any, params: dict[str, Any]):
        self.prompt_version = params.pop("prompt_version", None)
        self.timeout = params.pop("timeout", None)  # per-call override of the attempt timeout (not in the key)
        for name in ("max_retries", "deadline", "cache", "concurrency", "rpm"):
            if name in params:
                raise TypeError(f"{name}= is a backend option, not a request param: pass it to get_backend()")
        self.messages = normalize_messages(messages)
        self.params = semantic_params(params)
        self.canonical = canonical_messages(self.messages)
        self.key = cache_key(backend.inner.name, backend.inner.model, self.params, self.canonical,
                             endpoint=backend.endpoint)
        self.images = [img.provenance() for img in images_of(self.messages)]


class ManagedBackend(ChatBackend):
    """Cache + retries + limits + accounting around ``inner`` (see module docstring for the flow).

    Args:
        inner: the raw backend.
        cache: use the on-disk response cache.
        cache_dir: cache directory (default ``$SCIGENBENCH_CACHE_DIR`` or ``~/.cache/scigenbench``).
        max_retries: retries after the first attempt (total attempts = ``1 + max_retries``).
        timeout: seconds per attempt.
        deadline: seconds for the whole call, retries and waits included (``None``: bounded by the retries).
        backoff_base, backoff_max: exponential backoff ``min(max, base * 2**(n-1))`` with 50 % jitter.
        max_retry_wait: longest ``Retry-After`` we accept to wait (longer → fail now).
        concurrency: requests in flight at once (threads and asyncio tasks together).
        rpm: requests per minute (``None``: unlimited).
        adaptive: halve concurrency on 429 (and pause everyone for ``Retry-After``), grow back when healthy.
        limits: a :class:`~.limits.CallLimits` shared with other backends (one run's judge and graders): its
            concurrency, rpm and adaptive control replace ``concurrency``/``rpm``/``adaptive``.
        prices: price table (dict, JSON path, :class:`PriceTable`; default ``$SCIGENBENCH_PRICES``).
        budget_usd: stop with :class:`BudgetExceededError` before a call that could exceed it.
        rate_limiter: an object with the :class:`RateLimiter` methods (``wait``, ``await_slot``, ``pause_for``)
            used instead of a private ``RateLimiter(rpm)``: several backends (e.g. Ray workers on many nodes,
            see :mod:`scigenbench.generators.executors`) then share one request rate.
    """

    def __init__(self, inner: ChatBackend, *, cache: bool = True, cache_dir: Any = None, max_retries: int = 4,
                 timeout: float = 120.0, deadline: float | None = None, backoff_base: float = 1.0,
                 backoff_max: float = 30.0, max_retry_wait: float = 120.0, concurrency: int = 8,
                 rpm: float | None = None, adaptive: bool = False, prices: Any = None,
                 budget_usd: float | None = None, limits: CallLimits | None = None,
                 rate_limiter: Any = None):
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.inner = inner
        #: the server's public URL (None for local backends): part of the cache key
        self.endpoint = inner.describe().get("endpoint")
        self.name, self.model = inner.name, inner.model
        self.cache = ResponseCache(cache_dir) if cache else None
        self.max_retries, self.timeout, self.deadline = int(max_retries), float(timeout), deadline
        self.backoff_base, self.backoff_max, self.max_retry_wait = backoff_base, backoff_max, max_retry_wait
        if limits is None:
            limits = CallLimits(concurrency, rpm, adaptive, rate_limiter=rate_limiter)
        self.limits = limits
        self.limiter, self.rate, self.adaptive = limits.limiter, limits.rate, limits.adaptive
        self.prices = PriceTable.from_option(prices)
        self.price = self.prices.lookup(inner.model)
        self.budget_usd = budget_usd
        if budget_usd is not None and self.price is None:
            raise ConfigurationError(
                f"budget_usd={budget_usd} needs a price for model {inner.model!r}, but the price table has none; "
                "pass prices={model: {'input': usd_per_1M, 'output': usd_per_1M}} or set SCIGENBENCH_PRICES",
                backend=inner.name, model=inner.model)
        self._lock = threading.Lock()
        self._inflight: dict[str, concurrent.futures.Future] = {}  # cache key -> leader's future (single-flight)
        self._reserved = 0.0
        self._stats: dict[str, Any] = {"calls": 0, "attempts": 0, "retries": 0, "failures": 0, "cache_hits": 0,
                                       "cache_misses": 0, "prompt_tokens": 0, "completion_tokens": 0,
                                       "cost_usd": 0.0, "unpriced_calls": 0, "latency_s": 0.0, "errors": {}}

    # -- public API -----------------------------------------------------------------------------------------
    def chat(self, messages: list[dict[str, Any]], **params: Any) -> ChatResult:
        """Answer one conversation (blocking). Raises :class:`BackendError` after bounded retries."""
        request = _Request(self, messages, params)
        while True:
            cached = self._from_cache(request, count_miss=False)
            if cached is not None:
                return cached
            claim = self._claim(request.key, follow=not _in_running_loop())
            if not isinstance(claim, concurrent.futures.Future):
                break  # we lead this key (or single-flight is off)
            claim.result()  # an identical request is in flight: wait for it, then look in the cache again
        try:
            cached = self._from_cache(request, count_miss=True)
            if cached is not None:
                return cached
            reserved = self._reserve_budget(request)
            try:
                # accounted before the reservation is released, so a concurrent budget check never sees neither
                return self._finish(request, self._attempts_sync(request))
            finally:
                self._release_budget(reserved)
        finally:
            self._unclaim(request.key, claim)

    async def achat(self, messages: list[dict[str, Any]], **params: Any) -> ChatResult:
        """Async :meth:`chat`."""
        request = _Request(self, messages, params)
        while True:
            cached = self._from_cache(request, count_miss=False)
            if cached is not None:
                return cached
            claim = self._claim(request.key, follow=True)
            if not isinstance(claim, concurrent.futures.Future):
                break
            # shield: cancelling this waiter must not cancel the leader's future
            await asyncio.shield(asyncio.wrap_future(claim))
        try:
            cached = self._from_cache(request, count_miss=True)
            if cached is not None:
                return cached
            reserved = self._reserve_budget(request)
            try:
                return self._finish(request, await self._attempts_async(request))
            finally:
                self._release_budget(reserved)
        finally:
            self._unclaim(request.key, claim)

    def chat_batch(self, batch: list[list[dict[str, Any]]], **params: Any) -> list[ChatResult]:
        """Answer several conversations with the same params; cache hits are served, the misses go to the
        backend in one ``inner.chat_batch`` call (local models batch them on the accelerator)."""
        requests = [_Request(self, m, dict(params)) for m in batch]
        results: list[ChatResult | None] = [self._from_cache(r) for r in requests]
        todo = [i for i, r in enumerate(results) if r is None]
        if todo:
            reserved = 0.0
            try:
                for i in todo:
                    reserved += self._reserve_budget(requests[i])
                fresh = self._run_with_retries(
                    lambda timeout: self.inner.chat_batch([requests[i].messages for i in todo], timeout=timeout,
                                                          **requests[todo[0]].params), requests[todo[0]].timeout)
                for i, result in zip(todo, fresh):
                    results[i] = self._finish(requests[i], result)
            finally:
                self._release_budget(reserved)
        return results  # type: ignore[return-value]

    def stats(self) -> dict[str, Any]:
        """Counters for this backend object: live calls, attempts, retries, failures, cache hits/misses,
        tokens, cost (USD), unpriced calls, total latency and errors by kind."""
        with self._lock:
            out = {**self._stats, "errors": dict(self._stats["errors"])}
        out.update(backend=self.name, model=self.model, budget_usd=self.budget_usd,
                   priced=self.price is not None)
        return out

    def estimate(self, requests: list[Any], *, max_tokens: int | None = None) -> dict[str, Any]:
        """Dry run: how many calls ``requests`` would make and their worst-case tokens and cost.

        Args:
            requests: conversations (message lists) or ``(messages, params)`` pairs.
            max_tokens: completion length assumed when a request has none.

        Returns:
            ``{"requests", "cached", "calls", "prompt_tokens", "completion_tokens_max", "cost_usd_max",
            "priced"}``; prompt tokens are a ~4-characters-per-token estimate plus a tile estimate per image.
        """
        totals = {"requests": 0, "cached": 0, "calls": 0, "prompt_tokens": 0, "completion_tokens_max": 0}
        for item in requests:
            messages, params = item if isinstance(item, tuple) else (item, {})
            request = _Request(self, messages, dict(params))
            totals["requests"] += 1
            if self.cache is not None and self.cache.get(request.key) is not None:
                totals["cached"] += 1
                continue
            prompt, completion = self._token_estimate(request, max_tokens)
            totals["calls"] += 1
            totals["prompt_tokens"] += prompt
            totals["completion_tokens_max"] += completion
        cost = self.price.cost(totals["prompt_tokens"], totals["completion_tokens_max"]) if self.price else 0.0
        return {**totals, "cost_usd_max": cost, "priced": self.price is not None}

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "cache": self.cache is not None, "max_retries": self.max_retries,
                "timeout": self.timeout, "concurrency": self.limiter.limit, "priced": self.price is not None}

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> "ManagedBackend":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ManagedBackend({self.name}:{self.model}, cache={self.cache is not None})"

    # -- cache ----------------------------------------------------------------------------------------------
    def _from_cache(self, request: _Request, count_miss: bool = True) -> ChatResult | None:
        if self.cache is None:
            return None
        entry = self.cache.get(request.key)
        result = _result_from_entry(entry) if entry is not None else None
        if result is None:
            if count_miss:
                with self._lock:
                    self._stats["cache_misses"] += 1
            return None
        with self._lock:
            self._stats["cache_hits"] += 1
        stored = entry["result"]
        result.provenance = self._provenance(request, cache="hit", attempts=0,
                                             original_cost_usd=stored.get("cost_usd", 0.0))
        return result

    def _claim(self, key: str, *, follow: bool) -> "concurrent.futures.Future | _Lead | None":
        """Single-flight for identical requests (cache on): the first caller of ``key`` leads and gets a fresh
        future it resolves when done (:meth:`_unclaim`); a later caller gets the leader's future, waits for it
        and then reads the cache. ``None``: no single-flight (cache off, or a sync caller on an event loop
        thread, which must not block on a task of its own loop)."""
        if self.cache is None or not follow:
            return None
        with self._lock:
            leader = self._inflight.get(key)
            if leader is not None:
                return leader
            mine = concurrent.futures.Future()
            mine.set_running_or_notify_cancel()
            self._inflight[key] = mine
            return _Lead(mine)

    def _unclaim(self, key: str, claim: Any) -> None:
        if isinstance(claim, _Lead):
            with self._lock:
                if self._inflight.get(key) is claim.future:
                    del self._inflight[key]
            claim.future.set_result(None)  # followers look in the cache; after a failure they try themselves

    def _store(self, request: _Request, result: ChatResult) -> None:
        if self.cache is None:
            return
        stored = result._plain()
        stored["raw"] = result.raw if _json_safe(result.raw) else None
        try:
            self.cache.put(request.key, {"backend": self.name, "model": self.model, "params": request.params,
                                         "messages": request.canonical, "result": stored})
        except OSError as exc:  # the answer is paid for: a full or read-only cache must not lose it
            logger.warning("could not store a response in the cache %s (%s); the answer is returned uncached",
                           self.cache.root, exc)

    # -- budget and accounting ------------------------------------------------------------------------------
    def _token_estimate(self, request: _Request, max_tokens: int | None) -> tuple[int, int]:
        prompt = math.ceil(len(text_of(request.messages)) / 4) + 4 * len(request.messages)
        prompt += sum(_image_tokens(img["width"], img["height"]) for img in request.images)
        completion = request.params.get("max_tokens") or request.params.get("max_completion_tokens") \
            or max_tokens or DEFAULT_COMPLETION_ESTIMATE
        return prompt, int(completion)

    def _reserve_budget(self, request: _Request) -> float:
        if self.budget_usd is None or self.price is None:
            return 0.0
        worst = self.price.cost(*self._token_estimate(request, None))
        with self._lock:
            committed = self._stats["cost_usd"] + self._reserved
            if committed + worst > self.budget_usd:
                raise BudgetExceededError(
                    f"budget ${self.budget_usd:.4f} would be exceeded: spent ${self._stats['cost_usd']:.4f}, "
                    f"in flight ${self._reserved:.4f}, this call up to ${worst:.4f}",
                    attempts=0, backend=self.name, model=self.model)
            self._reserved += worst
        return worst

    def _release_budget(self, amount: float) -> None:
        if amount:
            with self._lock:
                self._reserved -= amount

    def _finish(self, request: _Request, result: ChatResult) -> ChatResult:
        cost = self.price.cost(result.usage.prompt_tokens, result.usage.completion_tokens) if self.price else 0.0
        attempts = result.provenance.get("attempts", 1)
        result = replace(result, cost_usd=cost, cached=False)
        result.provenance = {**result.provenance,
                             **self._provenance(request, cache="miss" if self.cache else "off", attempts=attempts)}
        with self._lock:
            s = self._stats
            s["calls"] += 1
            s["prompt_tokens"] += result.usage.prompt_tokens
            s["completion_tokens"] += result.usage.completion_tokens
            s["cost_usd"] += cost
            s["unpriced_calls"] += self.price is None
            s["latency_s"] += result.latency_s
        self._store(request, result)
        return result

    def _provenance(self, request: _Request, **extra: Any) -> dict[str, Any]:
        return {**self.inner.describe(), "params": request.params, "prompt_version": request.prompt_version,
                "cache_key": request.key, "images": request.images,
                "cost": "priced" if self.price else "unpriced", **extra}

    # -- retries --------------------------------------------------------------------------------------------
    def _attempts_sync(self, request: _Request) -> ChatResult:
        return self._run_with_retries(lambda timeout: self.inner._chat(request.messages, timeout=timeout,
                                                                       **request.params), request.timeout)

    def _run_with_retries(self, call, timeout: float | None = None) -> Any:
        start = time.monotonic()
        history: list[dict[str, Any]] = []
        for attempt in range(1, self.max_retries + 2):
            with self.limiter.hold():
                self.rate.wait()
                self._count("attempts")
                try:
                    result = call(self._attempt_timeout(start, timeout))
                except Exception as exc:  # noqa: BLE001 - classified below, never swallowed
                    delay = self._after_failure(exc, attempt, start, history)
                else:
                    return self._succeeded(result, attempt)
            time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempts_async(self, request: _Request) -> ChatResult:
        start = time.monotonic()
        history: list[dict[str, Any]] = []
        for attempt in range(1, self.max_retries + 2):
            async with self.limiter.ahold():
                await self.rate.await_slot()
                self._count("attempts")
                try:
                    result = await self.inner._achat(
                        request.messages, timeout=self._attempt_timeout(start, request.timeout), **request.params)
                except Exception as exc:  # noqa: BLE001 - classified below, never swallowed
                    delay = self._after_failure(exc, attempt, start, history)
                else:
                    return self._succeeded(result, attempt)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _succeeded(self, result: Any, attempt: int) -> Any:
        if self.adaptive:
            self.adaptive.on_success()
        for r in result if isinstance(result, list) else [result]:
            r.provenance["attempts"] = attempt
        return result

    def _attempt_timeout(self, start: float, override: float | None = None) -> float:
        timeout = float(override) if override is not None else self.timeout
        if self.deadline is None:
            return timeout
        return max(0.001, min(timeout, self.deadline - (time.monotonic() - start)))

    def _after_failure(self, exc: Exception, attempt: int, start: float, history: list[dict[str, Any]]) -> float:
        """Record a failed attempt; return the delay before the next one, or raise the final error."""
        err = exc if isinstance(exc, BackendError) else BackendError(
            f"{type(exc).__name__}: {exc}", backend=self.name, model=self.model)
        history.append({"attempt": attempt, "kind": err.kind, "status": err.status, "message": str(err)[:500]})
        if isinstance(err, RateLimitError) and self.adaptive:
            self.adaptive.on_rate_limited()
            if err.retry_after:
                self.rate.pause_for(err.retry_after)
        delay, reason = self._retry_delay(err, attempt, start)
        if delay is None:
            self._fail(err, attempt, history, reason)
            if err is exc:
                raise err
            raise err from exc
        self._count("retries")
        logger.info("%s:%s attempt %d failed (%s); retrying in %.2fs", self.name, self.model, attempt, err.kind,
                    delay)
        return delay

    def _retry_delay(self, err: BackendError, attempt: int, start: float) -> tuple[float | None, str]:
        if not isinstance(err, TransientError):
            return None, "not retryable"
        if attempt > self.max_retries:
            return None, f"gave up after {attempt} attempts"
        if err.retry_after is not None:
            delay = float(err.retry_after)
            if delay > self.max_retry_wait:
                return None, f"server asked to wait {delay:.0f}s, more than max_retry_wait={self.max_retry_wait}s"
        else:
            ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
            delay = ceiling / 2 + random.uniform(0, ceiling / 2)
        if self.deadline is not None and time.monotonic() - start + delay >= self.deadline:
            return None, f"deadline of {self.deadline}s reached"
        return delay, ""

    def _fail(self, err: BackendError, attempt: int, history: list[dict[str, Any]], reason: str) -> None:
        err.attempts, err.history = attempt, history
        err.backend, err.model = err.backend or self.name, err.model or self.model
        if reason and err.args and reason not in str(err):
            err.args = (f"{err.args[0]} [{reason}]",) + err.args[1:]
        with self._lock:
            self._stats["failures"] += 1
            self._stats["errors"][err.kind] = self._stats["errors"].get(err.kind, 0) + 1
        logger.warning("%s:%s failed after %d attempt(s): %s", self.name, self.model, attempt, err.kind)

    def _count(self, name: str) -> None:
        with self._lock:
            self._stats[name] += 1


class _Lead:
    """What :meth:`ManagedBackend._claim` gives the caller that leads a key: the future to resolve."""

    __slots__ = ("future",)

    def __init__(self, future: concurrent.futures.Future):
        self.future = future


def _in_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _result_from_entry(entry: dict[str, Any]) -> ChatResult | None:
    """The cached :class:`ChatResult` of a cache entry, or None when the entry is not usable."""
    try:
        stored = entry["result"]
        return ChatResult(text=str(stored["text"]), model=stored["model"], backend=stored["backend"],
                          usage=Usage(**stored.get("usage", {})), latency_s=float(stored.get("latency_s", 0.0)),
                          raw=stored.get("raw"), cached=True, cost_usd=0.0)
    except (KeyError, TypeError, ValueError):
        logger.warning("ignoring a cache entry without a usable result (key %s)", entry.get("key"))
        return None


def _image_tokens(width: int, height: int) -> int:
    """OpenAI-style high-detail estimate: 85 + 170 per 512-px tile after fitting 2048 and 768 short side."""
    scale = min(1.0, 2048 / max(width, height))
    w, h = width * scale, height * scale
    scale = min(1.0, 768 / min(w, h)) if min(w, h) else 1.0
    w, h = w * scale, h * scale
    return 85 + 170 * math.ceil(w / 512) * math.ceil(h / 512)


def _json_safe(value: Any) -> bool:
    return value is None or isinstance(value, (dict, list, str, int, float, bool))
