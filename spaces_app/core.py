"""What the Space does, without Gradio: settings, problem sources, ImgCoder runs, quiz scoring, leaderboard rows.

Every function here is plain Python over the library's public API, so it is unit-testable and the Gradio layer
(:mod:`scigenbench.app.app`) only wires components to it. Shared state is limited to read-only caches (loaded
problem sources, the replay recording, one ImgCoder and one judge per backend spec; the backend layer is
thread-safe); everything a visitor produces lives in the request.

Secrets: keys are read only by the backend layer when a backend is built. Nothing here returns an environment
value; every error text shown or logged passes through :func:`redact`.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

logger = logging.getLogger("scigenbench.app")

#: environment variables the Space reads (values are never shown)
BACKBONE_ENV = "SCIGENBENCH_BACKBONE"
JUDGE_ENV = "SCIGENBENCH_JUDGE"
RESULTS_ENV = "SCIGENBENCH_RESULTS"
DATA_DIR_ENV = "SCIGENBENCH_DATA_DIR"
#: model requests in flight at once across the whole Space (every visitor, ImgCoder and the judge together)
REQUESTS_ENV = "SCIGENBENCH_APP_REQUESTS"
DEFAULT_REQUESTS = 16
#: default judge: the offline OCR proxy answerer (a proxy, labelled as such)
DEFAULT_JUDGE = "ocr"
#: default result folder: what `scigenbench demo` writes
DEMO_OUT = "demo_out"
ALL = "All"
#: problem sources Explore can show; only ``mini`` is bundled, the others need a local copy of the upstream data
SOURCES = ("mini", "scigen", "seephys")
_UPSTREAM_FILES = {"scigen": "scigen.json", "seephys": "seephys.json"}


# --- redaction ------------------------------------------------------------------------------------------------

REDACTED = "[redacted]"
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|COOKIE", re.I)
_SECRET_PATTERNS = (
    # provider key shapes: OpenAI sk-..., Hugging Face hf_..., GitHub ghp_/gho_..., Slack xox?-...
    # (each prefix with its own separator: a bare "hf-"/"sk_" would also eat names such as "hf-inference")
    (re.compile(r"\b(?:sk-|hf_|gh[pousr]_|xox[abpr]-)[A-Za-z0-9_\-]{8,}"), REDACTED),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._\-~+/=]{8,}"), r"\1 " + REDACTED),
    (re.compile(r"(?i)\b((?:api[_-]?key|access[_-]?token|token|secret|password|authorization)[\"']?\s*[=:]\s*[\"']?)"
                r"[^\s&'\",;]+"), r"\1" + REDACTED),
    (re.compile(r"(://)[^/\s:@]+:[^/\s@]+@"), r"\1" + REDACTED + "@"),  # user:password@ in URLs
)


def redact(text: Any, env: Mapping[str, str] | None = None) -> str:
    """``text`` with secrets replaced by ``[redacted]``.

    Removes the value of every environment variable whose name looks secret (``*KEY*``, ``*TOKEN*``,
    ``*SECRET*``, ...), the backbone/judge spec values (they may carry a URL with credentials), and anything
    shaped like a key, a bearer token, ``api_key=...`` or ``user:password@`` in a URL.

    Args:
        text: any value; converted with ``str``.
        env: the environment to take secret values from (default ``os.environ``).
    """
    out = "" if text is None else str(text)
    env = os.environ if env is None else env
    values = [v for k, v in env.items() if (_SECRET_NAME.search(k) or k in (BACKBONE_ENV, JUDGE_ENV))
              and isinstance(v, str) and len(v.strip()) >= 6]
    for value in sorted(values, key=len, reverse=True):  # longest first: a value containing another
        out = out.replace(value.strip(), REDACTED)
    for pattern, replacement in _SECRET_PATTERNS:
        out = pattern.sub(replacement, out)
    return out


def friendly_error(what: str, exc: BaseException) -> str:
    """A one-paragraph, redacted message for a failure the visitor caused or can fix; logs it (redacted)."""
    logger.warning("%s: %s", what, redact(f"{type(exc).__name__}: {exc}"))
    return f"**{what}.** {redact(f'{type(exc).__name__}: {exc}')}"


# --- settings --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    """Where the Space gets its models and data. Built from the environment (Space secrets are env vars).

    Attributes:
        backbone: ImgCoder's backbone spec, or ``None`` for the offline ``replay`` backbone (mini set only).
        judge: the quiz answerer spec (``ocr`` = the OCR proxy).
        data_dir: a local copy of the upstream data (enables the ``scigen`` and ``seephys`` sources).
        results: folders to read leaderboard results from.
        work_dir: where the replay recording is written.
    """

    backbone: str | None = None
    judge: str = DEFAULT_JUDGE
    data_dir: Path | None = None
    results: tuple[Path, ...] = ()
    work_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "scigenbench-app")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        data_dir = (env.get(DATA_DIR_ENV) or "").strip()
        results = [p for p in (env.get(RESULTS_ENV) or "").split(os.pathsep) if p.strip()]
        if not results and Path(DEMO_OUT).is_dir():
            results = [DEMO_OUT]
        return cls(backbone=(env.get(BACKBONE_ENV) or "").strip() or None,
                   judge=(env.get(JUDGE_ENV) or "").strip() or DEFAULT_JUDGE,
                   data_dir=Path(data_dir).expanduser() if data_dir else None,
                   results=tuple(Path(p.strip()).expanduser() for p in results))

    @property
    def offline_backbone(self) -> bool:
        return self.backbone is None

    @property
    def judge_is_proxy(self) -> bool:
        from scigenbench.metrics.specs import is_proxy

        return is_proxy(self.judge)


def available_sources(settings: Settings) -> list[str]:
    """``mini`` always; ``scigen``/``seephys`` when ``settings.data_dir`` holds their upstream file (no download)."""
    sources = ["mini"]
    if settings.data_dir is not None:
        sources += [s for s, name in _UPSTREAM_FILES.items() if (settings.data_dir / name).is_file()]
    return sources


# --- problems --------------------------------------------------------------------------------------------------

class ProblemSource:
    """The problems of one source: a light index for filtering and full rows on demand (images decoded lazily).

    Args:
        name: ``mini``, ``scigen`` or ``seephys``.
        rows: the mini set's plain dicts, or a ``datasets.Dataset`` (rows decoded one at a time).
    """

    def __init__(self, name: str, rows: Any):
        self.name = name
        self._rows = rows
        light = rows.select_columns(["id", "domain", "image_type", "question"]) if hasattr(
            rows, "select_columns") else rows
        self.index = [{"id": str(r["id"]), "domain": r["domain"], "image_type": r["image_type"],
                       "question": r["question"]} for r in light]
        self._position = {row["id"]: i for i, row in enumerate(self.index)}

    def __len__(self) -> int:
        return len(self.index)

    def ids(self) -> list[str]:
        return [row["id"] for row in self.index]

    def get(self, problem_id: str) -> dict[str, Any]:
        """The full row of ``problem_id``; ``KeyError`` naming the source when unknown."""
        try:
            position = self._position[str(problem_id)]
        except KeyError:
            raise KeyError(f"no problem {problem_id!r} in the {self.name} source") from None
        return dict(self._rows[position])


_sources: dict[str, ProblemSource] = {}
_sources_lock = threading.Lock()


def load_source(name: str, settings: Settings) -> ProblemSource:
    """The (cached, read-only) problems of source ``name``.

    Raises:
        ValueError: unknown source, or ``scigen``/``seephys`` without a local copy of the data (the app never
            downloads; set ``SCIGENBENCH_DATA_DIR``).
    """
    if name not in SOURCES:
        raise ValueError(f"unknown problem source {name!r}; choose one of {', '.join(SOURCES)}")
    if name not in available_sources(settings):
        raise ValueError(f"the {name} problems need a local copy of the upstream data: set {DATA_DIR_ENV} to the "
                         f"folder holding {_UPSTREAM_FILES[name]} (the Space never downloads at startup)")
    key = f"{name}:{settings.data_dir}"
    with _sources_lock:
        if key not in _sources:
            if name == "mini":
                from scigenbench.dataset import load_mini_problems

                rows: Any = load_mini_problems()
            else:
                from scigenbench.dataset import load_scigenbench

                rows = load_scigenbench(name, data_dir=settings.data_dir)
            _sources[key] = ProblemSource(name, rows)
        return _sources[key]


def image_types_for(domain: str | None) -> list[str]:
    """The image types of ``domain`` (all 25 for ``None``/``"All"``), in taxonomy order."""
    from scigenbench.dataset import IMAGE_TYPES

    return [t for t, d in IMAGE_TYPES.items() if domain in (None, "", ALL) or d == domain]


def filter_problems(index: Iterable[Mapping[str, Any]], domain: str | None = None,
                    image_type: str | None = None, text: str | None = None) -> list[Mapping[str, Any]]:
    """Rows of ``index`` matching a domain, an image type and a case-insensitive text (``None``/``"All"``/``""``
    match everything). Order is kept."""
    wanted_text = (text or "").strip().lower()
    out = []
    for row in index:
        if domain not in (None, "", ALL) and row.get("domain") != domain:
            continue
        if image_type not in (None, "", ALL) and row.get("image_type") != image_type:
            continue
        if wanted_text and wanted_text not in f"{row.get('id', '')} {row.get('question', '')}".lower():
            continue
        out.append(row)
    return out


def problem_choice(row: Mapping[str, Any], width: int = 70) -> tuple[str, str]:
    """A dropdown entry ``(label, id)``: the id and the start of the question."""
    question = " ".join(str(row.get("question") or "").split())
    if len(question) > width:
        question = question[: width - 1].rstrip() + "…"
    return f"{row['id']} — {question}", str(row["id"])


def _md_escape(text: Any) -> str:
    """Text shown as Markdown with HTML neutralised (problem text is data, not markup)."""
    return str(text if text is not None else "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


#: how the correct option is marked when answers are shown (plain text: no emoji font needed)
CORRECT_MARK = "**← correct**"


def problem_markdown(problem: Mapping[str, Any], show_answers: bool = False) -> str:
    """The problem as Markdown: header, question, elements, quizzes; answer and correct options only when
    ``show_answers``."""
    from scigenbench.dataset import quiz_letters

    kind = problem.get("image_type") or "(no image type: SeePhys)"
    lines = [f"### {_md_escape(problem['id'])}",
             f"**Domain:** {_md_escape(problem.get('domain'))} · **Image type:** {_md_escape(kind)} · "
             f"**Source:** {_md_escape(problem.get('source'))}", "", "**Question**", "",
             _md_escape(problem.get("question")), ""]
    if problem.get("multimodal_question"):
        lines += ["**Question asked with the image (R_inv)**", "", _md_escape(problem["multimodal_question"]), ""]
    lines += ["**Answer**", "", _md_escape(problem.get("answer")) if show_answers else "*(hidden — tick “Show "
              "answers”)*", ""]
    elements = problem.get("elements") or []
    if elements:
        lines += [f"**Elements the figure must show** ({len(elements)})", ""]
        lines += [f"- {_md_escape(e)}" for e in elements]
        lines.append("")
    quizzes = problem.get("quizzes") or []
    if quizzes:
        lines += [f"**Quizzes** ({len(quizzes)}: answered from the image alone by the quiz metric)", ""]
    for number, quiz in enumerate(quizzes, 1):
        lines.append(f"{number}. {_md_escape(quiz['question'])}")
        for letter in quiz_letters(quiz):
            mark = f" {CORRECT_MARK}" if show_answers and letter == quiz.get("correct_option") else ""
            lines.append(f"    - **{letter}.** {_md_escape(quiz['options'][letter])}{mark}")
        if show_answers and quiz.get("correct_option") not in quiz_letters(quiz):
            lines.append(f"    - correct option {quiz.get('correct_option')!r} is not among the options "
                         "(unscorable)")
    flags = problem.get("flags") or []
    if flags:
        lines += ["", f"*Data flags:* {', '.join(_md_escape(f) for f in flags)}"]
    return "\n".join(lines)


#: longest typed problem accepted: every character goes to the configured (paid) backbone in each ImgCoder stage
MAX_TYPED_CHARS = 4000


def typed_problem(text: str) -> dict[str, Any]:
    """A problem row for text a visitor typed (no quizzes, so it can be generated but not quiz-scored).

    Raises:
        ValueError: empty text, or longer than :data:`MAX_TYPED_CHARS` characters.
    """
    text = (text or "").strip()
    if not text:
        raise ValueError("type a problem first")
    if len(text) > MAX_TYPED_CHARS:
        raise ValueError(f"the typed problem has {len(text):,} characters; the Space accepts at most "
                         f"{MAX_TYPED_CHARS:,} (benchmark problems are far shorter)")
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return {"id": f"typed-{digest}", "source": "typed", "domain": "Universal", "image_type": None, "question": text,
            "answer": "", "elements": [], "quizzes": [], "multimodal_question": None, "flags": [], "image": None}


# --- Generate ------------------------------------------------------------------------------------------------

NEEDS_BACKBONE = ("**Configure a backbone to generate beyond the mini set** (your own text, SciGen, SeePhys). The "
                  "offline demo backbone replays the mini set's reference programs, so it only knows the 26 mini "
                  "problems. Set "
                  f"`{BACKBONE_ENV}` (for example `openai:gpt-4o-mini`, with `OPENAI_API_KEY` as a Space secret, "
                  "or `hf-inference:<model>` with `HF_TOKEN`) and restart the Space.")


@dataclass
class GenerationView:
    """What the Generate tab shows for one run."""

    ok: bool
    status_md: str
    png: bytes | None = None
    plan: dict[str, Any] | None = None
    code: str = ""
    language: str | None = None
    problem_id: str | None = None


_coders: dict[str, Any] = {}
_coders_lock = threading.Lock()


def backbone_label(settings: Settings) -> str:
    """How the backbone is described in the UI (never the spec value itself)."""
    if settings.offline_backbone:
        return "offline `replay` backbone (the mini set's reference programs; mini problems only)"
    return _spec_label(settings.backbone or "", BACKBONE_ENV)


def _spec_label(spec: str, env_name: str) -> str:
    """``backend · model`` of a spec, without its base URL (which may carry credentials) or local paths."""
    from scigenbench.generators.backends import parse_spec

    try:
        name, model, _ = parse_spec(spec)
    except ValueError:
        return f"configured via `{env_name}` (unreadable spec)"
    model = re.split(r"@(?=[A-Za-z][A-Za-z0-9+.-]*://)", model, maxsplit=1)[0]  # a base URL parse_spec left in
    if name in ("replay", "transformers"):
        model = Path(model).name
    model = redact(model)
    return (f"`{name}` · `{model}` (configured via `{env_name}`)" if model
            else f"`{name}` (configured via `{env_name}`)")


_limits_state: dict[str, Any] = {}
_limits_lock = threading.Lock()


def space_limits() -> Any:
    """The Space's one request limit (``$SCIGENBENCH_APP_REQUESTS``, default 16): every backend the Space builds
    shares it, so visitors together never have more model requests in flight than that."""
    with _limits_lock:
        if "limits" not in _limits_state:
            from scigenbench.generators.backends.limits import CallLimits

            raw = (os.environ.get(REQUESTS_ENV) or "").strip()
            try:
                value = int(raw) if raw else DEFAULT_REQUESTS
                if value < 1:
                    raise ValueError
            except ValueError:
                raise ValueError(f"{REQUESTS_ENV} must be a whole number >= 1 (model requests in flight), "
                                 f"got {raw!r}") from None
            _limits_state["limits"] = CallLimits(value)
        return _limits_state["limits"]


def get_imgcoder(settings: Settings) -> Any:
    """The shared ImgCoder for the configured backbone (built once; the replay recording is written on first use).

    Raises:
        Exception: whatever the backend layer raises for a bad spec or a missing key (shown redacted).
    """
    key = settings.backbone or "<replay>"
    with _coders_lock:
        if key not in _coders:
            from scigenbench.generators.imgcoder import ImgCoderConfig, build_replay_recordings, make_imgcoder

            config = ImgCoderConfig()
            backbone = settings.backbone
            if backbone is None:
                from scigenbench.dataset import load_mini_problems

                settings.work_dir.mkdir(parents=True, exist_ok=True)
                path = settings.work_dir / f"imgcoder-{os.getpid()}.replay.jsonl"
                recording = build_replay_recordings(load_mini_problems(), path, config)
                backbone = f"replay:{recording['path']}"
            _coders[key] = make_imgcoder(backbone=backbone, config=config, limits=space_limits())
        return _coders[key]


def run_imgcoder(problem: Mapping[str, Any], settings: Settings) -> GenerationView:
    """Generate one problem with ImgCoder (rendering in the sandbox) and describe the outcome for the UI.

    Never raises: a missing or failing backbone becomes a friendly, redacted message.
    """
    problem = dict(problem)
    if settings.offline_backbone and problem.get("source") != "mini":
        return GenerationView(ok=False, status_md=NEEDS_BACKBONE)
    try:
        coder = get_imgcoder(settings)
    except Exception as exc:  # noqa: BLE001 - a bad spec / missing key: tell the visitor what to set
        return GenerationView(ok=False, status_md=friendly_error(
            f"The ImgCoder backbone could not be set up (check `{BACKBONE_ENV}` and its key secret)", exc))
    try:
        out = coder.generate(problem)
    except Exception as exc:  # noqa: BLE001 - generate() should not raise; keep the app alive if it does
        return GenerationView(ok=False, status_md=friendly_error("ImgCoder failed", exc))
    return GenerationView(ok=out.ok, status_md=generation_markdown(out, problem, settings), png=out.image_png,
                          plan={"understanding": out.extra.get("understanding"), "plan": out.plan},
                          code=out.code or "", language=out.language, problem_id=str(problem.get("id")))


def generation_markdown(out: Any, problem: Mapping[str, Any], settings: Settings) -> str:
    """Status, verification checks, rounds, timings and cost of one ImgCoder output, as Markdown."""
    lines = [f"**Status: {_md_escape(out.status)}** · `{_md_escape(problem.get('id'))}` · backbone: "
             f"{backbone_label(settings)}"]
    if out.error:
        lines.append(f"\n> {_md_escape(redact(out.error))[:1200]}")
    if settings.offline_backbone and not out.ok and "Replay" in (out.error or ""):
        lines.append("\n" + NEEDS_BACKBONE)
    rounds = out.extra.get("rounds") or []
    checks = ((rounds[-1].get("checks") or {}).get("checks") or []) if rounds else []
    if checks:
        lines += ["", "**Verification** (the rendered figure checked against the plan)", "",
                  "| check | result | detail |", "|---|---|---|"]
        for check in checks:
            detail = _md_escape(check.get("detail") or ", ".join(check.get("items") or []) or "")
            lines.append(f"| {_md_escape(check['name'])} | {'pass' if check['passed'] else 'FAIL'} | "
                         f"{detail.replace('|', '/')[:200]} |")
    usage = out.usage or {}
    timings = out.timings or {}
    lines += ["", f"**Rounds:** {len(rounds)} (repairs: {max(len(rounds) - 1, 0)}) · **Language:** "
                  f"{_md_escape(out.language or '-')} · **Model calls:** {usage.get('calls', 0)} "
                  f"({usage.get('cached_calls', 0)} cached) · **Tokens:** {usage.get('total_tokens', 0)} · "
                  f"**Cost:** ${float(usage.get('cost_usd') or 0):.4f} · **Time:** "
                  f"{float(timings.get('total') or 0):.1f} s (render {float(timings.get('render') or 0):.1f} s)"]
    return "\n".join(lines)


# --- Score -----------------------------------------------------------------------------------------------------

@dataclass
class ScoreView:
    """What the Score tab shows."""

    ok: bool
    summary_md: str
    rows: list[list[Any]] = field(default_factory=list)


QUIZ_TABLE_HEADERS = ["#", "quiz", "answered", "correct?", "how the letter was read"]

_judges: dict[str, Any] = {}
_judges_lock = threading.Lock()


def judge_label(settings: Settings) -> str:
    if settings.judge_is_proxy:
        return ("**OCR proxy** (tesseract reads the image's text and picks the option it finds). A *proxy* for "
                f"demos and tests, not an LMM judge: its numbers are not comparable to the paper's. Set `{JUDGE_ENV}` "
                "to a vision model for real scores.")
    return _spec_label(settings.judge, JUDGE_ENV)


def get_judge(settings: Settings) -> Any:
    """The shared quiz answerer for the configured judge spec (built once)."""
    with _judges_lock:
        if settings.judge not in _judges:
            from scigenbench.metrics.specs import resolve_backend

            _judges[settings.judge] = resolve_backend(settings.judge, limits=space_limits())
        return _judges[settings.judge]


def read_image_bytes(image: Any) -> bytes:
    """PNG/JPEG bytes from a path, bytes or PIL image (what the Gradio image component hands over)."""
    if isinstance(image, (bytes, bytearray)):
        return bytes(image)
    if isinstance(image, (str, os.PathLike)):
        return Path(image).read_bytes()
    if hasattr(image, "save"):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()
    raise TypeError(f"expected an image file, got {type(image).__name__}")


#: largest image the Score tab scores, in pixels (OCR and vision judges would spend minutes on bigger ones; PIL's
#: own decompression-bomb limit is far higher)
MAX_SCORE_PIXELS = 25_000_000


def image_problem(data: bytes) -> str | None:
    """Why ``data`` cannot be scored (not an image, or over :data:`MAX_SCORE_PIXELS`), or ``None`` when it can.

    Reads only the image header: a decompression bomb is refused before any pixel is decoded.
    """
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except Image.DecompressionBombError:
        return (f"the image has more pixels than the Space decodes (limit {MAX_SCORE_PIXELS:,}); upload a "
                "smaller PNG or JPEG")
    except Exception:  # noqa: BLE001 - PIL raises several types for non-images and broken headers
        return "the file is not an image PIL can read; upload a PNG or JPEG"
    if width * height > MAX_SCORE_PIXELS:
        return (f"the image is {width}×{height} = {width * height:,} pixels; the Space scores images up to "
                f"{MAX_SCORE_PIXELS:,} pixels (downscale it first)")
    return None


def score_image(image: Any, problem: Mapping[str, Any], settings: Settings) -> ScoreView:
    """Score an image against a problem's quizzes with the quiz metric. Never raises."""
    if image is None:
        return ScoreView(ok=False, summary_md="**Pick or upload an image first** (or generate one in the Generate "
                                              "tab: it is copied here).")
    if not problem.get("quizzes"):
        return ScoreView(ok=False, summary_md="**This problem has no quizzes**, so the quiz metric cannot score it "
                                              "(typed problems have none). Pick a benchmark problem.")
    try:
        data = read_image_bytes(image)
    except Exception as exc:  # noqa: BLE001 - e.g. an API caller passing a path that is gone
        return ScoreView(ok=False, summary_md=friendly_error("The image could not be read", exc))
    refused = image_problem(data)
    if refused:
        return ScoreView(ok=False, summary_md=f"**This image cannot be scored:** {refused}.")
    try:
        judge = get_judge(settings)
    except Exception as exc:  # noqa: BLE001
        return ScoreView(ok=False, summary_md=friendly_error(
            f"The judge could not be set up (check `{JUDGE_ENV}` and its key secret)", exc))
    from scigenbench.metrics.quiz import quiz_item

    try:
        result = quiz_item(dict(problem), data, judge)
    except Exception as exc:  # noqa: BLE001 - quiz_item records backend failures; anything else is shown here
        return ScoreView(ok=False, summary_md=friendly_error("Scoring failed", exc))
    return ScoreView(ok=result.state == "scored", summary_md=score_markdown(result, problem, settings),
                     rows=quiz_rows(result, problem))


