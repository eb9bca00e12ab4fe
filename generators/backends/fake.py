"""``fake``: a scripted backend for tests and doctests (like inspect_ai's mockllm).

``get_backend("fake", responses=[...])`` answers with the scripted items in order. An item is a ``str`` (the
answer), a :class:`~.base.ChatResult`, or an exception instance (raised, e.g. ``TransientError("boom")`` to
exercise retries). ``responses`` may also be a callable ``responses(messages, **params) -> str | ChatResult``
(it may raise). Without ``responses`` the backend echoes the last user text as ``"fake: <text>"``.
When the script runs out, :class:`~.base.ScriptExhaustedError` says how many answers were scripted.

>>> from scigenbench.generators.backends import get_backend
>>> backend = get_backend("fake", responses=["4"])
>>> backend.chat([{"role": "user", "content": "2 + 2 = ?"}]).text
'4'
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterable

from scigenbench.generators.backends._messages import text_of
from scigenbench.generators.backends.base import ChatBackend, ChatResult, ScriptExhaustedError, Usage


def build(model: str = "", base_url: str | None = None, *,
          responses: Iterable[Any] | Callable[..., Any] | None = None) -> "FakeBackend":
    """Factory used by the registry (``fake`` or ``fake:<model name>``)."""
    return FakeBackend(responses, model=model or "fake")


class FakeBackend(ChatBackend):
    """Scripted answers; every request is kept in :attr:`calls` as ``(messages, params)``."""

    name = "fake"

    def __init__(self, responses: Iterable[Any] | Callable[..., Any] | None = None, *, model: str = "fake"):
        self.model = model
        self._handler = responses if callable(responses) else None
        self._script = None if responses is None or callable(responses) else list(responses)
        self._served = 0
        self._lock = threading.Lock()
        self.calls: list[tuple[list[dict[str, Any]], dict[str, Any]]] = []

    def _chat(self, messages: list[dict[str, Any]], *, timeout: float | None = None, **params: Any) -> ChatResult:
        start = time.monotonic()
        with self._lock:
            self.calls.append((messages, params))
            item = self._next_item(messages)
        if self._handler is not None:
            item = self._handler(messages, **params)
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, ChatResult):
            return item
        text = str(item)
        usage = Usage(len(text_of(messages).split()), len(text.split()))
        return ChatResult(text=text, model=self.model, backend=self.name, usage=usage,
                          latency_s=time.monotonic() - start)

    async def _achat(self, messages: list[dict[str, Any]], *, timeout: float | None = None,
                     **params: Any) -> ChatResult:
        """Answered on the event loop itself (no worker thread), so concurrent callers consume a scripted list in
        the order they call, deterministically."""
        return self._chat(messages, timeout=timeout, **params)

    def _next_item(self, messages: list[dict[str, Any]]) -> Any:
        if self._handler is not None:
            return None
        if self._script is None:
            return "fake: " + text_of(messages[-1:], role="user")
        if self._served >= len(self._script):
            raise ScriptExhaustedError(
                f"fake backend: all {len(self._script)} scripted responses are used up (request "
                f"#{self._served + 1}); pass more with get_backend('fake', responses=[...])",
                backend=self.name, model=self.model)
        self._served += 1
        return self._script[self._served - 1]
