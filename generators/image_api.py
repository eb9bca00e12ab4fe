"""``openai-image:<model>[@<base_url>]``: text-to-image through an OpenAI-compatible ``images.generate`` API.

Works with OpenAI's image models (``gpt-image-1``, ``gpt-image-1.5``, ``dall-e-3``) and any server that speaks
``POST /v1/images/generations``. The prompt is the problem wrapped in the same illustration instructions as the
local Diffusers generator (:func:`scigenbench.generators.diffusers_t2i.build_prompt`, versioned), so pixel
generators are compared on identical prompts.

Nothing about networking is re-implemented here: the request is a tiny :class:`ChatBackend` (``_chat`` calls
``client.images.generate`` and returns the images as JSON text) wrapped in the backend layer's
:class:`~scigenbench.generators.backends.managed.ManagedBackend`, which brings bounded retries with backoff that
honour ``Retry-After``, the concurrency/rpm limits, the content-hash response cache (key: model, prompt, size,
quality, n, response format) and token accounting. On top, an optional ``price_per_image`` gives a cost per image
(image APIs are usually priced per image), and ``budget_usd`` stops before a call that would pass it.

Responses with ``b64_json`` are decoded; ones with only a ``url`` are downloaded. Every image is validated and
stored as PNG (one image format per run). A request refused by moderation is recorded as ``blocked``.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from scigenbench.generators.backends._messages import text_of
from scigenbench.generators.backends.base import (
    BackendError, BudgetExceededError, ChatResult, ConfigurationError, ConnectionFailedError, MalformedResponseError,
    PermanentError, Usage,
)
from scigenbench.generators.backends.openai_compat import DEFAULT_KEY_ENV, OpenAIBackend
from scigenbench.generators.backends.openai_compat import build as build_openai
from scigenbench.generators.base import GenerationOutput, Generator
from scigenbench.generators.diffusers_t2i import PROMPT_VERSION, build_prompt

#: options that configure the managed backend (retries, cache, limits) rather than the images
BACKEND_OPTIONS = ("cache", "cache_dir", "max_retries", "timeout", "deadline", "backoff_base", "backoff_max",
                   "max_retry_wait", "concurrency", "rpm", "adaptive", "prices", "rate_limiter")
#: words in an API error that mean the request was refused by a safety system, not broken
_MODERATION_MARKERS = ("moderation", "content_policy", "content policy", "safety system", "safety_violation")


@dataclass(frozen=True)
class ImageAPIConfig:
    """What is sent to the images endpoint (all of it is in the run's config hash, except the price).

    Attributes:
        model: Model id, e.g. ``gpt-image-1``.
        base_url: OpenAI-compatible base URL (``None``: the SDK default, ``$OPENAI_BASE_URL`` or api.openai.com).
        size: ``WIDTHxHEIGHT`` or ``auto``; ``None`` leaves it to the server.
        quality: e.g. ``low``/``medium``/``high`` (gpt-image) or ``standard``/``hd`` (dall-e-3); ``None``: default.
        n: Images per request; the first is the run's image, the others are only counted.
        response_format: ``b64_json`` or ``url`` for servers that take it; ``None`` (gpt-image models reject the
            parameter and always answer base64).
        price_per_image: USD per returned image, for cost accounting and ``budget_usd``; ``None`` uses the token
            price table of the backend layer (``prices=`` / ``$SCIGENBENCH_PRICES``) when the API reports tokens.
        api_key_env: Environment variable holding the API key (a loopback base URL needs none).
    """

    model: str
    base_url: str | None = None
    size: str | None = "1024x1024"
    quality: str | None = None
    n: int = 1
    response_format: str | None = None
    price_per_image: float | None = None
    api_key_env: str = "OPENAI_API_KEY"

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("openai-image needs a model: 'openai-image:gpt-image-1' or "
                             "'openai-image:<model>@http://host:port/v1'")
        if int(self.n) < 1:
            raise ValueError(f"openai-image option n must be >= 1, got {self.n!r}")
        if self.response_format not in (None, "b64_json", "url"):
            raise ValueError(f"openai-image option response_format must be 'b64_json' or 'url', "
                             f"got {self.response_format!r}")
        if self.price_per_image is not None and float(self.price_per_image) < 0:
            raise ValueError(f"openai-image option price_per_image must be >= 0, got {self.price_per_image!r}")

    def request_params(self) -> dict[str, Any]:
        """The ``images.generate`` parameters besides model and prompt (``None`` values left out)."""
        params = {"size": self.size, "quality": self.quality, "n": int(self.n),
                  "response_format": self.response_format}
        return {k: v for k, v in params.items() if v is not None}


class OpenAIImagesBackend(OpenAIBackend):
    """The raw request: ``images.generate`` in the shape of a chat backend, so ``ManagedBackend`` can wrap it.

    The prompt is the text of the messages; the answer text is JSON ``{"images_b64": [...], "revised_prompts":
    [...]}`` holding PNG images. SDK client, key handling and error classification are the chat backend's.
    """

    name = "openai-image"

    def _chat(self, messages: list[dict[str, Any]], *, timeout: float | None = None, **params: Any) -> ChatResult:
        start = time.monotonic()
        try:
            raw = self._client.images.with_raw_response.generate(
                model=self.model, prompt=text_of(messages), timeout=timeout, **params)
            status, body = raw.http_response.status_code, raw.http_response.text
        except self._openai.OpenAIError as exc:
            raise self._translate(exc) from None
        return self._images_result(status, body, time.monotonic() - start, timeout)

    def _images_result(self, status: int, body: str, latency: float, timeout: float | None) -> ChatResult:
        try:
            data = json.loads(body)
            items = data["data"]
            if not isinstance(items, list) or not items:
                raise ValueError("empty 'data'")
        except (ValueError, KeyError, TypeError) as exc:
            raise self._error(MalformedResponseError, f"HTTP {status} body is not an images response "
                                                      f"({exc}): {body[:200]!r}", status=status) from None
        pngs = [self._image_bytes(item, timeout) for item in items]
        usage = data.get("usage") or {}
        text = json.dumps({"images_b64": [base64.b64encode(p).decode() for p in pngs],
                           "revised_prompts": [item.get("revised_prompt") for item in items]})
        return ChatResult(
            text=text, model=self.model, backend=self.name, latency_s=latency, raw=None,
            usage=Usage(int(usage.get("input_tokens") or usage.get("prompt_tokens") or 0),
                        int(usage.get("output_tokens") or usage.get("completion_tokens") or 0)),
            provenance={"n_images": len(pngs)})

    def _image_bytes(self, item: Any, timeout: float | None) -> bytes:
        if not isinstance(item, dict):
            raise self._error(MalformedResponseError, f"image entry is not an object: {str(item)[:100]!r}")
        if item.get("b64_json"):
            try:
                blob = base64.b64decode(item["b64_json"], validate=True)
            except (binascii.Error, ValueError):
                raise self._error(MalformedResponseError, "b64_json is not valid base64") from None
        elif item.get("url"):
            blob = self._download(item["url"], timeout)
        else:
            raise self._error(MalformedResponseError, "image entry has neither 'b64_json' nor 'url'")
        try:
            return to_png(blob)
        except ValueError as exc:
            raise self._error(MalformedResponseError, str(exc)) from None

    def _download(self, url: str, timeout: float | None) -> bytes:
        """Fetch an image URL (servers that answer ``url`` instead of ``b64_json``)."""
        import httpx  # a dependency of the openai SDK

        try:
            response = httpx.get(url, timeout=timeout or 60.0, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise self._error(ConnectionFailedError, f"downloading the image URL failed: {exc}") from None
        if response.status_code >= 400:
            transient = response.status_code >= 500 or response.status_code == 429
            raise self._error(ConnectionFailedError if transient else PermanentError,
                              f"downloading the image URL answered HTTP {response.status_code}",
                              status=response.status_code)
        return response.content


def build_images_backend(model: str, base_url: str | None, api_key_env: str = DEFAULT_KEY_ENV
                         ) -> OpenAIImagesBackend:
    """The raw images backend, with the chat backend's key rules (``$OPENAI_API_KEY`` or ``api_key_env``;
    a loopback base URL needs no key)."""
    checked = build_openai(model, base_url, api_key_env=api_key_env)  # raises a clear error without a key
    key = checked._client_kwargs["api_key"]
    checked.close()
    return OpenAIImagesBackend(model, base_url, api_key=key)


def to_png(blob: bytes) -> bytes:
    """Validate image bytes and return them as PNG (re-encoded if the server sent JPEG/WebP).

    Raises:
        ValueError: the bytes are not a decodable image.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(blob)) as probe:
            probe.verify()
        image = Image.open(io.BytesIO(blob))
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"the API returned bytes that are not an image ({type(exc).__name__}: {exc})") from None
    if image.format == "PNG":
        return blob
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


