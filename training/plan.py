"""``scigenbench synthesize --dry-run``: how many model calls a run would make, from the folder's state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scigenbench.training import construct
from scigenbench.training.store import StageStore

#: quizzes assumed per item before the quizzes stage has run
TYPICAL_QUIZZES = 4


def dry_run(config: Any) -> str:
    """A short plan: items per stage still to do and the model calls (first try; upper bound with re-asks,
    repairs and revisions). Reads the folder, writes nothing and calls no model."""
    from scigenbench.generators.runner import estimate_requests
    from scigenbench.training.pipeline import STAGES, load_items

    items, skipped, n_rows = load_items(config)
    state = StageStore(Path(config.out), STAGES).state() if Path(config.out).exists() else {}
    stage_todo = {name: 0 for name in ("triage", "elements", "quizzes", "rewrite")}
    verify_todo: list[dict[str, Any]] = []
    for item in items:
        records = state.get(item["id"], {})
        ended = False
        for name in construct.CONSTRUCTION_STAGES:
            record = records.get(name)
            if record is not None and record.get("final"):
                if record["status"] not in construct.CONTINUE:
                    ended = True
                    break
                continue
            if name in stage_todo and not item["given"].get(_GIVEN[name]):
                stage_todo[name] += 1
        verify = records.get("verify")
        if not ended and not (verify and verify.get("final")):
            verify_todo.append(item)
    construction = sum(stage_todo.values())
    quizzes = sum(len(item["given"].get("quizzes") or []) or TYPICAL_QUIZZES for item in verify_todo)
    proxy = config.judge.strip() == "ocr"
    # quizzes with and without the figure; with a real judge also R_inv and the blind question (and the judge)
    per_item = 0 if proxy else 2 + bool(config.policy.judge_min)
    verify_calls = 2 * quizzes + per_item * len(verify_todo)
    generation = estimate_requests(None, verify_todo, spec=config.generator, options=dict(config.generator_options))
    lines = [f"dry run: {n_rows} input rows, {len(items)} items ({len(skipped)} rows skipped), "
             f"{len(verify_todo)} still to generate and verify in {config.out}",
             "  construction calls: " + ", ".join(f"{k} {v}" for k, v in stage_todo.items())
             + f" (total {construction}; up to {construction * (1 + config.max_reasks)} with re-asks)",
             "  generation: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in generation.items()),
             f"  verification calls: ~{verify_calls} (quizzes with and without the figure"
             + ("" if proxy else ", R_inv, the blind question") + "; graders only for ambiguous replies)"
             + (f", times up to {config.max_attempts} attempts" if config.max_attempts > 1 else ""),
             "  cached answers cost nothing; nothing was called"]
    return "\n".join(lines)


_GIVEN = {"triage": "image_type", "elements": "elements", "quizzes": "quizzes", "rewrite": "multimodal_question"}
