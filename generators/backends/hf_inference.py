"""``hf-inference:<model>[@<base_url>]``: Hugging Face Inference through ``huggingface_hub.InferenceClient``.

``hf-inference:Qwen/Qwen2.5-VL-7B-Instruct`` routes through Inference Providers (``provider=`` option, default
``"auto"``); ``hf-inference:<model>@<base_url>`` talks to a dedicated Inference Endpoint or a TGI/vLLM server.
The token is read when the backend is built from ``$HF_TOKEN`` (or the variable named by ``token_env=``), then
from the ``hf auth login`` token file; a local base URL may run without one. The token is redacted from errors.
"""

from __future__ import annotations

import math
import os
import threading
import time
from typing import Any

from scigenbench._optional import require
from scigenbench.generators.backends._messages import to_openai_messages
from scigenbench.generators.backends.base import (
    BackendError, ChatBackend, ChatResult, ConfigurationError, ConnectionFailedError, MalformedResponseError,
    PermanentError, RateLimitError, RequestTimeoutError, TransientError, Usage,
)
from scigenbench.generators.backends.openai_compat import _is_local, _public_url, _retry_after

DEFAULT_TOKEN_ENV = "HF_TOKEN"
_KNOWN_PARAMS = {"frequency_penalty", "logit_bias", "logprobs", "max_tokens", "n", "presence_penalty",
                 "response_format", "seed", "stop", "temperature", "tool_choice", "tool_prompt", "tools",
                 "top_logprobs", "top_p"}


def build(model: str, base_url: str | None = None, *, token_env: str = DEFAULT_TOKEN_ENV,
          provider: str | None = None, bill_to: str | None = None) -> "HFInferenceBackend":
    """Factory used by the registry (``hf-inference:<model>[@<base_url>]``)."""
    hub = require("huggingface_hub", purpose="the hf-inference: backend")
    if not model:
        raise ConfigurationError("hf-inference: spec needs a model, e.g. 'hf-inference:Qwen/Qwen2.5-VL-7B-Instruct'",
                                 backend="hf-inference")
    token = os.environ.get(token_env) or (hub.get_token() if token_env == DEFAULT_TOKEN_ENV else None)
    if not token and not _is_local(base_url):
        raise ConfigurationError(f"hf-inference:{model} needs a token: set the environment variable {token_env} "
                                 "(or run `hf auth login`); only a local base URL may run without one",
                                 backend="hf-inference", model=model)
    return HFInferenceBackend(model, base_url, token=token, provider=provider, bill_to=bill_to)


_MAX_CLIENTS = 8  # InferenceClients kept per backend (one per distinct timeout)


class HFInferenceBackend(ChatBackend):
    """``InferenceClient.chat_completion`` behind the chat interface (the client's own retries are not used)."""

    name = "hf-inference"

    def __init__(self, model: str, base_url: str | None, *, token: str | None, provider: str | None = None,
                 bill_to: str | None = None):
        self._hub = require("huggingface_hub", purpose="the hf-inference: backend")
        self.model, self.base_url = model, base_url
        self._client_kwargs: dict[str, Any] = {"token": token, "bill_to": bill_to}
        if base_url:
            self._client_kwargs["base_url"] = base_url
        else:
            self._client_kwargs.update(model=model, provider=provider)
        self._clients: dict[float | None, Any] = {}  # InferenceClient fixes its timeout at construction
        self._lock = threading.Lock()

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "endpoint": _public_url(self.base_url)}

    def __repr__(self) -> str:
        return f"HFInferenceBackend(model={self.model!r}, endpoint={_public_url(self.base_url)!r})"

    def _client(self, timeout: float | None) -> Any:
        # A deadline shorter than the timeout makes every call's timeout a different float: rounding up to
        # 0.1 s and a small bound keep this from building one client per call.
        timeout = math.ceil(timeout * 10) / 10 if timeout else None
        with self._lock:
            if timeout not in self._clients:
                if len(self._clients) >= _MAX_CLIENTS:
                    self._clients.clear()
                self._clients[timeout] = self._hub.InferenceClient(timeout=timeout, **self._client_kwargs)
            return self._clients[timeout]

    def _chat(self, messages: list[dict[str, Any]], *, timeout: float | None = None, **params: Any) -> ChatResult:
        start = time.monotonic()
        known = {k: v for k, v in params.items() if k in _KNOWN_PARAMS}
        extra = {k: v for k, v in params.items() if k not in _KNOWN_PARAMS}
        if "stop" in known and isinstance(known["stop"], str):
            known["stop"] = [known["stop"]]
        if self.base_url:
            known["model"] = self.model
        try:
            out = self._client(timeout).chat_completion(to_openai_messages(messages), extra_body=extra or None,
                                                        **known)
        except Exception as exc:  # noqa: BLE001 - every failure is classified into a BackendError
            raise self._translate(exc) from None
        choices = getattr(out, "choices", None) or []
        text = getattr(getattr(choices[0], "message", None), "content", None) if choices else None
        if not isinstance(text, str):
            raise self._error(MalformedResponseError, f"response has no message content: {str(out)[:200]}")
        usage = getattr(out, "usage", None)
        return ChatResult(
            text=text, model=getattr(out, "model", None) or self.model, backend=self.name,
            usage=Usage(int(getattr(usage, "prompt_tokens", 0) or 0), int(getattr(usage, "completion_tokens", 0) or 0)),
            latency_s=time.monotonic() - start, raw=None,
            provenance={"response_model": getattr(out, "model", None),
                        "finish_reason": getattr(choices[0], "finish_reason", None)})

    def _translate(self, exc: Exception) -> BackendError:
        message = self._redact(f"{type(exc).__name__}: {exc}")
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__:
            return self._error(RequestTimeoutError, message)
        if status is not None:
            retry_after = _retry_after(response.headers)
            if status == 429:
                return self._error(RateLimitError, message, status=status, retry_after=retry_after)
            if status >= 500 or status in (408, 409, 425):
                return self._error(TransientError, message, status=status, retry_after=retry_after)
            return self._error(PermanentError, message, status=status)
        if isinstance(exc, (ValueError, KeyError, TypeError, AttributeError)):
            return self._error(MalformedResponseError, f"response is not a chat completion: {message}")
        if isinstance(exc, (OSError, ConnectionError)) or type(exc).__module__.startswith(("httpx", "httpcore")):
            return self._error(ConnectionFailedError, message)
        return self._error(BackendError, message)

    def _error(self, cls: type[BackendError], message: str, **kw: Any) -> BackendError:
        return cls(self._redact(message), backend=self.name, model=self.model, **kw)

    def _redact(self, text: str) -> str:
        token = self._client_kwargs.get("token")
        return text.replace(token, "***") if isinstance(token, str) and len(token) >= 4 else text
