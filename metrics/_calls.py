"""Helpers shared by the metrics: image bytes and hashes, one guarded chat call, message building."""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import os
import threading
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


class UnreadableImageError(ValueError):
    """The image bytes cannot be decoded or encoded for sending (corrupt file, decompression bomb, too big).

    The metrics record such an item as *missing* (PROTOCOL §4): the generator produced no usable image, and a
    re-run cannot change that, so it must not hide among the unscored items (upstream scored it 0 in SciGen quizzes
    and excluded it elsewhere; switch ``corrupted="upstream"``)."""

    def __init__(self, message: str, sha256: str):
        super().__init__(message)
        self.sha256 = sha256


def prepare_image(image: ImageLike) -> tuple[Any, str]:
    """Encode an image once for sending: ``(payload, sha256 of the exact bytes sent)``.

    Uses the project encoder (``scigenbench.generators.backends.images.encode_image``: alpha on white, long side
    ≤ 2,048, PNG with a byte cap) so the hash recorded is the hash of what the backend sends (the backend passes
    an already encoded image through unchanged).

    Raises:
        UnreadableImageError: the bytes are not a decodable image (or are a decompression bomb / too big).
    """
    from scigenbench.generators.backends.images import EncodedImage, encode_image

    if isinstance(image, EncodedImage):  # already encoded for sending: never encode twice
        return image, image.sha256
    data = image_bytes(image)
    try:
        encoded = encode_image(data)
    except Exception as exc:  # noqa: BLE001 - any decoder failure means the same: no usable image
        raise UnreadableImageError(f"image unreadable: {type(exc).__name__}: {exc}"[:300], sha256_hex(data)) from exc
    return encoded, encoded.sha256


#: JPEG qualities of upstream's quiz/ve ladder (PROTOCOL §3)
UPSTREAM_JPEG_QUALITIES = (95, 85, 75, 65, 55, 45, 35, 25, 15, 10, 5)
UPSTREAM_B64_LIMIT = 2 * 1024 * 1024


def upstream_image(image: ImageLike, kind: str) -> Any:
    """The exact image bytes upstream sent (switch ``image_encoding="upstream"``, PROTOCOL §3), as an
    :class:`~scigenbench.generators.backends.images.EncodedImage` that the backend passes through unchanged.

    ``kind="judge"`` (``llm_as_judge.py``): ``convert("RGB")`` (alpha dropped, not composited), full resolution, PNG
    with Pillow's defaults. ``kind="quiz"`` (``quiz.py``, ``ve_infer.py``): ``verify()``, ``convert("RGB")``; a long
    side over 1,024 px is resized with LANCZOS to ``int(side * 1024 / long_side)`` (truncated, as upstream does:
    911×1023, not 911×1024); JPEG (``optimize=True``) at quality 95, 85, …, 5 until the base64 is ≤ 2 MiB; else
    shrink the long side by 20 % per step (``int``) at quality 5 while it is over 256 px; last resort 256×256 at
    quality 5. Sent as ``image/jpeg``.

    Raises:
        UnreadableImageError: undecodable bytes.
    """
    import base64

    from PIL import Image

    from scigenbench.generators.backends.images import EncodedImage

    data = image_bytes(image)
    try:
        img = Image.open(io.BytesIO(data))
        if kind == "quiz":
            img.verify()
            img = Image.open(io.BytesIO(data))
        img = img.convert("RGB")
    except Exception as exc:  # noqa: BLE001
        raise UnreadableImageError(f"image unreadable: {type(exc).__name__}: {exc}"[:300], sha256_hex(data)) from exc

    def sent(payload: bytes, mime: str, size: tuple[int, int]) -> EncodedImage:
        return EncodedImage(payload, mime, sha256_hex(payload), size[0], size[1])

    if kind == "judge":
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        return sent(buf.getvalue(), "image/png", img.size)
    if kind != "quiz":
        raise ValueError(f"kind must be 'judge' or 'quiz', got {kind!r}")
    if max(img.size) > 1024:
        ratio = 1024 / max(img.size)
        img = img.resize((int(img.size[0] * ratio), int(img.size[1] * ratio)), Image.Resampling.LANCZOS)

    def jpeg(im: Any, quality: int) -> bytes:
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=quality, optimize=True)
        return buf.getvalue()

    for quality in UPSTREAM_JPEG_QUALITIES:
        out = jpeg(img, quality)
        if len(base64.b64encode(out)) <= UPSTREAM_B64_LIMIT:
            return sent(out, "image/jpeg", img.size)
    current = max(img.size)
    while current > 256:
        current = int(current * 0.8)
        ratio = current / max(img.size)
        img = img.resize((int(img.size[0] * ratio), int(img.size[1] * ratio)), Image.Resampling.LANCZOS)
        out = jpeg(img, 5)
        if len(base64.b64encode(out)) <= UPSTREAM_B64_LIMIT:
            return sent(out, "image/jpeg", img.size)
    img = img.resize((256, 256), Image.Resampling.LANCZOS)
    return sent(jpeg(img, 5), "image/jpeg", img.size)


