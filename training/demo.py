"""``scigenbench synthesize --demo``: the whole synthesis pipeline offline, on a QA file the project writes.

1. :func:`write_demo_input` writes ``SYN_DIR/demo/qa.jsonl``: 15 text-only problems across the five domains (the
   questions and answers of mini-set problems, whose answers ``tests/test_synth_demo.py`` recomputes), one problem
   that needs no figure, and one row with an empty answer (reported and skipped).
2. :func:`record_demo_answers` writes ``SYN_DIR/demo/recordings.jsonl``: the model's answers for every LLM stage
   (triage, elements, quizzes, rewrite, ImgCoder's understand/plan/code), recorded by running the pipeline's own
   prompt builders against :class:`~scigenbench.training.testing.MiniModel` (sloppy JSON on purpose, one quiz reply
   and one rewrite that fail the checks and are re-asked).
3. :func:`run_demo` runs the real pipeline over ``replay:`` of those recordings: parsing, checks, letter balancing,
   validation, sandboxed rendering, verification with the ``ocr`` proxy (quizzes, with and without the figure; it
   cannot answer R_inv, so the demo's policy does not require it) and the outputs; then prints the funnel and the
   verified dataset as ``datasets`` reads it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: mini problems whose question/answer pairs form the demo input (Python references: quick to render)
DEMO_IDS = (
    "mini-math-cone-volume", "mini-math-ellipse-foci", "mini-math-venn-languages",
    "mini-physics-atwood-machine", "mini-physics-converging-lens", "mini-physics-incline-friction",
    "mini-physics-two-charges-field",
    "mini-chemistry-bcc-iron", "mini-chemistry-iron-orbitals",
    "mini-biology-energy-pyramid", "mini-biology-cell-magnification", "mini-biology-recessive-pedigree",
    "mini-universal-calibration-curve", "mini-universal-initial-rates-table", "mini-universal-titration-setup",
)
#: a problem with nothing to draw (triage keeps it with reason not_visualizable)
NOT_VISUALIZABLE = {"id": "demo-si-unit-charge", "question": "What is the SI unit of electric charge, and which "
                    "SI base units is it defined in?", "answer": "the coulomb (C), 1 C = 1 A·s"}
#: the demo's acceptance policy (the OCR proxy reads text only: a quiz about a drawn shape it cannot answer)
DEMO_MIN_QUIZ_ACC = 0.5


def demo_problems() -> list[dict[str, Any]]:
    from scigenbench.dataset import load_mini_problems

    by_id = {p["id"]: p for p in load_mini_problems()}
    return [by_id[i] for i in DEMO_IDS]


def write_demo_input(path: Path) -> Path:
    """The demo's QA file (JSONL: ``id``, ``question``, ``answer``)."""
    rows = [{"id": p["id"].replace("mini-", "demo-"), "question": p["question"], "answer": p["answer"]}
            for p in demo_problems()]
    rows.insert(5, NOT_VISUALIZABLE)
    rows.append({"id": "demo-empty-answer", "question": "A row whose answer was lost in an export.", "answer": ""})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def demo_model() -> Any:
    """The stand-in model whose answers are recorded: sloppy JSON, every right answer at C (rebalanced by the
    pipeline), one quiz reply with evidence the question does not hold, one rewrite that states the answer."""
    from scigenbench.training.testing import MiniModel

    problems = demo_problems()
    atwood = next(p for p in problems if p["id"] == "mini-physics-atwood-machine")
    cone = next(p for p in problems if p["id"] == "mini-math-cone-volume")
    bad_quizzes = json.dumps({"quizzes": [
        {"question": q["question"], "options": {k: q["options"][k] for k in "ABCD"},
         "correct_option": q["correct_option"], "evidence_snippet": "as stated in the figure"}
        for q in atwood["quizzes"]]})
    leaking = json.dumps({"multimodal_question": cone["multimodal_question"].rstrip(".?")
                          + f" (the answer is {cone['answer']})."})
    return MiniModel([*problems, {**NOT_VISUALIZABLE, "image_type": None, "elements": [], "quizzes": [],
                                  "multimodal_question": None}],
                     messy=True, not_visualizable={NOT_VISUALIZABLE["question"]}, correct_letter="C",
                     script={("quizzes", atwood["question"]): [bad_quizzes], ("rewrite", cone["question"]): [leaking]})


