"""Answer equivalence: the conservative check behind R_inv's shortcut and the training rewards.

It only says "equivalent" when it can show it: same normalised text, the same number (to the gold's stated
decimals), the same number with the same unit (or one side bare), or expressions that agree at several points.
Anything else is "not shown equal": R_inv then asks its grader, a reward scores 0.

Bounded time on any input, by construction rather than by a timer: model text is never ``eval``'d nor handed to a
computer-algebra system. A small parser of our own reads at most ``_MAX_EXPR_LEN`` characters of an allow-listed
grammar (numbers, ``+ - * / ^``, parentheses, a few functions and names) into a tree of at most that many nodes,
and the tree is evaluated in IEEE floats, where ``9^9^9^9`` overflows in microseconds instead of asking for
a number with 10^(3.7e8) digits. Regular expressions only run on length-capped text.
"""

from __future__ import annotations

import math
import random
import re

_MAX_EXPR_LEN = 80      # characters of one expression: bounds tokens, tree size and recursion depth
_MAX_TEXT_LEN = 300     # longer normalised answers are compared as exact text only
_MAX_RAW_LEN = 2000     # longer raw answers are not normalised at all (regex work stays small)
_FUNCTIONS = {"sqrt": math.sqrt, "sin": math.sin, "cos": math.cos, "tan": math.tan, "log": math.log,
              "ln": math.log, "exp": math.exp}
_CONSTANTS = {"pi": math.pi, "e": math.e, "E": math.e}
_MULTI_LETTER_VARIABLES = ("theta", "alpha", "beta")
_SINGLE_LETTER_VARIABLES = set("xyztnabckmr")
#: single letters that are SI units when they follow a number ("5 m", "12 N"); other letters are algebra ("2a")
_UNIT_LETTERS = set("msgNJWVAKCFHTL")
#: words that make a trailing text an expression, never a unit ("2 sqrt(2)", "3 pi", "2 x^2")
_NOT_UNIT_WORDS = set(_FUNCTIONS) | {"pi", "e", "E", "i", "j"} | set(_MULTI_LETTER_VARIABLES) | set("xyzn")
_NAME_TOKENS = sorted([*_FUNCTIONS, *_CONSTANTS, *_MULTI_LETTER_VARIABLES], key=len, reverse=True)

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?:\s*\*\s*10\s*\^\s*\(?\s*[-+]?\d+\s*\)?)?"
_NUMBER_WITH_UNIT = re.compile(rf"({_NUMBER})\s*([A-Za-z°%Ωµμ][A-Za-z°%Ωµμ/\s\-^0-9*().]*)")
_STATED_DECIMALS = re.compile(r"[-+]?\d*\.(\d+)(?:[eE]([-+]?\d+)|\s*\*\s*10\s*\^\s*\(?\s*([-+]?\d+)\s*\)?)?")


