"""Helpers shared by the metrics: image bytes and hashes, one guarded chat call, message building."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scigenbench.generators.backends.base import BackendError, ChatResult
from scigenbench.metrics.records import sha256_hex

ImageLike = Any  # PIL.Image.Image | bytes | str | Path


def image_bytes(image: ImageLike) -> bytes:
    """The bytes of an image given as PNG/JPEG bytes, a file path or a PIL image (PIL images are saved as PNG)."""
    if isinstance(image, (bytes, bytearray)):
        return bytes(image)
    if isinstance(image, (str, Path)):
        return Path(image).read_bytes()
    if isinstance(image, dict) and ("bytes" in image or "path" in image):  # datasets.Image() storage form
        return image["bytes"] if image.get("bytes") else Path(image["path"]).read_bytes()
    if hasattr(image, "save"):
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        return buf.getvalue()
    raise TypeError(f"expected image bytes, a path or a PIL image, got {type(image).__name__}")


def encoded_sha256(data: bytes) -> str:
    """SHA-256 of the bytes a backend sends for ``data``: the project encoder's output when it is available
    (``scigenbench.generators.backends.images``), else of ``data`` itself."""
    try:
        from scigenbench.generators.backends import images as _images
    except ImportError:
        return sha256_hex(data)
    encode = getattr(_images, "encode_image", None)
    if encode is None:
        return sha256_hex(data)
    try:
        encoded = encode(data)
    except Exception:  # an undecodable image: the backend will fail too; hash what we have
        return sha256_hex(data)
    payload = getattr(encoded, "data", None) or getattr(encoded, "bytes", None) or (
        encoded[0] if isinstance(encoded, tuple) else encoded)
    sha = getattr(encoded, "sha256", None)
    if isinstance(sha, str):
        return sha
    return sha256_hex(payload) if isinstance(payload, (bytes, bytearray)) else sha256_hex(data)


def user_message(text: str, image: bytes | None = None) -> list[dict[str, Any]]:
    """One user message: the text, then the image when given (the order upstream's judge uses)."""
    if image is None:
        return [{"role": "user", "content": text}]
    return [{"role": "user", "content": [{"type": "text", "text": text}, {"type": "image", "image": image}]}]


@dataclass
class CallOutcome:
    """A chat call's result or its failure, plus what it cost."""

    result: ChatResult | None = None
    error: dict[str, Any] | None = None
    calls: int = 0
    usage: dict[str, float] = field(default_factory=dict)

    @property
    def text(self) -> str | None:
        return self.result.text if self.result is not None else None


def call(backend: Any, messages: list[dict[str, Any]], *, prompt_version: str, **params: Any) -> CallOutcome:
    """Run one chat call; a :class:`BackendError` (bounded retries spent) becomes an error record, not a raise."""
    try:
        result = backend.chat(messages, prompt_version=prompt_version, **params)
    except BackendError as exc:
        return CallOutcome(error=exc.to_dict(), calls=1)
    usage = {"prompt_tokens": result.usage.prompt_tokens, "completion_tokens": result.usage.completion_tokens,
             "cost_usd": result.cost_usd}
    return CallOutcome(result=result, calls=0 if result.cached else 1, usage={} if result.cached else usage)


def add_usage(total: dict[str, float], more: dict[str, float]) -> dict[str, float]:
    for key, value in more.items():
        total[key] = total.get(key, 0) + value
    return total


def error_reason(prefix: str, error: dict[str, Any]) -> str:
    return f"{prefix}: {error.get('kind', 'error')}: {error.get('message', '')}"[:500]
