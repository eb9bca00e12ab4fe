"""The one chat interface every LLM/VLM backend implements (ImgCoder's backbone, every judge).

Messages follow the OpenAI chat shape. ``content`` is a string or a list of parts:

- ``{"type": "text", "text": "..."}``
- ``{"type": "image", "image": <PIL.Image | bytes | str path>}``  (encoded by ``images.encode_image``)

Decoding params (``temperature``, ``max_tokens``, ``top_p``, ``seed``, ``stop``, ...) are keyword arguments of
``chat``/``achat``. A backend returns a :class:`ChatResult` or raises :class:`BackendError` once its bounded
retries are spent; it never returns a silent default.
"""

from __future__ import annotations

import abc
import copy
import asyncio
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class ChatResult:
    """What a backend returns for one request."""

    text: str
    model: str
    backend: str
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    raw: Any = None
    cached: bool = False
    cost_usd: float = 0.0
    # backend, model id, semantic params, prompt_version, image hashes (sha256 of the exact bytes sent), ...
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (``raw`` dropped: it may hold SDK objects; it is never copied)."""
        return {**self._plain(), "provenance": copy.deepcopy(self.provenance)}

    def _plain(self) -> dict[str, Any]:
        """Every field but ``raw`` and ``provenance``, copied."""
        return {"text": self.text, "model": self.model, "backend": self.backend, "usage": asdict(self.usage),
                "latency_s": self.latency_s, "cached": self.cached, "cost_usd": self.cost_usd}


class BackendError(RuntimeError):
    """A request failed for good (after bounded retries). ``kind`` says why; ``attempts`` how often we tried."""

    kind = "error"

    def __init__(self, message: str, *, attempts: int = 1, status: int | None = None, backend: str = "",
                 model: str = ""):
        super().__init__(message)
        self.attempts = attempts
        self.status = status
        self.backend = backend
        self.model = model
        #: one entry per failed attempt ({"attempt", "kind", "status", "message"}), filled by the retry wrapper
        self.history: list[dict[str, Any]] = []

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": str(self), "attempts": self.attempts, "status": self.status,
                "backend": self.backend, "model": self.model, "history": list(self.history)}


class TransientError(BackendError):
    """429, 5xx, timeout, connection error: worth retrying. ``retry_after`` in seconds if the server said."""

    kind = "transient"

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class RateLimitError(TransientError):
    """HTTP 429 (or a server-side quota signal)."""

    kind = "rate_limited"


class RequestTimeoutError(TransientError):
    """No answer within the request timeout."""

    kind = "timeout"


class ConnectionFailedError(TransientError):
    """The connection could not be made or was dropped."""

    kind = "connection"


class PermanentError(BackendError):
    """4xx other than 429, malformed request, unknown model: retrying will not help."""

    kind = "permanent"


class MalformedResponseError(TransientError):
    """The server answered, but the body was not a valid completion."""

    kind = "malformed_response"


class ConfigurationError(PermanentError):
    """The backend cannot be built or called as configured (missing API key, bad option, unpriced budget)."""

    kind = "configuration"


class ImageEncodingError(PermanentError):
    """An image in the messages could not be decoded or encoded (corrupt file, decompression bomb, too big)."""

    kind = "image_encoding"


class ScriptExhaustedError(PermanentError):
    """The ``fake`` backend ran out of scripted responses."""

    kind = "script_exhausted"


class BudgetExceededError(BackendError):
    """The run's cost budget is spent; the run should stop cleanly."""

    kind = "budget_exceeded"


class ReplayMissError(PermanentError):
    """A ``replay:`` backend has no recording for this request."""

    kind = "replay_miss"


class ChatBackend(abc.ABC):
    """Base class: implement ``_chat`` (sync) and/or ``_achat`` (async); the other is derived."""

    #: registry name, e.g. "openai"
    name: str = "base"
    #: model id as the backend reports it
    model: str = ""

    def chat(self, messages: list[dict[str, Any]], **params: Any) -> ChatResult:
        return self._chat(messages, **params)

    async def achat(self, messages: list[dict[str, Any]], **params: Any) -> ChatResult:
        return await self._achat(messages, **params)

    def _chat(self, messages: list[dict[str, Any]], **params: Any) -> ChatResult:
        return asyncio.run(self._achat(messages, **params))

    async def _achat(self, messages: list[dict[str, Any]], **params: Any) -> ChatResult:
        return await asyncio.to_thread(self._chat, messages, **params)

    def chat_batch(self, batch: list[list[dict[str, Any]]], **params: Any) -> list[ChatResult]:
        """Answer several conversations with the same params. Local models override this to batch on the
        accelerator; the default answers them one by one."""
        return [self._chat(messages, **params) for messages in batch]

    def describe(self) -> dict[str, Any]:
        """Provenance of this backend (no secrets)."""
        return {"backend": self.name, "model": self.model}

    def close(self) -> None:  # pragma: no cover - trivial
        pass
