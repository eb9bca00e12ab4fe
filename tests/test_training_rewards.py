"""Rule rewards (VeRL ``compute_score``, TRL ``accuracy_reward``) and the bounded-time equivalence checker."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from scigenbench.metrics.equivalence import answers_equivalent, evaluate, parse_expression
from scigenbench.training.rewards import accuracy_reward, compute_score, extract_final_answer, last_boxed

#: (completion, ground truth, expected reward)
CASES = [
    # equivalent numbers
    ("So the speed is \\boxed{12}.", "12", 1.0),
    ("\\boxed{12.0}", "12", 1.0),
    ("\\boxed{9.81}", "9.8", 1.0),              # agrees to the gold's stated decimals
    ("\\boxed{9.7}", "9.8", 0.0),
    ("\\boxed{3.14159}", "3.14", 1.0),
    ("\\boxed{3.1}", "3.14", 0.0),               # less precise than the gold
    ("\\boxed{1,000}", "1000", 1.0),
    ("\\boxed{-0.25}", "-1/4", 1.0),
    # fractions and expressions
    ("\\boxed{\\frac{1}{2}}", "0.5", 1.0),
    ("\\boxed{\\dfrac{\\sqrt{3}}{2}}", "sqrt(3)/2", 1.0),
    ("\\boxed{\\frac{1}{3}}", "0.333", 1.0),
    ("\\boxed{2\\pi}", "2*pi", 1.0),
    ("\\boxed{(x+1)^2}", "x^2 + 2x + 1", 1.0),
    ("\\boxed{x^2 + 1}", "x^2 + 2x + 1", 0.0),
    ("\\boxed{2x}", "2", 0.0),                   # a variable is not a unit
    # units
    ("\\boxed{12 N}", "12", 1.0),
    ("\\boxed{12}", "12 N", 1.0),
    ("\\boxed{12\\,\\text{N}}", "12 N", 1.0),
    ("\\boxed{12 kN}", "12 N", 0.0),
    ("\\boxed{12 N}", "12 kN", 0.0),
    ("\\boxed{5 m/s}", "500 cm/s", 0.0),         # conversions are not shown equal
    ("\\boxed{9.81 m/s^2}", "9.8 m/s^2", 1.0),
    ("\\boxed{5 MA}", "5 mA", 0.0),              # units keep their case
    ("\\boxed{30^\\circ}", "30°", 1.0),
    ("\\boxed{30^{\\circ}}", "30", 1.0),
    ("\\boxed{v = 12 m/s}", "12 m/s", 1.0),       # "name = value" answers the value
    ("\\boxed{x=5}", "5", 1.0),
    ("\\boxed{x = 6}", "5", 0.0),
    ("\\boxed{y = 2x + 1}", "2x+1", 1.0),
    ("\\boxed{y = 2x + 1}", "y = 2x + 1", 1.0),
    ("\\boxed{\\frac{\\sqrt{3}}{2}}", "√3/2", 1.0),
    # scientific notation
    ("\\boxed{6.67 \\times 10^{-11}}", "6.67e-11", 1.0),
    ("\\boxed{6.674e-11}", "6.67e-11", 1.0),
    ("\\boxed{6.7e-11}", "6.67e-11", 0.0),
    ("\\boxed{3 \\times 10^{8} m/s}", "3e8 m/s", 1.0),
    ("\\boxed{0}", "6.67e-11", 0.0),             # no absolute tolerance
    # letters and text
    ("The answer is \\boxed{B}", "B", 1.0),
    ("\\boxed{(c)}", "C", 1.0),
    ("\\boxed{B}", "C", 0.0),
    ("\\boxed{B) 3 cm}", "B", 1.0),             # the option letter with its text
    ("\\boxed{(C) 45°}", "B", 0.0),
    ("\\boxed{Because}", "B", 0.0),
    ("\\boxed{Increases}", "increases", 1.0),
    ("\\boxed{\\text{Blue}}", "blue", 1.0),
    ("\\boxed{red}", "blue", 0.0),
    ("\\boxed{Foci (\\pm 4,0); e = 4/5}", "Foci (±4, 0); e=4/5", 1.0),   # compound answers: same text
    ("\\boxed{Foci (±4,0); e = 4/5}", "Foci (±4, 0); e=4/5", 1.0),    # spaces around punctuation do not count
    ("\\boxed{1 2}", "12", 0.0),                                       # spaces between numbers do
    # wrong answers
    ("\\boxed{13}", "12", 0.0),
    ("\\boxed{-12}", "12", 0.0),
    ("\\boxed{1, 2}", "2", 0.0),
    # no boxed answer
    ("The answer is 12.", "12", 0.0),
    ("12", "12", 0.0),
    ("Answer: 12\nbut wait, let me check", "12", 0.0),   # "Answer:" must be the last line
    ("Working...\nAnswer: 12", "12", 1.0),
    ("Working...\n**Final answer:** 12 N", "12", 1.0),
    ("", "12", 0.0),
    # several boxed answers: the last one counts
    ("First \\boxed{13}, then corrected: \\boxed{12}", "12", 1.0),
    ("First \\boxed{12}, then changed to \\boxed{13}", "12", 0.0),
    ("\\boxed{12} and finally \\boxed{", "12", 1.0),       # an unclosed box is not an answer
    ("\\boxed{\\frac{1}{2}} is wrong; \\boxed{\\frac{3}{4}}", "0.75", 1.0),
    # reasoning blocks are not the answer
    ("<think>maybe \\boxed{12}</think>I am not sure.", "12", 0.0),
    ("<think>maybe \\boxed{13}</think>So \\boxed{12}", "12", 1.0),
    # garbage
    ("\\boxed{}", "12", 0.0),
    ("\\boxed{__import__('os').system('true')}", "0", 0.0),
    ("\\boxed{9^9^9^9}", "12", 0.0),
    ("\\boxed{" * 3000, "12", 0.0),
    ("}{" * 3000 + "\\boxed{12}", "12", 1.0),
    ("\x00\xff\ud800 \\boxed{\x00}", "12", 0.0),
]


@pytest.mark.parametrize("completion,truth,expected", CASES)
def test_compute_score_table(completion, truth, expected):
    assert compute_score("scigenbench/synth", completion, truth, {"index": 0}) == expected


@pytest.mark.parametrize("completion,truth,expected", CASES)
def test_accuracy_reward_agrees_with_compute_score_on_text_and_conversations(completion, truth, expected):
    conversation = [{"role": "assistant", "content": completion}]
    parts = [{"role": "assistant", "content": [{"type": "text", "text": completion}]}]
    assert accuracy_reward([completion, conversation, parts], [truth] * 3) == [expected] * 3


@pytest.mark.parametrize("bad", [None, 12, 1.5, {"a": 1}, ["x"], object(), b"\\boxed{12}"])
def test_rewards_never_raise_on_odd_types(bad):
    assert compute_score(bad, bad, bad, bad) == 0.0
    assert accuracy_reward([bad], [bad]) == [0.0]


def test_ground_truth_may_be_a_number_and_extra_verl_kwargs_are_ignored():
    assert compute_score("d", "\\boxed{12}", 12, None, reward_router_address=None) == 1.0
    assert compute_score("d", "\\boxed{0.5}", {"ground_truth": "1/2"}) == 1.0


def test_accuracy_reward_keeps_one_score_per_completion():
    assert accuracy_reward(["\\boxed{1}", "\\boxed{2}", "\\boxed{3}"], ["1", "3"]) == [1.0, 0.0, 0.0]
    assert accuracy_reward([], []) == []


def test_last_boxed_matches_nested_braces():
    assert last_boxed("x \\boxed{\\frac{1}{2}} y") == "\\frac{1}{2}"
    assert last_boxed("\\boxed{1} \\boxed{2") == "1"
    assert extract_final_answer([{"role": "user", "content": "q"},
                                 {"role": "assistant", "content": "Answer: 7"}]) == "7"


# --- bounded time -------------------------------------------------------------------------------------------

def test_huge_towers_overflow_in_floats_instead_of_being_computed():
    tree = parse_expression("9^9^9^9")
    assert tree == ("pow", ("num", 9.0), ("pow", ("num", 9.0), ("pow", ("num", 9.0), ("num", 9.0))))
    with pytest.raises(OverflowError):
        evaluate(tree)
    assert answers_equivalent("9^9^9^9", "12") is False


@pytest.mark.parametrize("text", ["(" * 60 + "1" + ")" * 60, "x" * 81, "1, 2", "1 2", "import os", "2**3**4**5**6"])
def test_parser_refuses_or_bounds_what_it_cannot_read_cheaply(text):
    tree = parse_expression(text)
    assert tree is None or isinstance(tree, tuple)


ADVERSARIAL = [
    "\\boxed{9^9^9^9}", "\\boxed{9**9**9**9}", "\\boxed{x^(9^9^9)}", "\\boxed{exp(exp(exp(exp(100))))}",
    "\\boxed{10^10^10 kN}", "\\boxed{" + "(" * 39 + "2" + ")^9" * 39 + "}", "\\boxed{" + "-" * 78 + "1}",
    "\\boxed{" * 5000, "{" * 40000 + "\\boxed{1}", "\\boxed{" + "\\frac{" * 4000 + "}", "Answer: " + "9^" * 20000,
    "\\boxed{" + "1" * 100000 + "}", "\\boxed{" + "sin(" * 30 + "x" + ")" * 30 + "}", "a" * 1_000_000,
    "\\boxed{1e999999999}", "\\boxed{" + "2x" * 40 + "}", "\\boxed{\\sqrt{\\sqrt{\\sqrt{-1}}}}",
    # just under the raw-length cap, so every normalisation regex runs on them
    "\\boxed{" + "\\frac{1}{" * 190 + "}", "\\boxed{" + "\\boxed{\\sqrt{" * 130 + "}",
    "\\boxed{" + "1" * 1990 + " m}", "\\boxed{" + "x = " * 490 + "}", "\\boxed{" + "(" * 990 + ")" * 990 + "}",
]


def test_every_call_returns_on_adversarial_input_in_a_separate_process():
    """A hang would block this test's subprocess: run the adversarial table there, bounded by a generous timeout,
    and check each call's answer (its time is printed by benchmarks/bench_rewards.py)."""
    code = (
        "import json, sys\n"
        "from scigenbench.training.rewards import compute_score\n"
        "from scigenbench.metrics.equivalence import answers_equivalent\n"
        "cases = json.load(sys.stdin)\n"
        "print(json.dumps([compute_score('d', c, '12') for c in cases]"
        " + [answers_equivalent(c, '12') for c in cases]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], input=json.dumps(ADVERSARIAL), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [0.0] * len(ADVERSARIAL) + [False] * len(ADVERSARIAL)


def test_rinv_shortcut_on_a_tower_reply_returns_and_leaves_the_verdict_to_the_grader():
    """Issue 11 §4: one model reply of ``9^9^9^9`` against the gold ``12`` must not stall an evaluation."""
    from scigenbench.generators.backends import get_backend
    from scigenbench.metrics.rinv import rinv_item
    from scigenbench.metrics.testing import png, toy_problem

    problem = dict(toy_problem("p1"), answer="12")
    answerer = get_backend("fake", responses=["Work.\nFinal answer: 9^9^9^9"])
    grader = get_backend("fake", responses=["Not the same.\nVerdict: INCORRECT"])
    result = rinv_item(problem, png(), answerer, grader=grader)
    assert result.details["final_answer"] == "9^9^9^9"
    assert result.details["method"] == "grader" and result.score == 0.0


def test_parser_and_evaluator_only_fail_in_their_documented_ways_on_random_text():
    """Seeded fuzz over the grammar's alphabet: the parser returns a tree or None, evaluation returns a float or
    raises ArithmeticError/ValueError — nothing else escapes to be swallowed."""
    import random

    rng = random.Random(13)
    alphabet = "0123456789.+-*/^() xyzepisqrtlnexp,eE"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        tree = parse_expression(text)
        assert tree is None or isinstance(tree, tuple)
        if tree is not None:
            try:
                value = evaluate(tree, {"x": 1.3, "y": 0.7, "z": 2.1})
            except (ArithmeticError, ValueError):
                continue
            assert isinstance(value, float)


def test_rewards_import_no_heavy_library():
    """VeRL imports the reward in every reward worker: it must stay light (no torch, datasets, sympy)."""
    code = ("import sys, scigenbench.training.rewards as r; r.compute_score('d', '\\\\boxed{1}', '1'); "
            "print(sorted(m for m in ('torch', 'datasets', 'sympy', 'transformers', 'PIL') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
