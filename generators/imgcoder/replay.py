"""Turn the mini set's reference programs into ``replay:`` recordings of ImgCoder's own prompts.

:func:`build_replay_recordings` runs ImgCoder's real prompt builders with a recorder in place of the model: the
recorder answers each stage from the reference (understanding, plan, program) and appends the exact request and
answer to a recording file. ImgCoder over ``replay:<file>`` with the same configuration then sends byte-identical
requests and gets the reference answers back, so the whole pipeline (stages, sandbox render, verification) runs
offline. The references pass verification, so no repair round is needed and none is recorded.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterable

from scigenbench.generators.backends.base import ChatBackend, ChatResult, Usage
from scigenbench.generators.imgcoder import prompting
from scigenbench.generators.imgcoder.pipeline import ImgCoder, ImgCoderConfig, _Trace
from scigenbench.generators.imgcoder.references import load_reference


class _ReferenceRecorder(ChatBackend):
    """Answers ImgCoder's stages from one reference and writes every exchange to a ``replay:`` recording."""

    name = "reference-recorder"
    model = "mini-references"

    def __init__(self, path: Path):
        self.path = path
        self.reference: dict[str, Any] | None = None
        self.written = 0

    def _chat(self, messages: list[dict[str, Any]], **params: Any) -> ChatResult:
        from scigenbench.generators.backends.replay import write_recording

        version = str(params.pop("prompt_version", ""))
        text = self._answer(version.split(".", 1)[0])
        write_recording(self.path, messages, text, **params)
        self.written += 1
        return ChatResult(text=text, model=self.model, backend=self.name, usage=Usage())

    def _answer(self, stage: str) -> str:
        ref = self.reference
        assert ref is not None
        code = prompting.fenced(ref["code"], prompting.CODE_FENCES[ref["language"]])
        if stage == "understand":
            return prompting.dump_json(ref["understanding"])
        if stage == "plan":
            return prompting.dump_json(ref["plan"])
        if stage == "code":
            return code
        if stage == "single":
            plan_json = prompting.dump_json({"understanding": ref["understanding"], "plan": ref["plan"]})
            return prompting.fenced(plan_json, "json") + "\n\n" + code
        raise ValueError(f"the reference recorder cannot answer stage {stage!r}")


def build_replay_recordings(problems: Iterable[dict[str, Any]], path: str | Path,
                            config: ImgCoderConfig | dict[str, Any] | None = None, *,
                            append: bool = False) -> dict[str, Any]:
    """Write ``replay:`` recordings that make ImgCoder answer each mini problem with its reference.

    Args:
        problems: mini problem rows (``load_mini_problems()`` or ``load_scigenbench("mini")``); problems without
            a reference are skipped and reported.
        path: the recording file to write (replaced unless ``append``).
        config: the ImgCoder configuration the recordings are for (stages, language, few_shot, temperature and
            max_tokens change the requests, so replay only answers the same configuration).
        append: add to an existing recording file instead of replacing it.

    Returns:
        ``{"path", "recordings", "ids", "skipped": {id: reason}}``.

    Example::

        from scigenbench.dataset import load_mini_problems
        from scigenbench.generators.imgcoder import ImgCoder, build_replay_recordings

        problems = load_mini_problems()
        build_replay_recordings(problems, "mini.replay.jsonl")
        coder = ImgCoder("replay:mini.replay.jsonl")
        out = coder.generate(problems[0])   # out.status == "ok", out.extra["rounds_used"] == 1
    """
    if config is None:
        config = ImgCoderConfig()
    elif isinstance(config, dict):
        config = ImgCoderConfig.from_options(**config)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not append:
        path.unlink()
    recorder = _ReferenceRecorder(path)
    coder = ImgCoder(recorder, dataclasses.replace(config))
    ids, skipped = [], {}
    for problem in problems:
        problem_id = str(problem.get("id"))
        try:
            reference = load_reference(problem_id)
        except (FileNotFoundError, ValueError) as exc:
            skipped[problem_id] = str(exc)
            continue
        if config.language in ("python", "tikz") and reference["language"] != config.language:
            skipped[problem_id] = (f"reference is {reference['language']}, the configuration forces "
                                   f"{config.language}")
            continue
        recorder.reference = reference
        coder._first_attempt(problem, _Trace())
        ids.append(problem_id)
    return {"path": str(path), "recordings": recorder.written, "ids": ids, "skipped": skipped}
