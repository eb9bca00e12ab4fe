"""HunyuanImage-3.0 (the paper's open-source row) through transformers with remote code.

HunyuanImage-3.0 is not a Diffusers pipeline: it is an 80B-parameter (13B active) autoregressive MoE whose
image generation lives in the model repository's own code (``AutoModelForCausalLM`` with
``trust_remote_code=True``, then ``model.load_tokenizer(path)`` and ``model.generate_image(prompt=..., seed=...,
image_size=..., diff_infer_steps=...)``). Running it needs several 80 GB GPUs. Because the remote code runs on
your machine, this generator refuses to load it unless you pass ``trust_remote_code=True`` explicitly.

Spec: ``hunyuan3:<local folder or Hub id>`` (the upstream card asks for a folder name without dots, e.g.
``./HunyuanImage-3``).
"""

from __future__ import annotations

import io
import time
from dataclasses import asdict, dataclass
from typing import Any

from scigenbench._optional import require
from scigenbench.generators.base import GenerationOutput, Generator
from scigenbench.generators.diffusers_t2i import PROMPT_VERSION, build_prompt, item_seed


@dataclass
class Hunyuan3Config:
    model: str
    revision: str | None = None
    trust_remote_code: bool = False
    seed: int = 0
    steps: int = 50
    image_size: str = "auto"
    dtype: str = "auto"
    device_map: str = "auto"
    attn_implementation: str = "sdpa"
    moe_impl: str = "eager"
    local_files_only: bool = False


class Hunyuan3Generator(Generator):
    name = "hunyuan3"
    max_concurrency = 1  # one model instance, one image at a time
    stage = "gpu"

    def __init__(self, config: Hunyuan3Config):
        if not config.trust_remote_code:
            raise ValueError(
                f"hunyuan3:{config.model} runs the model repository's own Python code on this machine. "
                "Read it, then pass trust_remote_code=True (CLI: -o trust_remote_code=true) to allow it."
            )
        require("torch", extra="torch", purpose="HunyuanImage-3.0")
        self.cfg = config
        self._model = None

    def load(self) -> Any:
        if self._model is None:
            from transformers import AutoModelForCausalLM

            try:
                model = AutoModelForCausalLM.from_pretrained(
                    self.cfg.model, revision=self.cfg.revision, trust_remote_code=True, dtype=self.cfg.dtype,
                    device_map=self.cfg.device_map, attn_implementation=self.cfg.attn_implementation,
                    moe_impl=self.cfg.moe_impl, local_files_only=self.cfg.local_files_only)
            except OSError as exc:
                raise OSError(f"Could not load {self.cfg.model!r}: {exc}\nDownload it first "
                              f"(`hf download tencent/HunyuanImage-3.0 --local-dir ./HunyuanImage-3`) and pass "
                              "the local folder.") from exc
            model.load_tokenizer(self.cfg.model)
            self._model = model
        return self._model

    def config(self) -> dict[str, Any]:
        d = asdict(self.cfg)
        d.update(generator=self.name, prompt_version=PROMPT_VERSION)
        return d

    def generate(self, problem: dict[str, Any]) -> GenerationOutput:
        seed = item_seed(self.cfg.seed, str(problem["id"]))
        meta = {"model": self.cfg.model, "revision": self.cfg.revision, "seed": seed, "steps": self.cfg.steps,
                "image_size": self.cfg.image_size, "prompt_version": PROMPT_VERSION,
                "like_for_like_with_paper": False}
        model = self.load()  # a model that cannot load stops the run with its error, not item by item
        start = time.perf_counter()
        try:
            image = model.generate_image(prompt=build_prompt(problem), seed=seed,
                                               image_size=self.cfg.image_size, diff_infer_steps=self.cfg.steps,
                                               stream=True)
        except Exception as exc:  # OOM, remote-code errors: a failed item with its reason
            return GenerationOutput(status="failed", error=f"{type(exc).__name__}: {exc}", extra=meta)
        meta["seconds"] = time.perf_counter() - start
        buf = io.BytesIO()
        image.convert("RGB").save(buf, format="PNG")
        return GenerationOutput(status="ok", image_png=buf.getvalue(), timings={"generate": meta["seconds"]},
                                usage={"images": 1}, extra=meta)


def make_hunyuan3(arg: str | None, **options: Any) -> Hunyuan3Generator:
    if not arg:
        raise ValueError("hunyuan3 needs a model folder or id: hunyuan3:<path>, e.g. hunyuan3:./HunyuanImage-3")
    known = set(Hunyuan3Config.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"Unknown option(s) for hunyuan3: {', '.join(unknown)}. Valid: {', '.join(sorted(known))}")
    return Hunyuan3Generator(Hunyuan3Config(model=arg, **options))
