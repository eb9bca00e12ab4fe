"""Tolerant parsing of the model's structured answers (understanding, plan, single-call answer).

Models wrap JSON in fences, add prose around it, leave trailing commas or answer with a Python dict. Each parser
returns ``(value, error)``: the best structure it could recover (with every expected key present and typed) and
``None``, or a fallback structure and an error message that is recorded with the stage. It never raises.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

LANGUAGES = ("python", "tikz")

_LANGUAGE_ALIASES = {
    "python": "python", "py": "python", "matplotlib": "python", "python3": "python", "pyplot": "python",
    "tikz": "tikz", "latex": "tikz", "tex": "tikz", "pgf": "tikz", "pgfplots": "tikz",
}

_UNDERSTANDING_KEYS = {
    "entities": ("entities", "objects", "entity", "components"),
    "given_values": ("given_values", "given", "givens", "values", "given_quantities", "knowns"),
    "hidden": ("hidden", "unknowns", "unknown", "must_not_reveal", "asked", "hidden_values", "answer"),
}

_PLAN_KEYS = {
    "language": ("language", "target_language", "lang"),
    "elements": ("elements", "components", "shapes", "drawing_elements"),
    "layout": ("layout", "arrangement", "composition"),
    "labels": ("labels", "texts", "text_labels", "annotations"),
    "must_not_show": ("must_not_show", "hidden", "do_not_show", "forbidden", "must_not_reveal"),
}

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


def extract_json(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """Find the JSON object in a model answer.

    Tries, in order: the whole text, the contents of each fenced block (``json`` fences first), then every
    ``{`` in the text with a raw decode. Each candidate is also tried with trailing commas removed and as a
    Python literal (single quotes, ``True``/``None``).

    Returns:
        ``(object, None)`` on success, ``(None, reason)`` when no JSON object could be recovered.
    """
    if not text or not text.strip():
        return None, "empty answer"
    candidates = [text.strip()]
    fences = _FENCE.findall(text)
    candidates += [body for tag, body in fences if tag.lower() == "json"]
    candidates += [body for tag, body in fences if tag.lower() != "json"]
    for candidate in candidates:
        obj = _loads_object(candidate)
        if obj is not None:
            return obj, None
    obj = _scan_for_object(text)
    if obj is not None:
        return obj, None
    return None, "no JSON object found in the answer"


def _loads_object(text: str) -> dict[str, Any] | None:
    text = text.strip()
    if not text.startswith("{"):
        return None
    for attempt in (text, _TRAILING_COMMA.sub(r"\1", text)):
        try:
            obj = json.loads(attempt)
        except (ValueError, RecursionError):
            try:
                obj = ast.literal_eval(attempt)
            except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
                continue
        if isinstance(obj, dict):
            return obj
    return None


def _scan_for_object(text: str) -> dict[str, Any] | None:
    """The largest object that raw-decodes from some ``{`` (prose around it is ignored)."""
    decoder = json.JSONDecoder()
    best: tuple[int, dict[str, Any]] | None = None
    for match in re.finditer(r"\{", text):
        start = match.start()
        for attempt in (text[start:], _TRAILING_COMMA.sub(r"\1", text[start:])):
            try:
                obj, end = decoder.raw_decode(attempt)
            except ValueError:
                continue
            if isinstance(obj, dict) and (best is None or end > best[0]):
                best = (end, obj)
            break
    return best[1] if best else None


def normalise_language(value: Any) -> str | None:
    """``"matplotlib"``, ``"Python"``, ``"LaTeX/TikZ"`` ... -> ``"python"`` / ``"tikz"``; ``None`` if unknown."""
    if not isinstance(value, str):
        return None
    key = value.strip().lower()
    if key in _LANGUAGE_ALIASES:
        return _LANGUAGE_ALIASES[key]
    for word in re.split(r"[^a-z0-9]+", key):
        if word in ("tikz", "latex", "tex", "pgf"):
            return "tikz"
    for word in re.split(r"[^a-z0-9]+", key):
        if word in _LANGUAGE_ALIASES:
            return _LANGUAGE_ALIASES[word]
    return None


def as_text_list(value: Any) -> list[str]:
    """Coerce a model's list-ish value to a list of non-empty strings.

    Strings become one item; dict items become their text (``text``/``label``/``value`` key) or ``"k = v"``
    (``{"name": "m", "value": "2 kg"}`` -> ``"m = 2 kg"``); nested lists are flattened.
    """
    if value is None:
        return []
    if isinstance(value, (str, int, float)):
        text = str(value).strip()
        return [text] if text else []
    if isinstance(value, dict):
        return [_dict_item_text(value)] if value else []
    out: list[str] = []
    if isinstance(value, (list, tuple)):
        for item in value:
            out.extend(as_text_list(item))
    return [x for x in out if x]


def _dict_item_text(item: dict[str, Any]) -> str:
    for key in ("text", "label", "string", "content"):
        if isinstance(item.get(key), (str, int, float)):
            return str(item[key]).strip()
    name = item.get("name") or item.get("symbol") or item.get("quantity")
    value = item.get("value")
    if name is not None and value is not None:
        unit = item.get("unit")
        return f"{name} = {value}{' ' + str(unit) if unit else ''}".strip()
    return "; ".join(f"{k}: {v}" for k, v in item.items())


def _pick(obj: dict[str, Any], aliases: tuple[str, ...]) -> Any:
    lowered = {str(k).strip().lower(): v for k, v in obj.items()}
    for alias in aliases:
        if alias in lowered:
            return lowered[alias]
    return None


def empty_understanding() -> dict[str, list[str]]:
    return {"entities": [], "given_values": [], "hidden": []}


def coerce_understanding(obj: Any) -> dict[str, list[str]]:
    """An understanding dict with the three list keys, from whatever the model produced."""
    if isinstance(obj, dict) and isinstance(obj.get("understanding"), dict):
        obj = obj["understanding"]
    if not isinstance(obj, dict):
        return empty_understanding()
    return {key: as_text_list(_pick(obj, aliases)) for key, aliases in _UNDERSTANDING_KEYS.items()}


def parse_understanding(text: str) -> tuple[dict[str, list[str]], str | None]:
    """Parse the understand stage's answer. On failure: an empty understanding and the reason."""
    obj, error = extract_json(text)
    if obj is None:
        return empty_understanding(), f"understanding not parsed: {error}"
    understanding = coerce_understanding(obj)
    if not any(understanding.values()):
        return understanding, "understanding parsed but has none of entities/given_values/hidden"
    return understanding, None


def coerce_plan(obj: Any, preference: str = "auto") -> tuple[dict[str, Any], list[str]]:
    """A plan dict with every key typed; returns ``(plan, notes)`` where notes say what was repaired."""
    notes: list[str] = []
    if isinstance(obj, dict) and isinstance(obj.get("plan"), dict):
        obj = obj["plan"]
    if not isinstance(obj, dict):
        obj = {}
        notes.append("plan is not an object")
    language = normalise_language(_pick(obj, _PLAN_KEYS["language"]))
    if preference in LANGUAGES:
        if language not in (None, preference):
            notes.append(f"plan chose language {language!r}; the configuration forces {preference!r}")
        language = preference
    elif language is None:
        notes.append("plan names no known language; using python")
        language = "python"
    layout = _pick(obj, _PLAN_KEYS["layout"])
    if not isinstance(layout, str):
        layout = "" if layout is None else json.dumps(layout, ensure_ascii=False)
    plan = {
        "language": language,
        "elements": as_text_list(_pick(obj, _PLAN_KEYS["elements"])),
        "layout": layout.strip(),
        "labels": _dedupe(as_text_list(_pick(obj, _PLAN_KEYS["labels"]))),
        "must_not_show": _dedupe(as_text_list(_pick(obj, _PLAN_KEYS["must_not_show"]))),
    }
    return plan, notes


def fallback_plan(preference: str = "auto") -> dict[str, Any]:
    """The plan used when the model's plan cannot be parsed: no labels to check, only leaks and blankness."""
    return coerce_plan({}, preference)[0]


def parse_plan(text: str, preference: str = "auto") -> tuple[dict[str, Any], str | None]:
    """Parse the plan stage's answer. On failure: :func:`fallback_plan` and the reason."""
    obj, error = extract_json(text)
    if obj is None:
        return fallback_plan(preference), f"plan not parsed: {error}"
    plan, notes = coerce_plan(obj, preference)
    if not plan["elements"] and not plan["labels"]:
        notes.append("plan has neither elements nor labels")
    return plan, ("; ".join(notes) or None)


def parse_single(text: str, preference: str = "auto") -> tuple[dict[str, Any], dict[str, Any], str, str | None]:
    """Parse a single-call answer: JSON (understanding + plan) followed by a code block.

    Returns:
        ``(understanding, plan, code_text, error)`` where ``code_text`` is the answer with the JSON part
        removed (so code extraction cannot pick the JSON block) and ``error`` the parse problems, if any.
    """
    obj, error = extract_json(text)
    code_text = _without_json_fence(text)
    if obj is None:
        return empty_understanding(), fallback_plan(preference), code_text, f"plan not parsed: {error}"
    understanding = coerce_understanding(obj.get("understanding", {}))
    plan, notes = coerce_plan(obj.get("plan", obj), preference)
    return understanding, plan, code_text, ("; ".join(notes) or None)


def _without_json_fence(text: str) -> str:
    for match in _FENCE.finditer(text):
        tag, body = match.group(1).lower(), match.group(2)
        if tag == "json" or (tag == "" and _loads_object(body) is not None):
            return (text[:match.start()] + text[match.end():]).strip()
    return text


def _dedupe(items: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
