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

_PLAN_KEY_NAMES = tuple(alias for aliases in _PLAN_KEYS.values() for alias in aliases)
_UNDERSTANDING_KEY_NAMES = tuple(alias for aliases in _UNDERSTANDING_KEYS.values() for alias in aliases)

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


_REASONING_BLOCK = re.compile(r"<(think|thinking|reasoning|reflection)>.*?</\1>", re.DOTALL | re.IGNORECASE)
_REASONING_CLOSE = re.compile(r"</(?:think|thinking|reasoning)>", re.IGNORECASE)
_REASONING_OPEN = re.compile(r"<(?:think|thinking|reasoning)>", re.IGNORECASE)


def strip_reasoning(text: str) -> str:
    """The answer of a reasoning model without its ``<think>...</think>`` part.

    Closed blocks are removed; a closing tag without an opening one (servers that drop the opening tag) drops
    everything before it; an opening tag that is never closed (the answer was cut off while thinking) drops
    everything after it. Draft code or JSON inside the reasoning must not be taken for the answer.
    """
    if not text or "<" not in text:
        return text or ""
    text = _REASONING_BLOCK.sub("", text)
    closes = list(_REASONING_CLOSE.finditer(text))
    if closes:
        text = text[closes[-1].end():]
    opened = _REASONING_OPEN.search(text)
    if opened:
        text = text[:opened.start()]
    return text.strip()


def extract_json(text: str, keys: tuple[str, ...] = ()) -> tuple[dict[str, Any] | None, str | None]:
    """Find the JSON object in a model answer.

    Reasoning (``<think>...</think>``) is removed first. Candidates are the whole text, the contents of each
    fenced block and every balanced ``{...}`` in the text; each is tried as JSON, then with comments
    (``//``, ``/* */``, ``#``) and trailing commas removed, then as a Python literal (single quotes,
    ``True``/``None``; JSON's ``true``/``null`` too).

    Args:
        text: the model's answer.
        keys: the keys the wanted object has (e.g. the plan's). When several objects are found, the one with
            the most of them (at its top level or under ``"plan"``/``"understanding"``) wins; ties go to
            ``json`` fences over other fences over bare text, then to the later object (a model that corrects
            itself writes the final version last).

    Returns:
        ``(object, None)`` on success, ``(None, reason)`` when no JSON object could be recovered.
    """
    text = strip_reasoning(text or "")
    if not text.strip():
        return None, "empty answer"
    whole = _loads_object(text)
    if whole is not None:
        return whole, None
    found: list[tuple[int, int, int, dict[str, Any]]] = []  # (score, group, order, object)
    for order, (tag, body) in enumerate(_FENCE.findall(text)):
        obj = _loads_object(body)
        if obj is not None:
            found.append((_key_score(obj, keys), 2 if tag.lower() == "json" else 1, order, obj))
    if not found:
        for order, candidate in enumerate(_balanced_objects(text)):
            obj = _loads_object(candidate)
            if obj is not None:
                # bare objects: with no keys to go by, the largest one is the answer, not a stray {"note": 1}
                found.append((_key_score(obj, keys), 0, order if keys else len(candidate), obj))
    if not found:
        return None, "no JSON object found in the answer"
    return max(found, key=lambda item: item[:3])[3], None


def _key_score(obj: dict[str, Any], keys: tuple[str, ...]) -> int:
    if not keys:
        return 0
    scopes = [obj] + [obj[k] for k in ("plan", "understanding") if isinstance(obj.get(k), dict)]
    names = {str(k).strip().lower() for scope in scopes for k in scope}
    return sum(1 for key in keys if key in names)


def _loads_object(text: str) -> dict[str, Any] | None:
    text = text.strip()
    if not text.startswith("{"):
        return None
    try:
        obj = json.loads(text)
        return obj if isinstance(obj, dict) else None
    except (ValueError, RecursionError):
        pass
    cleaned = _TRAILING_COMMA.sub(r"\1", _strip_json_comments(text))
    attempts = ((json.loads, cleaned), (ast.literal_eval, cleaned), (ast.literal_eval, _pythonify(cleaned)))
    for loads, attempt in attempts:
        try:
            obj = loads(attempt)
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
            continue
        if isinstance(obj, dict):
            return obj
    return None


def _scan_strings(text: str):
    """Yield ``(index, char, in_string)`` for each character, tracking ``"``/``'`` strings and escapes."""
    quote: str | None = None
    escaped = False
    for i, ch in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
                yield i, ch, True
                continue
            yield i, ch, True
        else:
            if ch in "\"'":
                quote = ch
                yield i, ch, True
            else:
                yield i, ch, False


def _strip_json_comments(text: str) -> str:
    """Remove ``//`` and ``#`` line comments and ``/* */`` block comments outside strings."""
    out: list[str] = []
    skip_to = -1
    for i, ch, in_string in _scan_strings(text):
        if i < skip_to:
            continue
        if not in_string and (ch == "#" or text.startswith("//", i)):
            end = text.find("\n", i)
            skip_to = len(text) if end < 0 else end
            continue
        if not in_string and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            skip_to = len(text) if end < 0 else end + 2
            continue
        out.append(ch)
    return "".join(out)


def _pythonify(text: str) -> str:
    """JSON's ``true``/``false``/``null`` outside strings as Python literals (for single-quoted JSON)."""
    out: list[str] = []
    words = {"true": "True", "false": "False", "null": "None"}
    i = 0
    plain = {i for i, _, in_string in _scan_strings(text) if not in_string}
    while i < len(text):
        word = next((w for w in words if text.startswith(w, i)), None)
        if (word and i in plain and not (i and (text[i - 1].isalnum() or text[i - 1] == "_"))
                and not text[i + len(word):i + len(word) + 1].isalnum()):
            out.append(words[word])
            i += len(word)
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _balanced_objects(text: str) -> list[str]:
    """Every top-level ``{...}`` span of ``text``: quotes count only inside an object (prose has apostrophes),
    and braces inside strings do not count."""
    spans: list[str] = []
    i = 0
    while True:
        start = text.find("{", i)
        if start < 0:
            return spans
        depth, end = 0, -1
        for j, ch, in_string in _scan_strings(text[start:]):
            if in_string:
                continue
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    end = start + j
                    break
        if end < 0:
            i = start + 1  # unbalanced (or a stray brace in prose): try the next one
            continue
        spans.append(text[start:end + 1])
        i = end + 1


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
    obj, error = extract_json(text, _UNDERSTANDING_KEY_NAMES)
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
    obj, error = extract_json(text, _PLAN_KEY_NAMES)
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
    text = strip_reasoning(text or "")
    obj, error = extract_json(text, ("plan", "understanding", *_PLAN_KEY_NAMES))
    code_text = _without_json_fence(text)
    if obj is None:
        return empty_understanding(), fallback_plan(preference), code_text, f"plan not parsed: {error}"
    understanding = coerce_understanding(obj.get("understanding", {}))
    plan, notes = coerce_plan(obj.get("plan", obj), preference)
    return understanding, plan, code_text, ("; ".join(notes) or None)


def _without_json_fence(text: str) -> str:
    """The answer without its JSON fences (``json``-tagged, or untagged holding an object)."""

    def drop(match: re.Match[str]) -> str:
        tag, body = match.group(1).lower(), match.group(2)
        return "" if tag == "json" or (tag == "" and _loads_object(body) is not None) else match.group(0)

    return _FENCE.sub(drop, text).strip()


def _dedupe(items: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
