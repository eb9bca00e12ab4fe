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
    if hasattr(image, "sha256") and isinstance(getattr(image, "data", None), bytes):  # an EncodedImage
        return image.data
    if isinstance(image, (str, Path)):
        return Path(image).read_bytes()
    if isinstance(image, dict) and ("bytes" in image or "path" in image):  # datasets.Image() storage form
        return image["bytes"] if image.get("bytes") else Path(image["path"]).read_bytes()
    if hasattr(image, "save"):
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        return buf.getvalue()
    raise TypeError(f"expected image bytes, a path or a PIL image, got {type(image).__name__}")


def prepare_image(image: ImageLike) -> tuple[Any, str]:
    """Encode an image once for sending: ``(payload, sha256 of the exact bytes sent)``.

    Uses the project encoder (``scigenbench.generators.backends.images.encode_image``: alpha on white, long side
    ≤ 2,048, PNG with a byte cap) so the hash recorded is the hash of what the backend sends. Undecodable bytes are
    passed through unchanged (the backend's failure is then recorded) and hashed as they are.
    """
    data = image_bytes(image)
    try:
        from scigenbench.generators.backends.images import encode_image
    except ImportError:  # backends not installed yet: send the bytes as they are
        return data, sha256_hex(data)
    try:
        encoded = encode_image(data)
    except Exception:  # noqa: BLE001 - an undecodable image: the backend call fails and is recorded
        return data, sha256_hex(data)
    return encoded, encoded.sha256


def user_message(text: str, image: Any = None) -> list[dict[str, Any]]:
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
