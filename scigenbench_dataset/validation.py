"""Normalise raw upstream rows to the problem contract and report every defect (PROTOCOL.md §1.7).

Nothing is dropped: every row is kept, every defect becomes an :class:`Issue` (split, id, quiz index, field,
code, reason), and a quiz that cannot be scored is kept with ``scorable=False``. The one repair applied is the
D2 rule (a single malformed option key replaced by its positional letter), always recorded.

Codes ``D1``-``D15`` are PROTOCOL's known defects (``D2a`` is the key/value-swapped subset of D2). Checks that
PROTOCOL lists as absent in the release still run on every input (the mini set, a user's copy):

- ``SCHEMA``: a missing field, a wrong type, an empty text, an unknown image type, an unusable quiz;
- ``DUP_ID``: an id used twice in a split;
- ``DUP_JSON_KEY``: a JSON object with the same key twice (the last value wins, as in ``json.load``);
- ``DUP_OPTION``: two options of one quiz with the same text;
- ``MISSING_IMAGE``: a SeePhys item without its reference image;
- ``MINI``: a mini-set file that breaks the authoring contract (id pattern, 3-5 quizzes, options A-D, ...).

``quiz["extra"]`` is ``None`` or a JSON object string with ``upstream_keys`` (D6: extra upstream quiz keys, kept
and ignored) and/or ``raw_options`` (the stored ``[key, value]`` pairs in stored order whenever the normalised
options differ from them: D2/D4; what upstream-compatible evaluation needs to rebuild upstream's prompts).
"""

from __future__ import annotations

import collections
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .schema import OPTION_LETTERS
from .taxonomy import DOMAINS, IMAGE_TYPES, SEEPHYS_DOMAIN

#: PROTOCOL §1.7 defect code -> short name used in ``flags`` / ``defects`` (``"D10:long_answer"``)
DEFECT_NAMES: dict[str, str] = {
    "D1": "int_id",
    "D2": "keys_repaired",
    "D2a": "key_value_swapped",
    "D3": "correct_option_missing",
    "D4": "keys_reordered",
    "D5": "five_options",
    "D6": "extra_keys",
    "D7": "no_multimodal_question",
    "D8": "duplicate_question",
    "D9": "ambiguous_text_join",
    "D10": "long_answer",
    "D11": "answer_over_1000_chars",
    "D12": "single_letter_answer",
    "D13": "whitespace",
    "D14": "no_image_type",
    "D15": "unreferenced_image",
}

#: severities, most serious first
SEVERITIES = ("error", "repaired", "warning", "info")

_QUIZ_KEYS = ("question", "options", "correct_option", "evidence_snippet")
_MINI_ID = re.compile(r"^mini-(math|physics|chemistry|biology|universal)-[a-z0-9]+(?:-[a-z0-9]+)*$")
_SINGLE_LETTER = re.compile(r"[A-Ea-e]")
LONG_ANSWER_CHARS = 1000


