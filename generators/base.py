"""The ``Generator`` interface: one problem in, one image (or an explicit failure) out.

Every generator (ImgCoder, text-card, image APIs, Diffusers) implements it and is chosen by a spec string
through :data:`GENERATORS` (see :func:`get_generator`). The generation runner writes each output into a run
folder (``scigenbench.dataset.runs``), so the command line, the Space and the metrics treat all generators alike.
"""

from __future__ import annotations

import abc
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from scigenbench._registry import Registry

#: statuses a generation can end in ("ok" is the only one with an image)
GENERATION_STATUSES = ("ok", "failed", "render_failed", "verify_failed", "blocked", "budget_exceeded")


@dataclass
class GenerationOutput:
    """What a generator returns for one problem."""

    status: str
    image_png: bytes | None = None
    error: str | None = None
    plan: Any = None  # ImgCoder's structured plan (dict); None for pixel generators
    code: str | None = None  # the final program, if any
    language: str | None = None  # "python" | "tikz" | None
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds
    usage: dict[str, Any] = field(default_factory=dict)  # prompt/completion tokens, calls, cost_usd
    extra: dict[str, Any] = field(default_factory=dict)  # generator-specific: rounds, checks, seed, model ...

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.image_png is not None

    def to_record(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("image_png")
        return d


class Generator(abc.ABC):
    """Base class for generators.

    Subclasses set ``name`` and implement :meth:`generate`. ``config()`` returns every setting that can change
    the output; its hash identifies the generator configuration in run folders.
    """

    name: str = "base"
    #: how many problems ``generate_batch`` should receive at once (pixel models on an accelerator: > 1)
    batch_size: int = 1
    #: at most this many items in flight at once (None: the runner's ``concurrency``); 1 for one local pipeline
    max_concurrency: int | None = None
    #: what bounds it on a cluster (``scigenbench.generators.executors.STAGES``): ``io`` (model/API calls),
    #: ``render`` (sandbox renders), ``gpu`` (a local pipeline on an accelerator)
    stage: str = "io"
    #: ``(spec, options)`` it was built from by :func:`get_generator` (None when built directly)
    recipe: tuple[str, dict[str, Any]] | None = None

    @abc.abstractmethod
    def generate(self, problem: dict[str, Any]) -> GenerationOutput:
        """Generate one image for ``problem`` (a row of a SciGenBench config). Never raises for a bad item:
        return a non-ok :class:`GenerationOutput` with the reason instead."""

    def generate_batch(self, problems: list[dict[str, Any]]) -> list[GenerationOutput]:
        """Generate several at once. Pixel models override this to batch on the accelerator."""
        return [self.generate(p) for p in problems]

    def config(self) -> dict[str, Any]:
        return {"generator": self.name}

    def config_hash(self) -> str:
        return config_hash(self.config())

    def close(self) -> None:
        pass

    def __enter__(self) -> "Generator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def config_hash(config: dict[str, Any]) -> str:
    """Short, stable hash of a JSON-serialisable configuration."""
    blob = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


#: generator kind -> "module:factory"; the factory takes (argument after the colon or None, **options)
GENERATORS = Registry("generator")
GENERATORS.register("imgcoder", "scigenbench.generators.imgcoder:make_imgcoder")
GENERATORS.register("text-card", "scigenbench.generators.baselines:make_text_card")
GENERATORS.register("openai-image", "scigenbench.generators.image_api:make_openai_image")
GENERATORS.register("diffusers", "scigenbench.generators.diffusers_t2i:make_diffusers")
GENERATORS.register("hunyuan3", "scigenbench.generators.hunyuan3:make_hunyuan3")


def get_generator(spec: str, **options: Any) -> Generator:
    """Build a generator from a spec string: ``kind`` or ``kind:argument``.

    Examples: ``imgcoder`` (with ``backbone=`` option), ``text-card``, ``openai-image:gpt-image-1@http://host/v1``,
    ``diffusers:Qwen/Qwen-Image``.
    """
    kind, _, arg = spec.partition(":")
    factory = GENERATORS.get(kind)
    generator = factory(arg or None, **options)
    # how to build it again: the Ray executor rebuilds the generator in each worker from this
    generator.recipe = (spec, dict(options))
    return generator


def generator_names() -> Iterable[str]:
    return GENERATORS.names()
