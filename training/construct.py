"""The construction stages: triage → elements → quizzes → multimodal rewrite, then validation.

Each stage is a function ``stage(item, ctx) -> record`` over one input item (see :mod:`.pipeline` for the item
and the context). A stage asks the construction model through the backend layer (versioned prompt, response
cache, retries, cost), parses the reply tolerantly, checks it by code, and re-asks with the problem stated at most
``ctx.config.max_reasks`` times. Every reply is kept in the record (``calls``: raw text, prompt version, usage,
cost, whether it came from the cache). A field the input row already has (SciGenBench schema) skips its stage
(status ``from_input``).

Record statuses: ``ok`` / ``from_input`` (continue), ``not_visualizable`` (triage; kept in the output with that
reason), ``failed`` (final: no usable reply after the re-asks, or the item failed validation) and ``error`` (a
backend call failed for good; not final, a resumed run tries again).
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any, Callable

from scigenbench.dataset.taxonomy import IMAGE_TYPES
from scigenbench.generators.backends.base import BackendError, BudgetExceededError
from scigenbench.generators.imgcoder.parsing import as_text_list, extract_json, strip_reasoning
from scigenbench.training import checks, prompting

#: statuses after which the item goes on to the next stage
CONTINUE = ("ok", "from_input")
#: decoding parameters of every construction call
STAGE_PARAMS = {"temperature": 0.0, "max_tokens": 2048}
N_QUIZZES = (3, 5)
N_ELEMENTS = (3, 21)

Parsed = tuple[Any, "str | None"]


# --------------------------------------------------------------------------------------------- asking


def ask(ctx: Any, stage: str, messages: list[dict[str, Any]], parse: Callable[[str], Parsed]) -> dict[str, Any]:
    """Ask, parse, re-ask: the record of one construction stage.

    Returns ``{"status", "output", "calls", "usage", "error"}``; ``output`` is the parsed value when
    ``status == "ok"``. A :class:`BudgetExceededError` propagates (the run stops; the stage stays unrecorded).
    """
    version = prompting.PROMPT_VERSIONS[stage]
    calls: list[dict[str, Any]] = []
    conversation = list(messages)
    problem = None
    for attempt in range(1 + ctx.config.max_reasks):
        try:
            result = ctx.constructor.chat(conversation, prompt_version=version, **STAGE_PARAMS)
        except BudgetExceededError:
            raise
        except BackendError as exc:
            calls.append({"attempt": attempt + 1, "prompt_version": version, "error": exc.to_dict()})
            return _record("error", None, calls, f"{stage}: model call failed: {exc}")
        calls.append({"attempt": attempt + 1, "prompt_version": version, "raw": result.text,
                      "usage": {"prompt_tokens": result.usage.prompt_tokens,
                                "completion_tokens": result.usage.completion_tokens},
                      "cost_usd": result.cost_usd, "cached": result.cached, "model": result.model})
        value, problem = parse(strip_reasoning(result.text or ""))
        calls[-1]["parse_problem"] = problem
        if problem is None:
            return _record("ok", value, calls, None)
        conversation = conversation + [{"role": "assistant", "content": result.text or ""},
                                       {"role": "user", "content": prompting.render("reask", problem=problem)}]
    return _record("failed", None, calls, f"{stage}: no usable reply after {len(calls)} tries: {problem}")


def _record(status: str, output: Any, calls: list[dict[str, Any]], error: str | None) -> dict[str, Any]:
    usage = {"calls": 0, "cached_calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
    for call in calls:
        if "usage" not in call:
            continue
        usage["calls"] += 1
        usage["cached_calls"] += int(bool(call.get("cached")))
        usage["prompt_tokens"] += call["usage"]["prompt_tokens"]
        usage["completion_tokens"] += call["usage"]["completion_tokens"]
        usage["cost_usd"] = round(usage["cost_usd"] + float(call.get("cost_usd") or 0.0), 8)
    return {"status": status, "output": output, "calls": calls, "usage": usage, "error": error}


def from_input(output: Any, **extra: Any) -> dict[str, Any]:
    """The record of a stage skipped because the input row has the field."""
    return {**_record("from_input", output, [], None), **extra}


# --------------------------------------------------------------------------------------------- parsing


def _json_reply(text: str, keys: tuple[str, ...]) -> tuple[Any, str | None]:
    """A JSON object of the reply, or a bare JSON list (``[...]``) when there is no object."""
    obj, error = extract_json(text, keys)
    if obj is not None:
        return obj, None
    for candidate in [text, *re.findall(r"```[\w-]*\s*\n(.*?)```", text, flags=re.S)]:
        candidate = candidate.strip()
        if candidate.startswith("["):
            try:
                return json.loads(re.sub(r",(\s*\])", r"\1", candidate)), None
            except ValueError:
                continue
    return None, error


def _pick(obj: Any, *names: str) -> Any:
    if not isinstance(obj, dict):
        return None
    lowered = {str(k).strip().lower(): v for k, v in obj.items()}
    return next((lowered[n] for n in names if n in lowered), None)


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower().rstrip(".")
        if word in ("true", "yes", "y", "1", "visualizable"):
            return True
        if word in ("false", "no", "n", "0", "not visualizable", "not_visualizable"):
            return False
    return None


def resolve_image_type(value: Any) -> str | None:
    """One of the 25 exact image types for a model's spelling: exact, case/spacing-insensitive, a unique subtype
    name (``"mechanical"``), or a close match; ``None`` otherwise."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = re.sub(r"\s*[-–—:/>]\s*", " - ", value.strip(), count=1) if " - " not in value else value.strip()
    folded = {t.lower(): t for t in IMAGE_TYPES}
    key = re.sub(r"\s+", " ", text).lower()
    if key in folded:
        return folded[key]
    by_subtype = [t for t in IMAGE_TYPES if t.split(" - ", 1)[1].lower() == value.strip().lower()]
    if len(by_subtype) == 1:
        return by_subtype[0]
    close = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.85)
    return folded[close[0]] if close else None


