"""Synthesis prompts: versioned templates shipped as package data in ``training/prompts/``.

A template is never edited once released: a change is a new ``<name>.v<N+1>.txt`` and :data:`PROMPT_VERSIONS`
points to it, so every recorded stage output names the prompt that produced it. Placeholders are ``{{name}}``
(filled by ImgCoder's :func:`~scigenbench.generators.imgcoder.prompting.fill`, so JSON braces stay literal).
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from scigenbench.generators.imgcoder.prompting import fill

#: template name -> versioned file stem; bump here when a template changes
PROMPT_VERSIONS: dict[str, str] = {
    "triage": "triage.v1",
    "elements": "elements.v1",
    "quizzes": "quizzes.v1",
    "rewrite": "rewrite.v1",
    "reask": "reask.v1",
    "question_blind": "question_blind.v1",
    "quiz_feedback": "quiz_feedback.v1",
}


@functools.lru_cache(maxsize=None)
def load_template(name: str) -> str:
    try:
        stem = PROMPT_VERSIONS[name]
    except KeyError:
        raise KeyError(f"unknown synthesis prompt {name!r}; known: {', '.join(sorted(PROMPT_VERSIONS))}") from None
    return resources.files("scigenbench.training").joinpath("prompts", f"{stem}.txt").read_text(encoding="utf-8")


def render(name: str, **values: Any) -> str:
    """Template ``name`` with its ``{{placeholders}}`` filled."""
    return fill(load_template(name), **values)


def user_messages(name: str, **values: Any) -> list[dict[str, str]]:
    """One user message holding template ``name``."""
    return [{"role": "user", "content": render(name, **values)}]
