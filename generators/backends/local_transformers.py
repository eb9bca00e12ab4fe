"""``transformers:<model id or local path>``: local text and vision-language models.

The model's own chat template formats the conversation (``apply_chat_template`` of its processor or tokenizer),
images go through the processor as PIL images decoded from the *encoded bytes* (so the model sees exactly what
the recorded SHA-256 identifies), and ``generate`` produces the answer. Text-only checkpoints load with
``AutoModelForCausalLM``; checkpoints whose processor has an image processor load with
``AutoModelForImageTextToText`` (Llava, Qwen2-VL, Idefics, Gemma 3, ...).

Options (``get_backend("transformers:...", **options)``):

- ``device``: ``"auto"`` (CUDA if available, else MPS, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...;
- ``dtype``: ``"auto"`` (the checkpoint's), ``"float32"``, ``"bfloat16"``, ``"float16"``;
- ``revision``, ``trust_remote_code`` (default ``False``), ``local_files_only``;
- ``batch_size``: most conversations per ``generate`` call (default 8): ``chat_batch`` splits into such batches,
  and concurrent ``chat`` calls from threads with equal params are batched together automatically.

Decoding params: ``temperature`` (0 or absent: greedy), ``top_p``, ``top_k``, ``max_tokens`` (default 512),
``seed``, ``stop`` (the answer is cut at the first stop string), ``repetition_penalty``. Any other param raises
:class:`ConfigurationError`. The per-attempt ``timeout`` becomes ``generate(max_time=...)``.
Usage counts real tokens: prompt tokens from the attention mask, completion tokens up to the first EOS.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from scigenbench._optional import require
from scigenbench.generators.backends.base import (
    ChatBackend, ChatResult, ConfigurationError, RequestTimeoutError, Usage,
)

SUPPORTED_PARAMS = {"temperature", "top_p", "top_k", "max_tokens", "seed", "stop", "repetition_penalty"}
DEFAULT_MAX_TOKENS = 512


def build(model: str, base_url: str | None = None, *, device: str = "auto", dtype: str = "auto",
          revision: str | None = None, trust_remote_code: bool = False, local_files_only: bool | None = None,
          batch_size: int = 8) -> "TransformersBackend":
    """Factory used by the registry (``transformers:<model id or path>``)."""
    if not model:
        raise ConfigurationError("transformers: spec needs a model id or a local path, e.g. "
                                 "'transformers:Qwen/Qwen2.5-VL-3B-Instruct'", backend="transformers")
    if base_url:
        raise ConfigurationError("transformers: runs locally and takes no @base_url; for a server use "
                                 "'openai:<model>@<base_url>'", backend="transformers", model=model)
    return TransformersBackend(model, device=device, dtype=dtype, revision=revision,
                               trust_remote_code=trust_remote_code, local_files_only=local_files_only,
                               batch_size=batch_size)


class TransformersBackend(ChatBackend):
    """A local ``transformers`` model behind the chat interface (thread-safe: one ``generate`` at a time)."""

    name = "transformers"

    def __init__(self, model: str, *, device: str = "auto", dtype: str = "auto", revision: str | None = None,
                 trust_remote_code: bool = False, local_files_only: bool | None = None, batch_size: int = 8):
        self.torch = require("torch", purpose="the transformers: backend")
        self.transformers = require("transformers", purpose="the transformers: backend")
        self.model = model
        self.device = _resolve_device(self.torch, device)
        self.batch_size = max(1, int(batch_size))
        load = {"revision": revision, "trust_remote_code": trust_remote_code}
        if local_files_only is not None:
            load["local_files_only"] = local_files_only
        self.processor = self.transformers.AutoProcessor.from_pretrained(model, **load)
        self.is_vision = getattr(self.processor, "image_processor", None) is not None
        self.tokenizer = getattr(self.processor, "tokenizer", None) or self.processor
        self.tokenizer.padding_side = "left"  # decoder-only batching
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        auto = self.transformers.AutoModelForImageTextToText if self.is_vision \
            else self.transformers.AutoModelForCausalLM
        self.net = auto.from_pretrained(model, dtype=_resolve_dtype(self.torch, dtype), **load).to(self.device)
        self.net.eval()
        self.dtype = str(self.net.dtype).replace("torch.", "")
        self._lock = threading.Lock()  # one generate at a time
        self._queue_lock = threading.Lock()
        self._queue: list[_Job] = []

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "device": str(self.device), "dtype": self.dtype,
                "vision": self.is_vision}

    def __repr__(self) -> str:
        return f"TransformersBackend({self.model!r}, device={self.device}, dtype={self.dtype})"

    def _chat(self, messages: list[dict[str, Any]], *, timeout: float | None = None, **params: Any) -> ChatResult:
        """One conversation. Concurrent callers (threads) with equal params are batched together: whoever gets
        the model next takes every queued request like its own (up to ``batch_size``) into one ``generate``."""
        self._check_params(params)
        job = _Job(messages, (timeout, sorted(params.items(), key=lambda kv: kv[0])))
        with self._queue_lock:
            self._queue.append(job)
        with self._lock:
            if not job.done:
                batch = self._take_batch(job)
                try:
                    results = self._generate([j.messages for j in batch], timeout, params)
                except BaseException as exc:  # every waiter in this batch gets the failure
                    for j in batch:
                        j.error, j.done = exc, True
                    raise
                for j, result in zip(batch, results):
                    j.result, j.done = result, True
        if job.error is not None:
            raise job.error
        return job.result

    def _take_batch(self, job: "_Job") -> list["_Job"]:
        params = dict(job.key[1])
        if params.get("seed") is not None and (params.get("temperature") or 0) > 0:
            with self._queue_lock:  # seeded sampling must not depend on what else is in the batch
                self._queue.remove(job)
            return [job]
        with self._queue_lock:
            batch = [job] + [j for j in self._queue if j is not job and j.key == job.key][:self.batch_size - 1]
            for j in batch:
                self._queue.remove(j)
        return batch

    def chat_batch(self, batch: list[list[dict[str, Any]]], *, timeout: float | None = None,
                   **params: Any) -> list[ChatResult]:
        """Answer conversations in ``generate`` batches of at most ``batch_size`` (left padding)."""
        self._check_params(params)
        results = []
        for i in range(0, len(batch), self.batch_size):
            with self._lock:
                results += self._generate(batch[i:i + self.batch_size], timeout, params)
        return results

    def _check_params(self, params: dict[str, Any]) -> None:
        unknown = set(params) - SUPPORTED_PARAMS
        if unknown:
            raise ConfigurationError(f"transformers backend does not support param(s) {sorted(unknown)}; "
                                     f"supported: {sorted(SUPPORTED_PARAMS)}", backend=self.name, model=self.model)

    # -- helpers --------------------------------------------------------------------------------------------
    def _generate(self, batch: list[list[dict[str, Any]]], timeout: float | None,
                  params: dict[str, Any]) -> list[ChatResult]:
        start = time.monotonic()
        inputs = self._encode([self._to_hf(m) for m in batch])
        kwargs = self._generate_kwargs(params, timeout)
        with self.torch.inference_mode():  # the caller holds self._lock: one generate at a time
            if params.get("seed") is not None:
                self.torch.manual_seed(int(params["seed"]))
            output = self.net.generate(**inputs, **kwargs)
        latency = (time.monotonic() - start) / len(batch)
        prompt_len = inputs["input_ids"].shape[1]
        results = []
        for row, mask in zip(output[:, prompt_len:], inputs["attention_mask"]):
            ids = self._until_eos(row.tolist())
            if "max_time" in kwargs and len(ids) == len(row) < kwargs["max_new_tokens"]:
                # generate stopped on max_time mid-answer: a truncated text must not pass (and be cached) as one
                raise RequestTimeoutError(
                    f"{self.model}: generation hit the {kwargs['max_time']:.1f}s timeout after {len(ids)} of "
                    f"max_tokens={kwargs['max_new_tokens']} tokens; pass a larger timeout= to get_backend() or "
                    "a smaller max_tokens", backend=self.name, model=self.model)
            text = _cut_at_stop(self.tokenizer.decode(ids, skip_special_tokens=True), params.get("stop"))
            results.append(ChatResult(text=text, model=self.model, backend=self.name,
                                      usage=Usage(int(mask.sum()), len(ids)), latency_s=latency,
                                      provenance={"device": str(self.device), "dtype": self.dtype,
                                                  "batch_size": len(batch)}))
        return results

    def _to_hf(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Normalised messages → the content shape chat templates expect (PIL images for processors)."""
        out = []
        for m in messages:
            content = m["content"]
            if isinstance(content, str):
                out.append({"role": m["role"], "content": content if not self.is_vision
                            else [{"type": "text", "text": content}]})
                continue
            parts = []
            for p in content:
                if p["type"] == "text":
                    parts.append({"type": "text", "text": p["text"]})
                elif p["type"] == "image" and self.is_vision:
                    parts.append({"type": "image", "image": p["image"].to_pil()})
                else:
                    what = "remote image URLs" if p["type"] == "image_url" else "images"
                    raise ConfigurationError(f"{self.model} cannot take {what} (not a vision-language model, or "
                                             "remote URL); pass images as bytes/PIL", backend=self.name,
                                             model=self.model)
            out.append({"role": m["role"], "content": parts if self.is_vision else
                        "".join(p["text"] for p in parts)})
        return out

    def _encode(self, conversations: list[list[dict[str, Any]]]) -> dict[str, Any]:
        kwargs = {"add_generation_prompt": True, "tokenize": True, "return_dict": True, "return_tensors": "pt"}
        if self.processor is self.tokenizer:
            encoded = self.tokenizer.apply_chat_template(conversations, padding=True, **kwargs)
        else:
            encoded = self.processor.apply_chat_template(conversations, processor_kwargs={"padding": True},
                                                         **kwargs)
        return {k: v.to(self.device) if hasattr(v, "to") else v for k, v in encoded.items()}

    def _generate_kwargs(self, params: dict[str, Any], timeout: float | None) -> dict[str, Any]:
        temperature = params.get("temperature") or 0
        kwargs: dict[str, Any] = {"max_new_tokens": int(params.get("max_tokens") or DEFAULT_MAX_TOKENS),
                                  "do_sample": temperature > 0, "pad_token_id": self.tokenizer.pad_token_id}
        if temperature > 0:
            kwargs.update(temperature=float(temperature), top_p=params.get("top_p", 1.0),
                          top_k=params.get("top_k", 0))
        if params.get("repetition_penalty"):
            kwargs["repetition_penalty"] = float(params["repetition_penalty"])
        if timeout:
            kwargs["max_time"] = float(timeout)
        return kwargs

    def _until_eos(self, ids: list[int]) -> list[int]:
        stops = self.net.generation_config.eos_token_id
        stops = set(stops if isinstance(stops, list) else [stops]) | {self.tokenizer.eos_token_id}
        for i, token in enumerate(ids):
            if token in stops:
                return ids[:i]
        return ids


class _Job:
    """A queued single-conversation request (see ``TransformersBackend._chat``)."""

    __slots__ = ("messages", "key", "done", "result", "error")

    def __init__(self, messages: list[dict[str, Any]], key: Any):
        self.messages, self.key = messages, key
        self.done, self.result, self.error = False, None, None


def _resolve_device(torch: Any, device: str) -> Any:
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    return torch.device("mps" if mps is not None and mps.is_available() else "cpu")


def _resolve_dtype(torch: Any, dtype: str) -> Any:
    if dtype in (None, "auto"):
        return "auto"
    try:
        return getattr(torch, dtype)
    except AttributeError:
        raise ConfigurationError(f"unknown dtype {dtype!r}; use 'auto', 'float32', 'bfloat16' or 'float16'",
                                 backend="transformers") from None


def _cut_at_stop(text: str, stop: Any) -> str:
    if not stop:
        return text
    cuts = [text.find(s) for s in ([stop] if isinstance(stop, str) else stop) if s and s in text]
    return text[:min(cuts)] if cuts else text