class _Recorder:
    """A chat backend that answers from :class:`MiniModel` and appends each exchange to a replay recording."""

    name = "demo-recorder"
    model = "mini-model"

    def __init__(self, path: Path, model: Any):
        self.path, self.source = path, model

    def chat(self, messages: list[dict[str, Any]], **params: Any) -> Any:
        from scigenbench.generators.backends.base import ChatResult, Usage
        from scigenbench.generators.backends.replay import write_recording

        params.pop("prompt_version", None)
        text = self.source.answer(messages)
        write_recording(self.path, messages, text, **params)
        return ChatResult(text=text, model=self.model, backend=self.name, usage=Usage())

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model}

    def close(self) -> None:
        pass


def record_demo_answers(items: list[dict[str, Any]], path: Path, pool: Any = None) -> int:
    """Record the model's answers to every construction and ImgCoder prompt of ``items``; returns the count.

    The pipeline's own stage functions and ImgCoder run against the recorder, so replay later receives
    byte-identical requests.
    """
    from types import SimpleNamespace

    from scigenbench.generators.imgcoder import ImgCoder, ImgCoderConfig
    from scigenbench.training import construct

    if path.exists():
        path.unlink()
    recorder = _Recorder(path, demo_model())
    ctx = SimpleNamespace(constructor=recorder, config=SimpleNamespace(max_reasks=2))
    coder = ImgCoder(recorder, ImgCoderConfig(), pool=pool)
    for item in items:
        item = dict(item)
        for name, stage in construct.CONSTRUCTION_STAGES.items():
            item[name] = stage(item, ctx)
            if item[name]["status"] not in construct.CONTINUE:
                break
        else:
            coder.generate(item["validate"]["output"])
    return sum(1 for _ in path.open(encoding="utf-8"))


def run_demo(out: str | Path, *, progress: bool = True, concurrency: int = 4, executor: str = "local",
             ray_options: Any = None) -> int:
    """Write the input and recordings, run the pipeline over them, print the funnel and the verified export."""
    from scigenbench.training.inputs import InputSpec, make_items, read_rows
    from scigenbench.training.pipeline import SynthConfig, synthesize
    from scigenbench.training.verify import AcceptancePolicy

    import shutil

    if not shutil.which("tesseract"):
        raise OSError("the demo verifies the figures with the OCR proxy, which needs the tesseract binary "
                      "(apt-get install tesseract-ocr; pip install 'scigenbench[ocr]')")
    out = Path(out)
    qa = write_demo_input(out / "demo" / "qa.jsonl")
    spec = InputSpec(str(qa), id_column="id")
    items, _ = make_items(read_rows(spec), spec)
    recordings = out / "demo" / "recordings.jsonl"
    n = record_demo_answers(items, recordings)
    print(f"Demo input: {qa} ({len(items)} usable rows); {n} recorded model answers in {recordings}")
    replay = f"replay:{recordings}"
    config = SynthConfig(input=spec, out=str(out), model=replay, judge="ocr", concurrency=concurrency,
                         policy=AcceptancePolicy(min_quiz_acc=DEMO_MIN_QUIZ_ACC, require_rinv=False),
                         backend_options={"cache_dir": str(out / ".cache")}, progress=progress,
                         executor=executor, ray_options=ray_options)
    summary = synthesize(config)
    print(summary.format())
    report = (out / "report.md").read_text(encoding="utf-8")
    print("\n" + report.split("## Calls and cost")[0].strip())
    _show_export(out)
    return summary.exit_code()


def _show_export(out: Path) -> None:
    import datasets

    shown = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        verified = datasets.load_dataset(str(out / "verified"), split="train")
    finally:
        if shown:
            datasets.enable_progress_bars()
    print(f"\nExport: datasets.load_dataset({str(out / 'verified')!r}, split='train') → {verified.num_rows} rows, "
          f"columns {', '.join(verified.column_names)}")
    if verified.num_rows:
        row = verified[0]
        print(f"  e.g. {row['id']} ({row['image_type']}): {row['question'][:160]}…  answer: {row['answer']}")
    try:  # the trainer exports (scigenbench export-training), where this installation has them
        from scigenbench.training.exports import export_training
    except ImportError:
        return
    print("Training export: " + export_training(out, "verl", out / "export-verl").summary())