@dataclass(frozen=True)
class Issue:
    """One defect of one row (or of one quiz / one file).

    Attributes:
        split: ``"scigen"``, ``"seephys"`` or ``"mini"``.
        id: the item id as a string (for D15: the stem of the unreferenced image; ``None`` for file-level issues).
        quiz: quiz index within the item, or ``None`` for item-level issues.
        field: the field concerned, e.g. ``"options"``, ``"answer"``, ``"image"``.
        code: ``"D1"``-``"D15"``, ``"D2a"`` or a check code (``"SCHEMA"``, ``"DUP_ID"``, ...).
        reason: what is wrong and what was done about it.
        severity: ``"error"`` (data could not be used as stored and was not repaired), ``"repaired"`` (D2 rule
            applied), ``"warning"`` (kept as is; consumers should know) or ``"info"``.
    """

    split: str
    id: str | None
    quiz: int | None
    field: str
    code: str
    reason: str
    severity: str = "warning"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ValidationReport:
    """All issues found in one or more splits, with per-split row and quiz counts."""

    issues: list[Issue] = field(default_factory=list)
    n_rows: dict[str, int] = field(default_factory=dict)
    n_quizzes: dict[str, int] = field(default_factory=dict)
    n_unscorable: dict[str, int] = field(default_factory=dict)

    def extend(self, other: "ValidationReport") -> "ValidationReport":
        """Add another report's issues and counts to this one (returns self)."""
        self.issues.extend(other.issues)
        for mine, theirs in (
            (self.n_rows, other.n_rows),
            (self.n_quizzes, other.n_quizzes),
            (self.n_unscorable, other.n_unscorable),
        ):
            for split, n in theirs.items():
                mine[split] = mine.get(split, 0) + n
        return self

    def counts(self, split: str | None = None) -> collections.Counter:
        """Number of issues per code, for one split or all."""
        return collections.Counter(i.code for i in self.issues if split is None or i.split == split)

    def by_code(self, code: str, split: str | None = None) -> list[Issue]:
        return [i for i in self.issues if i.code == code and (split is None or i.split == split)]

    def for_id(self, item_id: str, split: str | None = None) -> list[Issue]:
        return [i for i in self.issues if i.id == str(item_id) and (split is None or i.split == split)]

    def defective_quizzes(self, split: str | None = None) -> set[tuple[str, str, int]]:
        """``(split, id, quiz index)`` of every quiz with at least one quiz-level issue."""
        return {
            (i.split, i.id, i.quiz)
            for i in self.issues
            if i.quiz is not None and (split is None or i.split == split)
        }

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def ok(self) -> bool:
        """True when no issue has severity ``"error"``."""
        return not self.errors

    def to_json(self, indent: int | None = 2) -> str:
        """The report as a JSON document (summary + every issue)."""
        splits = sorted(self.n_rows)
        doc = {
            "summary": {
                split: {
                    "rows": self.n_rows.get(split, 0),
                    "quizzes": self.n_quizzes.get(split, 0),
                    "unscorable_quizzes": self.n_unscorable.get(split, 0),
                    "issues_by_code": dict(sorted(self.counts(split).items(), key=_code_order)),
                }
                for split in splits
            },
            "issues": [i.to_dict() for i in self.issues],
        }
        return json.dumps(doc, indent=indent, ensure_ascii=False)

    def to_markdown(self, max_issues_per_code: int | None = None) -> str:
        """A human-readable report: summary table, then every issue grouped by code.

        Args:
            max_issues_per_code: cap the listed issues per (split, code); ``None`` lists all of them.
        """
        lines = ["# SciGenBench validation report", ""]
        splits = sorted(self.n_rows)
        lines += ["| split | rows | quizzes | unscorable quizzes | issues |", "|---|---|---|---|---|"]
        for split in splits:
            n_issues = sum(self.counts(split).values())
            lines.append(
                f"| {split} | {self.n_rows[split]} | {self.n_quizzes.get(split, 0)} "
                f"| {self.n_unscorable.get(split, 0)} | {n_issues} |"
            )
        codes = sorted(self.counts(), key=lambda c: _code_order((c, 0)))
        if not codes:
            return "\n".join(lines + ["", "No issues found."]) + "\n"
        lines += ["", "| code | name | " + " | ".join(splits) + " |", "|---|---|" + "---|" * len(splits)]
        for code in codes:
            per_split = " | ".join(str(self.counts(s).get(code, 0)) for s in splits)
            lines.append(f"| {code} | {DEFECT_NAMES.get(code, code.lower())} | {per_split} |")
        for split in splits:
            for code in codes:
                found = self.by_code(code, split)
                if not found:
                    continue
                lines += ["", f"## {split} · {code} ({DEFECT_NAMES.get(code, code.lower())}): {len(found)}", ""]
                lines += ["| id | quiz | field | severity | reason |", "|---|---|---|---|---|"]
                shown = found if max_issues_per_code is None else found[:max_issues_per_code]
                for i in shown:
                    quiz = "" if i.quiz is None else str(i.quiz)
                    lines.append(f"| {i.id or ''} | {quiz} | {i.field} | {i.severity} | {_md_cell(i.reason)} |")
                if len(shown) < len(found):
                    lines.append(f"| … | | | | {len(found) - len(shown)} more (use --format json for all) |")
        return "\n".join(lines) + "\n"


