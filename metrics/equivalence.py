"""A conservative answer-equivalence check that settles easy R_inv cases without a grader call.

It only ever says "equivalent" (never "different"): anything it cannot prove goes to the grader model.
Model text is never ``eval``'d: expressions are parsed by sympy only after a character and name allow-list.
"""

from __future__ import annotations

import re

_ALLOWED_CHARS = re.compile(r"^[0-9a-zA-Z.+\-*/^()\s,]*$")
_ALLOWED_NAMES = {"pi", "sqrt", "sin", "cos", "tan", "log", "ln", "exp", "e", "E", "x", "y", "z", "t", "n", "a",
                  "b", "c", "k", "m", "r", "theta", "alpha", "beta"}
_MAX_LEN = 80


def normalise_answer(text: str) -> str:
    """Strip LaTeX wrappers, ``\\boxed{}``, ``$``, a leading "Final answer:" and trailing punctuation."""
    s = (text or "").strip()
    s = re.sub(r"^(?:final\s+answer|answer)\s*[:：]\s*", "", s, flags=re.I)
    s = re.sub(r"\\boxed\s*\{(.*)\}", r"\1", s)
    s = s.replace("$", "").replace("\\left", "").replace("\\right", "").replace("\\displaystyle", "")
    s = re.sub(r"\\[,;!: ]", "", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    for _ in range(5):  # innermost first, so nested \frac{\sqrt{3}}{2} unwraps
        before = s
        s = re.sub(r"\\sqrt\s*\{([^{}]*)\}", r"sqrt(\1)", s)
        s = re.sub(r"\\frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"((\1)/(\2))", s)
        if s == before:
            break
    s = s.replace("\\pi", "pi").replace("\\cdot", "*").replace("\\times", "*").replace("\\theta", "theta")
    s = s.replace("{", "(").replace("}", ")").replace("−", "-").replace("×", "*").replace("·", "*")
    s = s.replace("π", "pi")
    return s.strip().rstrip(".").strip()


def _to_sympy(text: str):
    if len(text) > _MAX_LEN or not text or not _ALLOWED_CHARS.match(text):
        return None
    # only thousands separators may be dropped ("1,000"); "1, 2" or "1,2" is a list, and "1 2" would be read
    # as 1*2 by implicit multiplication: neither is provable here
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)
    if "," in text or re.search(r"[\d.]\s+[\d.]", text):
        return None
    if any(name not in _ALLOWED_NAMES for name in re.findall(r"[A-Za-z]+", text)):
        return None
    try:
        from sympy.parsing.sympy_parser import (
            convert_xor, implicit_multiplication_application, parse_expr, standard_transformations,
        )
    except ImportError:  # without sympy only exact text matches are settled here; the grader does the rest
        return None

    transformations = standard_transformations + (implicit_multiplication_application, convert_xor)
    try:
        return parse_expr(text, transformations=transformations, evaluate=True)
    except Exception:  # sympy raises many types for malformed input
        return None


def _decimals(text: str) -> int | None:
    match = re.fullmatch(r"-?\d+\.(\d+)", text.strip())
    return len(match.group(1)) if match else None


def answers_equivalent(candidate: str, gold: str) -> bool:
    """True only when ``candidate`` provably equals ``gold``: same normalised text, or sympy-equal expressions,
    or numbers that agree to the gold's stated decimals (relative 1e-6 otherwise, never an absolute tolerance).
    Lists ("1, 2") and numbers separated by spaces are never settled here.

    >>> answers_equivalent("$\\\\frac{1}{2}$", "0.5")
    True
    >>> answers_equivalent("9.81", "9.8")
    True
    >>> answers_equivalent("2 m/s", "3 m/s")
    False
    """
    c, g = normalise_answer(candidate), normalise_answer(gold)
    if not c or not g:
        return False
    # case matters in units and symbols ("5 mA" is not "5 MA"); only single-letter answers (choice letters, D12)
    # compare case-insensitively
    if c == g or (len(g) == 1 and c.lower() == g.lower()):
        return True
    if _expressions_equal(c, g):
        return True
    # the same unit text after both numbers ("9.81 m/s^2" vs "9.8 m/s^2"): compare the numbers in front
    unit = re.compile(r"^\s*([-+]?[0-9.]+(?:[eE][-+]?\d+)?)\s*([A-Za-z°%/][A-Za-z°%/\s\-^0-9*]*)$")
    mc, mg = unit.match(c), unit.match(g)
    if mc and mg and mc.group(2).replace(" ", "") == mg.group(2).replace(" ", ""):
        return _expressions_equal(mc.group(1), mg.group(1))
    return False


def _expressions_equal(c: str, g: str) -> bool:
    ec, eg = _to_sympy(c), _to_sympy(g)
    if ec is None or eg is None:
        return False
    try:
        if ec.is_number and eg.is_number:
            vc, vg = float(ec), float(eg)
            decimals = _decimals(g)
            if decimals is not None and decimals >= 1 and len(g.replace("-", "").replace(".", "").lstrip("0")) >= 2:
                if round(vc, decimals) == round(vg, decimals):
                    return True
            # relative only: an absolute floor would make 0 "equal" to 6.67e-11
            return vc == vg or abs(vc - vg) <= 1e-6 * abs(vg)
        import sympy

        return sympy.simplify(ec - eg) == 0
    except Exception:  # float() of a complex number, simplify trouble: not provable
        return False
