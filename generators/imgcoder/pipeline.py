"""ImgCoder: understand → plan → code → render → verify → repair, every stage explicit and recorded.

Upstream ImgCoder asks for the plan and the code in one prompt, throws the plan away and never checks or repairs
the result. Here the stages are separate chat calls (or, with ``stages="single"``, one structured call whose plan
is still parsed and kept), the program renders in the confined sandbox, the picture is checked against the plan,
and a failed render or check is fed back to the model for a bounded number of rounds.
"""

from __future__ import annotations

import dataclasses
import re
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any

from scigenbench.generators.backends import WRAPPER_OPTIONS
from scigenbench.generators.base import GenerationOutput, Generator
from scigenbench.generators.imgcoder import prompting
from scigenbench.generators.imgcoder.parsing import (
    LANGUAGES,
    parse_plan,
    parse_single,
    parse_understanding,
    strip_reasoning,
)
from scigenbench.generators.imgcoder.references import few_shot_pool, select_examples
from scigenbench.generators.imgcoder.verify import Check, verify

#: options of ``make_imgcoder`` that configure the backbone backend rather than ImgCoder itself
BACKEND_OPTIONS = (*WRAPPER_OPTIONS, "api_key_env", "responses", "device", "dtype")
#: the keys of ``backend.describe()`` that identify the model (and so belong in the config hash)
_BACKBONE_IDENTITY = ("backend", "model", "endpoint", "base_url")


