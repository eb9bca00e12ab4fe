"""Versioned prompt templates (package data in ``metrics/prompts/``).

A template's version is recorded with every result (``prompt_version``); change the version in
``prompts/VERSIONS.json`` whenever a template's wording changes, so cached and stored results stay attributable.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from string import Template


@functools.lru_cache(maxsize=None)
def _versions() -> dict[str, str]:
    return json.loads(resources.files("scigenbench.metrics").joinpath("prompts/VERSIONS.json").read_text())


@functools.lru_cache(maxsize=None)
def _template(name: str) -> Template:
    return Template(resources.files("scigenbench.metrics").joinpath(f"prompts/{name}.txt").read_text())


def prompt_version(name: str) -> str:
    """The version string of template ``name`` (e.g. ``"judge-v1"``)."""
    try:
        return _versions()[name]
    except KeyError:
        raise KeyError(f"unknown prompt {name!r}; known: {sorted(_versions())}") from None


def render_prompt(name: str, **values: str) -> str:
    """Fill template ``name``. Values are inserted verbatim (model output is defanged by the caller)."""
    return _template(name).substitute(**values)


def defang(text: str) -> str:
    """Keep embedded model output from closing the ``<<< >>>`` block it is quoted in."""
    return (text or "").replace("<<<", "‹‹‹").replace(">>>", "›››")