def parse_triage(text: str) -> Parsed:
    obj, error = _json_reply(text, ("visualizable", "image_type", "reason"))
    if not isinstance(obj, dict):
        return None, f"{error or 'no JSON object'}; reply with a JSON object with keys visualizable, image_type, reason"
    visualizable = _as_bool(_pick(obj, "visualizable", "is_visualizable", "needs_figure", "visualisable"))
    reason = str(_pick(obj, "reason", "why", "explanation") or "").strip()
    if visualizable is None:
        return None, '"visualizable" must be true or false'
    if not visualizable:
        return {"visualizable": False, "image_type": None, "reason": reason}, None
    raw_type = _pick(obj, "image_type", "type", "figure_type")
    image_type = resolve_image_type(raw_type)
    if image_type is None:
        return None, f'"image_type" {raw_type!r} is not one of the listed types; copy one exactly'
    return {"visualizable": True, "image_type": image_type, "reason": reason}, None


def parse_elements(text: str) -> Parsed:
    obj, error = _json_reply(text, ("elements",))
    value = obj if isinstance(obj, list) else _pick(obj, "elements", "visual_elements", "figure_elements")
    elements = list(dict.fromkeys(as_text_list(value)))
    if len(elements) < N_ELEMENTS[0]:
        return None, (f"{error}; " if error else "") + f'"elements" must list at least {N_ELEMENTS[0]} visual elements'
    return elements[:N_ELEMENTS[1]], None


_LETTER = re.compile(r"(?<![A-Za-z])([A-Ea-e])(?![A-Za-z])")


def _letter_key(key: Any) -> str | None:
    """``"A"``, ``"a"``, ``"(A)"``, ``"A)"``, ``"Option A"`` -> ``"A"``."""
    match = re.fullmatch(r"\s*(?:option\s*)?\(?([A-Ea-e])[).:]?\s*", str(key), flags=re.I)
    return match.group(1).upper() if match else None


