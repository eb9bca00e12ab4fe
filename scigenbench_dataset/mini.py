"""The project's own mini set: ``mini/problems/<id>.json`` (upstream raw schema) read without ``datasets``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .sources import MINI_PROBLEMS_DIR
from .validation import Issue, ValidationReport, _DuplicateKeyRecorder, normalise_rows


def read_mini_raw(problems_dir: str | Path = MINI_PROBLEMS_DIR) -> tuple[list[Any], list[Issue]]:
    """The raw mini problems in id (file name) order, plus file-level issues (bad JSON, id/file mismatch)."""
    rows, issues = [], []
    for path in sorted(Path(problems_dir).glob("*.json")):
        recorder = _DuplicateKeyRecorder()
        try:
            raw = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=recorder)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            issues.append(Issue("mini", path.stem, None, "", "MINI", f"{path.name} is not valid JSON: {exc}",
                                "error"))
            continue
        if isinstance(raw, dict) and raw.get("id") != path.stem:
            issues.append(Issue("mini", path.stem, None, "id", "MINI",
                                f"{path.name} holds id {raw.get('id')!r}; the file must be named <id>.json", "error"))
        issues += [
            Issue("mini", owner, None, ",".join(keys), "DUP_JSON_KEY", f"key(s) {keys} repeated in {path.name}",
                  "error")
            for owner, keys in recorder.duplicates
        ]
        rows.append(raw)
    return rows, issues


def validate_mini(problems_dir: str | Path = MINI_PROBLEMS_DIR) -> tuple[list[dict[str, Any]], ValidationReport]:
    """Normalised mini rows and their validation report."""
    raw_rows, file_issues = read_mini_raw(problems_dir)
    rows, report = normalise_rows(raw_rows, "mini")
    report.issues[:0] = file_issues
    return rows, report


def load_mini_problems(problems_dir: str | Path = MINI_PROBLEMS_DIR) -> list[dict[str, Any]]:
    """The mini set as contract dicts (``image`` is ``None``), sorted by id; no ``datasets`` needed.

    Returns:
        One dict per ``mini/problems/<id>.json`` with the fields of the problem-row contract.
    """
    rows, _ = validate_mini(problems_dir)
    return rows
