"""Upstream-compat reproduces upstream's own reading of the same replies (src/eval/llm_as_judge.py, quiz.py,
ve_infer.py + prompts.process_judgment): judge fence parse, is_correct contract, verdict reading, decoding, graders."""

import json

import pytest

from scigenbench.generators.backends.testing import OpenAICompatServer
from scigenbench.metrics.evaluation import evaluate_run
from scigenbench.metrics.judge import judge_item
from scigenbench.metrics.parsing import JUDGE_DIMENSIONS, parse_judge_fence_only, upstream_judgment
from scigenbench.metrics.quiz import quiz_item, read_upstream_verification
from scigenbench.metrics.rinv import rinv_item
from scigenbench.metrics.specs import resolve_backend
from scigenbench.metrics.testing import make_run, png, prompt_kind, scripted_judge, toy_problem

KEYS = list(JUDGE_DIMENSIONS)


def block(obj, tag="json"):
    return f"```{tag}\n{json.dumps(obj)}\n```"


def scores(*values):
    return dict(zip(KEYS, values))


def fake(*replies):
    return resolve_backend("fake", responses=list(replies), cache=False)


# -- judge: upstream's first ```json block, values as pandas keeps them --------------------------------------------
@pytest.mark.parametrize("reply,expected", [
    (block(scores(2, 1, 2, 1, 2), "JSON"), [2, 1, 2, 1, 2]),                                   # tag in any case
    ("```python\nprint(1)\n```\n" + block(scores(1, 1, 1, 1, 1)) + "\n" + block(scores(2, 2, 2, 2, 2)),
     [1, 1, 1, 1, 1]),                                                                        # first json fence wins
    (block(scores(1.5, 2, 0.5, 2, 2)), [1.5, 2, 0.5, 2, 2]),                                  # floats stay floats
    (block(scores(5, 2, 2, 2, 2)), [5, 2, 2, 2, 2]),                                          # no range check
    (block(scores("2", 1, 1, 1, 1)), [2, 1, 1, 1, 1]),                                        # to_numeric("2")
    (block({KEYS[0]: 2, KEYS[1]: 2}), [2, 2, 0, 0, 0]),                                       # missing key = 0
])
def test_fence_only_reads_values_as_upstream_and_pandas_do(reply, expected):
    assert list(parse_judge_fence_only(reply).scores.values()) == expected


@pytest.mark.parametrize("reply", [block(scores(None, 1, 1, 1, 1)), block(scores("high", 1, 1, 1, 1)),
                                   block(scores(True, 1, 1, 1, 1))])
def test_fence_only_null_or_non_numeric_drops_the_row_without_asking_again(reply):
    record = judge_item(toy_problem("j"), png(), fake(reply, block(scores(2, 2, 2, 2, 2))), judge_parse="fence_only")
    assert record.state == "unscored" and "drops the row" in record.reason and record.details["reasks"] == 0


@pytest.mark.parametrize("first", ["```json\n{}\n```", "```\n" + json.dumps(scores(2, 2, 2, 2, 2)) + "\n```",
                                   "```json\n[1, 2]\n```", "no fence at all"])
def test_fence_only_asks_again_on_empty_untagged_or_missing_blocks(first):
    record = judge_item(toy_problem("j"), png(), fake(first, block(scores(1, 1, 1, 1, 1))), judge_parse="fence_only")
    assert record.state == "scored" and record.details["reasks"] == 1 and record.score == 1.0


def test_default_judge_reasks_a_bounded_number_of_times_then_unscored():
    backend = fake("no verdict", "still none", "nothing", "never asked")
    record = judge_item(toy_problem("j"), png(), backend)
    assert record.state == "unscored" and record.details["reasks"] == 2 and record.calls == 3
    assert len(record.details["replies"]) == 3


# -- quiz: upstream's verification contract ---------------------------------------------------------------------
@pytest.mark.parametrize("reply,value", [
    ('{"is_correct": 1, "reasoning": "ok"}', 1.0),
    ('```json\n{"is_correct": true, "reasoning": "ok"}\n```', 1.0),
    ('{"is_correct": 0.5}', 0.5),
    ('{"is_correct": "1"}', 1.0),
    ('{"is_correct": null}', 0.0),
    ('{"reasoning": "no key"}', 0.0),
    ("[1]", 0.0),
    ("The reply is correct.", 0.0),
])
def test_is_correct_is_taken_as_upstream_and_pandas_take_it(reply, value):
    assert read_upstream_verification(reply)[0] == value