class OpenAIImageGenerator(Generator):
    """One ``images.generate`` request per problem (see module docstring).

    Args:
        config: What to request.
        budget_usd: Stop (status ``budget_exceeded``) before a request that would pass this cost.
        **backend_options: Passed to ``ManagedBackend`` (``cache``, ``max_retries``, ``timeout``, ``rpm``, ...).
    """

    name = "openai-image"

    def __init__(self, config: ImageAPIConfig, *, budget_usd: float | None = None, **backend_options: Any):
        from scigenbench.generators.backends.managed import ManagedBackend

        unknown = sorted(set(backend_options) - set(BACKEND_OPTIONS))
        if unknown:
            raise ValueError(f"openai-image does not take option(s) {', '.join(unknown)}; image options: "
                             f"{', '.join(ImageAPIConfig.__dataclass_fields__)}; backend options: "
                             f"{', '.join(BACKEND_OPTIONS)}")
        self.settings = config
        inner = build_images_backend(config.model, config.base_url, config.api_key_env)
        # with a per-image price the budget is ours (the managed budget is token-priced and needs a token price)
        managed_budget = budget_usd if config.price_per_image is None else None
        try:
            self.backend = ManagedBackend(inner, budget_usd=managed_budget, **backend_options)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{exc}; for an image API, per-image pricing is simpler: price_per_image=USD "
                                     f"(-o price_per_image=0.04)", backend=self.name,
                                     model=config.model) from None
        self.budget_usd = budget_usd
        self._spent = 0.0
        self._reserved = 0.0
        self._lock = threading.Lock()

    def config(self) -> dict[str, Any]:
        settings = asdict(self.settings)
        settings.pop("price_per_image")
        settings.pop("api_key_env")
        settings["base_url"] = self.backend.inner.describe().get("endpoint")
        return {"generator": self.name, **settings, "prompt_version": PROMPT_VERSION}

    def estimate_requests(self, problems: list[dict[str, Any]]) -> dict[str, Any]:
        """Dry-run estimate: one request per problem, cost from ``price_per_image`` when set."""
        n = len(problems)
        price = self.settings.price_per_image
        cost = round(n * self.settings.n * price, 4) if price is not None else \
            "unknown (set -o price_per_image=USD)"
        return {"items": n, "image_requests": n, "images": n * self.settings.n, "cost_usd": cost}

    def close(self) -> None:
        self.backend.close()

    def generate(self, problem: dict[str, Any]) -> GenerationOutput:
        started = time.perf_counter()
        prompt = build_prompt(problem)
        reserved = self._reserve()
        if reserved is None:
            return GenerationOutput(status="budget_exceeded", error=self._budget_message())
        try:
            result = self.backend.chat([{"role": "user", "content": prompt}], prompt_version=PROMPT_VERSION,
                                       **self.settings.request_params())
        except BudgetExceededError as exc:
            return GenerationOutput(status="budget_exceeded", error=str(exc))
        except BackendError as exc:
            return self._failure(exc, started)
        finally:
            self._release(reserved)
        return self._success(result, started)

    # -- helpers ------------------------------------------------------------------------------------------------

    def _success(self, result: ChatResult, started: float) -> GenerationOutput:
        payload = json.loads(result.text)
        images = [base64.b64decode(b) for b in payload["images_b64"]]
        price = self.settings.price_per_image
        cost = 0.0 if result.cached else (price * len(images) if price is not None else result.cost_usd)
        with self._lock:
            self._spent += cost
        return GenerationOutput(
            status="ok", image_png=images[0],
            timings={"request": round(result.latency_s, 4), "total": round(time.perf_counter() - started, 4)},
            usage={"calls": 0 if result.cached else 1, "cached_calls": int(result.cached), "images": len(images),
                   "prompt_tokens": result.usage.prompt_tokens, "completion_tokens": result.usage.completion_tokens,
                   "cost_usd": round(cost, 8)},
            extra={"model": self.settings.model, "endpoint": self.config()["base_url"],
                   "params": self.settings.request_params(), "prompt_version": PROMPT_VERSION,
                   "revised_prompt": (payload.get("revised_prompts") or [None])[0], "n_images": len(images),
                   "cached": result.cached, "attempts": result.provenance.get("attempts"),
                   "cache_key": result.provenance.get("cache_key")})

    def _failure(self, exc: BackendError, started: float) -> GenerationOutput:
        text = str(exc).lower()
        blocked = isinstance(exc, PermanentError) and any(m in text for m in _MODERATION_MARKERS)
        return GenerationOutput(
            status="blocked" if blocked else "failed", error=f"{exc.kind}: {exc}",
            timings={"total": round(time.perf_counter() - started, 4)},
            usage={"calls": 0, "cost_usd": 0.0},
            extra={"model": self.settings.model, "backend_error": exc.to_dict(), "prompt_version": PROMPT_VERSION})

    def _reserve(self) -> float | None:
        """Reserve the worst-case cost of one request under our own (per-image) budget; None if over it."""
        price = self.settings.price_per_image
        if self.budget_usd is None or price is None:
            return 0.0
        worst = price * self.settings.n
        with self._lock:
            if self._spent + self._reserved + worst > self.budget_usd:
                return None
            self._reserved += worst
        return worst

    def _budget_message(self) -> str:
        with self._lock:
            spent, reserved = self._spent, self._reserved
        worst = (self.settings.price_per_image or 0.0) * self.settings.n
        return (f"budget ${self.budget_usd:.4f} would be exceeded: spent ${spent:.4f}, ${reserved:.4f} reserved by "
                f"requests in flight, next request up to ${worst:.4f}")

    def _release(self, amount: float | None) -> None:
        if amount:
            with self._lock:
                self._reserved -= amount


def make_openai_image(arg: str | None = None, **options: Any) -> OpenAIImageGenerator:
    """Registry factory for ``openai-image:<model>[@<base_url>]``.

    Options: :class:`ImageAPIConfig` fields (``size``, ``quality``, ``n``, ``response_format``,
    ``price_per_image``, ``api_key_env``), ``budget_usd``, and backend options (``max_retries``, ``timeout``,
    ``cache``, ``rpm``, ...).
    """
    from scigenbench.generators.backends import parse_spec

    _, model, base_url = parse_spec(f"openai-image:{arg or ''}")  # "@" starts a base URL only before "://"
    fields = set(ImageAPIConfig.__dataclass_fields__) - {"model", "base_url"}
    config = ImageAPIConfig(model=model.strip(), base_url=base_url,
                            **{k: options.pop(k) for k in list(options) if k in fields})
    budget = options.pop("budget_usd", None)
    return OpenAIImageGenerator(config, budget_usd=budget, **options)
