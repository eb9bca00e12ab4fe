"""Message normalisation shared by every backend, the cache key and replay matching.

Callers write OpenAI-shaped messages whose ``content`` is a string or a list of parts ``{"type": "text"}``,
``{"type": "image", "image": <PIL | bytes | path>}`` or ``{"type": "image_url", "image_url": {"url": ...}}``.
:func:`normalize_messages` turns every image into an :class:`~.images.EncodedImage` (data URLs are decoded and
re-encoded, so the same picture always gives the same bytes); remote ``http(s)`` URLs are kept as they are.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from scigenbench.generators.backends.images import EncodedImage, decode_data_url, encode_image

#: params that never change a model's answer: excluded from cache and replay keys, never sent as decoding params
NON_SEMANTIC_PARAMS = frozenset({
    "timeout", "max_retries", "retries", "deadline", "concurrency", "rpm", "prompt_version", "cache",
})

ROLES = ("system", "user", "assistant", "tool", "developer")


def normalize_messages(messages: Any) -> list[dict[str, Any]]:
    """Validate ``messages`` and encode every image (raises ``ValueError`` naming the bad message/part)."""
    if not isinstance(messages, list) or not messages:
        raise ValueError(f"messages must be a non-empty list of {{'role', 'content'}} dicts, got {messages!r:.80}")
    return [_normalize_message(i, m) for i, m in enumerate(messages)]


def _normalize_message(i: int, message: Any) -> dict[str, Any]:
    if not isinstance(message, dict) or message.get("role") not in ROLES:
        raise ValueError(f"messages[{i}] must be a dict with a role in {ROLES}, got {message!r:.80}")
    content = message.get("content")
    if isinstance(content, str):
        return {"role": message["role"], "content": content}
    if not isinstance(content, list):
        raise ValueError(f"messages[{i}].content must be a string or a list of parts, got {type(content).__name__}")
    return {"role": message["role"], "content": [_normalize_part(i, j, p) for j, p in enumerate(content)]}


def _normalize_part(i: int, j: int, part: Any) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text" and isinstance(part.get("text"), str):
        return {"type": "text", "text": part["text"]}
    if kind == "image" and part.get("image") is not None:
        return {"type": "image", "image": encode_image(part["image"])}
    if kind == "image_url":
        url = (part.get("image_url") or {}).get("url") if isinstance(part.get("image_url"), dict) \
            else part.get("image_url") or part.get("url")  # the last: already-normalised remote URL
        if isinstance(url, str) and url.startswith("data:"):
            return {"type": "image", "image": encode_image(decode_data_url(url))}
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            return {"type": "image_url", "url": url}
    raise ValueError(f"messages[{i}].content[{j}] is not a text, image or image_url part: {part!r:.80}")


def images_of(messages: list[dict[str, Any]]) -> list[EncodedImage]:
    """Encoded images of normalised messages, in order."""
    return [p["image"] for m in messages if isinstance(m["content"], list) for p in m["content"]
            if p["type"] == "image"]


def _map_parts(messages: list[dict[str, Any]], part: Any) -> list[dict[str, Any]]:
    """Messages with every content part of list-content messages replaced by ``part(p)``."""
    return [m if isinstance(m["content"], str) else {"role": m["role"], "content": [part(p) for p in m["content"]]}
            for m in messages]


def canonical_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """JSON-safe form of normalised messages with every image replaced by the hash of its bytes."""
    def part(p: dict[str, Any]) -> dict[str, Any]:
        if p["type"] == "image":
            return {"type": "image", "sha256": p["image"].sha256, "mime": p["image"].mime}
        return p

    return _map_parts(messages, part)


def to_openai_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI wire form: images as ``image_url`` data URLs."""
    def part(p: dict[str, Any]) -> dict[str, Any]:
        if p["type"] == "image":
            return {"type": "image_url", "image_url": {"url": p["image"].data_url()}}
        if p["type"] == "image_url":
            return {"type": "image_url", "image_url": {"url": p["url"]}}
        return p

    return _map_parts(messages, part)


def semantic_params(params: dict[str, Any]) -> dict[str, Any]:
    """Decoding params that can change the answer (``None`` values dropped), sorted by name."""
    return {k: params[k] for k in sorted(params) if k not in NON_SEMANTIC_PARAMS and params[k] is not None}


def sha256_json(obj: Any) -> str:
    """SHA-256 of the canonical JSON of ``obj`` (sorted keys, no whitespace, integral floats as ints, so
    ``temperature=0`` and ``temperature=0.0`` give the same key; tuples as lists, sets sorted)."""
    blob = json.dumps(_canonical_numbers(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def text_of(messages: list[dict[str, Any]], role: str | None = None) -> str:
    """All text of (normalised) messages, optionally of one role, joined by newlines."""
    chunks = []
    for m in messages:
        if role and m["role"] != role:
            continue
        if isinstance(m["content"], str):
            chunks.append(m["content"])
        else:
            chunks += [p["text"] for p in m["content"] if p["type"] == "text"]
    return "\n".join(chunks)


def _canonical_numbers(obj: Any) -> Any:
    """``obj`` with every integral float (``0.0``, ``1.0``) replaced by the equal int, recursively."""
    if isinstance(obj, float):
        return int(obj) if obj.is_integer() else obj
    if isinstance(obj, dict):
        return {k: _canonical_numbers(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_canonical_numbers(v) for v in obj]
    if isinstance(obj, (set, frozenset)):  # str(set) order depends on PYTHONHASHSEED: sort for a stable key
        return sorted((_canonical_numbers(v) for v in obj), key=lambda v: json.dumps(v, sort_keys=True,
                                                                                        default=str))
    return obj