def test_llm_quiz_grader_sends_every_reply_to_upstreams_verification_call():
    verifier = fake('{"is_correct": 1, "reasoning": "names B"}', '{"is_correct": 0.5}')
    record = quiz_item(toy_problem("q", n_quizzes=2), png(), fake("Answer: B", "Probably B"), grader=verifier,
                       quiz_grader="llm")
    assert record.state == "scored" and record.details["n_correct"] == 1.5 and record.details["grader_calls"] == 2
    assert record.details["perfect"] is False  # mean of is_correct is 0.75, not 1
    assert record.switches == ["quiz_grader=llm"]


# -- R_inv: process_judgment, defects included ------------------------------------------------------------------
@pytest.mark.parametrize("reply,read", [
    ("Final Judgment: \\boxed{A} - CORRECT", "A"),
    ("Analysis...\nFinal Judgment: \\boxed{B} - INCORRECT", "B"),
    ("REFUSAL", "A"),          # upstream defect: the last A-C letter of "REFUSAL"
    ("CORRECT", "C"),          # upstream defect: read through its C
    ("B", "B"),
    ("no letter here", ""),
])
def test_upstream_judgment_reproduces_process_judgment(reply, read):
    assert upstream_judgment(reply) == read


def test_compat_rinv_always_asks_the_grader_and_labels_upstreams_misreads():
    problem = toy_problem("r")
    answer = "a = g sin 30°\nFinal answer: 4.9 m/s^2"  # equal to the gold answer: the default needs no grader
    default = rinv_item(problem, png(), fake(answer), grader=fake("unused"))
    assert default.details["method"] == "equivalence" and default.calls == 1
    refusal = rinv_item(problem, png(), fake(answer), grader=fake("REFUSAL"), rinv_verdict="upstream")
    assert refusal.calls == 2 and refusal.score == 1.0 and "upstream_defect" in refusal.details
    correct_word = rinv_item(problem, png(), fake(answer), grader=fake("CORRECT"), rinv_verdict="upstream")
    assert correct_word.score == 0.0 and correct_word.details["upstream_reading"] == "C"
    clean = rinv_item(problem, png(), fake(answer), grader=fake("Agrees.\nFinal Judgment: \\boxed{A}"),
                      rinv_verdict="upstream")
    assert clean.score == 1.0 and "upstream_defect" not in clean.details
    assert clean.protocol == "upstream-compat" and clean.switches == ["rinv_verdict=upstream"]


def test_a_one_word_verdict_is_that_verdict():
    record = rinv_item(toy_problem("r"), png(), fake("Final answer: 12 N"), grader=fake("INCORRECT"))
    assert record.state == "scored" and record.score == 0.0 and record.details["reasks"] == 0


# -- decoding and separate graders, observed on the wire ---------------------------------------------------------
def test_upstream_decoding_and_separate_graders_on_the_wire(tmp_path):
    problems = [toy_problem("w1", n_quizzes=1)]
    run_dir = make_run(tmp_path / "run", {"w1": png()})
    answer = scripted_judge(lambda kind, text: {
        "judge": block(scores(2, 2, 2, 2, 2)), "rinv": "Final answer: about five", "quiz_verifier": '{"is_correct": 1}',
        "rinv_grader": "Final Judgment: \\boxed{A}"}.get(kind))
    with OpenAICompatServer(handler=answer) as server:
        url = server.base_url
        report = evaluate_run(run_dir, "judge,quiz,rinv", f"openai:judge@{url}", problems=problems, progress=False,
                              n_boot=0, judge_parse="fence_only", quiz_grader="llm",
                              graders={"quiz": f"openai:quizgrader@{url}", "rinv": f"openai:nano@{url}"},
                              compat={"decoding": "upstream", "rinv_verdict": "upstream"},
                              backend_options={"cache_dir": str(tmp_path / "cache")})
        sent = [(r.json["model"], prompt_kind(r.texts()[0] if r.texts() else ""), r.json) for r in server.chat_requests()]
    by_model = {}
    for model, _, body in sent:
        by_model.setdefault(model, []).append(body)
    judge_calls = [b for b in by_model["judge"] if "max_tokens" not in b and b.get("temperature") == 0.1]
    assert len(judge_calls) == 1                                                    # judge at 0.1
    assert all(b.get("temperature") == 0 for b in by_model["quizgrader"])           # verification at 0
    assert len(by_model["nano"]) == 1 and "temperature" not in by_model["nano"][0]  # R_inv grader: provider default
    rinv_answers = [b for b in by_model["judge"] if "temperature" not in b]
    assert len(rinv_answers) == 1                                                   # R_inv answer: provider default
    assert all(report.summaries[m]["protocol"] == "upstream-compat" for m in ("judge", "quiz", "rinv"))
    assert report.summaries["rinv"]["rinv_acc"]["lenient"] == 1.0
