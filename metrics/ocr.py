"""The ``ocr`` proxy answerer: answers multiple-choice quizzes from the text an OCR engine reads in the image.

It is a chat backend (same ``chat``/``achat`` interface as a real VLM), so the quiz metric runs unchanged with
``--judge ocr``. It needs no model server and no network: the offline demo, the tests and a free pre-filter use it.
Numbers it produces are a **proxy** (model id ``ocr-proxy:<engine>-v<N>``) and are never reported as judge numbers.

Two OCR engines (:data:`ENGINES`):

- ``rapidocr`` (default): RapidOCR's PP-OCR models on onnxruntime, shipped inside the ``rapidocr-onnxruntime``
  wheel (``pip install 'scigenbench[ocr]'``): no system binary, no download at run time;
- ``tesseract``: the ``tesseract`` binary found on ``PATH`` (``apt-get install tesseract-ocr``) through
  ``pytesseract``.

``ocr`` uses the first engine available in that order; ``ocr:rapidocr`` / ``ocr:tesseract`` pick one. The default
was chosen by ``benchmarks/bench_ocr_proxy.py`` (README, Benchmarks). A missing engine is one setup error with the
fix (:func:`engine_problem`), raised before anything is scored.

How it answers: OCR the image (cached per image hash) and pick the option whose text is found in the OCR text
(exact substring after folding case, whitespace and look-alike characters, else the best fuzzy window match). It
replies ``"Answer: X"``; when nothing matches, or the best options tie, it replies without a letter (an
abstention), which the quiz metric scores as 0 (the answerer's own failure). Prompts that are not multiple choice
(the judge rubric, R_inv) raise a :class:`PermanentError`: the proxy only answers quizzes.
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

#: OCR engines in order of preference (the default first) -> the answerer's identity in results and in the
#: response-cache key: bump an engine's version whenever how it reads or matches changes, so cached answers of an
#: older proxy are never reused
ENGINES = {"rapidocr": "rapidocr-v3", "tesseract": "tesseract-v2"}
#: what to install for each engine (shown when it is missing)
ENGINE_INSTALL = {"rapidocr": "pip install 'scigenbench[ocr]' (rapidocr-onnxruntime: models inside the wheel)",
                  "tesseract": "apt-get install tesseract-ocr and pip install pytesseract"}
#: kept for callers of the first release: the tesseract engine's model id
PROXY_MODEL = ENGINES["tesseract"]
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


def engine_problem(engine: str) -> str | None:
    """Why ``engine`` cannot run on this machine (one line with the fix), or ``None`` when it can."""
    import importlib.util
    import shutil

    if engine not in ENGINES:
        return f"unknown OCR engine {engine!r}; choose from {', '.join(ENGINES)}"
    if engine == "tesseract":
        if shutil.which("tesseract") is None:
            return f"tesseract is not on PATH ({ENGINE_INSTALL['tesseract']})"
        if importlib.util.find_spec("pytesseract") is None:
            return f"the pytesseract package is not installed ({ENGINE_INSTALL['tesseract']})"
        return None
    try:
        import rapidocr_onnxruntime  # noqa: F401
    except ImportError as exc:
        if "libGL" in str(exc) or "libglib" in str(exc) or "libgthread" in str(exc):  # opencv-python's system libs
            return (f"RapidOCR's OpenCV cannot load ({exc}): apt-get install libgl1 libglib2.0-0, or "
                    "pip uninstall -y opencv-python && pip install opencv-python-headless")
        return f"rapidocr-onnxruntime cannot be imported ({exc}): {ENGINE_INSTALL['rapidocr']}"
    return None


def available_engines() -> dict[str, str | None]:
    """Every engine -> ``None`` when it can run here, else why not (for ``scigenbench doctor``)."""
    return {engine: engine_problem(engine) for engine in ENGINES}


def pick_engine(requested: str | None = None) -> str:
    """The engine for the spec ``ocr[:<engine>]``: the requested one, else the first available.

    Raises:
        PermanentError: the engine (or, for plain ``ocr``, every engine) cannot run here; the message says why
            and what to install.
    """
    if requested:
        problem = engine_problem(requested)
        if problem:
            raise PermanentError(f"the ocr proxy cannot run: {problem}", backend="ocr",
                                 model=ENGINES.get(requested, requested))
        return requested
    problems = available_engines()
    for engine, problem in problems.items():
        if problem is None:
            return engine
    raise PermanentError("the ocr proxy needs an OCR engine and none can run here: "
                         + "; ".join(problems.values()), backend="ocr", model="none")


def _on_white(data: bytes):
    """The image composited on white, as a PIL RGB image."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        img.load()
        rgba = img.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def ocr_image(data: bytes, engine: str = "tesseract") -> str:
    """The text ``engine`` reads in image bytes (composited on white, small images upscaled), one line per text
    box or line."""
    image = _upscaled(_on_white(data))
    if engine == "rapidocr":
        return _rapidocr_text(image)
    return _tesseract_text(image)


