"""Concurrency and request-rate limits usable from threads *and* asyncio tasks at the same time.

- :class:`ConcurrencyLimiter`: at most ``limit`` requests in flight. Threads block on an ``Event``; tasks await
  a future woken through ``loop.call_soon_threadsafe``, so waiting tasks never occupy executor threads. The
  limit can change at run time (adaptive mode).
- :class:`RateLimiter`: requests-per-minute as evenly spaced start times (a GCRA without burst), plus a global
  cool-down (``pause_for``) used when a server says ``Retry-After``.
- :class:`AdaptiveController`: AIMD on the concurrency limit: halve on 429, grow by one after ``limit``
  consecutive successes, never above the configured maximum.
- :class:`CallLimits`: the three together, shareable by several backends, so one run's judge, graders and
  backbone count against one "requests in flight" knob and one rpm budget.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from contextlib import asynccontextmanager, contextmanager
from typing import Any, AsyncIterator, Iterator


class ConcurrencyLimiter:
    """A semaphore shared by threads and event loops (FIFO hand-over on release)."""

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError(f"concurrency must be >= 1, got {limit}")
        self._limit = int(limit)
        self._active = 0
        self._waiters: deque = deque()  # threading.Event | (loop, future)
        self._lock = threading.Lock()

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def active(self) -> int:
        return self._active

    def set_limit(self, limit: int) -> None:
        """Change the limit; extra waiters are admitted at once, a lower limit applies as slots free up."""
        with self._lock:
            self._limit = max(1, int(limit))
            while self._waiters and self._active < self._limit:
                self._active += 1
                self._wake(self._waiters.popleft())

    def acquire(self) -> None:
        with self._lock:
            if self._active < self._limit and not self._waiters:
                self._active += 1
                return
            event = threading.Event()
            self._waiters.append(event)
        event.wait()  # the releaser counted us in before waking us

    async def aacquire(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._active < self._limit and not self._waiters:
                self._active += 1
                return
            waiter = (loop, loop.create_future())
            self._waiters.append(waiter)
        try:
            await waiter[1]
        except asyncio.CancelledError:
            with self._lock:
                queued = waiter in self._waiters
                if queued:
                    self._waiters.remove(waiter)
            if not queued and waiter[1].done() and not waiter[1].cancelled():
                self.release()  # the slot was handed to us just before the cancellation
            raise

    def release(self) -> None:
        with self._lock:
            if self._waiters and self._active <= self._limit:
                self._wake(self._waiters.popleft())  # hand the slot over: _active unchanged
            else:
                self._active -= 1

    def _wake(self, waiter) -> None:
        if isinstance(waiter, threading.Event):
            waiter.set()
            return
        loop, future = waiter

        def settle() -> None:
            if future.done():  # cancelled meanwhile: give the slot back
                self.release()
            else:
                future.set_result(None)

        try:
            loop.call_soon_threadsafe(settle)
        except RuntimeError:  # that loop is closed: give the slot back
            threading.Thread(target=self.release, daemon=True).start()

    @contextmanager
    def hold(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    @asynccontextmanager
    async def ahold(self) -> AsyncIterator[None]:
        await self.aacquire()
        try:
            yield
        finally:
            self.release()


class RateLimiter:
    """Evenly spaced request starts: at most ``rpm`` per minute (``None``: unlimited, cool-downs still apply)."""

    def __init__(self, rpm: float | None = None):
        if rpm is not None and rpm <= 0:
            raise ValueError(f"rpm must be > 0, got {rpm}")
        self.interval = 60.0 / rpm if rpm else 0.0
        self._next = 0.0
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Reserve the next start slot; return how long to wait for it (seconds, on this process's clock)."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next, self._paused_until)
            self._next = start + self.interval
            return start - now

    def pause_for(self, seconds: float) -> None:
        """No request starts during the next ``seconds`` (a server asked us to wait)."""
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def wait(self) -> None:
        delay = self.reserve()
        if delay > 0:
            time.sleep(delay)

    async def await_slot(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


class AdaptiveController:
    """Additive-increase / multiplicative-decrease of a :class:`ConcurrencyLimiter`'s limit."""

    def __init__(self, limiter: ConcurrencyLimiter, maximum: int):
        self.limiter = limiter
        self.maximum = maximum
        self._streak = 0
        self._lock = threading.Lock()

    def on_success(self) -> None:
        with self._lock:
            self._streak += 1
            if self._streak >= self.limiter.limit and self.limiter.limit < self.maximum:
                self._streak = 0
                self.limiter.set_limit(self.limiter.limit + 1)

    def on_rate_limited(self) -> None:
        with self._lock:
            self._streak = 0
            self.limiter.set_limit(max(1, self.limiter.limit // 2))


class CallLimits:
    """One concurrency limit, one rate limiter and (optionally) adaptive control, shared by every backend built
    with ``get_backend(spec, limits=...)``: requests in flight and requests per minute are then counted across
    all of them (a run's judge and graders together), not per backend.

    Args:
        concurrency: requests in flight at once, over every backend sharing these limits.
        rpm: requests per minute over all of them (``None``: unlimited).
        adaptive: halve the shared concurrency on a 429, grow it back when healthy.
        rate_limiter: an object with the :class:`RateLimiter` methods used instead of ``RateLimiter(rpm)``.
    """

    def __init__(self, concurrency: int = 8, rpm: float | None = None, adaptive: bool = False, *,
                 rate_limiter: Any = None):
        self.limiter = ConcurrencyLimiter(concurrency)
        # a rate limiter shared beyond this process (Ray workers: executors.SharedRateLimiter) replaces rpm
        self.rate = rate_limiter if rate_limiter is not None else RateLimiter(rpm)
        self.adaptive = AdaptiveController(self.limiter, int(concurrency)) if adaptive else None
        self.rpm = rpm

    @property
    def concurrency(self) -> int:
        return self.limiter.limit

    def __repr__(self) -> str:
        return f"CallLimits(concurrency={self.limiter.limit}, rpm={self.rpm}, adaptive={self.adaptive is not None})"
