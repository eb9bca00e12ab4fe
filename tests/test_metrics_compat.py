"""Upstream-compatibility switches options=raw, image_encoding=upstream, corrupted=upstream (PROTOCOL §7):
each reproduces what it claims, is labelled upstream-compat with its switches, and is keyed apart from default rows."""

import io
import json

import pytest
from PIL import Image

from scigenbench.metrics import _calls
from scigenbench.metrics.evaluation import evaluate_run
from scigenbench.metrics.leaderboard import build_leaderboard
from scigenbench.metrics.quiz import quiz_item, quiz_prompt, raw_quiz
from scigenbench.metrics.specs import resolve_backend
from scigenbench.metrics.testing import make_run, png, scripted_judge, toy_problem

# a D2/D4-style quiz: the stored key "0" sits in B's slot and the keys are out of order; the repaired view is A-D
RAW_PAIRS = [["A", "1 kg"], ["C", "3 kg"], ["0", "2 kg"], ["D", "4 kg"]]


def raw_problem(item_id="r1", source="scigen"):
    problem = toy_problem(item_id, n_quizzes=1)
    problem["source"] = source
    problem["quizzes"][0]["extra"] = json.dumps({"raw_options": RAW_PAIRS})
    return problem


def fake(*replies):
    return resolve_backend("fake", responses=list(replies), cache=False)


def test_raw_options_are_asked_in_stored_order_with_stored_keys():
    quiz = raw_quiz(raw_problem()["quizzes"][0])
    prompt = quiz_prompt(quiz)
    assert "A: 1 kg\nC: 3 kg\n0: 2 kg\nD: 4 kg" in prompt
    assert "B:" not in prompt


def test_raw_options_make_the_bogus_key_quiz_unanswerable_like_upstream():
    problem = raw_problem()
    default = quiz_item(problem, png(), fake("Answer: B"))
    raw = quiz_item(problem, png(), fake("Answer: C"), options="raw")
    assert default.score == 1.0 and default.protocol == "default" and default.switches == []
    # B is not offered as stored (its slot holds the bogus key "0"): no offered letter can be right
    assert raw.state == "scored" and raw.score == 0.0
    assert raw.protocol == "upstream-compat" and raw.switches == ["options=raw"]


def test_upstream_quiz_encoding_is_a_1024px_jpeg_ladder_and_the_sent_bytes_are_hashed():
    big = Image.new("RGBA", (2000, 1000), (0, 0, 0, 0))  # transparent: upstream drops alpha (black), no white
    buf = io.BytesIO()
    big.save(buf, format="PNG")
    jpeg = _calls.upstream_image(buf.getvalue(), "quiz")
    decoded = Image.open(io.BytesIO(jpeg.data))
    assert decoded.format == "JPEG" and decoded.size == (1024, 512) and jpeg.mime == "image/jpeg"
    assert decoded.convert("RGB").getpixel((10, 10))[0] < 10
    payload, sha = _calls.prepare_for(buf.getvalue(), "quiz", "upstream")
    assert sha == payload.sha256 and payload.data == jpeg.data  # the exact bytes upstream sent, not re-encoded
    assert _calls.prepare_image(buf.getvalue())[1] != sha
    judge_png = Image.open(io.BytesIO(_calls.upstream_image(buf.getvalue(), "judge").data))
    assert judge_png.format == "PNG" and judge_png.size == (2000, 1000) and judge_png.mode == "RGB"


def test_upstream_quiz_encoding_truncates_sizes_like_upstream():
    buf = io.BytesIO()
    Image.new("RGB", (998, 1122), "white").save(buf, format="PNG")
    sent = _calls.upstream_image(buf.getvalue(), "quiz")
    assert (sent.width, sent.height) == (910, 1023)  # int(), not round(): 998*1024/1122 = 910.8, 1122*... = 1023.99


def test_corrupted_upstream_is_image_not_found_as_upstream_loaders_read_it():
    # upstream's loaders fail first on an undecodable file, so the item is written "Image not found" and left out
    # on both splits; quiz.py's "Corrupted image = 0" branch is never reached
    scigen = quiz_item(raw_problem(), b"not an image", fake(), corrupted="upstream")
    seephys = quiz_item(raw_problem(source="seephys"), b"not an image", fake(), corrupted="upstream")
    default = quiz_item(raw_problem(), b"not an image", fake())
    for record in (scigen, seephys):
        assert (record.state, record.score, record.switches) == ("missing", None, ["corrupted=upstream"])
        assert record.reason.startswith("image not found")
    assert default.state == "missing" and default.protocol == "default"


def test_compat_run_is_keyed_apart_and_labelled_on_the_leaderboard(tmp_path):
    problems = [raw_problem("r1"), toy_problem("r2", n_quizzes=1)]
    run_dir = make_run(tmp_path / "run", {"r1": png("white"), "r2": png("gray")})
    # asked with the stored keys, r1's quiz offers A, C, 0, D: the answerer picks C (wrong as stored)
    answer = scripted_judge(lambda kind, text: "Answer: C" if kind == "quiz" and "0: 2 kg" in text else None)
    options = {"cache_dir": str(tmp_path / "cache"), "responses": answer}
    default = evaluate_run(run_dir, ["quiz"], "fake", problems=problems, backend_options=options, progress=False,
                           n_boot=0)
    compat = evaluate_run(run_dir, ["quiz"], "fake", problems=problems, backend_options=options, progress=False,
                          n_boot=0, compat={"options": "raw", "image_encoding": "upstream"})
    assert compat.evaluated["quiz"] == 2                  # not reused from the default rows
    s = compat.summaries["quiz"]
    assert s["protocol"] == "upstream-compat" and s["switches"] == ["image_encoding=upstream", "options=raw"]
    assert default.summaries["quiz"]["quiz_acc_micro"]["strict"] == 1.0
    assert s["quiz_acc_micro"]["strict"] == 0.5
    board = build_leaderboard([run_dir], tmp_path / "board", include_published=False)
    assert "[upstream-compat: image_encoding=upstream, options=raw]" in board
    with pytest.raises(ValueError, match="unknown compatibility switch"):
        evaluate_run(run_dir, ["quiz"], "fake", problems=problems, backend_options=options, compat={"options": "x"})


def test_duplicate_problem_ids_are_refused_not_counted_twice(tmp_path):
    run_dir = make_run(tmp_path / "run", {"d1": png()})
    with pytest.raises(ValueError, match="duplicated: d1"):
        evaluate_run(run_dir, ["quiz"], "fake", problems=[toy_problem("d1"), toy_problem("d1")],
                     backend_options={"responses": ["Answer: B"]}, progress=False)


def test_pooled_upstream_is_dropped_when_only_one_of_its_parts_is_re_evaluated(tmp_path):
    problems = [toy_problem("p1", n_quizzes=2)]
    run_dir = make_run(tmp_path / "run", {"p1": png()})
    options = {"cache_dir": str(tmp_path / "cache"), "responses": scripted_judge()}
    kw = dict(problems=problems, backend_options=options, progress=False, n_boot=0)
    evaluate_run(run_dir, ["quiz", "rinv"], "fake", **kw)
    summary = json.loads((run_dir / "scores" / "summary.json").read_text())["metrics"]
    assert summary["pooled_upstream"]["pooled_acc"] == 1.0
    evaluate_run(run_dir, ["quiz"], "fake", **kw)
    summary = json.loads((run_dir / "scores" / "summary.json").read_text())["metrics"]
    assert "pooled_upstream" not in summary and "rinv" in summary
