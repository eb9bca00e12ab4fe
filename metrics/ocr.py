"""The ``ocr`` proxy answerer: answers multiple-choice quizzes from the text tesseract reads in the image.

It is a chat backend (same ``chat``/``achat`` interface as a real VLM), so the quiz metric runs unchanged with
``--judge ocr``. It needs no model and no network: the offline demo, the tests and a free pre-filter use it.
Numbers it produces are a **proxy** (model id ``ocr-proxy:tesseract-v2``) and are never reported as judge numbers.

How it answers: OCR the image (cached per image hash) and pick the option whose text is found in the OCR text
(exact substring after folding case, whitespace and look-alike characters, else the best fuzzy window match). It
replies ``"Answer: X"``; when nothing matches, or the best options tie, it abstains (``"Answer: NONE"``), which the
quiz metric scores as 0 (the answerer's own failure). Prompts that are not multiple choice (the judge rubric,
R_inv) raise a :class:`PermanentError`: the proxy only answers quizzes.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import re
import threading
import time
from typing import Any

from scigenbench._optional import require
from scigenbench.generators.backends.base import ChatBackend, ChatResult, PermanentError, Usage

#: the answerer's identity in results and in the response-cache key: bump the version whenever how it reads or
#: matches changes, so cached answers of an older proxy are never reused
PROXY_MODEL = "tesseract-v2"
_OPTION_LINE = re.compile(r"^\s*([A-E])\s*[:.)]\s*(.+?)\s*$")


_FOLD = str.maketrans({"²": "2", "³": "3", "¹": "1", "⁰": "0", "₀": "0", "₁": "1", "₂": "2", "₃": "3", "₄": "4",
                       "µ": "u", "μ": "u", "−": "-", "–": "-", "—": "-", "×": "x", "·": ".", "’": "'", "°": "o"})
#: minimum similarity for an option to count as read in the image
MATCH_THRESHOLD = 0.8


def compact(text: str) -> str:
    """Lower-case, fold look-alike characters (superscripts, µ, dashes), drop whitespace."""
    return re.sub(r"\s+", "", text.lower().translate(_FOLD))


def match_score(option: str, ocr_compact: str) -> float:
    """How well ``option`` appears in the OCR text: 1.0 for an exact substring, else the best similarity of any
    window of the same length (difflib ratio)."""
    target = compact(option)
    if not target or not ocr_compact:
        return 0.0
    if target in ocr_compact:
        return 1.0
    n = len(target)
    best = 0.0
    for size in {max(1, n - 1), n, n + 1}:
        for start in range(0, max(1, len(ocr_compact) - size + 1)):
            matcher = difflib.SequenceMatcher(None, target, ocr_compact[start:start + size], autojunk=False)
            if matcher.real_quick_ratio() > best and matcher.quick_ratio() > best:
                best = max(best, matcher.ratio())
    return best


def parse_options(prompt: str) -> dict[str, str]:
    """Options ``{"A": text, ...}`` from the lines after ``Options:`` in a quiz prompt."""
    _, _, tail = prompt.partition("Options:")
    options = {}
    for line in tail.splitlines():
        match = _OPTION_LINE.match(line)
        if match:
            options[match.group(1)] = match.group(2)
        elif options and line.strip() == "":
            break
    return options


def choose_option(options: dict[str, str], ocr_text: str) -> tuple[str | None, dict[str, float]]:
    """The option best found in ``ocr_text``; ``None`` when none reaches :data:`MATCH_THRESHOLD` or the best tie."""
    text = compact(ocr_text)
    scores = {letter: round(match_score(value, text), 4) for letter, value in options.items()}
    best = max(scores.values(), default=0.0)
    winners = [k for k, v in scores.items() if v == best]
    if best < MATCH_THRESHOLD or len(winners) != 1:
        return None, scores
    return winners[0], scores


def ocr_image(data: bytes) -> str:
    """Run tesseract on image bytes (composited on white, upscaled when small, grayscale)."""
    pytesseract = require("pytesseract", purpose="the ocr proxy answerer")
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        img.load()
        rgba = img.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    gray = Image.alpha_composite(white, rgba).convert("L")
    if max(gray.size) < 1000:  # tesseract reads small text much better at ~300 dpi equivalents
        scale = 1000 / max(gray.size)
        gray = gray.resize((round(gray.width * scale), round(gray.height * scale)), Image.LANCZOS)
    try:
        return pytesseract.image_to_string(gray, config="--psm 11")
    except pytesseract.TesseractNotFoundError as exc:
        raise PermanentError(f"the ocr proxy needs the tesseract binary (apt-get install tesseract-ocr): {exc}",
                             backend="ocr", model=PROXY_MODEL) from exc


def _image_data(part: dict[str, Any]) -> bytes:
    from scigenbench.metrics._calls import image_bytes

    if part.get("type") == "image_url":
        import base64

        return base64.b64decode(part["image_url"]["url"].split(";base64,", 1)[1])
    return image_bytes(part["image"])


class OCRProxyBackend(ChatBackend):
    """A chat backend that answers quizzes by OCR. Thread-safe; OCR text cached per image SHA-256."""

    name = "ocr-proxy"
    model = PROXY_MODEL

    def __init__(self) -> None:
        self._ocr_cache: dict[str, str] = {}
        self._lock = threading.Lock()
        self._calls = 0

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "proxy": True}

    def stats(self) -> dict[str, Any]:
        return {"calls": self._calls, "cache_hits": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}

    def _chat(self, messages: list[dict[str, Any]], **params: Any) -> ChatResult:
        start = time.perf_counter()
        text, images = _split_content(messages)
        options = parse_options(text)
        if not options:
            raise PermanentError("the ocr proxy answers multiple-choice quizzes only (no 'Options:' block in the "
                                 "prompt); use a real judge model for this metric", backend=self.name,
                                 model=self.model)
        ocr_text = self._ocr(images[0]) if images else ""
        letter, scores = choose_option(options, ocr_text)
        with self._lock:
            self._calls += 1
        reply = (f"OCR match scores {scores}.\nAnswer: {letter}" if letter
                 else "The text in the image does not single out one option.\nAnswer: NONE")
        sha = hashlib.sha256(images[0]).hexdigest() if images else None
        return ChatResult(text=reply, model=self.model, backend=self.name, usage=Usage(),
                          latency_s=time.perf_counter() - start,
                          provenance={"backend": self.name, "model": self.model, "proxy": True,
                                      "prompt_version": params.get("prompt_version"), "image_sha256": sha,
                                      "ocr_chars": len(ocr_text)})

    def _ocr(self, data: bytes) -> str:
        key = hashlib.sha256(data).hexdigest()
        with self._lock:
            if key in self._ocr_cache:
                return self._ocr_cache[key]
        text = ocr_image(data)
        with self._lock:
            self._ocr_cache[key] = text
        return text


def _split_content(messages: list[dict[str, Any]]) -> tuple[str, list[bytes]]:
    texts, images = [], []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
            continue
        for part in content or []:
            if part.get("type") == "text":
                texts.append(part["text"])
            elif part.get("type") in ("image", "image_url"):
                images.append(_image_data(part))
    return "\n".join(texts), images


def make_ocr_backend(arg: str | None = None, base_url: str | None = None, **options: Any) -> OCRProxyBackend:
    """Backends-registry factory for the spec ``ocr`` (``get_backend("ocr")`` wraps it with the response cache)."""
    if options:
        raise TypeError(f"the ocr proxy takes no options, got {sorted(options)}")
    return OCRProxyBackend()
