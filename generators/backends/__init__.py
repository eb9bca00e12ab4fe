"""Model backends: one chat interface for every LLM/VLM, with cache, retries, rate limits and cost.

>>> from scigenbench.generators.backends import get_backend
>>> backend = get_backend("fake", responses=["A right triangle."])
>>> result = backend.chat([{"role": "user", "content": "Describe the figure."}], temperature=0,
...                       prompt_version="demo-v1")
>>> result.text, result.provenance["prompt_version"], result.cached
('A right triangle.', 'demo-v1', False)

Spec strings (``get_backend(spec, **options)``):

- ``openai:<model>[@<base_url>]``: OpenAI-compatible servers via the ``openai`` SDK; key from
  ``$OPENAI_API_KEY`` or ``api_key_env=``;
- ``hf-inference:<model>[@<base_url>]``: ``huggingface_hub.InferenceClient``; token from ``$HF_TOKEN``;
- ``transformers:<model id or local path>``: local text or vision-language models (``device=``, ``dtype=``);
- ``replay:<file.jsonl>``: recorded answers (see :mod:`.replay`);
- ``fake``: scripted answers (``responses=[...]`` or a callable).

Adding a backend: (1) write a module with ``build(arg, base_url=None, **options) -> ChatBackend`` whose backend
implements ``_chat(messages, *, timeout, **params)`` and/or ``_achat``, raising :class:`BackendError`
subclasses; (2) register ``"name": "module:build"`` in :data:`BACKENDS` below; (3) test it against
:class:`~.testing.OpenAICompatServer` or a tiny local model.
"""

from __future__ import annotations

from typing import Any

from scigenbench._registry import Registry
from scigenbench.generators.backends.base import (
    BackendError, BudgetExceededError, ChatBackend, ChatResult, ConfigurationError, ConnectionFailedError,
    ImageEncodingError, MalformedResponseError, PermanentError, RateLimitError, ReplayMissError,
    RequestTimeoutError, ScriptExhaustedError, TransientError, Usage,
)

__all__ = [
    "BACKENDS", "get_backend", "parse_spec", "ChatBackend", "ChatResult", "Usage", "BackendError",
    "TransientError", "RateLimitError", "RequestTimeoutError", "ConnectionFailedError", "MalformedResponseError",
    "PermanentError", "ConfigurationError", "ImageEncodingError", "ScriptExhaustedError", "ReplayMissError",
    "BudgetExceededError",
]

#: backend name -> lazily imported factory ``build(arg, base_url=None, **options)``
BACKENDS = Registry("backend")
BACKENDS.register("openai", "scigenbench.generators.backends.openai_compat:build")
BACKENDS.register("hf-inference", "scigenbench.generators.backends.hf_inference:build")
BACKENDS.register("transformers", "scigenbench.generators.backends.local_transformers:build")
BACKENDS.register("replay", "scigenbench.generators.backends.replay:build")
BACKENDS.register("fake", "scigenbench.generators.backends.fake:build")

#: options taken by the ManagedBackend wrapper; everything else goes to the backend's factory
WRAPPER_OPTIONS = ("cache", "cache_dir", "max_retries", "timeout", "deadline", "backoff_base", "backoff_max",
                   "max_retry_wait", "concurrency", "rpm", "adaptive", "prices", "budget_usd", "limits", "rate_limiter")
#: backends whose answers are not worth caching by default (already local and instant)
_UNCACHED_BY_DEFAULT = {"fake", "replay"}


def parse_spec(spec: str) -> tuple[str, str, str | None]:
    """Split ``"name:arg@base_url"`` into ``(name, arg, base_url)``.

    The model part may itself contain ``:`` (``openai:llama3:8b@http://localhost:11434/v1``); ``@`` starts a base
    URL only when what follows contains ``://``.

    >>> parse_spec("openai:gpt-4o-mini@http://127.0.0.1:8000/v1")
    ('openai', 'gpt-4o-mini', 'http://127.0.0.1:8000/v1')
    >>> parse_spec("fake")
    ('fake', '', None)
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"backend spec must be a non-empty string like 'openai:gpt-4o-mini', got {spec!r}")
    name, _, rest = spec.strip().partition(":")
    base_url = None
    at = rest.rfind("@")
    if at >= 0 and "://" in rest[at + 1:]:
        rest, base_url = rest[:at], rest[at + 1:]
    return name, rest, base_url


def get_backend(spec: str, **options: Any):
    """Build the backend named by ``spec``, wrapped with cache, retries, limits and accounting.

    Args:
        spec: ``openai:<model>[@<base_url>]``, ``hf-inference:<model>[@<base_url>]``,
            ``transformers:<model or path>``, ``replay:<file>`` or ``fake``.
        **options: wrapper options (``cache``, ``cache_dir``, ``max_retries``, ``timeout``, ``deadline``,
            ``backoff_base``, ``backoff_max``, ``max_retry_wait``, ``concurrency``, ``rpm``, ``adaptive``,
            ``prices``, ``budget_usd``, ``limits`` (a :class:`~.limits.CallLimits` shared by several backends),
            ``rate_limiter`` (one request rate shared across processes, e.g. Ray workers);
            see :class:`~.managed.ManagedBackend`) and backend options (e.g.
            ``api_key_env=`` for ``openai``, ``device=``/``dtype=`` for ``transformers``, ``responses=`` for
            ``fake``).

    Returns:
        A :class:`~.managed.ManagedBackend` (``chat``, ``achat``, ``chat_batch``, ``stats``, ``estimate``).

    Raises:
        UnknownNameError: unknown backend name (the message suggests the closest valid one).
        ConfigurationError: missing API key, missing file, unpriced budget, ...
        TypeError: an option that neither the wrapper nor this backend accepts.
    """
    from scigenbench.generators.backends.managed import ManagedBackend

    name, arg, base_url = parse_spec(spec)
    factory = BACKENDS.get(name)
    wrapper = {k: options.pop(k) for k in WRAPPER_OPTIONS if k in options}
    wrapper.setdefault("cache", name not in _UNCACHED_BY_DEFAULT)
    try:
        inner = factory(arg, base_url, **options)
    except TypeError as exc:
        if "unexpected keyword argument" in str(exc):
            raise TypeError(f"backend {name!r} does not take option(s) {sorted(options)}: {exc}. Wrapper options: "
                            f"{', '.join(WRAPPER_OPTIONS)}") from None
        raise
    return ManagedBackend(inner, **wrapper)
