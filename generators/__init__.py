"""Generators: the ``Generator`` interface and registry, model backends, ImgCoder, sandbox, Diffusers,
image APIs and baselines. Nothing here imports ``scigenbench.metrics``."""

from scigenbench.generators.base import (
    GENERATORS,
    GenerationOutput,
    Generator,
    config_hash,
    get_generator,
)

__all__ = ["GENERATORS", "GenerationOutput", "Generator", "config_hash", "get_generator"]