def prepare_for(image: ImageLike, kind: str, image_encoding: str = "default") -> tuple[Any, str]:
    """:func:`prepare_image`, after :func:`upstream_image` when ``image_encoding="upstream"``. A
    :class:`SourceImage` answers from its memo (each encoding computed once per run)."""
    if image_encoding not in ("default", "upstream"):
        raise ValueError(f"image_encoding must be 'default' or 'upstream', got {image_encoding!r}")
    if isinstance(image, SourceImage):
        return image.prepared(kind, image_encoding)
    return prepare_image(upstream_image(image, kind) if image_encoding == "upstream" else image)


async def aprepare_for(image: ImageLike, kind: str, image_encoding: str = "default") -> tuple[Any, str]:
    """:func:`prepare_for` off the event loop (encoding is CPU work); a memoised encoding returns at once."""
    if isinstance(image, SourceImage):
        ready = image.ready(kind, image_encoding)
        if ready is not None:
            return ready
    return await asyncio.to_thread(prepare_for, image, kind, image_encoding)


class SourceImage:
    """One item's image for a whole evaluation: the file's bytes, read once, and each encoding of them
    (project encoder, upstream's judge PNG, upstream's quiz JPEG ladder) computed at most once, whichever metric
    asks first; the others get the same bytes and hash. Thread-safe. An undecodable image raises the same
    :class:`UnreadableImageError` to every metric.

    >>> from PIL import Image
    >>> buf = io.BytesIO(); Image.new("RGB", (8, 8), "white").save(buf, format="PNG")
    >>> src = SourceImage(buf.getvalue())
    >>> prepare_for(src, "judge")[1] == prepare_for(src, "quiz")[1]
    True
    """

    def __init__(self, data: bytes):
        self.data = bytes(data)
        self.sha256 = sha256_hex(self.data)
        self._memo: dict[str, Any] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _slot(kind: str, image_encoding: str) -> str:
        return "default" if image_encoding == "default" else f"upstream-{kind}"

    def ready(self, kind: str, image_encoding: str) -> tuple[Any, str] | None:
        """The memoised encoding, or ``None`` when it is not computed yet (raises a memoised failure)."""
        found = self._memo.get(self._slot(kind, image_encoding))
        if isinstance(found, UnreadableImageError):
            raise found
        return found

    def prepared(self, kind: str, image_encoding: str = "default") -> tuple[Any, str]:
        slot = self._slot(kind, image_encoding)
        with self._lock:
            if slot not in self._memo:
                try:
                    self._memo[slot] = prepare_image(upstream_image(self.data, kind) if slot != "default"
                                                     else self.data)
                except UnreadableImageError as exc:
                    self._memo[slot] = exc
        return self.ready(kind, image_encoding)  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"SourceImage({len(self.data)} B, sha256={self.sha256[:12]})"


def corrupted_result(exc: UnreadableImageError, corrupted: str, base: dict[str, Any]) -> Any:
    """The record of an undecodable image: *missing* in both modes. With ``corrupted="upstream"`` the reason says
    it as upstream has it: every upstream loader (``Image.open``/``verify``/``convert`` in a bare ``try``) fails
    first, so the item is written "Image not found" and left out like an absent image; upstream's "Corrupted
    image = 0" branch in ``quiz.py`` is never reached (PROTOCOL §4)."""
    from scigenbench.metrics.records import MISSING, ItemResult

    if corrupted not in ("default", "upstream"):
        raise ValueError(f"corrupted must be 'default' or 'upstream', got {corrupted!r}")
    if corrupted == "upstream":
        return ItemResult(state=MISSING, reason=f"image not found (upstream's loader cannot decode it): {exc}"[:300],
                          **{**base, "image_sha256": exc.sha256})
    return ItemResult(state=MISSING, reason=str(exc), **{**base, "image_sha256": exc.sha256})


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