def _code_order(item: tuple[str, int]) -> tuple[int, int, str]:
    code = item[0]
    match = re.fullmatch(r"D(\d+)(a?)", code)
    if match:
        return (0, int(match.group(1)) * 2 + bool(match.group(2)), code)
    return (1, 0, code)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def flag(code: str, detail: str | None = None) -> str:
    """The string stored in ``flags`` / ``quiz["defects"]`` for a defect code, e.g. ``"D10:long_answer"``."""
    name = DEFECT_NAMES.get(code, code.lower())
    return f"{code}:{name}" + (f":{detail}" if detail else "")


# --------------------------------------------------------------------------------------------- reading


class _DuplicateKeyRecorder:
    """``object_pairs_hook`` for ``json.load`` that remembers objects with a repeated key."""

    def __init__(self) -> None:
        self.duplicates: list[tuple[str, list[str]]] = []

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen = collections.Counter(k for k, _ in pairs)
        repeated = [k for k, n in seen.items() if n > 1]
        if repeated:
            owner = next((str(v) for k, v in pairs if k == "id"), "?")
            self.duplicates.append((owner, repeated))
        return dict(pairs)


def read_json_rows(path: str | Path, split: str) -> tuple[list[Any], list[Issue]]:
    """Read a JSON list of problems, reporting repeated object keys (``DUP_JSON_KEY``).

    Raises:
        ValueError: the file is not valid JSON or not a list (names the file and what to do).
    """
    recorder = _DuplicateKeyRecorder()
    try:
        with open(path, encoding="utf-8") as f:
            rows = json.load(f, object_pairs_hook=recorder)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); re-download the upstream file.") from exc
    if not isinstance(rows, list):
        raise ValueError(f"{path} must hold a JSON list of problems, got {type(rows).__name__}.")
    issues = [
        Issue(split, owner, None, ",".join(keys), "DUP_JSON_KEY", f"key(s) {keys} repeated in one object; "
              "the last value is used", "warning")
        for owner, keys in recorder.duplicates
    ]
    return rows, issues


# --------------------------------------------------------------------------------------------- quizzes


def _repair_option_keys(pairs: list[tuple[str, Any]]) -> tuple[list[tuple[str, Any]], bool] | None:
    """Apply PROTOCOL's D2 rule; return (repaired pairs, swapped?) or ``None`` when the rule does not apply.

    The rule: exactly one key is not a letter A-E and every other key equals its positional letter. The bad
    key becomes its positional letter; if its value *is* that letter (D2a), the bad key was the option text.
    """
    bad = [i for i, (key, _) in enumerate(pairs) if key not in OPTION_LETTERS]
    if len(bad) != 1 or len(pairs) > len(OPTION_LETTERS):
        return None
    if any(key != OPTION_LETTERS[i] for i, (key, _) in enumerate(pairs) if i != bad[0]):
        return None
    position = bad[0]
    letter = OPTION_LETTERS[position]
    bad_key, value = pairs[position]
    swapped = isinstance(value, str) and value.strip() == letter
    repaired = list(pairs)
    repaired[position] = (letter, bad_key if swapped else value)
    return repaired, swapped


