"""Synthesis input: any text QA dataset as items with a stable id.

``--input`` is a JSON / JSONL / Parquet / CSV file (read as it is), or anything ``datasets.load_dataset`` reads
(a Hub id, a local dataset folder; ``config`` and ``split`` apply). Rows that already carry SciGenBench fields
(``image_type``, ``elements``, ``quizzes``, ``multimodal_question``) keep them and skip the construction stages
that would produce them. A row with an empty question or answer, or a repeated id, is reported and skipped.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scigenbench.dataset.taxonomy import IMAGE_TYPES

#: SciGenBench fields an input row may already have (each skips the stage producing it)
GIVEN_FIELDS = ("image_type", "elements", "quizzes", "multimodal_question")


@dataclass
class InputSpec:
    """Where the QA pairs come from and which columns hold what."""

    input: str
    config: str | None = None
    split: str | None = None  # None: "train", or the only split
    question_column: str = "question"
    answer_column: str = "answer"
    id_column: str | None = None
    solution_column: str | None = None
    limit: int | None = None
    seed: int | None = None


def read_rows(spec: InputSpec) -> list[dict[str, Any]]:
    """The input rows as plain dicts, in file order.

    Raises:
        FileNotFoundError / ValueError: the input cannot be read (the message names it and what to do).
    """
    path = Path(spec.input).expanduser()
    suffix = path.suffix.lower()
    if path.is_file() and suffix in (".json", ".jsonl", ".ndjson"):
        return _read_json(path)
    if path.is_file() and suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    import datasets

    if path.is_file() and suffix in (".csv", ".tsv"):
        ds = datasets.load_dataset("csv", data_files=str(path), split="train",
                                   **({"delimiter": "\t"} if suffix == ".tsv" else {}))
        return [dict(row) for row in ds]
    if not path.exists() and (spec.input.startswith((".", "/", "~")) or suffix):
        raise FileNotFoundError(f"--input {spec.input!r} does not exist; give a JSON/JSONL/Parquet/CSV file, a "
                                "dataset folder or a Hub dataset id")
    if spec.split:
        ds = datasets.load_dataset(spec.input, spec.config, split=spec.split)
    else:  # "train" when there is one, else the only split there is
        splits = datasets.load_dataset(spec.input, spec.config)
        if "train" not in splits and len(splits) != 1:
            raise ValueError(f"--input {spec.input!r} has splits {', '.join(splits)}: choose one with --split")
        ds = splits["train"] if "train" in splits else next(iter(splits.values()))
    return [dict(row) for row in ds]


def _read_json(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if path.suffix.lower() == ".json" and stripped.startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON ({exc})") from exc
        return [r if isinstance(r, dict) else {"_value": r} for r in rows]
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number} is not a JSON object ({exc}); JSONL needs one object per line") from exc
        rows.append(row if isinstance(row, dict) else {"_value": row})
    return rows


def content_id(question: str, answer: str) -> str:
    """The stable id of a row without an id column: a hash of its question and answer."""
    digest = hashlib.sha256(f"{question.strip()}\n\u241e\n{answer.strip()}".encode()).hexdigest()
    return f"syn-{digest[:16]}"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def given_fields(row: dict[str, Any]) -> dict[str, Any]:
    """The SciGenBench fields of ``row`` that are usable as they are."""
    given: dict[str, Any] = {}
    if isinstance(row.get("image_type"), str) and row["image_type"] in IMAGE_TYPES:
        given["image_type"] = row["image_type"]
    if isinstance(row.get("elements"), list) and any(str(e).strip() for e in row["elements"]):
        given["elements"] = [str(e) for e in row["elements"] if str(e).strip()]
    if isinstance(row.get("quizzes"), list) and row["quizzes"]:
        given["quizzes"] = row["quizzes"]
    if isinstance(row.get("multimodal_question"), str) and row["multimodal_question"].strip():
        given["multimodal_question"] = row["multimodal_question"]
    return given


def make_items(rows: list[dict[str, Any]], spec: InputSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Items to synthesise, and the rows skipped with their reason.

    Items: ``{"id", "index", "question", "answer", "solution", "given"}``; ``index`` is the item's position in the
    selection (it drives the letter balancing, so it is stable for the same input, ``seed`` and ``limit``).

    Raises:
        ValueError: a column named by the spec is in no row (lists the columns there are).
    """
    _check_columns(rows, spec)
    order = list(range(len(rows)))
    if spec.seed is not None:
        random.Random(spec.seed).shuffle(order)
    items: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for position in order:
        if spec.limit is not None and len(items) >= spec.limit:
            break
        row = rows[position]
        question, answer = _text(row.get(spec.question_column)), _text(row.get(spec.answer_column))
        raw_id = row.get(spec.id_column) if spec.id_column else None
        item_id = _text(raw_id).strip() if raw_id is not None else ""
        item_id = item_id or content_id(question, answer)
        empty = [name for name, value in (("question", question), ("answer", answer)) if not value.strip()]
        if empty:
            skipped.append({"row": position, "id": item_id, "reason": f"empty_{empty[0]}",
                            "detail": f"row {position} ({item_id}) has an empty {' and '.join(empty)}; skipped"})
            continue
        if item_id in seen:
            skipped.append({"row": position, "id": item_id, "reason": "duplicate_id",
                            "detail": f"row {position} repeats id {item_id!r} of row {seen[item_id]}; skipped"})
            continue
        seen[item_id] = position
        solution = _text(row.get(spec.solution_column)) if spec.solution_column else ""
        items.append({"id": item_id, "index": len(items), "row": position, "question": question, "answer": answer,
                      "solution": solution.strip() or None, "given": given_fields(row)})
    return items, skipped


def _check_columns(rows: list[dict[str, Any]], spec: InputSpec) -> None:
    if not rows:
        raise ValueError(f"--input {spec.input!r} holds no rows")
    present = set().union(*(row.keys() for row in rows[:1000]))
    for flag, column in (("--question-column", spec.question_column), ("--answer-column", spec.answer_column),
                         ("--id-column", spec.id_column), ("--solution-column", spec.solution_column)):
        if column and column not in present:
            raise ValueError(f"{flag} {column!r} is not a column of {spec.input!r}; columns: "
                             f"{', '.join(sorted(map(str, present)))}")