async def acall(backend: Any, messages: list[dict[str, Any]], *, prompt_version: str, **params: Any) -> CallOutcome:
    """:func:`call` from a coroutine: ``backend.achat`` (a backend without one runs ``chat`` in a thread). The
    backend's limits (shared by the whole run, see ``CallLimits``) decide how many run at once."""
    try:
        if hasattr(backend, "achat"):
            result = await backend.achat(messages, prompt_version=prompt_version, **params)
        else:
            result = await asyncio.to_thread(backend.chat, messages, prompt_version=prompt_version, **params)
    except BackendError as exc:
        return CallOutcome(error=exc.to_dict(), calls=1)
    usage = {"prompt_tokens": result.usage.prompt_tokens, "completion_tokens": result.usage.completion_tokens,
             "cost_usd": result.cost_usd}
    return CallOutcome(result=result, calls=0 if result.cached else 1, usage={} if result.cached else usage)


#: bounded re-asks after a reply that cannot be parsed (each re-ask adds a format reminder, so it is cached apart)
REASKS = 2


@dataclass
class Asked:
    """The outcome of :func:`ask_parsed`: the parsed value (or why not), every raw reply, calls and usage."""

    value: Any = None
    why: str | None = None
    error: dict[str, Any] | None = None
    replies: list[str] = field(default_factory=list)
    calls: int = 0
    usage: dict[str, float] = field(default_factory=dict)

    @property
    def text(self) -> str | None:
        return self.replies[-1] if self.replies else None

    @property
    def reasks(self) -> int:
        return max(0, len(self.replies) - 1)


async def ask_parsed(backend: Any, messages: list[dict[str, Any]], parse: Any, *, expected: str, prompt_version: str,
                     reasks: int = REASKS, **params: Any) -> Asked:
    """Ask, parse with ``parse(text) -> (value, why)``; on an unparsable reply re-ask up to ``reasks`` times with
    the reply and a format reminder (``expected`` = the line wanted) appended to the conversation, so the re-ask is
    a different request (cached apart). A failed call ends it with ``error``; else ``value`` or the last ``why``."""
    from scigenbench.metrics._prompts import prompt_version as version_of, render_prompt

    asked = Asked()
    conversation = list(messages)
    for attempt in range(reasks + 1):
        version = prompt_version if attempt == 0 else f"{prompt_version}+{version_of('format_reminder')}"
        out = await acall(backend, conversation, prompt_version=version, **params)
        asked.calls += out.calls
        add_usage(asked.usage, out.usage)
        if out.error:
            asked.error = out.error
            return asked
        asked.replies.append(out.text or "")
        asked.value, asked.why = parse(out.text)
        if asked.value is not None:
            return asked
        conversation = conversation + [{"role": "assistant", "content": out.text or ""},
                                       {"role": "user", "content": render_prompt("format_reminder",
                                                                                 expected=expected)}]
    return asked


# --- one event loop for the synchronous API ------------------------------------------------------------------

#: threads for blocking work started from the loop (sync backends, image encoding, sympy checks); created lazily
LOOP_THREADS = 256
_loop_state: dict[str, Any] = {}
_loop_lock = threading.Lock()


def _background_loop() -> asyncio.AbstractEventLoop:
    """The process's metrics event loop, running in a daemon thread (restarted in a forked child), so
    synchronous callers share async clients and connection pools instead of building them per call."""
    with _loop_lock:
        state = _loop_state
        if state.get("pid") != os.getpid() or not state["thread"].is_alive():
            loop = asyncio.new_event_loop()
            loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(LOOP_THREADS,
                                                                            thread_name_prefix="scigenbench-metrics"))
            thread = threading.Thread(target=loop.run_forever, name="scigenbench-metrics-loop", daemon=True)
            thread.start()
            state.update(pid=os.getpid(), loop=loop, thread=thread)
        return state["loop"]


def run_sync(coro: Any) -> Any:
    """Run a metrics coroutine to completion from synchronous code (any thread, inside or outside an event loop).

    It runs on the shared metrics loop; called from that loop's own thread (a sync metric inside an async one),
    it runs in a fresh loop in a helper thread instead of deadlocking."""
    loop = _background_loop()
    if threading.current_thread() is _loop_state.get("thread"):
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coro).result()
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        return future.result()
    except KeyboardInterrupt:  # stop the work on the loop too (its cleanup, e.g. flushing results, still runs)
        future.cancel()
        try:
            future.result(timeout=30)
        except BaseException:  # noqa: BLE001 - cancelled or failed while stopping: the interrupt wins
            pass
        raise


def add_usage(total: dict[str, float], more: dict[str, float]) -> dict[str, float]:
    for key, value in more.items():
        total[key] = total.get(key, 0) + value
    return total


def error_reason(prefix: str, error: dict[str, Any]) -> str:
    return f"{prefix}: {error.get('kind', 'error')}: {error.get('message', '')}"[:500]