class _QuizNormaliser:
    """Turns one raw quiz into a contract quiz, collecting issues and defect flags."""

    def __init__(self, split: str, item_id: str, index: int) -> None:
        self.split, self.item_id, self.index = split, item_id, index
        self.issues: list[Issue] = []
        self.defects: list[str] = []
        self.extra: dict[str, Any] = {}

    def issue(self, field_: str, code: str, reason: str, severity: str = "warning", detail: str | None = None):
        self.issues.append(Issue(self.split, self.item_id, self.index, field_, code, reason, severity))
        if code.startswith("D"):
            self.defects.append(flag(code, detail))
        elif severity == "error":
            self.defects.append(f"{code}:{detail or field_}")

    def text(self, raw: dict, key: str, *, out_field: str | None = None) -> str:
        value = raw.get(key)
        if isinstance(value, str) and value.strip():
            return value
        what = "missing" if value is None else f"not a non-empty string ({value!r:.40})"
        self.issue(out_field or key, "SCHEMA", f"quiz {key} is {what}", "error", detail=f"{key}_invalid")
        return "" if value is None else str(value)

    def run(self, raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict):
            self.issue("quizzes", "SCHEMA", f"quiz is a {type(raw).__name__}, not an object", "error", "not_object")
            return self._finish("", {}, "", "")
        extra_keys = {k: v for k, v in raw.items() if k not in _QUIZ_KEYS}
        if extra_keys:
            self.extra["upstream_keys"] = extra_keys
            self.issue("extra", "D6", f"extra quiz key(s) {sorted(extra_keys)} kept under quiz.extra and ignored")
        question = self.text(raw, "question")
        evidence = self.text(raw, "evidence_snippet", out_field="evidence")
        correct = raw.get("correct_option")
        if not isinstance(correct, str):
            correct = "" if correct is None else str(correct)
        options = self._options(raw.get("options"), correct)
        return self._finish(question, options, correct, evidence)

    def _options(self, raw_options: Any, correct: str) -> dict[str, str]:
        if not isinstance(raw_options, dict):
            self.issue("options", "SCHEMA", f"options is a {type(raw_options).__name__}, not an object", "error",
                       "options_invalid")
            return {}
        pairs = [(str(k), v) for k, v in raw_options.items()]
        for key, value in pairs:
            if not isinstance(value, str) or not value.strip():
                self.issue("options", "SCHEMA", f"option {key!r} is not a non-empty string ({value!r:.40})",
                           "warning")
        keys = [k for k, _ in pairs]
        if any(k not in OPTION_LETTERS for k in keys):
            pairs = self._repair(pairs, correct)
        elif keys != sorted(keys):
            self.issue("options", "D4", f"option keys stored in order {keys}; presented in letter order")
        if [k for k, _ in pairs] != keys or keys != sorted(keys):
            self.extra["raw_options"] = [[k, v] for k, v in raw_options.items()]
        options = {k: (v if isinstance(v, str) else str(v)) for k, v in pairs if k in OPTION_LETTERS}
        if "E" in options:
            self.issue("options", "D5", f"{len(options)} options ({''.join(sorted(options))}); prompts list the "
                       "letters actually offered", "info")
        texts = collections.Counter(v.strip() for v in options.values())
        if any(n > 1 for n in texts.values()):
            self.issue("options", "DUP_OPTION", "two options have the same text", "warning")
        return options

    def _repair(self, pairs: list[tuple[str, Any]], correct: str) -> list[tuple[str, Any]]:
        keys = [k for k, _ in pairs]
        bad = [k for k in keys if k not in OPTION_LETTERS]
        result = _repair_option_keys(pairs)
        if result is None:
            self.issue("options", "D2", f"malformed option key(s) {bad} in {keys}: the D2 repair rule does not "
                       "apply; those options are left out of the offered letters", "error", detail="unrepairable")
            return pairs
        repaired, swapped = result
        new_keys = [k for k, _ in repaired]
        was_missing = correct not in keys
        self.issue("options", "D2", f"option key {bad[0]!r} replaced by its positional letter "
                   f"({keys} -> {new_keys})", "repaired")
        if swapped:
            self.issue("options", "D2a", f"key and value were swapped ({bad[0]!r}: {dict(pairs)[bad[0]]!r}); the key "
                       "is the option text", "repaired")
        if was_missing:
            answerable = correct in new_keys
            self.issue(
                "correct_option", "D3",
                f"correct_option {correct!r} was not among the stored keys {keys}"
                + ("; answerable after the D2 repair" if answerable else "; still missing after the repair"),
                "repaired" if answerable else "error",
            )
        return repaired

    def _finish(self, question: str, options: dict[str, str], correct: str, evidence: str) -> dict[str, Any]:
        offered = [letter for letter in OPTION_LETTERS if letter in options]
        scorable = bool(question.strip()) and len(offered) >= 2 and correct in offered
        if not scorable:
            why = (
                "no question text" if not question.strip()
                else f"fewer than 2 options offered ({offered})" if len(offered) < 2
                else f"correct_option {correct!r} is not among the offered letters {offered}"
            )
            self.issues.append(Issue(self.split, self.item_id, self.index, "correct_option", "SCHEMA",
                                     f"quiz cannot be scored: {why}; kept with scorable=False", "error"))
            self.defects.append("unscorable")
        return {
            "question": question,
            "options": {letter: options.get(letter) for letter in OPTION_LETTERS},
            "correct_option": correct,
            "evidence": evidence,
            "scorable": scorable,
            "defects": self.defects,
            "extra": json.dumps(self.extra, ensure_ascii=False, sort_keys=True) if self.extra else None,
        }


