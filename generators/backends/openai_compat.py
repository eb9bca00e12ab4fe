"""``openai:<model>[@<base_url>]``: any OpenAI-compatible chat endpoint through the ``openai`` SDK.

Covers OpenAI, Gemini's OpenAI endpoint, vLLM, SGLang, Ollama, OpenRouter, TGI, LM Studio. Without
``@<base_url>`` the SDK default applies (``$OPENAI_BASE_URL`` or api.openai.com).

The API key is read from the environment when the backend is built: ``$OPENAI_API_KEY``, or the variable
named by ``api_key_env=`` (e.g. ``api_key_env="OPENROUTER_API_KEY"``). A loopback/local base URL
(``localhost``, ``127.0.0.1``, ``::1``) may run without a key (a dummy one is sent). The key is never stored
outside the SDK client and is redacted from every error message we raise.

The SDK's own retries are off (``max_retries=0``): the :class:`~.managed.ManagedBackend` wrapper owns retries.
The raw response body is parsed and validated here, so a 200 that is not a completion (not JSON, no choices, no
message content) becomes a :class:`MalformedResponseError` (retried) instead of an attribute error later.
"""

from __future__ import annotations

import email.utils
import json
import os
import sys
import threading
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from scigenbench._optional import require
from scigenbench.generators.backends._messages import to_openai_messages
from scigenbench.generators.backends.base import (
    BackendError, ChatBackend, ChatResult, ConfigurationError, ConnectionFailedError, MalformedResponseError,
    PermanentError, RateLimitError, RequestTimeoutError, TransientError, Usage,
)

DEFAULT_KEY_ENV = "OPENAI_API_KEY"
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
_RETRYABLE_STATUS = {408, 409, 425, 429}


def build(model: str, base_url: str | None = None, *, api_key_env: str = DEFAULT_KEY_ENV,
          organization: str | None = None, default_headers: dict[str, str] | None = None) -> "OpenAIBackend":
    """Factory used by the registry (``openai:<model>[@<base_url>]``)."""
    if not model:
        raise ConfigurationError("openai: spec needs a model, e.g. 'openai:gpt-4o-mini' or "
                                 "'openai:Qwen/Qwen2.5-VL-7B-Instruct@http://localhost:8000/v1'", backend="openai")
    key = os.environ.get(api_key_env)
    if not key:
        if not _is_local(base_url):
            raise ConfigurationError(
                f"openai:{model} needs an API key: set the environment variable {api_key_env} "
                f"(or pass api_key_env='OTHER_VAR'); only a local base URL may run without one",
                backend="openai", model=model)
        key = "sk-no-key-needed-for-local-server"
    return OpenAIBackend(model, base_url, api_key=key, organization=organization, default_headers=default_headers)


