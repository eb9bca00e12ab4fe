"""`scigenbench synthesize` end to end against a real loopback OpenAI-compatible server.

The server answers every stage as a model would (:class:`~scigenbench.training.testing.MiniModel`: the mini set's
authored fields and reference programs, messy JSON where asked, scripted bad replies), the ``openai`` SDK talks
to it over HTTP, ImgCoder's programs render in the real sandbox, and the outputs are read back with ``datasets``.
"""

from __future__ import annotations

import collections
import io
import json
from pathlib import Path

import pytest

from scigenbench.dataset import load_mini_problems
from scigenbench.generators.backends.testing import OpenAICompatServer
from scigenbench.training.inputs import InputSpec
from scigenbench.training.pipeline import SynthConfig, synthesize
from scigenbench.training.testing import MiniModel
from scigenbench.training.verify import AcceptancePolicy

MINI = {p["id"]: p for p in load_mini_problems()}
ATWOOD, CONE, PYRAMID, ELLIPSE = (MINI[i] for i in ("mini-physics-atwood-machine", "mini-math-cone-volume",
                                                    "mini-biology-energy-pyramid", "mini-math-ellipse-foci"))
NOT_VISUAL = {"question": "What is the SI unit of electric charge?", "answer": "the coulomb"}


def write_qa(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def qa(problem: dict) -> dict:
    return {"question": problem["question"], "answer": problem["answer"]}


def run_synth(tmp: Path, rows: list[dict], model: MiniModel, *, name: str = "syn", **settings):
    """Synthesize ``rows`` against a loopback server answering with ``model``; returns (summary, out, server)."""
    spec_settings = {k: settings.pop(k) for k in ("id_column", "solution_column") if k in settings}
    source = write_qa(tmp / f"{name}.jsonl", rows)
    with OpenAICompatServer(handler=model.handler) as server:
        spec = f"openai:test-model@{server.base_url}"
        config = SynthConfig(input=InputSpec(str(source), **spec_settings), out=str(tmp / name), model=spec,
                             judge=spec, progress=False, concurrency=settings.pop("concurrency", 3),
                             backend_options={"cache_dir": str(tmp / "cache"), "max_retries": 0}, **settings)
        summary = synthesize(config)
    return summary, tmp / name, server


def items(out: Path) -> dict[str, dict]:
    return {row["id"]: row for row in map(json.loads, (out / "items.jsonl").read_text().splitlines())}


def load_verified(out: Path):
    import datasets

    return datasets.load_dataset(str(out / "verified"), split="train")


# --------------------------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def messy_run(tmp_path_factory):
    """Three mini problems through ImgCoder with sloppy JSON replies, plus a row without a figure, an empty
    answer and a repeated row."""
    tmp = tmp_path_factory.mktemp("messy")
    model = MiniModel(messy=True, not_visualizable={NOT_VISUAL["question"]},
                      problems=[*MINI.values(), {**NOT_VISUAL, "id": "x", "image_type": None, "elements": [],
                                                 "quizzes": [], "multimodal_question": None}])
    rows = [{**qa(ATWOOD), "solution": "a = (m2 - m1) g / (m1 + m2)"}, qa(CONE), NOT_VISUAL, qa(PYRAMID),
            {"question": "Lost answer", "answer": ""}, qa(CONE)]
    summary, out, server = run_synth(tmp, rows, model, solution_column="solution", generator="imgcoder")
    return summary, out, server, model


def test_messy_replies_end_in_a_verified_dataset_that_datasets_loads(messy_run):
    summary, out, _, model = messy_run
    assert summary.exit_code() == 0
    assert summary.funnel["input"] == 6 and summary.funnel["verified"] == 3
    ds = load_verified(out)
    assert ds.column_names == ["id", "image", "question", "answer", "original_question", "solution", "domain",
                               "image_type", "data_source", "quizzes", "verification"]
    by_question = {row["original_question"]: row for row in ds}
    atwood = by_question[ATWOOD["question"]]
    assert atwood["question"] == ATWOOD["multimodal_question"] and atwood["answer"] == ATWOOD["answer"]
    assert atwood["image_type"] == "Physics - Mechanical" and atwood["domain"] == "Physics"
    assert atwood["solution"] == "a = (m2 - m1) g / (m1 + m2)" and by_question[CONE["question"]]["solution"] is None
    assert atwood["data_source"].endswith("syn.jsonl")
    assert atwood["image"].size[0] > 100  # a real rendered figure, decoded by datasets
    verification = json.loads(atwood["verification"])
    assert verification["accepted"] and verification["quiz_acc"] == 1.0 and verification["rinv"]["verdict"] == "CORRECT"
    assert verification["text_shortcut"] == {"state": "scored", "correct": False, "reason": None}
    quizzes = json.loads(atwood["quizzes"])
    assert len(quizzes) == 4 and all(set(q["options"]) == set("ABCD") for q in quizzes)
    assert any("Sure! Here is the JSON" in reply for _, reply in model.history)  # the replies really were messy


def test_the_image_is_the_png_of_the_run_folder(messy_run):
    _, out, _, _ = messy_run
    row = load_verified(out)[0]
    buf = io.BytesIO()
    row["image"].save(buf, format="PNG")
    runs = {row["id"]: row for row in map(json.loads, (out / "run" / "metadata.jsonl").read_text().splitlines())}
    assert row["id"] in runs and (out / "run" / runs[row["id"]]["file_name"]).exists()


def test_skipped_and_not_visualizable_rows_are_reported_not_dropped(messy_run):
    _, out, _, _ = messy_run
    skipped = [json.loads(line) for line in (out / "skipped.jsonl").read_text().splitlines()]
    assert sorted(s["reason"] for s in skipped) == ["duplicate_id", "empty_answer"]
    outcome = items(out)
    not_visual = [row for row in outcome.values() if row["status"] == "not_visualizable"]
    assert len(not_visual) == 1 and "not_visualizable" in not_visual[0]["reason"]
    report = (out / "report.md").read_text()
    assert "| all | 6 | 3 | 3 | 3 | 3 |" in report and "not_visualizable" in report


def test_every_stage_records_raw_output_prompt_version_and_usage_once_per_item(messy_run):
    _, out, _, _ = messy_run
    for stage in ("triage", "elements", "quizzes", "rewrite"):
        rows = [json.loads(line) for line in (out / "stages" / f"{stage}.jsonl").read_text().splitlines()]
        ids = [r["id"] for r in rows]
        assert len(ids) == len(set(ids)), f"{stage} recorded an item twice"
        for row in rows:
            assert row["final"] and row["calls"][0]["prompt_version"] == f"{stage}.v1"
            assert row["calls"][0]["raw"] and row["usage"]["prompt_tokens"] > 0


def test_constructed_problems_load_in_the_benchmark_schema_with_their_validation(messy_run):
    import datasets

    _, out, _, _ = messy_run
    constructed = datasets.load_dataset(str(out / "constructed"), split="train")
    assert constructed.num_rows == 3 and constructed[0]["source"] == "synth"
    assert all(len(row["quizzes"]) >= 3 and row["elements"] for row in constructed)
    validate = [json.loads(line) for line in (out / "stages" / "validate.jsonl").read_text().splitlines()]
    assert all(row["status"] == "ok" and isinstance(row["defects"], list) for row in validate)


def test_a_resume_with_other_settings_is_refused(messy_run, tmp_path):
    _, out, _, _ = messy_run
    source = write_qa(tmp_path / "q.jsonl", [qa(CONE)])
    with pytest.raises(ValueError, match="other settings"):
        synthesize(SynthConfig(input=InputSpec(str(source)), out=str(out), model="fake", judge="fake",
                               progress=False))


# --------------------------------------------------------------------------------------------- checks


def _all_correct_at(problem: dict, letter: str) -> dict:
    """The problem's quizzes as a model that always puts the right answer at ``letter`` would write them."""
    quizzes = []
    for quiz in problem["quizzes"]:
        right = quiz["options"][quiz["correct_option"]]
        others = [v for k, v in quiz["options"].items() if v is not None and k != quiz["correct_option"]][:3]
        options = others[:"ABCD".index(letter)] + [right] + others["ABCD".index(letter):]
        quizzes.append({"question": quiz["question"], "options": dict(zip("ABCD", options)),
                        "correct_option": letter, "evidence_snippet": quiz["evidence"]})
    return {"quizzes": quizzes}


def test_skewed_correct_letters_are_rebalanced_over_the_output(tmp_path):
    problems = [ATWOOD, CONE, PYRAMID, ELLIPSE]
    script = {("quizzes", p["question"]): [json.dumps(_all_correct_at(p, "C"))] for p in problems}
    summary, out, _ = run_synth(tmp_path, [qa(p) for p in problems], MiniModel(script=script),
                                generator="text-card")
    report = json.loads((out / "report.json").read_text())
    constructed = report["letters"]["constructed"]
    n = sum(constructed.values())
    assert n >= 12 and report["letters"]["model_or_input"] == {"A": 0, "B": 0, "C": n, "D": 0}
    assert max(constructed.values()) - min(constructed.values()) <= 1
    for row in load_verified(out):
        for quiz in json.loads(row["quizzes"]):
            assert quiz["rebalanced"]["from"] == "C" and quiz["rebalanced"]["to"] == quiz["correct_option"]
    source = {q["question"]: q for p in problems for q in p["quizzes"]}
    row = load_verified(out)[0]
    for quiz in json.loads(row["quizzes"]):  # the permutation keeps the right answer right
        original = source[quiz["question"]]
        assert quiz["options"][quiz["correct_option"]] == original["options"][original["correct_option"]]


def test_rows_in_the_benchmark_schema_skip_construction_and_are_rebalanced_too(tmp_path):
    rows = [{"question": p["question"], "answer": p["answer"], "image_type": p["image_type"],
             "elements": p["elements"], "quizzes": _all_correct_at(p, "C")["quizzes"],
             "multimodal_question": p["multimodal_question"]} for p in (ATWOOD, CONE)]
    model = MiniModel()
    summary, out, _ = run_synth(tmp_path, rows, model, generator="text-card")
    assert not {"triage", "elements", "quizzes", "rewrite"} & set(model.asked)
    triage = [json.loads(line) for line in (out / "stages" / "triage.jsonl").read_text().splitlines()]
    assert {row["status"] for row in triage} == {"from_input"}
    letters = json.loads((out / "report.json").read_text())["letters"]["constructed"]
    assert letters["C"] < sum(letters.values())


def test_bad_evidence_and_a_leaking_rewrite_are_reasked_and_a_hopeless_stage_fails(tmp_path):
    bad_evidence = {"quizzes": [{**q, "evidence_snippet": "as drawn in the figure"}
                                for q in _all_correct_at(ATWOOD, "A")["quizzes"]]}
    leaking = {"multimodal_question": ATWOOD["multimodal_question"] + " Check: a = 2.45 m/s²."}
    script = {("quizzes", ATWOOD["question"]): [json.dumps(bad_evidence)],
              ("rewrite", ATWOOD["question"]): [json.dumps(leaking)],
              ("quizzes", CONE["question"]): [json.dumps(bad_evidence)] * 3}
    summary, out, _ = run_synth(tmp_path, [qa(ATWOOD), qa(CONE)], MiniModel(script=script), generator="text-card",
                                max_reasks=1)
    quizzes = {r["id"]: r for r in map(json.loads, (out / "stages" / "quizzes.jsonl").read_text().splitlines())}
    rewrites = [json.loads(line) for line in (out / "stages" / "rewrite.jsonl").read_text().splitlines()]
    atwood = next(r for r in quizzes.values() if r["status"] == "ok")
    assert len(atwood["calls"]) == 2 and "evidence_not_in_question" in atwood["calls"][0]["parse_problem"]
    assert "2.45" in rewrites[0]["calls"][0]["parse_problem"] and rewrites[0]["output"] == ATWOOD["multimodal_question"]
    cone = next(r for r in quizzes.values() if r["status"] == "failed")
    assert len(cone["calls"]) == 2 and "no usable reply" in cone["error"]
    assert sorted(row["status"] for row in items(out).values()) == ["accepted", "construction_failed"]
    assert "2.45" not in load_verified(out)[0]["question"]


def test_guessable_quizzes_do_not_count_and_text_shortcuts_are_rejected(tmp_path):
    blind = {ATWOOD["quizzes"][0]["question"], *(q["question"] for q in CONE["quizzes"]),
             PYRAMID["multimodal_question"]}
    rows = [qa(ATWOOD), qa(CONE), qa(PYRAMID)]
    summary, out, _ = run_synth(tmp_path, rows, MiniModel(blind_correct=blind), generator="text-card")
    by_question = {row["original_question"]: json.loads(row["verification"]) for row in load_verified(out)}
    assert list(by_question) == [ATWOOD["question"]]
    assert by_question[ATWOOD["question"]]["quizzes_guessable"] == 1
    assert by_question[ATWOOD["question"]]["quizzes_informative"] == len(ATWOOD["quizzes"]) - 1
    reasons = {row["reason"] for row in items(out).values() if row["status"] == "rejected"}
    assert reasons == {"no_informative_quiz", "text_shortcut"}
    report = json.loads((out / "report.json").read_text())
    assert report["text_shortcut"] == {"checked": 3, "shortcuts": 1, "rate": 1 / 3}
    assert report["guessable"]["guessable"] == 1 + len(CONE["quizzes"])

    summary, out, _ = run_synth(tmp_path, rows, MiniModel(blind_correct=blind), generator="text-card",
                                name="keep", policy=AcceptancePolicy(reject_text_shortcut=False))
    assert sorted(row["original_question"] for row in load_verified(out)) == sorted(
        [ATWOOD["question"], PYRAMID["question"]])


def test_a_failed_verification_feeds_the_failed_quizzes_back_to_imgcoder(tmp_path):
    wrong = ATWOOD["quizzes"][1]
    model = MiniModel(seen_wrong={wrong["question"]})
    summary, out, server = run_synth(tmp_path, [qa(ATWOOD)], model, generator="imgcoder", max_attempts=2)
    revise = [r for r in server.chat_requests() if "shown to a reader" in r.texts()[-1]]
    assert len(revise) == 1
    feedback = revise[0].texts()[-1]
    assert wrong["question"] in feedback and wrong["options"][wrong["correct_option"]] in feedback
    # benchmark-style generation never sees a quiz: only the revision request carries one
    first_attempt = [r for r in server.chat_requests() if any(m in r.texts()[-1] for m in (
        "work out what its figure", "Plan the figure", "Write the program that draws"))]
    assert first_attempt and not any(q["question"] in "\n".join(r.texts()) for r in first_attempt
                                     for q in ATWOOD["quizzes"])
    attempts = [json.loads(line) for line in (out / "run" / "attempts.jsonl").read_text().splitlines()]
    assert [a["attempt"] for a in attempts] == [1, 2]
    verify = [json.loads(line) for line in (out / "stages" / "verify.jsonl").read_text().splitlines()]
    assert [(v["status"], v["final"]) for v in verify] == [("retry", False), ("rejected", True)]
    assert items(out)[verify[0]["id"]]["reason"] == "quiz_acc"


def test_every_item_failing_exits_1(tmp_path):
    summary, out, _ = run_synth(tmp_path, [qa(ATWOOD)], MiniModel(script={("triage", ATWOOD["question"]): ["?"] * 5}),
                                generator="text-card", max_reasks=1)
    assert summary.exit_code() == 1 and collections.Counter(r["status"] for r in items(out).values()) == {
        "construction_failed": 1}


def test_judge_minimums_reject_a_figure_rated_below_them(tmp_path):
    low = json.dumps({"Correctness_Fidelity": 1, "Layout_Precision": 2, "Readability_Occlusion": 2,
                      "Scientific_Plausibility": 2, "Expressiveness_Richness": 2})
    model = MiniModel(script={("judge", CONE["question"]): [low]})
    summary, out, _ = run_synth(tmp_path, [qa(ATWOOD), qa(CONE)], model, generator="text-card",
                                policy=AcceptancePolicy(judge_min={"Correctness_Fidelity": 2}))
    outcome = {row["image_type"]: row for row in items(out).values()}
    assert outcome["Physics - Mechanical"]["status"] == "accepted"
    assert outcome["Math - Solid Geometric"]["reason"] == "judge:Correctness_Fidelity"
    verification = json.loads(load_verified(out)[0]["verification"])
    assert verification["judge"]["dimensions"]["Correctness_Fidelity"] == 2
    assert verification["policy"]["judge_min"] == {"Correctness_Fidelity": 2}


def test_server_errors_and_malformed_bodies_are_retried_without_changing_the_outcome(tmp_path):
    from scigenbench.generators.backends.testing import Fault

    model = MiniModel()
    seen = []

    def flaky(request: dict):
        seen.append(1)
        if len(seen) % 5 == 0:
            return Fault.server_error() if len(seen) % 10 else Fault.malformed()
        return model.handler(request)

    source = write_qa(tmp_path / "qa.jsonl", [qa(ATWOOD), qa(PYRAMID)])
    with OpenAICompatServer(handler=flaky) as server:
        spec = f"openai:test-model@{server.base_url}"
        summary = synthesize(SynthConfig(
            input=InputSpec(str(source)), out=str(tmp_path / "syn"), model=spec, judge=spec, generator="text-card",
            progress=False, backend_options={"cache_dir": str(tmp_path / "cache"), "max_retries": 3,
                                             "backoff_base": 0.01, "backoff_max": 0.02}))
    assert summary.funnel["verified"] == 2 and len(seen) > 2 * 17


def test_a_backbone_outage_during_generation_is_retried_on_the_next_run(tmp_path):
    from scigenbench.generators.backends.testing import Fault

    model, down = MiniModel(), [True]

    def handler(request: dict):
        if down[0] and "work out what its figure has to show" in request["messages"][-1]["content"]:
            return Fault.server_error()
        return model.handler(request)

    source = write_qa(tmp_path / "qa.jsonl", [qa(ATWOOD)])
    with OpenAICompatServer(handler=handler) as server:
        spec = f"openai:test-model@{server.base_url}"
        config = SynthConfig(input=InputSpec(str(source)), out=str(tmp_path / "syn"), model=spec, judge=spec,
                             progress=False, backend_options={"cache_dir": str(tmp_path / "cache"), "max_retries": 0})
        first = synthesize(config)
        assert first.exit_code() == 1 and [r["status"] for r in items(tmp_path / "syn").values()] == ["error"]
        down[0] = False
        second = synthesize(config)
    assert second.exit_code() == 0 and second.funnel["verified"] == 1
    attempts = [json.loads(line)["status"]
                for line in (tmp_path / "syn" / "run" / "attempts.jsonl").read_text().splitlines()]
    assert attempts == ["failed", "ok"]


def test_an_exported_scigenbench_config_is_used_as_it_is(tmp_path):
    from scigenbench.dataset import export_dataset

    folder = export_dataset(tmp_path / "export", ["mini"])
    rows_model = MiniModel()
    with OpenAICompatServer(handler=rows_model.handler) as server:
        spec = f"openai:test-model@{server.base_url}"
        summary = synthesize(SynthConfig(
            input=InputSpec(str(folder), config="mini", id_column="id", limit=2), out=str(tmp_path / "syn"),
            model=spec, judge=spec, generator="text-card", progress=False,
            backend_options={"cache_dir": str(tmp_path / "cache")}))
    assert summary.funnel["verified"] == 2 and set(items(tmp_path / "syn")) <= set(MINI)
    assert not {"triage", "elements", "quizzes", "rewrite"} & set(rows_model.asked)