# --------------------------------------------------------------------------------------------- items


class _ItemNormaliser:
    """Turns one raw problem into a contract row (``image`` left ``None``), collecting issues and flags."""

    def __init__(self, split: str, index: int) -> None:
        self.split, self.index = split, index
        self.issues: list[Issue] = []
        self.flags: list[str] = []
        self.item_id = f"<row {index}>"

    def issue(self, field_: str, code: str, reason: str, severity: str = "warning", detail: str | None = None):
        self.issues.append(Issue(self.split, self.item_id, None, field_, code, reason, severity))
        if code.startswith("D"):
            self.flags.append(flag(code, detail))
        elif severity == "error":
            self.flags.append(f"{code}:{field_}")

    def run(self, raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict):
            self.issue("", "SCHEMA", f"row is a {type(raw).__name__}, not an object; kept as an empty problem",
                       "error")
            raw = {}
        self.item_id = self._id(raw.get("id"))
        question = self._text(raw, "question")
        answer = self._text(raw, "answer")
        domain, image_type = self._image_type(raw.get("image_type"))
        elements = self._elements(raw.get("elements"))
        quizzes = self._quizzes(raw.get("quizzes"))
        multimodal = self._multimodal(raw)
        self._answer_flags(answer)
        return {
            "id": self.item_id,
            "source": self.split,
            "domain": domain,
            "image_type": image_type,
            "question": question,
            "answer": answer,
            "elements": elements,
            "quizzes": quizzes,
            "multimodal_question": multimodal,
            "flags": self.flags,
            "image": None,
        }

    def _id(self, raw_id: Any) -> str:
        if isinstance(raw_id, bool) or raw_id is None or not isinstance(raw_id, (str, int)):
            self.issue("id", "SCHEMA", f"id is {raw_id!r}; using {self.item_id!r}", "error")
            return self.item_id
        if isinstance(raw_id, int):
            self.item_id = str(raw_id)
            self.issue("id", "D1", f"id is the int {raw_id}; normalised to the string {str(raw_id)!r}", "info")
            return self.item_id
        if not raw_id.strip():
            self.issue("id", "SCHEMA", f"id is empty; using {self.item_id!r}", "error")
            return self.item_id
        self.item_id = raw_id
        return raw_id

    def _text(self, raw: dict, key: str) -> str:
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            what = "missing" if value is None else f"not a non-empty string ({value!r:.40})"
            self.issue(key, "SCHEMA", f"{key} is {what}", "error")
            return "" if value is None else str(value)
        if value != value.strip():
            self.issue(key, "D13", f"{key} has leading/trailing whitespace; stored raw (strip for display only)",
                       "info", detail=key)
        return value

    def _image_type(self, raw_type: Any) -> tuple[str, str | None]:
        if raw_type is None or raw_type == "":
            if self.split == "seephys":
                self.issue("image_type", "D14", "image_type is empty; labelled domain Physics, image_type None",
                           "info")
            else:
                self.issue("image_type", "SCHEMA", "image_type is missing or empty", "error")
            return SEEPHYS_DOMAIN, None
        if raw_type in IMAGE_TYPES:
            return IMAGE_TYPES[raw_type], raw_type
        prefix = str(raw_type).split(" - ", 1)[0]
        domain = prefix if prefix in DOMAINS else "Universal"
        self.issue("image_type", "SCHEMA", f"unknown image type {raw_type!r} (not one of the 25); kept, domain "
                   f"set to {domain!r}", "error")
        return domain, str(raw_type)

    def _elements(self, raw: Any) -> list[str]:
        if not isinstance(raw, list):
            self.issue("elements", "SCHEMA", f"elements is {type(raw).__name__}, not a list", "error")
            return []
        if not raw:
            self.issue("elements", "SCHEMA", "elements is empty", "warning")
        bad = [e for e in raw if not isinstance(e, str) or not e.strip()]
        if bad:
            self.issue("elements", "SCHEMA", f"{len(bad)} element(s) are not non-empty strings", "warning")
        return [e if isinstance(e, str) else json.dumps(e, ensure_ascii=False) for e in raw]

    def _quizzes(self, raw: Any) -> list[dict[str, Any]]:
        if not isinstance(raw, list) or not raw:
            self.issue("quizzes", "SCHEMA", f"quizzes is {'empty' if raw == [] else type(raw).__name__}; the "
                       "item has nothing to quiz", "error")
            return []
        quizzes = []
        for index, raw_quiz in enumerate(raw):
            normaliser = _QuizNormaliser(self.split, self.item_id, index)
            quizzes.append(normaliser.run(raw_quiz))
            self.issues.extend(normaliser.issues)
        questions = collections.Counter(q["question"] for q in quizzes)
        if any(n > 1 for n in questions.values()):
            self.issue("quizzes", "SCHEMA", "two quizzes of this item ask the same question", "warning")
        return quizzes

    def _multimodal(self, raw: dict) -> str | None:
        value = raw.get("multimodal_question")
        if value is None:
            what = "field does not exist in this split" if self.split == "seephys" else "absent"
            self.issue("multimodal_question", "D7", f"multimodal_question {what}; R_inv is not applicable",
                       "info")
            return None
        if not isinstance(value, str) or not value.strip():
            self.issue("multimodal_question", "SCHEMA", f"multimodal_question is not a non-empty string "
                       f"({value!r:.40}); treated as absent", "error")
            return None
        if value != value.strip():
            self.issue("multimodal_question", "D13", "multimodal_question has leading/trailing whitespace; stored "
                       "raw", "info", detail="multimodal_question")
        return value

    def _answer_flags(self, answer: str) -> None:
        if "<think>" in answer and "</think>" in answer:
            self.issue("answer", "D10", f"answer holds a <think> reasoning trace ({len(answer)} chars); kept as "
                       "the gold answer")
        if len(answer) > LONG_ANSWER_CHARS:
            self.issue("answer", "D11", f"answer is {len(answer)} chars (> {LONG_ANSWER_CHARS})")
        if _SINGLE_LETTER.fullmatch(answer.strip()):
            self.issue("answer", "D12", f"answer is the single letter {answer.strip()!r}; R_inv grading is weak")


