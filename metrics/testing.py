"""Helpers for tests, doctests and benchmarks of the metrics: tiny problems, run folders, scripted judges.

Nothing here talks to a network: :func:`scripted_judge` answers the project's own prompts deterministically and
can be plugged into the ``fake`` backend (``responses=``) or ``OpenAICompatServer(handler=...)``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Callable

from scigenbench.metrics.parsing import JUDGE_DIMENSIONS


def png(color: str = "white", size: tuple[int, int] = (64, 48), text: str | None = None) -> bytes:
    """A small PNG (optionally with text drawn on it)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, color)
    if text:
        ImageDraw.Draw(img).text((4, 4), text, fill="black")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def toy_problem(item_id: str, *, n_quizzes: int = 2, domain: str = "Physics",
                image_type: str | None = "Physics - Mechanical", multimodal: bool = True) -> dict[str, Any]:
    """A problem row in the dataset contract, with quizzes whose correct option is always B."""
    quizzes = [{"question": f"{item_id} quiz {j}?", "options": {"A": "1 kg", "B": "2 kg", "C": "3 kg", "D": "4 kg",
                                                                "E": None},
                "correct_option": "B", "evidence": "", "scorable": True, "defects": [], "extra": None}
               for j in range(n_quizzes)]
    return {"id": item_id, "source": "mini", "domain": domain, "image_type": image_type,
            "question": f"Problem {item_id}: a 2 kg block on an incline. Find the acceleration.",
            "answer": "4.9 m/s^2", "elements": ["block", "incline"], "quizzes": quizzes,
            "multimodal_question": f"Problem {item_id}: find the acceleration of the block shown." if multimodal
            else None, "flags": [], "image": None}


def make_run(path: str | Path, images: dict[str, bytes | None], *, dataset: str = "mini",
             generator: str = "test") -> Path:
    """A run folder holding ``images`` (``None`` = a failed generation)."""
    from scigenbench.dataset.runs import RunFolder

    run = RunFolder.create(path, generator=generator, config={"test": True}, dataset=dataset)
    for item_id, data in images.items():
        if data is None:
            run.append({"id": item_id, "status": "failed", "error": "scripted failure"})
        else:
            run.append({"id": item_id, "status": "ok"}, data)
    return Path(path)


def judge_json(*values: int) -> str:
    return json.dumps(dict(zip(JUDGE_DIMENSIONS, values)))


def prompt_kind(text: str) -> str:
    """Which of the project's prompts ``text`` is: judge, quiz, quiz_blind, letter_grader, quiz_verifier, rinv,
    rinv_grader."""
    if "Rate how well the figure" in text:
        return "judge"
    if "against the answer key" in text:
        return "quiz_verifier"
    if "Decide which single option" in text:
        return "letter_grader"
    if "You grade a candidate's answer" in text:
        return "rinv_grader"
    if "No figure is available" in text:
        return "quiz_blind"
    if "multiple-choice question" in text:
        return "quiz"
    if "solve the problem below" in text:
        return "rinv"
    return "unknown"


def scripted_judge(overrides: Callable[[str, str], Any] | None = None) -> Callable[..., Any]:
    """A deterministic judge for every prompt: judge 2,1,2,1,2; quizzes "Answer: B"; letter grader "Answer: B";
    R_inv "Final answer: 4.9 m/s^2" (settled by the equivalence check); R_inv grader "Verdict: CORRECT".

    ``overrides(kind, text)`` may return an answer (or a ``Fault``/exception) to replace the default, or ``None``.
    The returned callable works as ``fake`` ``responses=`` (messages) and as an ``OpenAICompatServer`` handler
    (request JSON).
    """
    defaults = {"judge": "Looks fine.\n" + judge_json(2, 1, 2, 1, 2), "quiz": "It shows 2 kg.\nAnswer: B",
                "quiz_blind": "Guessing.\nAnswer: C", "letter_grader": "Answer: B",
                "rinv": "a = g sin 30°\nFinal answer: 4.9 m/s^2", "rinv_grader": "Matches.\nVerdict: CORRECT"}

    def answer(messages_or_request: Any, **_: Any) -> Any:
        messages = messages_or_request.get("messages") if isinstance(messages_or_request, dict) \
            else messages_or_request
        text = _text_of(messages)
        kind = prompt_kind(text)
        if overrides is not None:
            custom = overrides(kind, text)
            if custom is not None:
                return custom
        return defaults.get(kind, "I do not know.")

    return answer


def _text_of(messages: list[dict[str, Any]]) -> str:
    parts = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            parts.append(content)
        else:
            parts += [p.get("text", "") for p in content or [] if p.get("type") == "text"]
    return "\n".join(parts)


_RENDER_DRIVER = r"""
import json, sys, matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
jobs = json.loads(sys.stdin.read())
done = {}
for item_id, (src, out) in jobs.items():
    plt.close("all")
    try:
        code = open(src, encoding="utf-8").read()
        exec(compile(code, src, "exec"), {"__name__": "__main__"})
        fig = plt.gcf() if plt.get_fignums() else None
        if fig is None:
            continue
        fig.savefig(out, dpi=100, facecolor="white")
        done[item_id] = out
    except Exception as exc:
        print(f"{item_id}: {type(exc).__name__}: {exc}", file=sys.stderr)
print(json.dumps(done))
"""


def render_python_references(ids: list[str], out_dir: str | Path, *, timeout: float = 120) -> dict[str, Path]:
    """Render the mini set's matplotlib reference programs (trusted project files) to PNGs in one subprocess.

    This is a test/demo helper for when the sandbox is not wanted; model-written code must go through
    ``scigenbench.generators.sandbox`` instead. Returns ``{id: png path}`` for the references that rendered.
    """
    import subprocess
    import sys
    from importlib import resources

    refs = Path(str(resources.files("scigenbench.dataset").joinpath("mini/references")))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = {i: [str(refs / f"{i}.py"), str(out_dir / f"{i}.png")] for i in ids if (refs / f"{i}.py").exists()}
    proc = subprocess.run([sys.executable, "-c", _RENDER_DRIVER], input=json.dumps(jobs), capture_output=True,
                          text=True, timeout=timeout, cwd=out_dir)
    if proc.returncode != 0:
        raise RuntimeError(f"rendering the references failed: {proc.stderr[-2000:]}")
    return {k: Path(v) for k, v in json.loads(proc.stdout.strip().splitlines()[-1]).items()}
