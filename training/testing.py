"""A scripted stand-in model for synthesis tests, the benchmark and the offline demo (no weights, no network).

:class:`MiniModel` answers every prompt the synthesis pipeline sends (construction stages, ImgCoder's stages,
verification) from the project's mini set: the authored image type, elements, quizzes and rewrite of the problem
whose question appears in the prompt, and its reference program. Use it as ``OpenAICompatServer(handler=
model.handler)`` (a real loopback server) or as the answer source of the demo's recordings.

Scripting: ``script[(stage, text)] = [reply, ...]`` overrides the replies of ``stage`` for prompts containing
``text``, consumed in order (then the default answer); ``messy=True`` wraps the defaults the way real models do
(prose around fenced JSON, trailing commas, options as a list, the correct option as ``"(B) text"``).
``blind_correct`` holds quiz questions (or rewritten questions) that are answered right *without* the image.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

STAGE_MARKERS = (  # (stage, text found in the prompt), most specific first
    ("reask", "Your reply could not be used"),
    ("revise", "The figure your program draws was shown to a reader"),
    ("triage", 'A problem is "visualizable"'),
    ("elements", "List what the figure must show"),
    ("quizzes", "multiple-choice quizzes that\ncheck"),
    ("rewrite", "Rewrite\nthe question"),
    ("repair", "The program rendered, but the figure failed these checks"),
    ("repair", "The program did not render"),
    ("understand", "work out what its figure has to show"),
    ("plan", "Plan the figure for the problem below"),
    ("code", "Write the program that draws the planned figure"),
    ("letter_grader", "A student answered a multiple-choice question"),
    ("grader", "You grade a candidate's answer"),
    ("quiz_blind", "No figure is available; choose the most likely option"),
    ("quiz", "answer the multiple-choice question using only what the figure shows"),
    ("question_blind", "It refers to a figure that you cannot see"),
    ("rinv", "Look carefully at the scientific figure and solve the problem"),
    ("judge", "strict expert reviewer of scientific and technical figures"),
)


def stage_of(text: str) -> str:
    """Which pipeline prompt ``text`` is (see :data:`STAGE_MARKERS`); ``"unknown"`` otherwise."""
    return next((stage for stage, marker in STAGE_MARKERS if marker in text), "unknown")


def _texts(messages: list[dict[str, Any]]) -> list[str]:
    """Every text of ``messages``, as the loopback server reads a request."""
    from scigenbench.generators.backends.testing import RecordedRequest

    return RecordedRequest("POST", "", {}, b"", {"messages": messages}, 0.0).texts()


class MiniModel:
    """Answers synthesis prompts about mini-set problems (see the module docstring).

    Args:
        problems: the mini problems it knows (default: the whole bundled mini set).
        messy: wrap the default construction replies like a sloppy model.
        script: ``{(stage, text): [replies]}`` overrides.
        blind_correct: quiz questions / rewritten questions answered right with no image.
        seen_wrong: quiz questions answered wrong even with the image.
        not_visualizable: questions the triage stage declares not visualizable.
        correct_letter: put the right answer of every quiz it writes at this letter (a skewed model, as upstream's
            data is: 40 % C); ``None`` keeps the authored letters.
    """

    def __init__(self, problems: list[dict[str, Any]] | None = None, *, messy: bool = False,
                 script: dict[tuple[str, str], list[Any]] | None = None, blind_correct: set[str] | None = None,
                 seen_wrong: set[str] | None = None, not_visualizable: set[str] | None = None,
                 correct_letter: str | None = None):
        from scigenbench.dataset import load_mini_problems

        self.problems = list(problems) if problems is not None else load_mini_problems()
        self.messy = messy
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.blind_correct = set(blind_correct or ())
        self.seen_wrong = set(seen_wrong or ())
        self.not_visualizable = set(not_visualizable or ())
        self.correct_letter = correct_letter
        self.lock = threading.Lock()
        self.asked: dict[str, int] = {}
        self.history: list[tuple[str, str]] = []  # (stage, reply), in order

    # -- entry points ------------------------------------------------------------------------------------------

    def handler(self, request_json: dict[str, Any]) -> str:
        """``OpenAICompatServer(handler=...)``: the reply text for one chat request."""
        return self.answer(request_json.get("messages") or [])

    def answer(self, messages: list[dict[str, Any]]) -> str:
        texts = _texts(messages)
        users = _texts([m for m in messages if m.get("role") == "user"])
        first, last = (users[0] if users else ""), (users[-1] if users else "")
        stage = stage_of(last)
        if stage == "reask":
            stage = stage_of(first)
        joined = "\n".join(texts)
        with self.lock:
            self.asked[stage] = self.asked.get(stage, 0) + 1
            scripted = self._scripted(stage, joined)
        reply = scripted if scripted is not None else self._default(stage, joined, last)
        with self.lock:
            self.history.append((stage, reply))
        return reply

    def _scripted(self, stage: str, text: str) -> Any:
        for (name, needle), replies in self.script.items():
            if name == stage and needle in text and replies:
                return replies.pop(0)
        return None

    # -- defaults ----------------------------------------------------------------------------------------------

    def problem_in(self, text: str) -> dict[str, Any] | None:
        """The known problem whose question (or rewritten question) appears in ``text``."""
        for problem in self.problems:
            if problem["question"].strip() in text or (problem.get("multimodal_question") or "\0") in text:
                return problem
        return None

    def _default(self, stage: str, joined: str, last: str) -> str:
        if stage in ("quiz", "quiz_blind", "letter_grader"):
            return self._quiz_reply(stage, last)
        problem = self.problem_in(joined)
        if problem is None:
            return "I cannot help with that."
        if stage == "triage":
            if problem["question"] in self.not_visualizable:
                return self._json({"visualizable": False, "image_type": None,
                                   "reason": "a definition to recall; a figure adds nothing"})
            return self._json({"visualizable": True, "image_type": problem["image_type"],
                               "reason": "the setup and the given values can be drawn"})
        if stage == "elements":
            return self._json({"elements": problem["elements"]})
        if stage == "quizzes":
            return self._json({"quizzes": [self._quiz_out(q) for q in problem["quizzes"]]})
        if stage == "rewrite":
            return self._json({"multimodal_question": problem["multimodal_question"]})
        if stage in ("understand", "plan", "code", "repair", "revise"):
            return self._imgcoder(stage, problem)
        if stage == "rinv":
            return f"Reading the figure.\nFinal answer: {problem['answer']}"
        if stage == "question_blind":
            known = problem.get("multimodal_question") in self.blind_correct
            return f"Guessing.\nFinal answer: {problem['answer'] if known else 'cannot tell'}"
        if stage == "grader":
            return "Compared.\nVerdict: " + ("CORRECT" if f"Final answer: {problem['answer']}" in last
                                             else "INCORRECT")
        if stage == "judge":
            return json.dumps({k: 2 for k in ("Correctness_Fidelity", "Layout_Precision", "Readability_Occlusion",
                                              "Scientific_Plausibility", "Expressiveness_Richness")})
        return "I cannot help with that."

    def _json(self, obj: Any) -> str:
        text = json.dumps(obj, ensure_ascii=False, indent=1)
        if not self.messy:
            return text
        text = re.sub(r"(\"|\])\n(\s*[}\]])", r"\1,\n\2", text, count=1)  # a trailing comma
        return f"Sure! Here is the JSON you asked for:\n\n```json\n{text}\n```\n\nLet me know if you need more."

    def _quiz_out(self, quiz: dict[str, Any]) -> dict[str, Any]:
        if self.correct_letter:
            from scigenbench.training.checks import rebalance_quiz

            quiz = rebalance_quiz(quiz, self.correct_letter)
        letters = [k for k in "ABCD" if quiz["options"].get(k) is not None]
        if not self.messy:
            return {"question": quiz["question"], "options": {k: quiz["options"][k] for k in letters},
                    "correct_option": quiz["correct_option"], "evidence_snippet": quiz["evidence"]}
        return {"Question": quiz["question"], "choices": [f"{k}) {quiz['options'][k]}" for k in letters],
                "answer": f"({quiz['correct_option']}) {quiz['options'][quiz['correct_option']]}",
                "evidence": f"\"{quiz['evidence']}\""}

    def _quiz_reply(self, stage: str, prompt: str) -> str:
        from scigenbench.metrics.ocr import parse_options

        quiz = self._find_quiz(prompt)
        options = parse_options(prompt)
        if quiz is None or not options:
            return "I am not sure."
        truth = quiz["options"][quiz["correct_option"]]
        right = next((k for k, v in options.items() if v.strip() == truth.strip()), None)
        wrong = next((k for k in options if k != right), None)
        if stage == "quiz_blind":
            letter = right if quiz["question"] in self.blind_correct else wrong
        else:
            letter = wrong if quiz["question"] in self.seen_wrong else right
        return f"Looking at it.\nAnswer: {letter}"

    def _find_quiz(self, prompt: str) -> dict[str, Any] | None:
        for problem in self.problems:
            for quiz in problem["quizzes"]:
                if f"Question: {quiz['question'].strip()}" in prompt:
                    return quiz
        return None

    def _imgcoder(self, stage: str, problem: dict[str, Any]) -> str:
        from scigenbench.generators.imgcoder import load_reference, prompting

        reference = load_reference(problem["id"])
        if stage == "understand":
            return prompting.dump_json(reference["understanding"])
        if stage == "plan":
            return prompting.dump_json(reference["plan"])
        return prompting.fenced(reference["code"], prompting.CODE_FENCES[reference["language"]])