# --------------------------------------------------------------------------------------------- splits


def _cross_item_checks(split: str, rows: list[dict[str, Any]], report: ValidationReport) -> None:
    """Duplicate ids (DUP_ID), duplicate question text (D8) and ambiguous text joins (D9)."""
    by_id: dict[str, list[int]] = collections.defaultdict(list)
    by_question: dict[str, list[int]] = collections.defaultdict(list)
    by_join: dict[tuple, list[int]] = collections.defaultdict(list)
    for index, row in enumerate(rows):
        by_id[row["id"]].append(index)
        by_question[row["question"]].append(index)
        by_join[(row["question"], row["answer"], row["multimodal_question"])].append(index)
    for item_id, indices in by_id.items():
        if len(indices) > 1:
            report.issues.append(Issue(split, item_id, None, "id", "DUP_ID",
                                       f"id used by {len(indices)} rows (positions {indices})", "error"))
    for code, groups, what in (
        ("D8", by_question, "same question text as"),
        ("D9", by_join, "same (question, answer, multimodal_question) as"),
    ):
        for indices in groups.values():
            if len(indices) < 2:
                continue
            ids = [rows[i]["id"] for i in indices]
            for i in indices:
                others = [x for x in ids if x != rows[i]["id"]]
                tail = "; a text join is ambiguous" if code == "D9" else "; both kept"
                report.issues.append(Issue(split, rows[i]["id"], None, "question", code,
                                           f"{what} {', '.join(others)}{tail}", "warning"))
                rows[i]["flags"].append(flag(code))


def _image_checks(split: str, rows: list[dict[str, Any]], image_stems: Iterable[str],
                  report: ValidationReport) -> None:
    """SeePhys: every item needs ``<id>.png`` (MISSING_IMAGE); list images no item uses (D15)."""
    stems = set(image_stems)
    ids = {row["id"] for row in rows}
    for row in rows:
        if row["id"] not in stems:
            report.issues.append(Issue(split, row["id"], None, "image", "MISSING_IMAGE",
                                       f"reference image {row['id']}.png not found; image is None", "error"))
    for stem in sorted(stems - ids, key=lambda s: (len(s), s)):
        report.issues.append(Issue(split, stem, None, "image", "D15",
                                   f"seephys_images/{stem}.png belongs to no item; ignored", "info"))