def score_markdown(result: Any, problem: Mapping[str, Any], settings: Settings) -> str:
    proxy = " — **OCR PROXY, not a judge score**" if settings.judge_is_proxy else ""
    details = result.details or {}
    if result.state == "scored":
        head = (f"## Quiz score: {details.get('n_correct', 0)} / {details.get('n_quizzes', 0)} = "
                f"{result.score:.2f}{proxy}")
    else:
        head = f"## Not scored ({_md_escape(result.state)}){proxy}\n\n> {_md_escape(redact(result.reason))}"
    return (f"{head}\n\nProblem `{_md_escape(problem.get('id'))}` · answerer: "
            f"`{_md_escape(redact(result.judge_model))}` · image sha256 `{(result.image_sha256 or '')[:12]}` · "
            f"model calls: {result.calls}")


def quiz_rows(result: Any, problem: Mapping[str, Any]) -> list[list[Any]]:
    quizzes = problem.get("quizzes") or []
    rows = []
    for record in (result.details or {}).get("quizzes", []):
        index = record.get("index", len(rows))
        question = quizzes[index]["question"] if index < len(quizzes) else ""
        if record.get("state") == "scored":
            verdict = "yes" if record.get("correct") else "no"
        else:
            verdict = f"{record.get('state')}: {redact(record.get('reason') or '')}"[:120]
        rows.append([index + 1, question, record.get("predicted") or "-", verdict, record.get("method") or "-"])
    return rows


# --- Leaderboard -----------------------------------------------------------------------------------------------

def leaderboard_view(settings: Settings) -> dict[str, Any]:
    """The Leaderboard tab's content from ``settings.results`` plus the paper's published rows.

    Returns:
        ``{"table", "domains", "plot", "radar", "message"}`` (see :func:`scigenbench.app._leaderboard.build_view`);
        on failure the tables and plots are ``None`` and ``message`` says why. Never raises.
    """
    try:
        from scigenbench.app import _leaderboard

        view = _leaderboard.build_view(settings.results)
    except Exception as exc:  # noqa: BLE001 - e.g. the metrics package missing or broken in this install
        return {"table": None, "domains": None, "plot": None, "radar": None,
                "message": friendly_error("The leaderboard could not be built", exc)}
    view["message"] = redact(view["message"])
    return view
