"""Verification of a synthesised item (the paper's "Filt"), and the acceptance policy.

With the image: the inverse quiz (:func:`scigenbench.metrics.quiz.quiz_item`), R_inv on the rewritten question
(:func:`scigenbench.metrics.rinv.rinv_item`) and optionally the LMM judge. Without the image: the same quizzes
(a quiz answered right blind is *guessable* and does not count toward acceptance) and the rewritten question (an
item answered right blind is a *text shortcut*: training data must need the figure).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from scigenbench.metrics import _calls
from scigenbench.metrics._prompts import defang, prompt_version, render_prompt
from scigenbench.metrics.equivalence import answers_equivalent
from scigenbench.metrics.parsing import JUDGE_DIMENSIONS, parse_verdict
from scigenbench.metrics.records import SCORED
from scigenbench.metrics.rinv import ANSWER_PARAMS, GRADER_PARAMS, final_answer
from scigenbench.training import prompting


@dataclass
class AcceptancePolicy:
    """What an item needs to be accepted into ``verified/``.

    Attributes:
        min_quiz_acc: accuracy needed over the item's informative (not guessable) quizzes.
        require_rinv: R_inv on the rewritten question must be scored correct.
        reject_text_shortcut: reject an item whose rewritten question is answered right without the image.
        judge_min: per-dimension judge minimums (``{"Correctness_Fidelity": 2}``); empty: no judge call.
    """

    min_quiz_acc: float = 1.0
    require_rinv: bool = True
    reject_text_shortcut: bool = True
    judge_min: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.min_quiz_acc) <= 1.0:
            raise ValueError(f"--min-quiz-acc must be between 0 and 1, got {self.min_quiz_acc}")
        unknown = sorted(set(self.judge_min) - set(JUDGE_DIMENSIONS))
        if unknown:
            raise ValueError(f"unknown judge dimension(s) {unknown}; valid: {', '.join(JUDGE_DIMENSIONS)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def blind_checks(problem: dict[str, Any], judge: Any, grader: Any, *, proxy: bool) -> dict[str, Any]:
    """The image-independent checks, done once per item: quizzes and rewritten question without the image."""
    from scigenbench.metrics.quiz import quiz_item

    blind = quiz_item(problem, None, judge, grader=grader, blind=True)
    guessable = [q["index"] for q in blind.details.get("quizzes", []) if q.get("state") == SCORED and q["correct"]]
    unscored = [q["index"] for q in blind.details.get("quizzes", []) if q.get("state") != SCORED
                and q.get("state") != "not_applicable"]
    out = {"quiz_blind": _summary(blind), "guessable": guessable, "blind_unscored": unscored}
    if proxy:
        out["text_shortcut"] = {"state": "not_checked", "reason": "the ocr proxy answers multiple-choice quizzes only"}
    else:
        out["text_shortcut"] = question_blind(problem, judge, grader)
    return out


def question_blind(problem: dict[str, Any], answerer: Any, grader: Any = None) -> dict[str, Any]:
    """Answer the rewritten question with no image; ``correct`` says whether the text alone suffices."""
    grader = grader if grader is not None else answerer
    question = (problem.get("multimodal_question") or "").strip()
    version = prompting.PROMPT_VERSIONS["question_blind"]
    out = _calls.call(answerer, _calls.user_message(prompting.render("question_blind", question=question)),
                      prompt_version=version, **ANSWER_PARAMS)
    record: dict[str, Any] = {"prompt_version": version, "calls": out.calls, "usage": dict(out.usage),
                              "raw": out.text}
    if out.error:
        return {**record, "state": "unscored", "reason": _calls.error_reason("answer call failed", out.error)}
    answer = final_answer(out.text)
    record["final_answer"] = answer
    if answer is not None and answers_equivalent(answer, problem["answer"]):
        return {**record, "state": SCORED, "correct": True, "method": "equivalence"}
    prompt = render_prompt("rinv_grader", question=question, answer=problem["answer"].strip(), reply=defang(out.text))
    graded = _calls.call(grader, _calls.user_message(prompt), prompt_version=prompt_version("rinv_grader"),
                         **GRADER_PARAMS)
    record["calls"] += graded.calls
    _calls.add_usage(record["usage"], graded.usage)
    record["grader_raw"] = graded.text
    if graded.error:
        return {**record, "state": "unscored", "reason": _calls.error_reason("grader call failed", graded.error)}
    verdict, why = parse_verdict(graded.text)
    if verdict is None:
        return {**record, "state": "unscored", "reason": f"grader verdict unparsable: {why}"}
    return {**record, "state": SCORED, "correct": verdict == "CORRECT", "method": "grader", "verdict": verdict}


def image_checks(problem: dict[str, Any], image: bytes, judge: Any, grader: Any, *, proxy: bool,
                 policy: AcceptancePolicy) -> dict[str, Any]:
    """The checks that read the image: inverse quiz, R_inv (not with the proxy) and the judge when asked."""
    from scigenbench.metrics.judge import judge_item
    from scigenbench.metrics.quiz import quiz_item
    from scigenbench.metrics.rinv import rinv_item

    try:
        image = _calls.prepare_image(image)[0]  # encoded once, sent with every quiz, R_inv and the judge
    except _calls.UnreadableImageError:
        pass  # each metric records the unreadable image itself
    out = {"quiz": _summary(quiz_item(problem, image, judge, grader=grader))}
    if proxy:
        out["rinv"] = {"state": "not_checked", "reason": "the ocr proxy answers multiple-choice quizzes only"}
    else:
        out["rinv"] = _summary(rinv_item(problem, image, judge, grader=grader))
    if policy.judge_min and not proxy:
        out["judge"] = _summary(judge_item(problem, image, judge))
    return out


def _summary(result: Any) -> dict[str, Any]:
    """What the verification record keeps of a metric result (raw texts included, for audit)."""
    details = result.details or {}
    summary = {"state": result.state, "score": result.score, "reason": result.reason, "calls": result.calls,
               "usage": dict(result.usage or {}), "prompt_version": result.prompt_version,
               "judge_model": result.judge_model}
    if "quizzes" in details:
        summary["quizzes"] = [{k: q.get(k) for k in ("index", "state", "correct", "predicted", "method", "raw",
                                                      "reason")} for q in details["quizzes"]]
    for key in ("verdict", "final_answer", "method", "dimensions"):
        if key in details:
            summary[key] = details[key]
    if result.raw is not None and "quizzes" not in details:
        summary["raw"] = result.raw
    return summary


def decide(blind: dict[str, Any], seen: dict[str, Any], policy: AcceptancePolicy) -> dict[str, Any]:
    """Apply the policy: ``{"accepted", "reasons", "retryable", "quiz_acc", "informative", "failed_quizzes"}``.

    ``retryable`` is true when only image-dependent checks failed (a new figure could pass); a text shortcut or
    quizzes that are all guessable cannot be fixed by regenerating.
    """
    reasons: list[str] = []
    final_reasons: list[str] = []
    guessable = set(blind["guessable"])
    quiz = seen["quiz"]
    per_quiz = [q for q in quiz.get("quizzes", []) if q.get("state") == SCORED]
    informative = [q for q in per_quiz if q["index"] not in guessable]
    shortcut = blind["text_shortcut"]
    if policy.reject_text_shortcut and shortcut.get("state") == SCORED and shortcut.get("correct"):
        final_reasons.append("text_shortcut")
    if quiz["state"] != SCORED:
        reasons.append(f"quiz_{quiz['state']}")
    elif not informative:
        final_reasons.append("no_informative_quiz")
    accuracy = (sum(bool(q["correct"]) for q in informative) / len(informative)) if informative else None
    if accuracy is not None and accuracy + 1e-9 < policy.min_quiz_acc:
        reasons.append("quiz_acc")
    if policy.require_rinv:
        rinv = seen["rinv"]
        if rinv["state"] != SCORED:
            reasons.append(f"rinv_{rinv['state']}")
        elif (rinv.get("score") or 0.0) < 1.0:
            reasons.append("rinv")
    judge = seen.get("judge")
    for dimension, minimum in policy.judge_min.items():
        if judge is None or judge["state"] != SCORED:
            reasons.append(f"judge_{judge['state'] if judge else 'not_checked'}")
            break
        if (judge.get("dimensions") or {}).get(dimension, -1) < minimum:
            reasons.append(f"judge:{dimension}")
    failed = [q["index"] for q in informative if not q["correct"]]
    return {"accepted": not reasons and not final_reasons, "reasons": final_reasons + reasons,
            "retryable": bool(reasons) and not final_reasons, "quiz_acc": accuracy,
            "informative": [q["index"] for q in informative], "failed_quizzes": failed}
