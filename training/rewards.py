"""Rule rewards for RL on the exports: VeRL's and TRL's reward-function signatures over one answer reader.

The final answer of a completion is the content of its last ``\\boxed{...}`` (braces matched), else the text of
a last line that starts with ``Answer:`` (or ``Final answer:``); text before a closing ``</think>`` is reasoning
and ignored. The answer is compared with the ground truth by the same checker R_inv uses
(:func:`scigenbench.metrics.equivalence.answers_equivalent`). Scores are 1.0 or 0.0; no input raises, and no input
takes long: the checker works in bounded time by construction (see its module).

VeRL (0.9: under ``reward.``; older versions: top-level ``custom_reward_function``, with a file path)::

    reward.custom_reward_function.path=pkg://scigenbench.training.rewards
    reward.custom_reward_function.name=compute_score
    # or: custom_reward_function.path=$(python -c "import scigenbench.training.rewards as r; print(r.__file__)")

TRL::

    from scigenbench.training.rewards import accuracy_reward
    GRPOTrainer(..., reward_funcs=[accuracy_reward])   # the dataset's ``solution`` column reaches it
"""

from __future__ import annotations

import re
from typing import Any

from scigenbench.metrics.equivalence import answers_equivalent

#: completions longer than this are read from their tail only (the final answer is at the end)
_MAX_COMPLETION_CHARS = 20_000
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_LINE = re.compile(r"^[\s>*_#`]*(?:final\s+answer|answer)\s*[:：]\s*(.*)$", re.I)


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` whose braces close, or ``None``."""
    starts = [m.end() for m in _BOXED.finditer(text)]
    if not starts:
        return None
    closing, stack = {}, []  # one pass over the text: linear even with thousands of unclosed boxes
    for i, ch in enumerate(text):
        if ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            closing[stack.pop()] = i
    for start in reversed(starts):
        if start - 1 in closing:
            return text[start:closing[start - 1]].strip()
    return None


def extract_final_answer(completion: Any) -> str | None:
    """The answer a completion commits to: last ``\\boxed{}``, else a last line ``Answer: ...``; else ``None``.

    ``completion`` is text or a conversation (a list of messages, or one message): the last assistant turn's
    text is read.
    """
    text = _completion_text(completion)
    if not text:
        return None
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    text = text[-_MAX_COMPLETION_CHARS:]
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed or None
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if lines:
        match = _ANSWER_LINE.match(lines[-1])
        if match:
            return match.group(1).strip().strip("*_` ").strip() or None
    return None


def compute_score(data_source: Any = None, solution_str: Any = None, ground_truth: Any = None,
                  extra_info: Any = None, **kwargs: Any) -> float:
    """VeRL's custom reward: 1.0 when the completion's final answer equals ``ground_truth``, else 0.0.

    ``data_source`` and ``extra_info`` are accepted (VeRL passes them) and not used: every export row is scored
    the same way. Extra keyword arguments that newer VeRL versions pass are ignored.
    """
    try:
        answer = extract_final_answer(solution_str)
        truth = _ground_truth_text(ground_truth)
        return 1.0 if answer is not None and truth and answers_equivalent(answer, truth) else 0.0
    except Exception:  # a reward must never stop training
        return 0.0


def accuracy_reward(completions: list[Any], solution: list[Any], **kwargs: Any) -> list[float]:
    """TRL's reward-function signature: one 1.0/0.0 per completion against the ``solution`` column.

    Completions are strings (standard format) or conversations (``[{"role": "assistant", "content": ...}]``).
    """
    completions = list(completions or [])
    solutions = list(solution or [])
    if len(solutions) < len(completions):
        solutions += [None] * (len(completions) - len(solutions))
    return [compute_score(None, c, s) for c, s in zip(completions, solutions)]


def _ground_truth_text(ground_truth: Any) -> str:
    if isinstance(ground_truth, dict):  # VeRL rows sometimes carry {"ground_truth": ...} one level down
        ground_truth = ground_truth.get("ground_truth")
    if isinstance(ground_truth, (list, tuple)):
        ground_truth = ground_truth[0] if len(ground_truth) == 1 else None
    return "" if ground_truth is None else str(ground_truth).strip()


def _completion_text(completion: Any) -> str:
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _content_text(completion.get("content"))
    if isinstance(completion, (list, tuple)):
        messages = [m for m in completion if isinstance(m, dict)]
        assistant = [m for m in messages if m.get("role") == "assistant"] or messages
        return _content_text(assistant[-1].get("content")) if assistant else ""
    return ""


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):  # content parts: keep the text ones
        return "\n".join(p.get("text") or "" for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""