def _options(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        out = {}
        for key, text in value.items():
            letter = _letter_key(key)
            if letter and text is not None:
                out[letter] = str(text).strip()
        return out
    if isinstance(value, (list, tuple)):
        out = {}
        for position, text in enumerate(value[:5]):
            text = str(text).strip()
            match = re.match(r"^\(?([A-Ea-e])[).:]\s+(.*)$", text)
            letter = match.group(1).upper() if match else "ABCDE"[position]
            out[letter] = match.group(2).strip() if match else text
        return out
    if isinstance(value, str):
        found = re.findall(r"(?m)^\s*\(?([A-E])[).:]\s*(.+?)\s*$", value)
        return {letter: text for letter, text in found}
    return {}


def _correct_letter(value: Any, options: dict[str, str]) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    letter = _letter_key(text)
    if letter:
        return letter
    for key, option in options.items():  # the option's text instead of its letter
        if checks.normalise_text(option) == checks.normalise_text(text):
            return key
    match = re.match(r"^\s*(?:option\s*)?\(?([A-E])[).:\s]", text, flags=re.I)
    return match.group(1).upper() if match else None


def coerce_quiz(raw: Any) -> dict[str, Any]:
    """A model's quiz in the constructed shape ``{question, options{A..D}, correct_option, evidence_snippet}``."""
    if not isinstance(raw, dict):
        return {"question": "", "options": {}, "correct_option": None, "evidence_snippet": ""}
    options = _options(_pick(raw, "options", "choices", "answers"))
    correct = _correct_letter(_pick(raw, "correct_option", "correct", "answer", "correct_answer", "solution"),
                              options)
    return {"question": str(_pick(raw, "question", "quiz", "q", "prompt") or "").strip(), "options": options,
            "correct_option": correct,
            "evidence_snippet": str(_pick(raw, "evidence_snippet", "evidence", "snippet", "quote") or "").strip()}


def quiz_parser(question: str, answer: str) -> Callable[[str], Parsed]:
    """The quizzes stage parser: keeps the quizzes that pass :func:`~.checks.quiz_defects` (3–5 needed) and
    reports each rejected one."""

    def parse(text: str) -> Parsed:
        obj, error = _json_reply(text, ("quizzes",))
        raw = obj if isinstance(obj, list) else _pick(obj, "quizzes", "questions", "quiz")
        if not isinstance(raw, list) or not raw:
            return None, (f"{error}; " if error else "") + 'reply with {"quizzes": [...]} holding 3 to 5 quizzes'
        kept, rejected = [], []
        for index, quiz in enumerate(coerce_quiz(q) for q in raw):
            defects = checks.quiz_defects(quiz, question, answer)
            if defects:
                rejected.append({"index": index, "quiz": quiz, "defects": defects})
            elif len(kept) < N_QUIZZES[1]:
                kept.append(quiz)
        if len(kept) < N_QUIZZES[0]:
            why = "; ".join(f"quiz {r['index'] + 1}: {', '.join(r['defects'])}" for r in rejected)
            return None, (f"only {len(kept)} of {len(raw)} quizzes pass the checks (need {N_QUIZZES[0]}). "
                          f"{why}. Evidence must be copied word for word from the problem; options distinct; "
                          "never ask for the final answer")
        return {"quizzes": kept, "rejected": rejected}, None

    return parse


def rewrite_parser(question: str, answer: str) -> Callable[[str], Parsed]:
    """The rewrite stage parser: a non-empty rewrite, different from the question, not stating the answer."""

    def parse(text: str) -> Parsed:
        obj, _ = _json_reply(text, ("multimodal_question",))
        value = _pick(obj, "multimodal_question", "rewritten_question", "question", "rewrite")
        if value is None and obj is None and "{" not in text:  # plain prose: the rewrite itself
            value = re.sub(r"^\s*(?:multimodal|rewritten)?\s*question\s*:\s*", "", text.strip(), flags=re.I)
        rewrite = str(value or "").strip()
        if not rewrite:
            return None, 'reply with {"multimodal_question": "..."}'
        if checks.normalise_text(rewrite) == checks.normalise_text(question):
            return None, "the rewrite is the original question; move the given values into the figure"
        leak = checks.answer_leak(rewrite, answer, question)
        if leak:
            return None, f"the rewritten question states {leak}; it must not reveal the answer"
        return rewrite, None

    return parse


# --------------------------------------------------------------------------------------------- stages


def elements_text(elements: list[str]) -> str:
    return "\n".join(f"- {e}" for e in elements)


def stage_triage(item: dict[str, Any], ctx: Any) -> dict[str, Any]:
    given = item.get("given", {})
    if given.get("image_type"):
        return from_input({"visualizable": True, "image_type": given["image_type"], "reason": "given by the input"})
    record = ask(ctx, "triage", prompting.user_messages(
        "triage", question=item["question"].strip(), image_types="\n".join(f"- {t}" for t in IMAGE_TYPES)),
        parse_triage)
    if record["status"] == "ok" and not record["output"]["visualizable"]:
        record["status"] = "not_visualizable"
        why = record["output"]["reason"] or "a figure would not carry needed information"
        record["error"] = f"not_visualizable: {why}"
    return record


def stage_elements(item: dict[str, Any], ctx: Any) -> dict[str, Any]:
    if item.get("given", {}).get("elements"):
        return from_input(list(item["given"]["elements"]))
    return ask(ctx, "elements", prompting.user_messages(
        "elements", question=item["question"].strip(), image_type=_image_type(item)), parse_elements)


def stage_quizzes(item: dict[str, Any], ctx: Any) -> dict[str, Any]:
    question, answer = item["question"], item["answer"]
    given = item.get("given", {}).get("quizzes")
    if given:
        record = _given_quizzes(given, question, answer)
        if record["status"] == "failed":
            return record
    else:
        record = ask(ctx, "quizzes", prompting.user_messages(
            "quizzes", question=question.strip(), image_type=_image_type(item), n_min=N_QUIZZES[0],
            n_max=N_QUIZZES[1], elements=elements_text(item["elements"]["output"])), quiz_parser(question, answer))
    if record["status"] in CONTINUE:
        record["output"]["quizzes"] = [
            checks.rebalance_quiz(q, checks.target_letter(item["index"], j))
            for j, q in enumerate(record["output"]["quizzes"])]
    return record


#: defects that make a quiz unusable whoever wrote it (the evidence and answer checks only warn on input quizzes)
_BROKEN = {"no_question", "options_not_distinct", "correct_option_not_offered"}


def _given_quizzes(given: list[Any], question: str, answer: str) -> dict[str, Any]:
    """The input row's own quizzes: broken ones are dropped, the others kept with their defects listed."""
    kept, rejected, defects = [], [], {}
    for index, quiz in enumerate(coerce_quiz(q) for q in given):
        found = checks.quiz_defects(quiz, question, answer)
        if _BROKEN & set(found):
            rejected.append({"index": index, "quiz": quiz, "defects": found})
        else:
            kept.append(quiz)
            if found:
                defects[index] = found
    if not kept:
        return {**_record("failed", None, [], "quizzes: none of the input's quizzes is usable: "
                          + "; ".join(f"quiz {r['index'] + 1}: {', '.join(r['defects'])}" for r in rejected)),
                "defects": defects}
    return from_input({"quizzes": kept, "rejected": rejected}, defects=defects)


def stage_rewrite(item: dict[str, Any], ctx: Any) -> dict[str, Any]:
    given = item.get("given", {}).get("multimodal_question")
    if given:
        leak = checks.answer_leak(given, item["answer"], item["question"])
        return from_input(given, defects=[f"answer_leak: {leak}"] if leak else [])
    return ask(ctx, "rewrite", prompting.user_messages(
        "rewrite", question=item["question"].strip(), image_type=_image_type(item),
        elements=elements_text(item["elements"]["output"])), rewrite_parser(item["question"], item["answer"]))


def _image_type(item: dict[str, Any]) -> str:
    return item["triage"]["output"]["image_type"]


def stage_validate(item: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """Run the constructed problem through the benchmark's validation (:func:`scigenbench.dataset.normalise_rows`).

    ``ok`` with the problem row (the dataset contract) and its defects, or ``failed`` when validation reports an
    error; the defects are listed either way.
    """
    from scigenbench.dataset.validation import normalise_rows

    quizzes = item["quizzes"]["output"]["quizzes"]
    raw = {"id": item["id"], "question": item["question"], "image_type": _image_type(item),
           "answer": item["answer"], "elements": item["elements"]["output"],
           "quizzes": [{k: q[k] for k in ("question", "options", "correct_option", "evidence_snippet")}
                       for q in quizzes],
           "multimodal_question": item["rewrite"]["output"]}
    rows, report = normalise_rows([raw], SOURCE)
    row = rows[0]
    for quiz, constructed in zip(row["quizzes"], quizzes):
        if constructed.get("rebalanced"):
            quiz["extra"] = json.dumps({"rebalanced": constructed["rebalanced"]}, sort_keys=True)
    defects = [issue.to_dict() for issue in report.issues]
    errors = [d for d in defects if d["severity"] == "error"]
    status = "failed" if errors else "ok"
    error = ("validation: " + "; ".join(f"{d['field']}: {d['reason']}" for d in errors)) if errors else None
    return {**_record(status, row, [], error), "defects": defects}


#: the ``source`` of constructed problem rows
SOURCE = "synth"

#: construction stages in order: name -> function
CONSTRUCTION_STAGES: dict[str, Callable[[dict[str, Any], Any], dict[str, Any]]] = {
    "triage": stage_triage,
    "elements": stage_elements,
    "quizzes": stage_quizzes,
    "rewrite": stage_rewrite,
    "validate": stage_validate,
}
