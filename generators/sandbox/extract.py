"""Pick the code out of a model's answer (tolerant markdown-fence extraction).

Rules, in order:

1. Fences are lines opening with three or more backticks or tildes (indentation allowed). The text after the
   fence is its *tag* when it is one word (``python``, ``py``, ``latex``, ...); when the rest of that line looks
   like code instead (``import ...``, ``\\documentclass``, anything with spaces or brackets), that text is the
   first line of the block, optionally after a known tag (``\u0060\u0060\u0060python import numpy as np``).
2. A block ends at a line that is only a fence of the same character and at least the same length, or at a
   fence glued to the end of a code line (``plt.show()\u0060\u0060\u0060``), or at the end of the text when the
   fence is never closed.
3. Blocks tagged with the wanted language win (python: ``python``, ``py``, ``python3``, ``matplotlib``;
   tikz: ``latex``, ``tex``, ``tikz``, ``pgf``); among several, the largest. Without such a block the largest
   block of any tag is used.
4. Without fences the whole text is the code, except that for TikZ prose around a ``\\documentclass`` ...
   ``\\end{document}`` document is dropped.

:func:`extract_code_with_offset` also returns how many lines precede the code in the answer, so an error's
line number can point into the text the model wrote.
"""

from __future__ import annotations

import re

LANGUAGE_TAGS = {
    "python": {"python", "py", "python3", "py3", "matplotlib", "ipython"},
    "tikz": {"latex", "tex", "tikz", "pgf", "context"},
}
_KNOWN_TAGS = set().union(*LANGUAGE_TAGS.values()) | {
    "bash", "sh", "shell", "console", "text", "json", "yaml", "markdown", "md", "output", "plaintext", "txt"}
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})(.*)$")
_CODE_START = re.compile(r"^\s*(import |from |def |class |#|%|\\|fig|plt|ax|np\.)")


def _split_tag(rest: str) -> tuple[str, str]:
    """(tag, code on the fence line) for the text following an opening fence."""
    rest = rest.strip()
    if not rest:
        return "", ""
    word, _, tail = rest.partition(" ")
    lowered = word.lower().strip("{}.")
    if lowered in _KNOWN_TAGS:
        return lowered, tail.strip()
    glued = next((t for t in sorted(_KNOWN_TAGS, key=len, reverse=True)
                  if lowered.startswith(t) and _CODE_START.match(rest[len(t):])), None)
    if glued:  # "```pythonimport numpy" (missing newline after the tag)
        return glued, rest[len(glued):].strip()
    if " " not in rest and re.fullmatch(r"[\w+#.-]+", rest) and not _CODE_START.match(rest):
        return lowered, ""
    return "", rest


def _blocks(text: str) -> list[tuple[str, int, list[str]]]:
    """Every fenced block as (tag, index of its first code line, code lines)."""
    lines = text.split("\n")
    blocks, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence = m.group(1)
        tag, first = _split_tag(m.group(2))
        if first.endswith(fence[0] * 3):  # a one-line block: ```python x = 1```
            blocks.append((tag, i, [first.rstrip(fence[0]).rstrip()]))
            i += 1
            continue
        body, start = ([first] if first else []), (i if first else i + 1)
        i += 1
        while i < len(lines):
            line = lines[i]
            close = re.match(r"^[ \t]*(`{3,}|~{3,})[ \t]*$", line)
            if close and close.group(1)[0] == fence[0] and len(close.group(1)) >= len(fence):
                break
            glued = re.match(r"^(.*\S)[ \t]*(`{3,}|~{3,})[ \t]*$", line)
            if glued and glued.group(2)[0] == fence[0] and len(glued.group(2)) >= len(fence):
                body.append(glued.group(1))
                break
            body.append(line)
            i += 1
        blocks.append((tag, start, body))
        i += 1
    return blocks


def extract_code_with_offset(text: str, language: str) -> tuple[str, int]:
    """Like :func:`extract_code`, also returning the number of answer lines before the code's first line."""
    if language not in LANGUAGE_TAGS:
        raise ValueError(f"unknown language {language!r}: use one of {sorted(LANGUAGE_TAGS)}")
    blocks = [b for b in _blocks(text) if "".join(b[2]).strip()]
    if not blocks:
        if language == "tikz":
            m = re.search(r"\\documentclass.*?\\end\{document\}", text, re.S)
            if m:
                return m.group(0), text[: m.start()].count("\n")
        return text, 0
    tagged = [b for b in blocks if b[0] in LANGUAGE_TAGS[language]]
    pool = tagged or blocks
    tag, start, body = max(pool, key=lambda b: len("\n".join(b[2])))
    return "\n".join(body).rstrip() + "\n", start


def extract_code(text: str, language: str) -> str:
    """The code section of a model answer (rules in this module's docstring).

    Args:
        text: the model's answer, with or without markdown fences.
        language: ``"python"`` or ``"tikz"``.

    Returns:
        The code, ending with a newline when it came from a fence; the text unchanged when it has no fences.
    """
    return extract_code_with_offset(text, language)[0]
