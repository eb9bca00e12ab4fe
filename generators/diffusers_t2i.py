"""Local text-to-image generation with Diffusers pipelines (Qwen-Image, HunyuanImage 2.1, any T2I pipeline).

Spec strings: ``diffusers:<model id or local path>``, e.g. ``diffusers:Qwen/Qwen-Image`` or
``diffusers:hunyuanvideo-community/HunyuanImage-2.1-Diffusers``. The pipeline class comes from the model's
``model_index.json`` through Diffusers' own loaders (``AutoPipelineForText2Image``, falling back to
``DiffusionPipeline``); we call it as it is, with a seeded ``torch.Generator`` per item.

Local runs of these models are *not* like-for-like with the paper's rows, which used the providers' APIs
(PROTOCOL.md §5.1): every image's metadata says so.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from scigenbench._optional import require
from scigenbench.generators.base import GenerationOutput, Generator

PROMPT_VERSION = "t2i-illustration-v1"

#: our wording of the paper's illustration instructions for pixel models
ILLUSTRATION_INSTRUCTIONS = (
    "Draw a clean scientific textbook figure for the problem below. Show every object, quantity and label the "
    "problem gives, with correct geometry and standard notation, on a white background, as a precise diagram "
    "(no photograph, no decoration). Do not write the solution or the final answer in the figure.\n\n"
    "Problem: {question}"
)
DEFAULT_NEGATIVE_PROMPT = "blurry, photo, photorealistic, watermark, illegible text, extra text, low quality"


@dataclass
class DiffusersConfig:
    """Settings of a Diffusers generator. Everything that can change the pixels is part of the config hash.

    Attributes:
        model: Hub id or local folder of a Diffusers text-to-image pipeline.
        revision: Hub revision (pin it for reproducible runs).
        dtype: ``"auto"`` (bfloat16 on CUDA, float32 on CPU), ``"bfloat16"``, ``"float16"`` or ``"float32"``.
        device: ``"auto"`` (CUDA when available), ``"cuda"``, ``"cuda:1"``, ``"cpu"``, ``"mps"``.
        steps: denoising steps (None: the pipeline's default).
        guidance: the pipeline's own guidance knob (Qwen-Image: ``true_cfg_scale``; HunyuanImage: its guider's
            scale, or ``distilled_guidance_scale`` for distilled checkpoints; others: ``guidance_scale``).
        width, height: image size in pixels (multiples of 16 for Qwen-Image and HunyuanImage).
        aspect: ``"W:H"`` (e.g. ``"16:9"``): overrides the shape, keeping the pixel area of width × height,
            rounded to multiples of 16.
        negative_prompt: used by pipelines that do classifier-free guidance.
        batch_size: problems per pipeline call.
        seed: base seed; each item's seed is derived from (seed, item id), so it does not depend on order.
        cpu_offload: ``enable_model_cpu_offload()`` (needs accelerate and an accelerator).
        vae_tiling, vae_slicing: lower VAE memory.
        attention_backend: e.g. ``"flash"``, ``"_native_cudnn"`` (``transformer.set_attention_backend``).
        local_files_only: never touch the network when loading.
        call_kwargs: extra keyword arguments passed to the pipeline call as they are.
    """

    model: str
    revision: str | None = None
    dtype: str = "auto"
    device: str = "auto"
    steps: int | None = None
    guidance: float | None = None
    width: int = 1024
    height: int = 1024
    aspect: str | None = None
    negative_prompt: str | None = DEFAULT_NEGATIVE_PROMPT
    batch_size: int = 1
    seed: int = 0
    cpu_offload: bool = False
    vae_tiling: bool = False
    vae_slicing: bool = False
    attention_backend: str | None = None
    local_files_only: bool = False
    call_kwargs: dict[str, Any] = field(default_factory=dict)


def item_seed(base_seed: int, item_id: str) -> int:
    """Deterministic per-item seed, independent of batch composition and run order."""
    digest = hashlib.sha256(f"{base_seed}:{item_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def size_for_aspect(aspect: str, width: int, height: int, multiple: int = 16) -> tuple[int, int]:
    """(width, height) with the ratio ``aspect`` ("W:H") and about the pixel area of ``width`` × ``height``.

    >>> size_for_aspect("16:9", 1024, 1024)
    (1360, 768)
    """
    try:
        w_ratio, h_ratio = (float(x) for x in aspect.split(":"))
        if w_ratio <= 0 or h_ratio <= 0:
            raise ValueError
    except ValueError:
        raise ValueError(f"aspect={aspect!r} is not of the form 'W:H' with positive numbers, e.g. '16:9'") from None
    scale = (width * height / (w_ratio * h_ratio)) ** 0.5
    return (max(multiple, round(w_ratio * scale / multiple) * multiple),
            max(multiple, round(h_ratio * scale / multiple) * multiple))


def build_prompt(problem: dict[str, Any]) -> str:
    return ILLUSTRATION_INSTRUCTIONS.format(question=problem["question"].strip())


class DiffusersGenerator(Generator):
    """Runs a Diffusers text-to-image pipeline on each problem.

    Args:
        config: a :class:`DiffusersConfig`.
        pipeline: an already built pipeline (tests, notebooks); when given, ``config.model`` is only a label.
    """

    name = "diffusers"
    max_concurrency = 1  # one pipeline on one device: batches, not threads
    stage = "gpu"

    def __init__(self, config: DiffusersConfig, pipeline: Any = None):
        if config.aspect:
            config.width, config.height = size_for_aspect(config.aspect, config.width, config.height)
        self.cfg = config
        self.batch_size = max(1, int(config.batch_size))
        self._torch = require("torch", extra="diffusers", purpose="local Diffusers generators")
        require("diffusers", extra="diffusers", purpose="local Diffusers generators")
        self.device = self._resolve_device(config.device)
        self.dtype = self._resolve_dtype(config.dtype)
        self._pipe = pipeline
        if pipeline is not None:
            self._prepare(pipeline)

    # -- setup ------------------------------------------------------------------------------------------

    def _resolve_device(self, device: str) -> str:
        torch = self._torch
        if device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested for {self.cfg.model!r} but CUDA is not available "
                f"(torch {torch.__version__}, built with CUDA: {torch.version.cuda or 'no'}). "
                "Use --device cpu, or install a CUDA build of torch on a machine with a GPU."
            )
        return device

    def _resolve_dtype(self, dtype: str) -> Any:
        torch = self._torch
        if dtype == "auto":
            return torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        try:
            return {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float16": torch.float16,
                    "fp16": torch.float16, "float32": torch.float32, "fp32": torch.float32}[dtype]
        except KeyError:
            raise ValueError(f"dtype={dtype!r} is not one of auto, bfloat16, float16, float32") from None

    @property
    def pipeline(self) -> Any:
        if self._pipe is None:
            self.load()
        return self._pipe

    def load(self) -> Any:
        """Load the pipeline (once). Raises a clear error for an unknown or unavailable model."""
        if self._pipe is None:
            self._pipe = self._from_pretrained()
            self._prepare(self._pipe)
        return self._pipe

    def _from_pretrained(self) -> Any:
        from diffusers import AutoPipelineForText2Image, DiffusionPipeline

        kwargs = {"revision": self.cfg.revision, _dtype_kwarg(): self.dtype,
                  "local_files_only": self.cfg.local_files_only}
        try:
            try:
                return AutoPipelineForText2Image.from_pretrained(self.cfg.model, **kwargs)
            except ValueError as exc:  # a pipeline class the auto mapping does not list
                if "AutoPipeline" not in str(exc):
                    raise
                return DiffusionPipeline.from_pretrained(self.cfg.model, **kwargs)
        except (OSError, EnvironmentError) as exc:
            raise OSError(
                f"Could not load the Diffusers pipeline {self.cfg.model!r} (revision {self.cfg.revision or 'main'}): "
                f"{exc}\nIf you are offline (HF_HUB_OFFLINE=1) the model must already be in the Hugging Face cache: "
                f"download it first with `hf download {self.cfg.model}`, or pass a local folder that holds "
                "model_index.json."
            ) from exc

    def _prepare(self, pipe: Any) -> None:
        if self.cfg.cpu_offload:
            pipe.enable_model_cpu_offload(device=self.device)
        else:
            pipe.to(self.device)  # dtype: set at load time (torch_dtype); a given pipeline keeps its own
        vae = getattr(pipe, "vae", None)
        if self.cfg.vae_tiling and vae is not None:
            vae.enable_tiling()
        if self.cfg.vae_slicing and vae is not None:
            vae.enable_slicing()
        transformer = getattr(pipe, "transformer", None)
        if self.cfg.attention_backend and transformer is not None:
            transformer.set_attention_backend(self.cfg.attention_backend)
        if self.cfg.guidance is not None and getattr(pipe, "guider", None) is not None:
            pipe.guider = pipe.guider.new(guidance_scale=self.cfg.guidance)
        pipe.set_progress_bar_config(disable=True)

    # -- generation -------------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        d = asdict(self.cfg)
        d.update(generator=self.name, prompt_version=PROMPT_VERSION, resolved_dtype=str(self.dtype))
        d.pop("device")  # where it ran does not change what was asked for; recorded per image instead
        return d

    def generate(self, problem: dict[str, Any]) -> GenerationOutput:
        return self.generate_batch([problem])[0]

    def generate_batch(self, problems: list[dict[str, Any]]) -> list[GenerationOutput]:
        outputs: list[GenerationOutput] = []
        for start in range(0, len(problems), self.batch_size):
            outputs.extend(self._generate_chunk(problems[start:start + self.batch_size]))
        return outputs

    def _generate_chunk(self, problems: list[dict[str, Any]]) -> list[GenerationOutput]:
        seeds = [item_seed(self.cfg.seed, str(p["id"])) for p in problems]
        self.load()  # a pipeline that cannot load stops the run with its error, not item by item
        start = time.perf_counter()
        try:
            images = self._call_pipeline([build_prompt(p) for p in problems], seeds)
        except Exception as exc:  # OOM, shape errors, ...: every item of the chunk fails with the reason
            error = f"{type(exc).__name__}: {exc}"
            return [GenerationOutput(status="failed", error=error, extra=self._metadata(s, 0.0)) for s in seeds]
        per_image = (time.perf_counter() - start) / len(problems)
        return [
            GenerationOutput(status="ok", image_png=_png_bytes(img), timings={"generate": per_image},
                             usage={"images": 1}, extra=self._metadata(seed, per_image))
            for img, seed in zip(images, seeds)
        ]

    def _call_pipeline(self, prompts: list[str], seeds: list[int]) -> list[Any]:
        torch = self._torch
        pipe = self.pipeline
        gen_device = "cpu" if self.cfg.cpu_offload or self.device == "mps" else self.device
        kwargs: dict[str, Any] = {
            "prompt": prompts,
            "generator": [torch.Generator(gen_device).manual_seed(s) for s in seeds],
            "width": self.cfg.width,
            "height": self.cfg.height,
            "output_type": "pil",
        }
        params = inspect.signature(pipe.__call__).parameters
        if self.cfg.steps is not None:
            kwargs["num_inference_steps"] = self.cfg.steps
        if self.cfg.negative_prompt is not None and "negative_prompt" in params:
            kwargs["negative_prompt"] = [self.cfg.negative_prompt] * len(prompts)
        kwargs.update(self._guidance_kwargs(pipe, params))
        kwargs.update(self.cfg.call_kwargs)
        with torch.inference_mode():
            return list(pipe(**kwargs).images)

    def _guidance_kwargs(self, pipe: Any, params: Any) -> dict[str, Any]:
        g = self.cfg.guidance
        if g is None or getattr(pipe, "guider", None) is not None:  # guider scale is set once in _prepare
            return {}
        for knob in ("true_cfg_scale", "distilled_guidance_scale", "guidance_scale"):
            if knob in params:
                return {knob: g}
        return {}

    def _metadata(self, seed: int, seconds: float) -> dict[str, Any]:
        pipe = self._pipe
        return {
            "model": self.cfg.model,
            "revision": self.cfg.revision,
            "pipeline": type(pipe).__name__ if pipe is not None else None,
            "seed": seed,
            "base_seed": self.cfg.seed,
            "steps": self.cfg.steps,
            "guidance": self.cfg.guidance,
            "width": self.cfg.width,
            "height": self.cfg.height,
            "dtype": str(self.dtype).replace("torch.", ""),
            "device": self.device,
            "seconds": seconds,
            "prompt_version": PROMPT_VERSION,
            "like_for_like_with_paper": False,
        }


def _dtype_kwarg() -> str:
    """``from_pretrained`` takes ``dtype`` from diffusers 0.41 on (``torch_dtype`` is deprecated there)."""
    import diffusers
    from packaging.version import Version

    return "dtype" if Version(diffusers.__version__).release >= (0, 41) else "torch_dtype"


def _png_bytes(image: Any) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def make_diffusers(arg: str | None, **options: Any) -> DiffusersGenerator:
    """Registry factory for ``diffusers:<model id or path>``; options are :class:`DiffusersConfig` fields
    (unknown options raise) plus ``pipeline=`` for an already built pipeline."""
    if not arg:
        raise ValueError("The diffusers generator needs a model: diffusers:<model id or local path>, "
                         "e.g. diffusers:Qwen/Qwen-Image")
    pipeline = options.pop("pipeline", None)
    known = {f for f in DiffusersConfig.__dataclass_fields__}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"Unknown option(s) for diffusers:{arg}: {', '.join(unknown)}. Valid: {', '.join(sorted(known))}")
    return DiffusersGenerator(DiffusersConfig(model=arg, **options), pipeline=pipeline)
