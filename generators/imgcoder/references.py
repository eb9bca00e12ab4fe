"""The mini set's hand-written reference programs: loading, few-shot selection, and replay recordings.

Every mini problem ``<id>`` has ``references/<id>.plan.json`` (understanding + plan) and ``<id>.py``
(matplotlib) or ``<id>.tex`` (TikZ) in ``scigenbench.dataset``'s ``mini/references`` folder. They are
ImgCoder's few-shot material (benchmark items never are) and, turned into ``replay:`` recordings of
ImgCoder's own prompts by :func:`build_replay_recordings`, the answers that run the whole pipeline offline.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from scigenbench.generators.imgcoder.parsing import coerce_plan, coerce_understanding

_EXTENSIONS = {".py": "python", ".tex": "tikz"}


def references_dir() -> Path:
    """The folder holding the mini set's reference programs."""
    return Path(str(resources.files("scigenbench.dataset").joinpath("mini", "references")))


def reference_ids() -> list[str]:
    """Ids of every mini problem with a reference plan, sorted."""
    folder = references_dir()
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(".plan.json")] for p in folder.glob("*.plan.json"))


def load_reference(problem_id: str) -> dict[str, Any]:
    """The reference understanding, plan and program of mini problem ``problem_id``.

    Returns:
        ``{"id", "understanding", "plan", "code", "language", "path"}``; ``plan["language"]`` agrees with the
        program's file type.

    Raises:
        FileNotFoundError: the plan or the program is missing (the message names the expected files).
        ValueError: the plan file is not valid JSON or names another language than the program's file type.
    """
    folder = references_dir()
    plan_path = folder / f"{problem_id}.plan.json"
    programs = [folder / f"{problem_id}{ext}" for ext in _EXTENSIONS if (folder / f"{problem_id}{ext}").exists()]
    if not plan_path.exists() or not programs:
        raise FileNotFoundError(
            f"no reference for mini problem {problem_id!r}: expected {plan_path.name} and {problem_id}.py or "
            f"{problem_id}.tex in {folder}")
    if len(programs) > 1:
        raise ValueError(f"mini problem {problem_id!r} has both a .py and a .tex reference; keep one")
    try:
        raw = json.loads(plan_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{plan_path} is not valid JSON: {exc}") from None
    program = programs[0]
    language = _EXTENSIONS[program.suffix]
    plan, notes = coerce_plan(raw.get("plan", {}), "auto")
    declared = (raw.get("plan") or {}).get("language")
    if plan["language"] != language or notes:
        raise ValueError(f"{plan_path.name}: plan language {declared!r} does not match {program.name} "
                         f"(expected {language!r}){'; ' + '; '.join(notes) if notes else ''}")
    return {"id": problem_id, "understanding": coerce_understanding(raw.get("understanding", {})), "plan": plan,
            "code": program.read_text(encoding="utf-8"), "language": language, "path": str(program)}


@functools.lru_cache(maxsize=1)
def _mini_problems_by_id() -> dict[str, dict[str, Any]]:
    try:
        from scigenbench.dataset import load_mini_problems
    except ImportError:  # the dataset package predates the mini loader: read the raw files
        return {p["id"]: p for p in _raw_mini_problems()}
    return {str(p["id"]): dict(p) for p in load_mini_problems()}


def _raw_mini_problems() -> list[dict[str, Any]]:
    folder = references_dir().parent / "problems"
    problems = []
    for path in sorted(folder.glob("*.json")):
        row = json.loads(path.read_text(encoding="utf-8"))
        row.setdefault("domain", _domain(row))
        problems.append(row)
    return problems


def _domain(problem: dict[str, Any]) -> str | None:
    if problem.get("domain"):
        return str(problem["domain"])
    image_type = problem.get("image_type")
    if not image_type:
        return None
    try:
        from scigenbench.dataset.taxonomy import domain_of

        return domain_of(image_type)
    except Exception:
        return str(image_type).split(" - ")[0].strip()


@functools.lru_cache(maxsize=1)
def few_shot_pool() -> tuple[dict[str, Any], ...]:
    """Every mini reference joined with its problem (question, image type, domain), sorted by id.

    Raises:
        FileNotFoundError / ValueError: from :func:`load_reference` when the mini set is broken.
    """
    problems = _mini_problems_by_id()
    pool = []
    for problem_id in reference_ids():
        problem = problems.get(problem_id)
        if problem is None:
            continue  # a reference without its problem cannot serve as an example
        ref = load_reference(problem_id)
        pool.append({**ref, "question": problem.get("question", ""), "image_type": problem.get("image_type"),
                     "domain": _domain(problem)})
    return tuple(pool)


def select_examples(problem: dict[str, Any], k: int, *, language: str | None = None,
                    pool: Iterable[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Up to ``k`` few-shot examples for ``problem``: same image type first, then same domain, then others.

    The problem itself is never its own example; ties keep the pool's id order, so the choice is
    deterministic. With ``language`` only references in that language are used.
    """
    if k <= 0:
        return []
    pool = list(few_shot_pool() if pool is None else pool)
    own_id = str(problem.get("id", ""))
    image_type, domain = problem.get("image_type"), _domain(problem)
    candidates = [ex for ex in pool if ex["id"] != own_id and (language is None or ex["language"] == language)]

    def rank(example: dict[str, Any]) -> int:
        if image_type and example.get("image_type") == image_type:
            return 0
        if domain and example.get("domain") == domain:
            return 1
        return 2

    return sorted(candidates, key=rank)[:k]