def normalise_answer(text: str) -> str:
    """Strip LaTeX wrappers, ``\\boxed{}``, ``$``, a leading "Final answer:" and trailing punctuation."""
    s = str(text or "").strip()
    s = re.sub(r"^(?:final\s+answer|answer)\s*[:：]\s*", "", s, flags=re.I)
    s = re.sub(r"\\boxed\s*\{(.*)\}", r"\1", s)
    s = s.replace("$", "").replace("\\left", "").replace("\\right", "").replace("\\displaystyle", "")
    s = re.sub(r"\^\s*\{?\s*\\circ\s*\}?|\\circ|\\degree|°", "°", s)
    s = s.replace("\\%", "%").replace("~", " ")
    s = re.sub(r"\\[,;!: ]", " ", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    for _ in range(5):  # innermost first, so nested \frac{\sqrt{3}}{2} unwraps
        before = s
        s = re.sub(r"\\(?:text|mathrm|mbox|textrm|operatorname|mathbf|textbf)\s*\{([^{}]*)\}", r"\1", s)
        s = re.sub(r"\\sqrt\s*\{([^{}]*)\}", r"sqrt(\1)", s)
        s = re.sub(r"\\frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"((\1)/(\2))", s)
        if s == before:
            break
    s = s.replace("\\pi", "pi").replace("\\cdot", "*").replace("\\times", "*").replace("\\theta", "theta")
    s = s.replace("\\pm", "±").replace("\\circ", "°")
    s = s.replace("\\alpha", "alpha").replace("\\beta", "beta").replace("\\ln", "ln").replace("\\log", "log")
    s = s.replace("\\sin", "sin").replace("\\cos", "cos").replace("\\tan", "tan").replace("\\exp", "exp")
    s = s.replace("{", "(").replace("}", ")").replace("−", "-").replace("×", "*").replace("·", "*")
    s = s.replace("π", "pi").replace("θ", "theta")
    s = re.sub(r"√\s*(\d+(?:\.\d+)?|[A-Za-z]|\([^()]*\))", r"sqrt(\1)", s)
    s = re.sub(r"\s+", " ", s).strip().rstrip(".").strip()
    letter = re.fullmatch(r"\(?([A-Za-z])\)", s)  # "(B)" and "B)" are the letter B
    return letter.group(1) if letter else s


def answers_equivalent(candidate: str, gold: str) -> bool:
    """True only when ``candidate`` is shown equal to ``gold``; never raises, bounded time on any input.

    - same normalised text (spaces around punctuation and operators ignored); text without digits and single
      letters (choice letters) ignore case; an option written with its text ("B) 3 cm") matches its letter;
    - numbers agree to the gold's stated decimals ("9.81" matches "9.8"; "6.674e-11" matches "6.67e-11"),
      otherwise to a relative 1e-6 (never an absolute tolerance: 0 is not 6.67e-11);
    - a number with a unit matches the same number with the same unit or bare ("12 N" ≡ "12"), never another
      unit ("12 kN" ≢ "12 N"; conversions are left to the grader); units are case-sensitive ("mA" ≢ "MA");
    - expressions (fractions, roots, ``pi``, variables) agree numerically at several points;
    - a candidate written as ``name = value`` ("v = 12 m/s", "x=5") is read as its value when the gold has no "=";
    - lists ("1, 2") and space-separated numbers are never settled.

    >>> answers_equivalent("$\\\\frac{1}{2}$", "0.5")
    True
    >>> answers_equivalent("9.81", "9.8")
    True
    >>> answers_equivalent("2 m/s", "3 m/s")
    False
    """
    try:
        candidate, gold = str(candidate or ""), str(gold or "")
        if len(candidate) > _MAX_RAW_LEN or len(gold) > _MAX_RAW_LEN:  # not a final answer: no regex work on it
            return bool(candidate.strip()) and candidate.strip() == gold.strip()
        return _equivalent(normalise_answer(candidate), normalise_answer(gold))
    except Exception:  # a bug here must never stop an evaluation or a training step: "not shown equal"
        return False


def _equivalent(c: str, g: str) -> bool:
    if not c or not g:
        return False
    if c == g:
        return True
    if len(c) > _MAX_TEXT_LEN or len(g) > _MAX_TEXT_LEN:
        return False
    if _squeeze(c) == _squeeze(g):  # "(±4, 0); e = 4/5" is "(±4,0); e=4/5"
        return True
    if (len(g) == 1 or not re.search(r"\d", c + g)) and _casefold(c) == _casefold(g):
        return True
    if len(g) == 1 and g.isalpha():  # a choice letter: "B) 3 cm", "(B) 3 cm", "B. 3 cm" name the option B
        choice = re.match(r"\(?([A-Za-z])[).:]\s", c)
        return bool(choice) and choice.group(1).upper() == g.upper()
    named = re.fullmatch(r"[A-Za-z][A-Za-z0-9_()]{0,11}\s*=\s*([^=]+)", c)
    if named and "=" not in g:  # "v = 12 m/s" answers "12 m/s"
        c = named.group(1).strip()
        if c == g or _squeeze(c) == _squeeze(g):
            return True
    cu, gu = _split_unit(c), _split_unit(g)
    if cu or gu:
        if cu and gu and cu[1] != gu[1]:
            return False  # different units: never equal here
        c_num, g_num = (cu[0] if cu else c), (gu[0] if gu else g)
        return _expressions_equal(c_num, g_num)
    return _expressions_equal(c, g)


def _casefold(text: str) -> str:
    return re.sub(r"\s+", " ", text).casefold()


def _squeeze(text: str) -> str:
    """Spaces next to punctuation and operators dropped; spaces between words or numbers kept ("1 2" ≠ "12")."""
    return re.sub(r"\s*([^\w\s])\s*", r"\1", text)


def _split_unit(text: str) -> tuple[str, str] | None:
    """``("12", "kN")`` for "12 kN"; ``None`` when there is no unit or the tail is algebra ("2x", "3 sqrt(2)")."""
    match = _NUMBER_WITH_UNIT.fullmatch(text)
    if not match:
        return None
    number, unit = match.group(1), match.group(2).strip()
    words = re.findall(r"[A-Za-z]+", unit)
    if any(word in _NOT_UNIT_WORDS for word in words):
        return None
    if len(unit) == 1 and unit.isalpha() and unit not in _UNIT_LETTERS:
        return None
    return number, unit.replace(" ", "")


# --- bounded expression reading -----------------------------------------------------------------------------

class _NotReadable(Exception):
    pass


def _tokens(text: str) -> list[tuple[str, object]]:
    tokens, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        number = re.match(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?", text[i:])
        if number:
            tokens.append(("num", float(number.group(0))))
            i += len(number.group(0))
        elif ch in "+-*/^()":
            if ch == "*" and text.startswith("**", i):  # Python's power
                tokens.append(("op", "^"))
                i += 2
            else:
                tokens.append(("op", ch))
                i += 1
        elif ch.isalpha():
            name = next((n for n in _NAME_TOKENS if text.startswith(n, i)), None)
            if name is None and ch in _SINGLE_LETTER_VARIABLES:
                name = ch
            if name is None:
                raise _NotReadable(f"unknown name at {text[i:i + 8]!r}")
            kind = "fn" if name in _FUNCTIONS else "const" if name in _CONSTANTS else "var"
            tokens.append((kind, name))
            i += len(name)
        else:
            raise _NotReadable(f"character {ch!r}")
    return tokens


class _Parser:
    """expr := term (± term)*; term := unary ((*|/|implicit) unary)*; unary := ± unary | power;
    power := primary [^ unary] (right-associative); primary := number | name | fn primary | ( expr )."""

    def __init__(self, tokens):
        self.tokens, self.pos = tokens, 0

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else (None, None)

    def take(self):
        token = self.peek()
        self.pos += 1
        return token

    def parse(self):
        tree = self.expr()
        if self.pos != len(self.tokens):
            raise _NotReadable("trailing tokens")
        return tree

    def expr(self):
        tree = self.term()
        while self.peek() in (("op", "+"), ("op", "-")):
            tree = ("add" if self.take()[1] == "+" else "sub", tree, self.term())
        return tree

    def term(self):
        tree = self.unary()
        while True:
            kind, value = self.peek()
            if (kind, value) in (("op", "*"), ("op", "/")):
                self.take()
                tree = ("mul" if value == "*" else "div", tree, self.unary())
            elif kind in ("num", "var", "const", "fn") or (kind, value) == ("op", "("):
                tree = ("mul", tree, self.unary())  # implicit multiplication: "2x", "2pi", "x(x+1)"
            else:
                return tree

    def unary(self):
        if self.peek() in (("op", "+"), ("op", "-")):
            sign = self.take()[1]
            operand = self.unary()
            return ("neg", operand) if sign == "-" else operand
        return self.power()

    def power(self):
        base = self.primary()
        if self.peek() == ("op", "^"):
            self.take()
            return ("pow", base, self.unary())
        return base

    def primary(self):
        kind, value = self.take()
        if kind in ("num", "var", "const"):
            return (kind, value)
        if kind == "fn":
            return ("fn", value, self.power())
        if (kind, value) == ("op", "("):
            tree = self.expr()
            if self.take() != ("op", ")"):
                raise _NotReadable("unbalanced parentheses")
            return tree
        raise _NotReadable(f"unexpected {value!r}")


def parse_expression(text: str):
    """The expression tree of ``text``, or ``None`` when it is not a short expression of the allowed grammar.

    Lists ("1, 2", "1,2") and numbers separated only by spaces ("1 2") are refused; thousands separators
    ("1,000") are read.
    """
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)
    if not text or len(text) > _MAX_EXPR_LEN or "," in text or re.search(r"[\d.]\s+[\d.]", text):
        return None
    try:
        return _Parser(_tokens(text)).parse()
    except (_NotReadable, RecursionError):
        return None


def evaluate(tree, variables: dict[str, float] | None = None) -> float:
    """The tree's value in floats; raises ``ArithmeticError``/``ValueError`` on overflow, domain errors, complex
    results or unknown variables (``math.pow`` raises where ``**`` would return a complex number)."""
    kind = tree[0]
    if kind == "num":
        return tree[1]
    if kind == "const":
        return _CONSTANTS[tree[1]]
    if kind == "var":
        if not variables or tree[1] not in variables:
            raise ValueError(f"no value for {tree[1]}")
        return variables[tree[1]]
    if kind == "neg":
        return -evaluate(tree[1], variables)
    if kind == "fn":
        return _FUNCTIONS[tree[1]](evaluate(tree[2], variables))
    a, b = evaluate(tree[1], variables), evaluate(tree[2], variables)
    if kind == "add":
        value = a + b
    elif kind == "sub":
        value = a - b
    elif kind == "mul":
        value = a * b
    elif kind == "div":
        value = a / b
    else:
        value = math.pow(a, b)
    if not math.isfinite(value):
        raise OverflowError("not a finite number")
    return value


def _variables(tree) -> set[str]:
    if tree[0] == "var":
        return {tree[1]}
    return set().union(*(_variables(child) for child in tree[1:] if isinstance(child, tuple)))


def _stated_tolerance(gold: str) -> float | None:
    """Half a unit in the gold's last stated decimal ("9.8" → 0.05, "6.67e-11" → 5e-14); None without decimals."""
    match = _STATED_DECIMALS.fullmatch(gold.strip())
    if not match:
        return None
    exponent = int(match.group(2) or match.group(3) or 0)
    if abs(exponent) > 300:
        return None
    return 0.5 * 10.0 ** (exponent - len(match.group(1)))


def _numbers_equal(vc: float, vg: float, tolerance: float | None) -> bool:
    if tolerance is not None and abs(vc - vg) <= tolerance * (1 + 1e-9):
        return True
    # relative only: an absolute floor would make 0 "equal" to 6.67e-11
    return vc == vg or abs(vc - vg) <= 1e-6 * abs(vg)


def _expressions_equal(c: str, g: str) -> bool:
    tc, tg = parse_expression(c), parse_expression(g)
    if tc is None or tg is None:
        return False
    names = sorted(_variables(tc) | _variables(tg))
    if not names:
        try:
            return _numbers_equal(evaluate(tc), evaluate(tg), _stated_tolerance(g))
        except (ArithmeticError, ValueError):
            return False
    return _agree_at_points(tc, tg, names)


def _agree_at_points(tc, tg, names: list[str], points: int = 8) -> bool:
    """Identity testing: equal at ``points`` pseudo-random positive points (same every call), where both are
    defined; at least 4 points must be defined for both and none for only one of them."""
    rng = random.Random(0x5C16E7)
    agreed = 0
    for _ in range(points):
        at = {name: rng.uniform(0.3, 2.7) for name in names}
        try:
            vc = evaluate(tc, at)
        except (ArithmeticError, ValueError):
            vc = None
        try:
            vg = evaluate(tg, at)
        except (ArithmeticError, ValueError):
            vg = None
        if (vc is None) != (vg is None):
            return False
        if vc is None:
            continue
        if abs(vc - vg) > 1e-9 * max(1.0, abs(vg)):
            return False
        agreed += 1
    return agreed >= 4