class OpenAIBackend(ChatBackend):
    """Chat completions over the OpenAI REST API (sync and async SDK clients)."""

    name = "openai"

    def __init__(self, model: str, base_url: str | None, *, api_key: str, organization: str | None = None,
                 default_headers: dict[str, str] | None = None):
        openai = require("openai", purpose="the openai: backend")
        self.model = model
        self.base_url = base_url
        self._openai = openai
        self._client_kwargs = {"api_key": api_key, "organization": organization, "max_retries": 0,
                               "default_headers": default_headers}
        if base_url:
            self._client_kwargs["base_url"] = base_url
        self._client = openai.OpenAI(**self._client_kwargs)
        self._response_class = _http_response_class(openai)
        self._async_clients: dict[int, Any] = {}  # one AsyncOpenAI per event loop (httpx pools are loop-bound)
        self._lock = threading.Lock()

    # -- ChatBackend ----------------------------------------------------------------------------------------
    def _chat(self, messages: list[dict[str, Any]], *, timeout: float | None = None, **params: Any) -> ChatResult:
        start = time.monotonic()
        try:
            response = self._client.post("/chat/completions", cast_to=self._response_class,
                                         **self._post_args(messages, timeout, params))
            status, body = response.status_code, response.text
        except self._openai.OpenAIError as exc:
            raise self._translate(exc) from None
        return self._result(status, body, time.monotonic() - start)

    async def _achat(self, messages: list[dict[str, Any]], *, timeout: float | None = None,
                     **params: Any) -> ChatResult:
        start = time.monotonic()
        client = await self._async_client()
        try:
            response = await client.post("/chat/completions", cast_to=self._response_class,
                                         **self._post_args(messages, timeout, params))
            status, body = response.status_code, (await response.aread()).decode("utf-8", "replace")
        except self._openai.OpenAIError as exc:
            raise self._translate(exc) from None
        return self._result(status, body, time.monotonic() - start)

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "endpoint": _public_url(self.base_url)}

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model!r}, endpoint={_public_url(self.base_url)!r})"

    # -- helpers --------------------------------------------------------------------------------------------
    async def _async_client(self) -> Any:
        import asyncio

        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._async_clients.get(id(loop))
            if entry is not None and entry[0] is loop:
                return entry[1]
            client = self._openai.AsyncOpenAI(**self._client_kwargs)
            closer = _close_when_loop_ends(client)
            self._async_clients = {k: v for k, v in self._async_clients.items() if not v[0].is_closed()}
            self._async_clients[id(loop)] = (loop, client, closer)
        await closer.__anext__()  # registered with the loop: asyncio.run closes the client before the loop
        return client

    def _post_args(self, messages: list[dict[str, Any]], timeout: float | None, params: dict[str, Any]) -> dict:
        """The request as the JSON body the endpoint takes. It goes through the SDK's client (auth, headers,
        timeouts, error types) but not through ``chat.completions.create``, whose walk over typed parameters
        costs about a millisecond of CPU per request for nothing: our messages are already in wire form.
        Decoding params go at the top level of the body, as ``create`` would send them (``extra_body`` too)."""
        body: dict[str, Any] = {"model": self.model, "messages": to_openai_messages(messages), **params}
        return {"body": body, "options": {"timeout": timeout} if timeout is not None else {}}

    def _result(self, status: int, body: str, latency: float) -> ChatResult:
        try:
            data = json.loads(body)
            choice = data["choices"][0]
            text = choice["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise self._error(MalformedResponseError, f"HTTP {status} body is not a chat completion: "
                                                      f"{body[:200]!r}", status=status) from None
        if not isinstance(text, str):
            raise self._error(MalformedResponseError, f"completion has no text content (finish_reason="
                                                      f"{choice.get('finish_reason')!r})", status=status)
        usage = data.get("usage") or {}
        return ChatResult(
            text=text, model=data.get("model") or self.model, backend=self.name,
            usage=Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)),
            latency_s=latency, raw=data,
            provenance={"response_model": data.get("model"), "finish_reason": choice.get("finish_reason")})

    def _translate(self, exc: Exception) -> BackendError:
        o = self._openai
        message = self._redact(str(exc))
        if isinstance(exc, o.APITimeoutError):
            return self._error(RequestTimeoutError, f"request timed out: {message}")
        if isinstance(exc, o.APIConnectionError):
            return self._error(ConnectionFailedError, f"connection failed: {message}")
        if isinstance(exc, o.APIStatusError):
            status = exc.status_code
            retry_after = _retry_after(exc.response.headers)
            if status == 429:
                return self._error(RateLimitError, message, status=status, retry_after=retry_after)
            if status >= 500 or status in _RETRYABLE_STATUS:
                return self._error(TransientError, message, status=status, retry_after=retry_after)
            return self._error(PermanentError, message, status=status)
        return self._error(MalformedResponseError, f"{type(exc).__name__}: {message}")

    def _error(self, cls: type[BackendError], message: str, **kw: Any) -> BackendError:
        return cls(self._redact(message), backend=self.name, model=self.model, **kw)

    def _redact(self, text: str) -> str:
        key = self._client_kwargs.get("api_key")
        return text.replace(key, "***") if isinstance(key, str) and len(key) >= 4 else text


def _http_response_class(openai: Any) -> type:
    """The HTTP response class of the HTTP library this openai SDK is built on (``cast_to`` for a raw answer)."""
    base = sys.modules[openai.OpenAI.__mro__[1].__module__]  # openai._base_client
    http = getattr(base, "httpx2", None) or getattr(base, "httpx")
    return http.Response


async def _close_when_loop_ends(client: Any):
    """An async generator whose cleanup closes ``client``: ``loop.shutdown_asyncgens()`` (run by
    ``asyncio.run`` before closing the loop) finalises it, so pooled connections never outlive their loop."""
    try:
        yield
    finally:
        await client.close()


def _retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date), or None."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _is_local(base_url: str | None) -> bool:
    return bool(base_url) and (urlsplit(base_url).hostname or "") in _LOCAL_HOSTS


def _public_url(base_url: str | None) -> str | None:
    """``base_url`` without user info or query (which may carry credentials)."""
    if not base_url:
        return None
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