def _mini_checks(rows: list[dict[str, Any]], raw_rows: list[Any], report: ValidationReport) -> None:
    """The authoring contract of the mini set (on top of the generic checks)."""
    for row, raw in zip(rows, raw_rows):
        def bad(field_: str, reason: str) -> None:
            report.issues.append(Issue("mini", row["id"], None, field_, "MINI", reason, "error"))

        if not _MINI_ID.match(row["id"]):
            bad("id", "id must look like mini-<domain>-<slug> (lowercase, domain one of math/physics/chemistry/"
                "biology/universal)")
        elif row["image_type"] and not row["id"].startswith(f"mini-{row['domain'].lower()}-"):
            bad("id", f"id domain does not match image_type domain {row['domain']!r}")
        if not 3 <= len(row["quizzes"]) <= 5:
            bad("quizzes", f"{len(row['quizzes'])} quizzes; the mini set needs 3-5")
        if row["multimodal_question"] is None:
            bad("multimodal_question", "multimodal_question is required in the mini set")
        raw_quizzes = raw.get("quizzes") if isinstance(raw, dict) else None
        for index, raw_quiz in enumerate(raw_quizzes if isinstance(raw_quizzes, list) else []):
            keys = list(raw_quiz.get("options", {})) if isinstance(raw_quiz, dict) else []
            if keys != ["A", "B", "C", "D"]:
                report.issues.append(Issue("mini", row["id"], index, "options", "MINI",
                                           f"options must be exactly A, B, C, D in order; got {keys}", "error"))


def normalise_rows(
    raw_rows: list[Any],
    split: str,
    *,
    image_stems: Iterable[str] | None = None,
) -> tuple[list[dict[str, Any]], ValidationReport]:
    """Normalise a split's raw rows to contract rows and report every defect.

    Args:
        raw_rows: the upstream JSON list (or the mini problems), in file order.
        split: ``"scigen"``, ``"seephys"`` or ``"mini"``; it becomes each row's ``source``.
        image_stems: SeePhys only: stems of the available ``seephys_images/*.png`` files; enables the
            MISSING_IMAGE and D15 checks. ``None`` skips them (e.g. when only referenced images were downloaded).

    Returns:
        ``(rows, report)``: one contract row per raw row, same order, ``image`` left ``None``.
    """
    report = ValidationReport()
    rows = []
    for index, raw in enumerate(raw_rows):
        normaliser = _ItemNormaliser(split, index)
        rows.append(normaliser.run(raw))
        report.issues.extend(normaliser.issues)
    _cross_item_checks(split, rows, report)
    if image_stems is not None:
        _image_checks(split, rows, image_stems, report)
    if split == "mini":
        _mini_checks(rows, raw_rows, report)
    report.n_rows[split] = len(rows)
    report.n_quizzes[split] = sum(len(r["quizzes"]) for r in rows)
    report.n_unscorable[split] = sum(not q["scorable"] for r in rows for q in r["quizzes"])
    return rows, report


def seephys_image_stems(image_dir: str | Path) -> list[str]:
    """Stems of the ``*.png`` files in a SeePhys image folder."""
    return sorted(p.stem for p in Path(image_dir).glob("*.png"))


def validate_data_dir(data_dir: str | Path, splits: Iterable[str] = ("scigen", "seephys")) -> ValidationReport:
    """Validate upstream files in a local folder (``scigen.json``, ``seephys.json``, ``seephys_images/``).

    Raises:
        FileNotFoundError: a split's JSON file is missing (names the folder and the expected layout).
    """
    data_dir = Path(data_dir)
    report = ValidationReport()
    for split in splits:
        path = data_dir / f"{split}.json"
        if not path.exists():
            raise FileNotFoundError(
                f"{path} not found: data_dir must hold scigen.json, seephys.json and seephys_images/ "
                "(the upstream data/ folder)."
            )
        raw_rows, read_issues = read_json_rows(path, split)
        stems = seephys_image_stems(data_dir / "seephys_images") if split == "seephys" else None
        _, split_report = normalise_rows(raw_rows, split, image_stems=stems)
        split_report.issues[:0] = read_issues
        report.extend(split_report)
    return report
