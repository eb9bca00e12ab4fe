"""ImgCoder's prompts: versioned templates shipped as package data, and the message builders for each stage.

Templates live in ``prompts/<name>.v<N>.txt``. A template is never edited in place once released: a change is
a new file with the next version, and :data:`PROMPT_VERSIONS` points to it, so every recorded stage output
names the exact prompt that produced it. Placeholders are ``{{name}}`` (JSON and LaTeX braces stay literal).
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any

#: template name -> versioned file stem; bump here when a template changes
PROMPT_VERSIONS: dict[str, str] = {
    "system": "system.v1",
    "understand": "understand.v1",
    "plan": "plan.v1",
    "code": "code.v1",
    "rules_python": "rules_python.v1",
    "rules_tikz": "rules_tikz.v2",
    "repair_error": "repair_error.v1",
    "repair_checks": "repair_checks.v1",
    "single": "single.v1",
    "example": "example.v1",
}

#: a short id of the whole prompt set, recorded in the generator config
PROMPT_SET_VERSION = "imgcoder-prompts-v1"

LANGUAGE_NAMES = {"python": "Python (matplotlib)", "tikz": "LaTeX (TikZ)"}
CODE_FENCES = {"python": "python", "tikz": "latex"}

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@functools.lru_cache(maxsize=None)
def load_template(name: str) -> str:
    """The text of template ``name`` (a key of :data:`PROMPT_VERSIONS`) at its current version."""
    try:
        stem = PROMPT_VERSIONS[name]
    except KeyError:
        raise KeyError(f"unknown ImgCoder prompt {name!r}; known: {', '.join(sorted(PROMPT_VERSIONS))}") from None
    path = resources.files("scigenbench.generators.imgcoder").joinpath("prompts", f"{stem}.txt")
    return path.read_text(encoding="utf-8")


def fill(template: str, **values: Any) -> str:
    """Replace ``{{name}}`` placeholders; a placeholder without a value is an error (a template bug)."""

    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"prompt placeholder {{{{{key}}}}} has no value")
        return str(values[key])

    return _PLACEHOLDER.sub(sub, template)


def render_template(name: str, **values: Any) -> str:
    return fill(load_template(name), **values)


def dump_json(obj: Any) -> str:
    """Canonical JSON for prompts and recordings (stable, so replay keys match)."""
    return json.dumps(obj, indent=2, ensure_ascii=False)


def fenced(text: str, fence: str) -> str:
    return f"```{fence}\n{text.rstrip()}\n```"


def problem_block(problem: dict[str, Any]) -> str:
    """The problem as the model sees it: type, domain, question and the required visual elements.

    The answer is deliberately left out: the figure must not show it, and the model does not need it to draw
    the setup. Verification checks for it locally.
    """
    lines = []
    image_type = problem.get("image_type")
    domain = problem.get("domain")
    if image_type:
        lines.append(f"Figure type: {image_type}")
    elif domain:
        lines.append(f"Domain: {domain}")
    lines.append("Problem:")
    lines.append(str(problem.get("question") or "").strip())
    elements = [str(e).strip() for e in (problem.get("elements") or []) if str(e).strip()]
    if elements:
        lines.append("")
        lines.append("The figure should contain:")
        lines.extend(f"- {e}" for e in elements)
    return "\n".join(lines)


def language_instruction(preference: str) -> str:
    if preference == "auto":
        return ('Choose the language: "python" (matplotlib) suits plots, charts, fields and most diagrams; '
                '"tikz" suits precise geometric constructions, circuits and schematic drawings.')
    return (f'The figure must be drawn in "{preference}" ({LANGUAGE_NAMES[preference]}); '
            f'set "language" to "{preference}".')


def language_rules(language: str | None) -> str:
    if language in ("python", "tikz"):
        return load_template(f"rules_{language}")
    return load_template("rules_python") + "\n" + load_template("rules_tikz")


def system_message() -> dict[str, str]:
    return {"role": "system", "content": load_template("system")}


def user(content: str) -> dict[str, str]:
    return {"role": "user", "content": content}


def assistant(content: str) -> dict[str, str]:
    return {"role": "assistant", "content": content}


# --- few-shot example blocks ------------------------------------------------------------------------------


def example_block(n: int, example: dict[str, Any], *, parts: tuple[str, ...]) -> str:
    """One few-shot example; ``parts`` chooses what follows the problem: "plan", "program", "single"."""
    shown = []
    if "plan" in parts:
        shown.append("Plan:\n" + fenced(dump_json(example["plan"]), "json"))
    if "single" in parts:
        shown.append(fenced(dump_json({"understanding": example["understanding"], "plan": example["plan"]}),
                            "json"))
    if "program" in parts or "single" in parts:
        shown.append("Program:\n" + fenced(example["code"], CODE_FENCES[example["language"]]))
    return render_template("example", n=n, image_type=example.get("image_type") or example.get("domain") or "",
                           question=str(example.get("question", "")).strip(), parts="\n".join(shown))


def examples_section(examples: list[dict[str, Any]], *, parts: tuple[str, ...]) -> str:
    if not examples:
        return ""
    blocks = [example_block(i + 1, ex, parts=parts) for i, ex in enumerate(examples)]
    return "\nWorked examples from other problems (follow their style, not their content):\n\n" + "\n\n".join(
        blocks) + "\n"


# --- stage messages ---------------------------------------------------------------------------------------


def understand_messages(problem: dict[str, Any]) -> list[dict[str, Any]]:
    return [system_message(), user(render_template("understand", problem=problem_block(problem)))]


def plan_messages(problem: dict[str, Any], understanding: dict[str, Any] | str, preference: str,
                  examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    understanding_text = understanding if isinstance(understanding, str) else dump_json(understanding)
    return [system_message(), user(render_template(
        "plan", problem=problem_block(problem), understanding=understanding_text,
        language_instruction=language_instruction(preference),
        examples=examples_section(examples, parts=("plan",))))]


def code_messages(problem: dict[str, Any], plan: dict[str, Any], language: str,
                  examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [system_message(), user(render_template(
        "code", problem=problem_block(problem), plan=dump_json(plan), language_rules=language_rules(language),
        language_name=LANGUAGE_NAMES[language], examples=examples_section(examples, parts=("plan", "program"))))]


def single_messages(problem: dict[str, Any], preference: str, examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rules_for = preference if preference in ("python", "tikz") else None
    return [system_message(), user(render_template(
        "single", problem=problem_block(problem), language_instruction=language_instruction(preference),
        language_rules=language_rules(rules_for), examples=examples_section(examples, parts=("single",))))]


def repair_error_message(*, round_no: int, max_rounds: int, status: str, error: str, error_line: int | None,
                         code: str) -> str:
    line_info = f" (line {error_line})" if error_line else ""
    context = ""
    if error_line:
        context = "\nThe program around that line:\n" + fenced(numbered_excerpt(code, error_line), "") + "\n"
    return render_template("repair_error", round=round_no, max_rounds=max_rounds, status=status,
                           line_info=line_info, error=_clip(error or "(no error text)", 3000), context=context)


def repair_checks_message(*, round_no: int, max_rounds: int, failures: list[str]) -> str:
    return render_template("repair_checks", round=round_no, max_rounds=max_rounds,
                           failures="\n".join(f"- {f}" for f in failures))


def numbered_excerpt(code: str, line: int, radius: int = 3) -> str:
    """Lines ``line±radius`` of ``code`` with numbers, the failing one marked."""
    lines = code.splitlines()
    lo, hi = max(1, line - radius), min(len(lines), line + radius)
    return "\n".join(f"{'>' if i == line else ' '}{i:4d} | {lines[i - 1]}" for i in range(lo, hi + 1))


def _clip(text: str, limit: int) -> str:
    """Keep the end of long errors: the last lines of a traceback or LaTeX log carry the cause."""
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]
