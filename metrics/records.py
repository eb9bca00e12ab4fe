"""Per-item result records shared by every metric.

Every item of a split ends in exactly one state (PROTOCOL §4):

- ``scored``: a valid score came out;
- ``unscored``: the image exists but no valid score came out (API exhausted, judge output unparsable or out of
  range, grader verdict unparsable). Never counted as 0; re-run to reduce them;
- ``missing``: no image (generation failed, blocked or absent). Counts 0 in the strict mean;
- ``not_applicable``: the metric has no input for the item (R_inv without a ``multimodal_question``).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

SCORED = "scored"
UNSCORED = "unscored"
MISSING = "missing"
NOT_APPLICABLE = "not_applicable"
STATES = (SCORED, UNSCORED, MISSING, NOT_APPLICABLE)

#: protocol label of results produced with no compatibility switch on
DEFAULT_PROTOCOL = "default"
COMPAT_PROTOCOL = "upstream-compat"


@dataclass
class ItemResult:
    """One metric's result for one item.

    Attributes:
        id: problem id.
        metric: metric name (``judge``, ``quiz``, ``quiz_blind``, ``rinv``, ``fidelity``).
        state: one of :data:`STATES`.
        score: the item's score when ``state == "scored"`` (judge: mean of the 5 dimensions on 0–2; quiz: fraction
            of quizzes correct; rinv: 0 or 1; fidelity: ``None``, see ``details``), else ``None``.
        reason: why the item is not scored (``None`` when scored).
        details: metric-specific values (judge dimensions, per-quiz answers, fidelity numbers, ...).
        raw: raw model text of the (last) call, kept for audit.
        prompt_version: version of the prompt template used.
        judge_model: id of the answering/judging model (``backend:model``).
        grader_model: id of the grader model, when one was configured.
        image_sha256: SHA-256 of the image bytes sent (or read, for fidelity).
        domain / image_type / source: copied from the problem for breakdowns.
        calls: model calls made for this item in this evaluation (cache hits excluded).
        usage: prompt/completion tokens and cost of those calls.
        protocol / switches: ``"default"`` or ``"upstream-compat"`` with the active compatibility switches.
    """

    id: str
    metric: str
    state: str
    score: float | None = None
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    raw: str | None = None
    prompt_version: str | None = None
    judge_model: str | None = None
    grader_model: str | None = None
    image_sha256: str | None = None
    domain: str | None = None
    image_type: str | None = None
    source: str | None = None
    calls: int = 0
    usage: dict[str, Any] = field(default_factory=dict)
    protocol: str = DEFAULT_PROTOCOL
    switches: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"state must be one of {STATES}, got {self.state!r} (item {self.id!r})")
        if self.state == SCORED and self.score is None and self.metric != "fidelity":
            raise ValueError(f"a scored {self.metric} record needs a score (item {self.id!r})")
        if self.state != SCORED and not self.reason:
            raise ValueError(f"a {self.state} record needs a reason (item {self.id!r})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ItemResult":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def problem_fields(problem: dict[str, Any]) -> dict[str, Any]:
    """The breakdown keys copied from a problem row into each record."""
    return {"domain": problem.get("domain"), "image_type": problem.get("image_type"),
            "source": problem.get("source")}


def model_id(backend: Any) -> str | None:
    """``backend:model`` of a chat backend (its own ``describe()``), or ``None``."""
    if backend is None:
        return None
    info = backend.describe() if hasattr(backend, "describe") else {}
    name = info.get("backend") or getattr(backend, "name", "?")
    model = info.get("model") or getattr(backend, "model", "")
    return f"{name}:{model}" if model else str(name)