def _upscaled(image, long_side: int = 1000):
    """Small images upscaled to a ``long_side`` px long side: both engines read small text much better so."""
    from PIL import Image

    if max(image.size) >= long_side:
        return image
    scale = long_side / max(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)


def _tesseract_text(image) -> str:
    pytesseract = require("pytesseract", purpose="the ocr proxy's tesseract engine")
    gray = image.convert("L")
    try:
        return pytesseract.image_to_string(gray, config="--psm 11")
    except pytesseract.TesseractNotFoundError as exc:
        raise PermanentError(f"the ocr proxy needs the tesseract binary on PATH ({ENGINE_INSTALL['tesseract']})",
                             backend="ocr", model=ENGINES["tesseract"]) from exc


_rapid_engine: Any = None
_rapid_lock = threading.Lock()


def _rapidocr_text(image) -> str:
    """RapidOCR (PP-OCR det + cls + rec on onnxruntime; one engine per process, calls serialised: onnxruntime
    already uses every core for one image)."""
    global _rapid_engine
    import numpy as np

    with _rapid_lock:
        if _rapid_engine is None:
            module = require("rapidocr_onnxruntime", extra="ocr", purpose="the ocr proxy's RapidOCR engine")
            # detection at the image's own size (capped at 2,000 px): the default scales the *short* side up to
            # 736 px, which makes a wide strip of text (a text card) 3x larger and detection 30x slower
            _rapid_engine = module.RapidOCR(det_limit_type="max", det_limit_side_len=2000)
        result, _ = _rapid_engine(np.asarray(image)[:, :, ::-1].copy())  # OpenCV order: BGR
    return "\n".join(str(box[1]) for box in result or [])


def _image_data(part: dict[str, Any]) -> bytes:
    from scigenbench.metrics._calls import image_bytes

    if part.get("type") == "image_url":
        import base64

        return base64.b64decode(part["image_url"]["url"].split(";base64,", 1)[1])
    return image_bytes(part["image"])


class OCRProxyBackend(ChatBackend):
    """A chat backend that answers quizzes by OCR. Thread-safe; OCR text cached per image SHA-256.

    Args:
        engine: ``rapidocr`` or ``tesseract``; default: the first that can run here (:func:`pick_engine`).

    Raises:
        PermanentError: no (or not the requested) OCR engine can run on this machine.
    """

    name = "ocr-proxy"

    def __init__(self, engine: str | None = None) -> None:
        self.engine = pick_engine(engine)
        self.model = ENGINES[self.engine]
        self._ocr_cache: dict[str, str] = {}
        self._lock = threading.Lock()
        self._calls = 0

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "engine": self.engine, "proxy": True}

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
        text = ocr_image(data, self.engine)
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
    """Backends-registry factory for the specs ``ocr`` and ``ocr:<engine>`` (``get_backend`` wraps it with the
    response cache)."""
    if options:
        raise TypeError(f"the ocr proxy takes no options, got {sorted(options)}")
    return OCRProxyBackend(arg or None)