@dataclass
class ImgCoderConfig:
    """Every ImgCoder setting that can change its output (all of it goes into the run's config hash).

    Attributes:
        stages: ``"separate"`` (understand, plan and code are three calls) or ``"single"`` (one call returns
            understanding and plan as JSON followed by the program).
        language: ``"auto"`` (the plan chooses), ``"python"`` (matplotlib) or ``"tikz"``.
        few_shot: number of mini-set reference examples in the plan/code prompts; 0 is zero-shot (the paper).
        max_repair_rounds: how many times a failed render or failed checks are fed back (0: no repair).
        temperature: sampling temperature of every call.
        max_tokens: completion limit of every call.
        dpi: render resolution.
        render_timeout: wall-clock seconds for one render.
        require_verified: when False, a figure that renders but fails its checks is still returned as ``ok``
            (with ``extra["verified"] = False``); when True it is ``verify_failed``.
        check_answer_leak: search the figure for the problem's answer (when distinctive).
        include_elements: show the model the problem's ``elements`` (the figure's required content) under the
            question; False sends the question alone.
    """

    stages: str = "separate"
    language: str = "auto"
    few_shot: int = 0
    max_repair_rounds: int = 2
    temperature: float = 0.0
    max_tokens: int = 4096
    dpi: int = 150
    render_timeout: float = 30.0
    require_verified: bool = True
    check_answer_leak: bool = True
    include_elements: bool = True

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, _coerce(f.name, getattr(self, f.name), f.type))
        if self.stages not in ("separate", "single"):
            raise ValueError(f"ImgCoderConfig.stages must be 'separate' or 'single', got {self.stages!r}")
        if self.language not in ("auto", *LANGUAGES):
            raise ValueError(f"ImgCoderConfig.language must be 'auto', 'python' or 'tikz', got {self.language!r}")
        for name, low in (("few_shot", 0), ("max_repair_rounds", 0), ("max_tokens", 1), ("dpi", 10)):
            if getattr(self, name) < low:
                raise ValueError(f"ImgCoderConfig.{name} must be >= {low}, got {getattr(self, name)!r}")
        if self.render_timeout <= 0 or self.temperature < 0:
            raise ValueError("ImgCoderConfig.render_timeout must be > 0 and temperature >= 0, got "
                             f"{self.render_timeout!r} and {self.temperature!r}")

    @classmethod
    def from_options(cls, **options: Any) -> "ImgCoderConfig":
        """Build from keyword options (e.g. parsed from a command line); unknown names raise ``TypeError``."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"unknown ImgCoder option(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))} "
                            f"(backbone options: {', '.join(BACKEND_OPTIONS)})")
        return cls(**options)


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    """Accept strings from command lines: ``"2"`` for ints, ``"0.2"`` for floats, ``"false"`` for bools."""
    kind = {"int": int, "float": float, "bool": bool, "str": str}.get(str(annotation), None)
    if kind is None or isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    try:
        if kind is bool:
            if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on", "0", "false", "no",
                                                                     "off"):
                return value.strip().lower() in ("1", "true", "yes", "on")
            raise ValueError
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"ImgCoderConfig.{name} must be {kind.__name__}, got {value!r}") from None


@dataclass
class _Trace:
    """Everything recorded while one problem is generated."""

    stages: list[dict[str, Any]] = field(default_factory=list)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    understanding: dict[str, Any] | None = None
    plan: dict[str, Any] | None = None
    language: str | None = None
    pngs: dict[int, bytes] = field(default_factory=dict)  # round -> image of a successful render
    repair_error: str | None = None  # a repair call that failed for good (the loop stopped there)
    plan_error: str | None = None  # the plan could not be parsed: the fallback plan has no labels to check

    def add_time(self, key: str, seconds: float) -> None:
        self.timings[key] = round(self.timings.get(key, 0.0) + seconds, 4)

    def usage(self) -> dict[str, Any]:
        total = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "calls": 0, "cached_calls": 0,
                 "cost_usd": 0.0}
        for stage in self.stages:
            if stage.get("error"):
                continue
            total["calls"] += 1
            total["cached_calls"] += int(bool(stage.get("cached")))
            total["prompt_tokens"] += stage["usage"]["prompt_tokens"]
            total["completion_tokens"] += stage["usage"]["completion_tokens"]
            total["cost_usd"] += stage.get("cost_usd") or 0.0
        total["total_tokens"] = total["prompt_tokens"] + total["completion_tokens"]
        total["cost_usd"] = round(total["cost_usd"], 8)
        return total


class _StageFailed(Exception):
    """A backbone call failed for good; carries the stage name and the backend error."""

    def __init__(self, stage: str, error: Exception):
        super().__init__(f"{stage} stage: {type(error).__name__}: {error}")
        self.stage = stage
        self.error = error


class _SandboxFailed(Exception):
    """The renderer could not run a program at all (not an error of the program)."""


class ImgCoder(Generator):
    """Scientific figures from an LLM that writes matplotlib or TikZ programs.

    Args:
        backbone: a backend spec string (``"openai:<model>@<base_url>"``, ``"replay:<file>"``, ...) or a
            :class:`~scigenbench.generators.backends.base.ChatBackend` object.
        config: an :class:`ImgCoderConfig` (default settings when omitted).
        pool: a :class:`~scigenbench.generators.sandbox.RendererPool` to render in (default: the process-wide
            pool).
        **backend_options: passed to ``get_backend`` when ``backbone`` is a spec string (``cache``,
            ``max_retries``, ``budget_usd``, ...).

    Raises:
        FileNotFoundError / ValueError: ``few_shot > 0`` but the mini references cannot be loaded.
    """

    name = "imgcoder"
    stage = "render"

    def __init__(self, backbone: Any, config: ImgCoderConfig | None = None, *, pool: Any = None,
                 **backend_options: Any):
        self.settings = config or ImgCoderConfig()
        if isinstance(backbone, str):
            from scigenbench.generators.backends import get_backend

            self.backbone_spec: str | None = backbone
            self.backend = get_backend(backbone, **backend_options)
            self._owns_backend = True
        elif backbone is None or not hasattr(backbone, "chat"):
            raise TypeError(f"ImgCoder backbone must be a spec string or a chat backend, got {backbone!r}")
        else:
            if backend_options:
                raise TypeError(f"backend options {sorted(backend_options)} only apply to a backbone spec string")
            self.backbone_spec = None
            self.backend = backbone
            self._owns_backend = False
        self._pool = pool
        if self.settings.few_shot > 0:
            few_shot_pool()  # fail now, with the broken file named, rather than on every item

    # --- Generator interface ------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """Everything that can change the output: the backbone's identity (backend, model, base URL; not its
        retries, timeout or concurrency, which do not), the settings and the prompt versions."""
        described = self._backbone_description()
        backbone = {k: described[k] for k in _BACKBONE_IDENTITY if described.get(k) is not None}
        return {"generator": self.name, "backbone": backbone, **asdict(self.settings),
                "prompt_set": prompting.PROMPT_SET_VERSION, "prompt_versions": dict(prompting.PROMPT_VERSIONS)}

    def close(self) -> None:
        if self._owns_backend:
            self.backend.close()

    def generate(self, problem: dict[str, Any]) -> GenerationOutput:
        """Run every stage for one problem. Never raises: failures become a non-ok output with the reason."""
        return self._guarded(lambda trace: self._run(problem, trace))

    def revise(self, problem: dict[str, Any], previous: dict[str, Any], feedback: str,
               prompt_version: str) -> GenerationOutput:
        """Regenerate from an earlier attempt's plan and program with feedback the caller writes, then render,
        verify and repair as usual. Never raises.

        Data synthesis uses it to feed back the quizzes a reader failed on a synthesised item's figure. Benchmark
        generation (``generate``, :func:`~scigenbench.generators.runner.run_generation`) never calls it: a
        benchmark item's quizzes must never reach the generator.

        Args:
            problem: the problem row (as for :meth:`generate`).
            previous: the earlier attempt's record (``plan``, ``code``, ``language``, e.g. a run folder row).
            feedback: the user message asking for the change.
            prompt_version: the version of the template ``feedback`` was written from (recorded with the call).
        """
        return self._guarded(lambda trace: self._revise(problem, previous, feedback, prompt_version, trace))

    def _revise(self, problem: dict[str, Any], previous: dict[str, Any], feedback: str, prompt_version: str,
                trace: _Trace) -> tuple[str, bytes | None, str | None]:
        from scigenbench.generators.imgcoder.parsing import fallback_plan

        if not self.settings.include_elements:
            problem = {**problem, "elements": []}
        plan = previous.get("plan") if isinstance(previous.get("plan"), dict) else fallback_plan(self.settings.language)
        language = previous.get("language") if previous.get("language") in LANGUAGES else plan["language"]
        trace.plan, trace.language = plan, language
        base = prompting.code_messages(problem, plan, language, self._examples(problem, language))
        earlier = prompting.fenced(previous.get("code") or "", prompting.CODE_FENCES[language])
        messages = [*base, prompting.assistant(earlier), prompting.user(feedback)]
        answer = self._call("revise", messages, trace, prompt_version)
        return self._render_loop(problem, trace, messages, answer, answer)

    def _guarded(self, run: Any) -> GenerationOutput:
        """Run ``run(trace)`` and turn every failure into a non-ok output with the reason."""
        trace = _Trace()
        started = time.perf_counter()
        try:
            status, png, error = run(trace)
        except _StageFailed as exc:
            status = "budget_exceeded" if getattr(exc.error, "kind", "") == "budget_exceeded" else "failed"
            png, error = None, f"backbone call failed in the {exc}"
        except _SandboxFailed as exc:
            status, png, error = "failed", None, str(exc)
        except Exception as exc:  # a bug or an unexpected backend/sandbox failure: record it, keep the run going
            status, png = "failed", None
            error = f"internal error in ImgCoder: {type(exc).__name__}: {exc}"
            trace.stages.append({"stage": "internal", "error": {"kind": "internal", "message": error,
                                                                "traceback": traceback.format_exc(limit=8)}})
        trace.add_time("total", time.perf_counter() - started)
        return self._output(trace, status, png, error)

    # --- stages ---------------------------------------------------------------------------------------------

    def _run(self, problem: dict[str, Any], trace: _Trace) -> tuple[str, bytes | None, str | None]:
        base_messages, first_answer, code_source = self._first_attempt(problem, trace)
        return self._render_loop(problem, trace, base_messages, first_answer, code_source)

    def _first_attempt(self, problem: dict[str, Any], trace: _Trace) -> tuple[list[dict], str, str]:
        """Understand and plan, and ask for the first program.

        Returns:
            ``(code_messages, first_answer, text_to_extract_code_from)``; sets ``trace.plan``/``language``.
        """
        if not self.settings.include_elements:
            problem = {**problem, "elements": []}
        pref = self.settings.language
        forced = pref if pref in LANGUAGES else None
        if self.settings.stages == "single":
            examples = self._examples(problem, forced)
            messages = prompting.single_messages(problem, pref, examples)
            version = self._version("single", forced, examples)
            answer = self._call("single", messages, trace, version)
            understanding, plan, code_text, error = parse_single(answer, pref)
            trace.stages[-1]["parse_error"] = self._truncation_note(trace.stages[-1], error)
            trace.understanding, trace.plan, trace.language = understanding, plan, plan["language"]
            trace.plan_error = error if error and error.startswith("plan not parsed") else None
            return messages, answer, code_text

        messages = prompting.understand_messages(problem)
        answer = self._call("understand", messages, trace, prompting.PROMPT_VERSIONS["understand"])
        understanding, error = parse_understanding(answer)
        trace.stages[-1]["parse_error"] = self._truncation_note(trace.stages[-1], error)
        trace.understanding = understanding

        examples = self._examples(problem, forced)
        messages = prompting.plan_messages(problem, answer if error else understanding, pref, examples)
        answer = self._call("plan", messages, trace, self._version("plan", None, examples))
        plan, error = parse_plan(answer, pref)
        trace.stages[-1]["parse_error"] = self._truncation_note(trace.stages[-1], error)
        trace.plan, trace.language = plan, plan["language"]
        trace.plan_error = error if error and error.startswith("plan not parsed") else None

        examples = self._examples(problem, plan["language"])
        messages = prompting.code_messages(problem, plan, plan["language"], examples)
        answer = self._call("code", messages, trace, self._version("code", plan["language"], examples))
        return messages, answer, answer

    def _render_loop(self, problem: dict[str, Any], trace: _Trace, base_messages: list[dict], answer: str,
                     code_source: str) -> tuple[str, bytes | None, str | None]:
        language = trace.language or "python"
        max_rounds = 1 + self.settings.max_repair_rounds
        for round_no in range(1, max_rounds + 1):
            if round_no > 1:
                feedback, version = trace.rounds[-1]["feedback"], trace.rounds[-1]["feedback_prompt"]
                messages = [*base_messages, prompting.assistant(answer), prompting.user(feedback)]
                try:
                    answer = code_source = self._call("repair", messages, trace, version, round_no=round_no)
                except _StageFailed as exc:
                    if getattr(exc.error, "kind", "") == "budget_exceeded":
                        raise
                    trace.repair_error = f"backbone call failed in the {exc}"
                    break  # keep what the earlier rounds produced
            truncated = bool(trace.stages[-1].get("truncated"))
            record = self._attempt(problem, trace, round_no, code_source, language, truncated=truncated)
            trace.rounds.append(record)
            if record["passed"]:
                return "ok", trace.pngs[round_no], None
            if record["checks"] and set(record["checks"]["failed"]) == {"plan_parsed"}:
                break  # the program is fine as far as it can be checked; a repair of the code cannot fix the plan
            if round_no < max_rounds:
                record["feedback"], record["feedback_prompt"] = self._feedback(record, round_no + 1, max_rounds)
        return self._final_failure(trace)

    def _attempt(self, problem: dict[str, Any], trace: _Trace, round_no: int, answer: str,
                 language: str, *, truncated: bool = False) -> dict[str, Any]:
        """Extract, render and verify one program; returns the round record.

        Besides :func:`verify`'s checks, a rendered round fails ``answer_complete`` when the answer was cut off
        at ``max_tokens`` (a truncated program can still draw something) and ``plan_parsed`` when the plan
        could not be read (nothing was checked against a plan).
        """
        code = _extract_code(answer, language)
        record: dict[str, Any] = {"round": round_no, "language": language, "code": code, "render": None,
                                  "checks": None, "passed": False, "feedback": None, "feedback_prompt": None,
                                  "answer_truncated": truncated}
        if not code.strip():
            excerpt = " ".join((answer or "").split())[:200]
            record["render"] = {"status": "no_code", "error": "the answer contains no program (no code block)"
                                + (f"; it says: {excerpt!r}" if excerpt else "; it is empty"), "error_line": None}
            return record
        started = time.perf_counter()
        render = self._render(code, language)
        trace.add_time("render", time.perf_counter() - started)
        record["render"] = _render_summary(render)
        started = time.perf_counter()
        verification = verify(render, trace.plan or {}, problem=problem, code=code, language=language,
                              check_answer=self.settings.check_answer_leak)
        if render.status == "ok":
            verification.checks.append(Check(
                "answer_complete", not truncated,
                f"the answer was cut off at the output limit ({self.settings.max_tokens} tokens), so the program "
                "is incomplete: write a shorter complete program" if truncated else ""))
            if trace.plan_error:
                verification.checks.append(Check("plan_parsed", False, f"nothing was checked against a plan: "
                                                                       f"{trace.plan_error}"))
        trace.add_time("verify", time.perf_counter() - started)
        record["checks"] = verification.to_dict()
        record["passed"] = verification.passed
        if render.status == "ok" and render.png:
            trace.pngs[round_no] = render.png
        return record

    def _feedback(self, record: dict[str, Any], next_round: int, max_rounds: int) -> tuple[str, str]:
        render = record["render"]
        if render["status"] != "ok":
            error = render.get("error") or ""
            if record.get("answer_truncated"):
                error = (f"Your answer was cut off at the output limit ({self.settings.max_tokens} tokens), so the "
                         f"program is incomplete: write a shorter complete program.\n{error}")
            if record["language"] == "tikz" and re.search(r"Font \S+ at \d+ not found", error):
                error += ("\nHint: fonts cannot be generated here; write degrees as $^\\circ$ instead of a Unicode °, "
                          "or load \\usepackage{lmodern}.")
            message = prompting.repair_error_message(
                round_no=next_round, max_rounds=max_rounds, status=render["status"], error=error,
                error_line=render.get("error_line"), code=record["code"])
            return message, prompting.PROMPT_VERSIONS["repair_error"]
        failures = [c["detail"] or c["name"] for c in record["checks"]["checks"]
                    if not c["passed"] and c["name"] != "plan_parsed"]  # the program cannot fix the plan
        message = prompting.repair_checks_message(round_no=next_round, max_rounds=max_rounds, failures=failures)
        return message, prompting.PROMPT_VERSIONS["repair_checks"]

    def _final_failure(self, trace: _Trace) -> tuple[str, bytes | None, str | None]:
        rendered = [r for r in trace.rounds if r["round"] in trace.pngs]
        note = f" ({trace.repair_error})" if trace.repair_error else ""
        if rendered:
            best = rendered[-1]
            failed = [c for c in best["checks"]["checks"] if not c["passed"]]
            error = "verification failed: " + "; ".join(c["detail"] or c["name"] for c in failed) + note
            if not self.settings.require_verified:
                return "ok", trace.pngs[best["round"]], None
            return "verify_failed", trace.pngs[best["round"]], error
        last_round = trace.rounds[-1]
        last = last_round["render"]
        status = "blocked" if last["status"] == "blocked" else "render_failed"
        lines = [line for line in (last.get("error") or "").strip().splitlines() if line.strip()] or [""]
        # a traceback ends with the exception; a LaTeX log starts with the error (the rest is context)
        cause = lines[0] if last_round.get("language") == "tikz" else lines[-1]
        if last_round.get("answer_truncated"):
            note = f" (the answer was cut off at max_tokens={self.settings.max_tokens})" + note
        return status, None, f"render {last['status']} after {len(trace.rounds)} round(s): {cause.strip()}{note}"

    # --- helpers --------------------------------------------------------------------------------------------

    def _call(self, stage: str, messages: list[dict], trace: _Trace, prompt_version: str, *,
              round_no: int | None = None) -> str:
        record: dict[str, Any] = {"stage": stage, "prompt_version": prompt_version}
        if round_no is not None:
            record["round"] = round_no
        trace.stages.append(record)
        started = time.perf_counter()
        try:
            result = self.backend.chat(messages, temperature=self.settings.temperature,
                                       max_tokens=self.settings.max_tokens, prompt_version=prompt_version)
        except Exception as exc:
            record["error"] = exc.to_dict() if hasattr(exc, "to_dict") else {"kind": type(exc).__name__,
                                                                             "message": str(exc)}
            trace.add_time(stage, time.perf_counter() - started)
            raise _StageFailed(stage, exc) from exc
        elapsed = time.perf_counter() - started
        trace.add_time(stage, elapsed)
        usage = getattr(result, "usage", None)
        finish_reason = (getattr(result, "provenance", None) or {}).get("finish_reason")
        record.update({
            "raw": result.text,
            "model": getattr(result, "model", ""),
            "usage": {"prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
                      "completion_tokens": int(getattr(usage, "completion_tokens", 0) or 0)},
            "cost_usd": float(getattr(result, "cost_usd", 0.0) or 0.0),
            "cached": bool(getattr(result, "cached", False)),
            "latency_s": round(elapsed, 4),
            "finish_reason": finish_reason,
            "truncated": finish_reason == "length",
        })
        # a reasoning model's <think> part may hold draft code or JSON: only the answer after it is used
        return strip_reasoning(result.text or "")

    def _truncation_note(self, stage: dict[str, Any], error: str | None) -> str | None:
        if error and stage.get("truncated"):
            return f"{error} (the answer was cut off at max_tokens={self.settings.max_tokens})"
        return error

    def _examples(self, problem: dict[str, Any], language: str | None) -> list[dict[str, Any]]:
        return select_examples(problem, self.settings.few_shot, language=language)

    @staticmethod
    def _version(stage: str, language: str | None, examples: list[dict[str, Any]]) -> str:
        parts = [prompting.PROMPT_VERSIONS[stage]]
        if stage in ("code", "single"):
            parts += [prompting.PROMPT_VERSIONS[f"rules_{lang}"] for lang in LANGUAGES
                      if language in (None, lang)]
        if examples:
            parts.append(prompting.PROMPT_VERSIONS["example"] + f"x{len(examples)}")
        return "+".join(parts)

    def _render(self, code: str, language: str) -> Any:
        from scigenbench.generators.sandbox import get_default_pool

        try:
            pool = self._pool if self._pool is not None else get_default_pool()
            return pool.render(code, language, timeout=self.settings.render_timeout, dpi=self.settings.dpi)
        except Exception as exc:  # the sandbox itself failed, not the program: no repair can fix that
            raise _SandboxFailed(f"sandbox failure ({type(exc).__name__}: {exc}); `scigenbench doctor` shows "
                                 "what the sandbox needs on this machine") from exc

    def _backbone_description(self) -> dict[str, Any]:
        try:
            description = dict(self.backend.describe())
        except Exception:
            description = {"backend": type(self.backend).__name__}
        return description

    def _output(self, trace: _Trace, status: str, png: bytes | None, error: str | None) -> GenerationOutput:
        rounds = trace.rounds
        rendered_rounds = [r["round"] for r in rounds if r["render"] and r["render"]["status"] == "ok"]
        final_checks = (rounds[-1]["checks"] or {}) if rounds else {}
        extra = {
            "rounds_used": len(rounds),
            "render_ok_first_try": bool(rounds) and 1 in rendered_rounds,
            "render_ok_after_repair": bool(rendered_rounds),
            "verified_first_try": bool(rounds) and rounds[0]["passed"],
            "verified": bool(rounds) and rounds[-1]["passed"],
            "checks_failed": list(final_checks.get("failed", [])),
            "rounds": rounds,
            "stages": trace.stages,
            "understanding": trace.understanding,
            "backbone": self._backbone_description(),
            "stages_mode": self.settings.stages,
            "few_shot": self.settings.few_shot,
        }
        return GenerationOutput(status=status, image_png=png, error=error, plan=trace.plan,
                                code=(rounds[-1]["code"] or None) if rounds else None, language=trace.language,
                                timings=dict(trace.timings), usage=trace.usage(), extra=extra)


_PYTHON_CODE_LINE = re.compile(r"^\s*(?:import |from [\w.]+ import |def |class |plt\.|fig\b|ax\w*\s*[.=\[]|np\.|\w+\s*=)",
                               re.MULTILINE)
_TIKZ_CODE = re.compile(r"\\(?:documentclass|draw|node|path|fill|filldraw|coordinate|usetikzlibrary)\b|"
                        r"\\begin\{tikzpicture\}")


def _extract_code(answer: str, language: str) -> str:
    """The program in a model answer; ``""`` when there is none (empty, a refusal, prose without code)."""
    from scigenbench.generators.sandbox import extract_code

    answer = answer or ""
    if "```" not in answer and "~~~" not in answer and not _looks_like_code(answer, language):
        return ""  # unfenced prose ("I'm sorry, I can't ...") is no program; rendering it only gives a SyntaxError
    try:
        return extract_code(answer, language) or ""
    except ValueError:
        return ""


def _looks_like_code(text: str, language: str) -> bool:
    if language == "tikz":
        return bool(_TIKZ_CODE.search(text))
    return bool(_PYTHON_CODE_LINE.search(text))


def _render_summary(render: Any) -> dict[str, Any]:
    return {"status": render.status, "error": render.error, "error_line": render.error_line,
            "wall_s": round(render.wall_s or 0.0, 4), "width": render.width, "height": render.height,
            "n_texts": len(render.texts or [])}


def make_imgcoder(arg: str | None = None, backbone: Any = None, *, config: ImgCoderConfig | None = None,
                  pool: Any = None, **options: Any) -> ImgCoder:
    """Registry factory for ``get_generator("imgcoder", backbone=..., **options)``.

    Args:
        arg: the part after ``imgcoder:`` in a spec; taken as the backbone spec when ``backbone`` is not given
            (``imgcoder:openai:gpt-4o@http://host/v1``).
        backbone: a backend spec string or a chat backend object.
        config: a ready :class:`ImgCoderConfig`; otherwise built from ``options``.
        pool: a renderer pool (default: the process-wide one).
        **options: :class:`ImgCoderConfig` fields (``stages``, ``language``, ``few_shot``, ...) and backbone
            options (``cache``, ``max_retries``, ``budget_usd``, ...).

    Raises:
        ValueError: no backbone given. TypeError: an unknown option (the message lists the valid ones).
    """
    backbone = backbone if backbone is not None else arg
    if backbone is None or backbone == "":
        raise ValueError("imgcoder needs a backbone: pass backbone='openai:<model>@<base_url>' (or 'replay:<file>', "
                         "'hf-inference:<model>', 'transformers:<path>', 'fake'), e.g. "
                         "--generator imgcoder --backbone openai:gpt-4o")
    backend_options = {k: options.pop(k) for k in list(options) if k in BACKEND_OPTIONS}
    if config is None:
        config = ImgCoderConfig.from_options(**options)
    elif options:
        raise TypeError(f"pass ImgCoder options either as config= or as keywords, not both: {sorted(options)}")
    return ImgCoder(backbone, config, pool=pool, **backend_options)


__all__ = ["ImgCoder", "ImgCoderConfig", "make_imgcoder"]
