"""Evaluate a generation run folder: resumable, cached, concurrent, with progress, cost and a dry run.

``evaluate_run(run_dir, metrics=["judge", "quiz"], judge="openai:...")`` scores every item of the run's dataset
(items the run lacks are *missing*), appends one line per item and metric to ``RUN_DIR/scores/<metric>.jsonl``,
skips what is already scored under the same key (see :mod:`scigenbench.metrics.store`), and writes
``RUN_DIR/scores/<metric>.parquet`` and ``RUN_DIR/scores/summary.json``.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from scigenbench._optional import require
from scigenbench.generators.backends.limits import CallLimits
from scigenbench.metrics import _calls, aggregate
from scigenbench.metrics._prompts import prompt_version
from scigenbench.metrics.records import MISSING, NOT_APPLICABLE, SCORED, ItemResult, model_id
from scigenbench.metrics.specs import is_proxy, resolve_backend
from scigenbench.metrics.runner import EvalContext, ItemTask, ItemWork, RecordWriter, compute_item, run_items
from scigenbench.metrics.store import RESULTS_DIR, ResultStore, result_key, write_parquet

METRICS = ("judge", "quiz", "quiz_blind", "rinv", "fidelity")
#: CLI aliases
ALIASES = {"blind": "quiz_blind", "r_inv": "rinv", "ve": "rinv"}
#: upstream-compatibility switches (PROTOCOL §7) accepted by :func:`evaluate_run`: name -> (default, compat values).
#: Results produced with any of them on are labelled ``protocol="upstream-compat"`` and keyed apart.
COMPAT_SWITCHES = {"fidelity": ("default", ("upstream",)), "judge_parse": ("strict", ("fence_only",)),
                   "quiz_grader": ("rule", ("llm",)), "options": ("repaired", ("raw",)),
                   "image_encoding": ("default", ("upstream",)), "corrupted": ("default", ("upstream",)),
                   "rinv_verdict": ("default", ("upstream",)), "decoding": ("default", ("upstream",))}
#: switches passed through ``compat=`` (the others have their own arguments of :func:`evaluate_run`)
COMPAT_EXTRA = ("options", "image_encoding", "corrupted", "rinv_verdict", "decoding")
#: ``--compat upstream``: every switch on, the closest we get to upstream's numbers on the same replies
ALL_UPSTREAM = {name: values[0] for name, (_, values) in COMPAT_SWITCHES.items()}
#: metrics the OCR proxy can answer (it only reads multiple-choice quizzes)
PROXY_METRICS = {"quiz", "quiz_blind", "fidelity"}


@dataclass
class RunImages:
    """What the metrics need from a run folder: the image path of each done item and why others have none."""

    root: Path
    dataset: str | None
    images: dict[str, Path]
    failures: dict[str, str]
    #: ``run.json``'s selection (``--limit``/``--ids``/``--image-types`` of ``generate``), or ``None``
    selection: dict[str, Any] | None = None

    def image(self, item_id: str) -> Path | None:
        return self.images.get(item_id)

    def missing_reason(self, item_id: str) -> str:
        return self.failures.get(item_id, "not generated (no record in the run)")


def open_run(run_dir: str | Path) -> RunImages:
    """Read a run folder through ``scigenbench.dataset.runs.RunFolder``: images of done items, and the reason
    (generation status and error) for every attempted item without one."""
    from scigenbench.dataset.runs import RunFolder

    root = Path(run_dir)
    if not (root / "run.json").exists():
        raise FileNotFoundError(f"{root} is not a generation run folder (no run.json); create one with "
                                "`scigenbench generate`")
    run = RunFolder.open(root)
    done = run.done_ids()
    images = {str(i): run.image_path(i) for i in done}
    failures = {}
    for item_id, rec in run.records().items():
        if item_id not in done:
            status = rec.get("status") or "failed"
            failures[str(item_id)] = f"generation {status}: {rec.get('error') or 'image absent'}"[:300]
    return RunImages(root, run.info.get("dataset"), images, failures, run.info.get("selection"))


def load_problems(dataset: str, data_dir: str | None = None) -> list[dict[str, Any]]:
    """Problems of ``dataset`` (``mini``, ``scigen``, ``seephys``) as plain dicts."""
    if dataset == "mini":
        from scigenbench.dataset import load_mini_problems

        return load_mini_problems()
    from scigenbench.dataset import load_scigenbench

    return [dict(row) for row in load_scigenbench(dataset, data_dir=data_dir)]


@dataclass
class EvalReport:
    """What :func:`evaluate_run` did: per-metric summaries, calls made, cost, and where results are."""

    run_dir: Path
    metrics: list[str]
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: dict[str, list[ItemResult]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    evaluated: dict[str, int] = field(default_factory=dict)
    reused: dict[str, int] = field(default_factory=dict)
    cost_usd: float = 0.0
    tokens: dict[str, int] = field(default_factory=dict)
    planned_calls: dict[str, dict[str, int]] = field(default_factory=dict)
    dry_run: bool = False
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    #: cost of the calls made by Ray workers in this evaluation (from their records)
    worker_cost_usd: float = 0.0
    #: ids with an image in the run that are not items of the dataset (not scored; usually a wrong --dataset)
    unknown_ids: list[str] = field(default_factory=list)
    #: judge panels (PROTOCOL §4.1): each judge's summaries and records per metric, and agreement per metric
    judge_summaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    judge_records: dict[str, dict[str, list[ItemResult]]] = field(default_factory=dict)
    agreement: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: answerers evaluated: judges × samples (1 for the ordinary single-judge evaluation)
    passes: int = 1
    #: which items were evaluated: ``over`` (``selection``/``split``), ``n_items``, ``n_split``, ``dataset``,
    #: ``partial`` (fewer items than the split: such a run is never ranked against full runs)
    scope: dict[str, Any] = field(default_factory=dict)

    def scope_text(self) -> str:
        s = self.scope
        if not s:
            return ""
        what = f"{s['n_items']:,} of {s['n_split']:,} {s.get('dataset') or ''} items".replace("  ", " ")
        if s.get("partial"):
            return (f"{what} (partial run: the run's selection; --over split scores the whole split with the rest "
                    "as missing)")
        return what

    def to_text(self) -> str:
        lines = [f"evaluated: {self.scope_text()}"] if self.scope else []
        if self.unknown_ids:
            shown = ", ".join(self.unknown_ids[:5]) + (" …" if len(self.unknown_ids) > 5 else "")
            lines.append(f"warning: {len(self.unknown_ids)} image(s) in the run match no item of the dataset and "
                         f"are not scored ({shown}); check --dataset")
        if self.dry_run:
            for metric, plan in self.planned_calls.items():
                lines.append(f"{metric}: {plan['items_to_evaluate']} items to evaluate, {plan['calls']} model calls"
                             + (f" (+ up to {plan['grader_calls_max']} grader calls)" if plan["grader_calls_max"]
                                else ""))
            if self.passes > 1:
                lines.append(f"(items counted once per judge and sample: {self.passes} answerers)")
            total = sum(p["calls"] for p in self.planned_calls.values())
            total_max = total + sum(p["grader_calls_max"] for p in self.planned_calls.values())
            lines.append(f"dry run: would make {total} model calls (at most {total_max}); cached answers cost none")
            return "\n".join(lines)
        for metric in self.metrics:
            s = self.summaries[metric]
            c = s["coverage"]
            lines.append(f"{metric}: {c['n_scored']} scored, {c['n_unscored']} unscored, {c['n_missing']} missing, "
                         f"{c['n_not_applicable']} n/a of {c['n_items']} | {_headline(metric, s)} | "
                         f"calls {self.calls.get(metric, 0)} (evaluated {self.evaluated.get(metric, 0)}, "
                         f"reused {self.reused.get(metric, 0)})" + (" [OCR PROXY]" if s.get("proxy") else ""))
            lines.extend(f"{metric}: {label} not computed: {s[key]}" for key, label in SET_METRIC_ERRORS
                         if s.get(key))
            lines.extend(_judge_lines(metric, s, self.judge_summaries, self.agreement.get(metric)))
        lines.append(f"model calls: {sum(self.calls.values())}, tokens: {self.tokens}, cost: ${self.cost_usd:.4f}, "
                     f"{self.seconds:.1f} s")
        return "\n".join(lines)


#: summary keys of set-level fidelity metrics that could not be computed, and what to call them
SET_METRIC_ERRORS = (("clip_error", "CLIP score"), ("fid_error", "FID/KID"))


def _fmt(value: float | None, scale: float = 1.0) -> str:
    return "n/a" if value is None else f"{value * scale:.2f}"


def _judge_lines(metric: str, s: dict[str, Any], per_judge: dict[str, dict[str, Any]],
                 agreement: dict[str, Any] | None) -> list[str]:
    """CLI lines for samples, each panel judge and the agreement of one metric."""
    lines = []
    if s.get("samples", 1) > 1:
        spread = s.get("sample_sd_mean")
        temperature = s.get("temperature")
        lines.append(f"{metric}: {s['samples']} samples per item (temperature "
                     + (f"{temperature})" if temperature is not None else
                        "0: samples differ only if the judge is nondeterministic; set --temperature)")
                     + (f", mean per-item score sd {spread:.3f}" if spread is not None else ""))
    for judge, summaries in per_judge.items():
        if metric in summaries:
            lines.append(f"{metric}:   judge {judge}: {_headline(metric, summaries[metric])}")
    if agreement:
        def pairs(block: dict[str, Any] | None) -> str:
            return ", ".join(f"{k} {_fmt(v)}" for k, v in (block or {}).items()) or "n/a"
        lines.append(f"{metric}: agreement ({len(agreement['judges'])} judges, {agreement['level']}, "
                     f"{agreement['n_pairable_units']} units): Krippendorff alpha "
                     f"{_fmt(agreement['krippendorff_alpha'])}; Cohen kappa {pairs(agreement['cohen_kappa'])}; "
                     f"Spearman {pairs(agreement.get('spearman'))}")
    return lines


def _headline(metric: str, s: dict[str, Any]) -> str:
    if metric == "judge":
        return f"judge mean strict {_fmt(s['overall']['strict'])} lenient {_fmt(s['overall']['lenient'])} (0-2)"
    if metric in ("quiz", "quiz_blind"):
        m = s["quiz_acc_micro"]
        return (f"micro acc strict {_fmt(m['strict'], 100)}% lenient {_fmt(m['lenient'], 100)}%, "
                f"answer calls {s['answer_calls']}, grader calls {s['grader_calls']}")
    if metric == "rinv":
        return f"R_inv strict {_fmt(s['rinv_acc']['strict'], 100)}% lenient {_fmt(s['rinv_acc']['lenient'], 100)}%"
    return f"PSNR {_fmt(s['psnr']['mean'])} SSIM {_fmt(s['ssim']['mean'])} (n={s['psnr']['n']})"


def normalise_metrics(metrics: list[str] | str, *, blind: bool = False) -> list[str]:
    names = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    out = []
    for name in names:
        name = ALIASES.get(name.strip(), name.strip())
        if name and name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; choose from {', '.join(METRICS)}")
        if name and name not in out:
            out.append(name)
    if blind and "quiz_blind" not in out:
        out.append("quiz_blind")
    return out


def _file_sha(path: Path | None) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path is not None else None


def _n_scorable(problem: dict[str, Any]) -> int:
    from scigenbench.metrics.quiz import _is_scorable

    return sum(_is_scorable(q)[0] for q in problem.get("quizzes") or [])


def evaluate_run(run_dir: str | Path, metrics: list[str] | str, judge: str | Any, *, grader: str | Any = None,
                 dataset: str | None = None, problems: list[dict[str, Any]] | None = None,
                 data_dir: str | None = None, concurrency: int = 16, dry_run: bool = False, blind: bool = False,
                 progress: bool = True, backend_options: dict[str, Any] | None = None,
                 fidelity_mode: str = "default", judge_parse: str = "strict", quiz_grader: str = "rule",
                 n_boot: int = 1000, clip_model: Any = None, fid: bool = False, feature_extractor: Callable[..., Any] | None = None,
                 compat: dict[str, str] | None = None, graders: dict[str, Any] | None = None,
                 over: str = "selection", executor: str = "local", ray_options: Any = None, samples: int = 1,
                 temperature: float | None = None) -> EvalReport:
    """Score a run folder with the chosen metrics.

    Args:
        run_dir: a generation run folder.
        metrics: names or a comma-separated string from :data:`METRICS` (``blind`` = ``quiz_blind``).
        judge: backend spec (or backend) of the judge / answering model; ``ocr`` for the OCR proxy. A list of
            several makes a judge panel (PROTOCOL §4.1): per-judge results, panel result and agreement.
        grader: backend spec of the grader (letter matching for quizzes, verdicts for R_inv). Quiz letters
            fall back to rule-only reading without one; R_inv defaults to the judge.
        graders: per-metric graders overriding ``grader``: ``{"quiz": spec, "rinv": spec}`` (upstream used
            different models for quiz verification and R_inv).
        dataset: ``mini``/``scigen``/``seephys``; default: the run's ``run.json``.
        problems: the problems themselves (overrides ``dataset``).
        concurrency: model requests in flight at once across the whole evaluation (every metric, every quiz, the
            judge and the graders draw from this one limit, and ``rpm``/``adaptive`` in ``backend_options``
            apply to the run as a whole). Backends passed as objects keep their own limits.
        dry_run: count the calls that would be made; make none.
        blind: also run ``quiz_blind``.
        backend_options: passed to ``get_backend`` (``cache``, ``max_retries``, ``timeout``, ``rpm``, ...).
        fidelity_mode: ``default`` or ``upstream`` (labelled upstream-compat).
        judge_parse: ``strict`` or ``fence_only`` (upstream-compat).
        quiz_grader: ``rule`` or ``llm`` (upstream-compat: every quiz reply graded by the grader model).
        n_boot: bootstrap resamples for the confidence intervals.
        clip_model: with ``fidelity``, also compute the CLIP score with this model (name, path or a
            ``(model, processor, tokenizer)`` tuple).
        fid: with ``fidelity``, also compute FID/KID (Inception-v3 unless ``feature_extractor`` is given).
        feature_extractor: images -> N×D features for FID/KID.
        over: ``"selection"`` (default): a run generated for a selection of the split (``--limit``, ``--ids``,
            ``--image-types``, recorded in ``run.json``) is evaluated over those items only, and labelled partial;
            ``"split"``: the whole split, items the run did not generate counting as missing.
        compat: further upstream-compatibility switches (PROTOCOL §7): ``options="raw"`` (quiz: stored, unrepaired
            options), ``image_encoding="upstream"`` (upstream's exact image bytes), ``corrupted="upstream"``
            (an undecodable image is "image not found", as upstream's loaders read it). Each result records its
            active switches.
        executor: ``"local"`` (this process) or ``"ray"``: the items go to model-calling actors on a Ray cluster
            (:mod:`scigenbench.metrics.ray_eval`; judge and graders must then be spec strings, ``concurrency``
            becomes ``ray_options.in_flight`` requests per actor, and ``rpm`` stays one limit for the cluster).
            Same ``scores/``, written by this process only.
        ray_options: a :class:`~scigenbench.generators.executors.RayOptions` (or a dict of its fields).
        samples: score each item K times with the judge (sample k ≥ 1 is requested with ``seed=k``); per-item
            mean and spread, two-stage bootstrap CIs (PROTOCOL §4.1).
        temperature: the judge's / answering model's decoding temperature (graders stay at 0).
    """
    from scigenbench.generators.executors import check_executor

    check_executor(executor)
    from scigenbench.metrics import panel_run

    judges = panel_run.judge_list(judge)
    if samples < 1:
        raise ValueError(f"--samples must be >= 1, got {samples}")
    if executor == "ray" and (len(judges) > 1 or samples > 1 or temperature is not None):
        raise ValueError("judge panels, --samples and --temperature run with the local executor (drop --executor ray)")
    started = time.perf_counter()
    extra = validate_compat(compat)
    run = open_run(run_dir)
    metrics = normalise_metrics(metrics, blind=blind)
    if problems is None:
        dataset = dataset or run.dataset
        if not dataset:
            raise ValueError(f"{run.root}/run.json names no dataset; pass --dataset mini|scigen|seephys")
        problems = load_problems(dataset, data_dir)
        split_ids = {str(p["id"]) for p in problems}
        problems, scope = _scope(problems, run, over, dataset)
    else:
        split_ids = {str(p["id"]) for p in problems}
        scope = {"over": "problems", "n_items": len(problems), "n_split": len(problems), "dataset": dataset,
                 "partial": False}
    if any(is_proxy(j) for j in judges):
        unsupported = [m for m in metrics if m not in PROXY_METRICS]
        if unsupported:
            raise ValueError(f"the ocr proxy answers multiple-choice quizzes only; metrics {unsupported} need a real "
                             "judge model (--judge openai:<model>@<url>, ...)")
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1 (model requests in flight), got {concurrency}")
    options = dict(backend_options or {})
    if executor == "ray":
        from scigenbench.metrics.ray_eval import ray_backend_specs

        ray_backend_specs(judges[0], grader, *(graders or {}).values())
    remote_options = dict(options)  # the Ray workers build their own limits from these
    limits = CallLimits(concurrency, options.pop("rpm", None), bool(options.pop("adaptive", False)))
    options.pop("concurrency", None)
    options["limits"] = limits
    needs_models = any(m != "fidelity" for m in metrics)
    judge_backends = [_build(j, options, dry_run) if needs_models else None for j in judges]
    judge_backend = judge_backends[0]
    specs = {"quiz": grader, "rinv": grader, **{k: v for k, v in (graders or {}).items() if v is not None}}
    built: dict[int, Any] = {}
    grader_backends: dict[str, Any] = {}
    for metric in ("quiz", "rinv"):
        spec = specs.get(metric)
        if spec is not None and any(m.startswith(metric) for m in metrics):
            same = [m for m in grader_backends if specs.get(m) is spec or specs.get(m) == spec]
            grader_backends[metric] = grader_backends[same[0]] if same else _build(spec, options, dry_run)
    grader_backends["quiz_blind"] = grader_backends.get("quiz")
    if quiz_grader == "llm" and any(m.startswith("quiz") for m in metrics) and specs.get("quiz") is None:
        raise ValueError("quiz_grader=llm (upstream's verification call) needs a grader model: pass --grader or "
                         "--quiz-grader SPEC")
    slots = panel_run.answerer_slots(judges, judge_backends, samples, temperature)
    judge_id = slots[0].judge_id
    grader_ids = {m: (model_id(b) if b is not None else specs.get(m if m != "quiz_blind" else "quiz"))
                  for m, b in grader_backends.items()}
    report = EvalReport(Path(run_dir), metrics, dry_run=dry_run, scope=scope)
    ids = [str(p["id"]) for p in problems]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"problem ids must be unique (each item is scored once per metric); duplicated: "
                         f"{', '.join(dupes[:5])}")
    report.unknown_ids = sorted(i for i in run.images if i not in split_ids)
    if "fidelity" in metrics and not dry_run:  # a missing extra is a setup error, not 330 unscored items
        require("skimage.metrics", extra="fidelity", purpose="PSNR/SSIM")
    eval_dir = run.root / RESULTS_DIR
    file_shas = {str(p["id"]): _file_sha(run.image(str(p["id"]))) for p in problems}
    settings = dict(fidelity_mode=fidelity_mode, judge_parse=judge_parse, quiz_grader=quiz_grader, **extra)
    current, work = _plan_work(metrics, problems, run, file_shas, eval_dir, slots, grader_ids, settings, report)
    report.passes = len(slots)
    if dry_run:
        for metric in metrics:
            for slot in panel_run.slots_of(metric, slots):
                todo = [w.problem for w in work if any(t.metric == metric and t.judge == slot.key for t in w.tasks)]
                plan = _plan(metric, todo, run, grader_ids.get(metric))
                into = report.planned_calls.setdefault(metric, dict.fromkeys(plan, 0))
                for name, n in plan.items():
                    into[name] += n
        report.seconds = time.perf_counter() - started
        return report
    ctx = EvalContext(answerers={slot.key or "default": slot.backend for slot in slots},
                      default=slots[0].key or "default", graders=grader_backends, switches=settings)
    if executor == "ray" and work:
        from scigenbench.metrics.ray_eval import run_work_on_ray

        specs_by_metric = {m: specs.get(m if m != "quiz_blind" else "quiz") for m in grader_backends}
        run_work_on_ray(work, eval_dir, report, current, judge=judges[0], graders=specs_by_metric,
                        backend_options=remote_options, switches=settings, ray_options=ray_options,
                        progress=progress)
    else:
        _run_work(ctx, work, eval_dir, report, current, concurrency=concurrency, progress=progress)
    model_metrics = panel_run.combined_metrics(metrics, slots)
    for metric in metrics:
        if metric not in model_metrics:
            report.records[metric] = [current[metric][str(p["id"])] for p in problems]
            report.summaries[metric] = aggregate.summarize(report.records[metric], metric, n_boot=n_boot)
    if model_metrics:  # a judge panel and/or K samples: combine the answerers' records (PROTOCOL §4.1)
        panel_run.combine(report, current, problems, model_metrics, slots, samples, temperature, n_boot)
    for metric in metrics:
        report.summaries[metric]["scope"] = scope
    if "fidelity" in metrics and (clip_model is not None or fid or feature_extractor is not None):
        report.summaries["fidelity"].update(fidelity_set_metrics(
            problems, run, report.records["fidelity"], clip_model=clip_model, fid=fid or bool(feature_extractor),
            feature_extractor=feature_extractor, mode=fidelity_mode))
    for backend in {id(b): b for b in (*judge_backends, *grader_backends.values()) if b is not None}.values():
        stats = backend.stats() if hasattr(backend, "stats") else {}
        report.cost_usd += float(stats.get("cost_usd", 0.0) or 0.0)
    if executor == "ray":  # the workers made the calls: their records carry the cost
        report.cost_usd += report.worker_cost_usd
    _write_outputs(report, eval_dir, problems)
    if model_metrics:
        panel_run.write_panel_outputs(report, eval_dir)
    report.seconds = time.perf_counter() - started
    return report


def _scope(problems: list[dict[str, Any]], run: RunImages, over: str, dataset: str
           ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The problems to evaluate and the scope record: the run's selection (default) or the whole split."""
    if over not in ("selection", "split"):
        raise ValueError(f"over must be 'selection' or 'split', got {over!r}")
    scope = {"over": over, "n_split": len(problems), "dataset": dataset, "partial": False}
    selected = (run.selection or {}).get("ids")
    if over == "selection" and selected:
        wanted = set(map(str, selected))
        chosen = [p for p in problems if str(p["id"]) in wanted]
        if len(chosen) < len(problems):
            unknown = len(wanted) - len(chosen)
            scope.update(partial=True, criteria=(run.selection or {}).get("criteria"),
                         **({"unknown_selected_ids": unknown} if unknown else {}))
            problems = chosen
    scope["n_items"] = len(problems)
    return problems, scope


def _plan_work(metrics: list[str], problems: list[dict[str, Any]], run: RunImages, file_shas: dict[str, str | None],
               eval_dir: Path, slots: list[Any], grader_ids: dict[str, str | None], settings: dict[str, str],
               report: EvalReport) -> tuple[dict[str, dict[str, ItemResult]], list[ItemWork]]:
    """Records already final under today's keys (reused) and, per item, the tasks still to compute.

    ``slots`` are the answerers (:func:`~scigenbench.metrics.panel_run.answerer_slots`): one per judge and sample;
    a slot's records live in ``current[slot_name(metric, slot.key)]`` and its keys name its judge, sample and
    temperature. The ordinary single-judge evaluation has one slot whose key is ``None``."""
    from scigenbench.metrics.panel_run import pass_key, slot_name, slots_of

    current: dict[str, dict[str, ItemResult]] = {}
    tasks_by_item: dict[str, list[ItemTask]] = {}
    for metric in metrics:
        existing = ResultStore(eval_dir, metric).load()
        switches = _switches(metric, **settings)
        report.reused[metric] = report.evaluated[metric] = 0
        for slot in slots_of(metric, slots):
            done = current.setdefault(slot_name(metric, slot.key), {})
            for p in problems:
                item_id = str(p["id"])
                key = pass_key(_key_for(metric, item_id, slot.judge_id, grader_ids.get(metric), file_shas[item_id],
                                        switches), slot.sample, slot.temperature)
                row = existing.get(key)
                if row is not None and _is_final(row):
                    done[item_id] = ItemResult.from_dict(row)
                else:
                    tasks_by_item.setdefault(item_id, []).append(ItemTask(metric, key, slot.key, slot.sample))
                    report.evaluated[metric] += 1
            report.reused[metric] += len(done)
    work = [ItemWork(p, run.image(str(p["id"])), run.missing_reason(str(p["id"])), tasks_by_item[str(p["id"])])
            for p in problems if str(p["id"]) in tasks_by_item]
    return current, work


def record_callback(report: EvalReport, current: dict[str, dict[str, ItemResult]]
                    ) -> Callable[[ItemTask, ItemResult], None]:
    """What every executor does with a finished record: make it current and count its calls and tokens."""

    from scigenbench.metrics.panel_run import slot_name

    def on_record(task: ItemTask, record: ItemResult) -> None:
        current[slot_name(task.metric, task.judge)][record.id] = record
        report.calls[task.metric] = report.calls.get(task.metric, 0) + record.calls
        for k in ("prompt_tokens", "completion_tokens"):
            report.tokens[k] = report.tokens.get(k, 0) + int(record.usage.get(k, 0) or 0)

    return on_record


def _run_work(ctx: EvalContext, work: list[ItemWork], eval_dir: Path, report: EvalReport,
              current: dict[str, dict[str, ItemResult]], *, concurrency: int, progress: bool) -> None:
    """Compute ``work`` on the metrics event loop, writing records in batches and filling ``current``."""
    bar = _progress_bar(len(work), ",".join(report.metrics), progress)

    on_record = record_callback(report, current)
    # enough open items that the request limit stays full while some items wait on a grader or the disk
    in_flight = max(4, concurrency + concurrency // 2)
    with RecordWriter(eval_dir) as writer:
        _calls.run_sync(run_items(ctx, work, writer, items_in_flight=in_flight, on_record=on_record,
                                  on_item=(lambda _: bar.update(1)) if bar is not None else None))
    if bar is not None:
        bar.close()
    for metric in report.metrics:
        report.calls.setdefault(metric, 0)


def fidelity_set_metrics(problems: list[dict[str, Any]], run: RunImages, records: list[ItemResult], *,
                         clip_model: Any = None, fid: bool = False, feature_extractor: Any = None,
                         mode: str = "default") -> dict[str, Any]:
    """CLIP score and FID/KID over the scored fidelity pairs. A failure (e.g. weights not available offline) is
    reported in the summary (``clip_error``/``fid_error``), never silently skipped."""
    from scigenbench.metrics import fidelity

    scored = {r.id for r in records if r.state == SCORED}
    pairs = [(run.image(str(p["id"])), p["image"], p["question"]) for p in problems if str(p["id"]) in scored]
    out: dict[str, Any] = {}
    if clip_model is not None:
        try:
            model, processor, tokenizer = (clip_model if isinstance(clip_model, (tuple, list))
                                           else fidelity.load_clip(clip_model))
            scores = fidelity.clip_scores([p[0] for p in pairs], [p[2] for p in pairs], model=model,
                                          processor=processor, tokenizer=tokenizer, mode=mode)
            out["clip_score"] = {"mean": sum(scores) / len(scores) if scores else None, "n": len(scores),
                                 "model": clip_model if isinstance(clip_model, str) else "custom", "mode": mode}
        except Exception as exc:  # noqa: BLE001 - reported, the rest of the evaluation stands
            out["clip_error"] = f"{type(exc).__name__}: {exc}"
    if fid:
        try:
            values = fidelity.fid_kid([p[0] for p in pairs], [p[1] for p in pairs],
                                      feature_extractor=feature_extractor, mode=mode)
            out.update(fid=values["fid"], kid=values["kid"], fid_n=values["n"], fid_extractor=values["extractor"])
        except Exception as exc:  # noqa: BLE001
            out["fid_error"] = f"{type(exc).__name__}: {exc}"
    return out


def _build(spec: Any, options: dict[str, Any], dry_run: bool) -> Any:
    """Build a backend; a dry run tolerates failures (e.g. no API key yet) and then keys results by the spec."""
    try:
        return resolve_backend(spec, **options)
    except Exception:
        if dry_run:
            return None
        raise


def validate_compat(compat: dict[str, str] | None) -> dict[str, str]:
    """Check the ``options``/``image_encoding``/``corrupted`` switches; returns them with defaults filled in."""
    out = {name: COMPAT_SWITCHES[name][0] for name in COMPAT_EXTRA}
    for name, value in (compat or {}).items():
        if name not in out or (value != COMPAT_SWITCHES[name][0] and value not in COMPAT_SWITCHES[name][1]):
            choices = ", ".join(f"{n}={v}" for n in out for v in COMPAT_SWITCHES[n][1])
            raise ValueError(f"unknown compatibility switch {name}={value!r}; available here: {choices} "
                             "(fidelity, judge_parse and quiz_grader have their own arguments)")
        out[name] = value
    return out


def _switches(metric: str, fidelity_mode: str, judge_parse: str, quiz_grader: str, options: str = "repaired",
              image_encoding: str = "default", corrupted: str = "default", rinv_verdict: str = "default",
              decoding: str = "default") -> str:
    """Active compatibility switches of ``metric`` (part of the result key, so modes never mix)."""
    from scigenbench.metrics.judge import judge_switches
    from scigenbench.metrics.quiz import quiz_switches
    from scigenbench.metrics.rinv import rinv_switches

    active = {"judge": judge_switches(judge_parse=judge_parse, image_encoding=image_encoding, corrupted=corrupted,
                                      decoding=decoding),
              "quiz": quiz_switches(quiz_grader=quiz_grader, options=options, image_encoding=image_encoding,
                                    corrupted=corrupted, decoding=decoding),
              "quiz_blind": quiz_switches(quiz_grader=quiz_grader, options=options, blind=True, decoding=decoding),
              "rinv": rinv_switches(image_encoding=image_encoding, corrupted=corrupted, rinv_verdict=rinv_verdict,
                                    decoding=decoding),
              "fidelity": [f"fidelity={fidelity_mode}"] if fidelity_mode != "default" else []}
    return ",".join(active.get(metric, []))


def _key_for(metric: str, item_id: str, judge_id: str | None, grader_id: str | None, file_sha: str | None,
             switches: str = "") -> str:
    if metric == "fidelity":
        return result_key(item_id, metric, None, None, None, file_sha, switches)
    grader = grader_id if metric in ("quiz", "quiz_blind", "rinv") else None  # the judge metric uses no grader
    version = prompt_version(metric)
    # the grader's template decides scores too: a reworded grader prompt must not reuse old verdicts
    if metric == "rinv":
        version += "+" + prompt_version("rinv_grader_upstream" if "rinv_verdict=upstream" in switches
                                        else "rinv_grader")
    elif metric in ("quiz", "quiz_blind") and grader_id:
        version += "+" + prompt_version("quiz_verifier" if "quiz_grader=llm" in switches else "letter_grader")
    return result_key(item_id, metric, judge_id, grader, version,
                      None if metric == "quiz_blind" else file_sha, switches)


def _is_final(row: dict[str, Any]) -> bool:
    """Rows that a re-run keeps: scored (with no quiz left unscored), not applicable, and missing (the key says the
    image is still absent)."""
    if row.get("state") == SCORED:
        return not (row.get("details") or {}).get("n_unscored_quizzes")
    return row.get("state") in (NOT_APPLICABLE, MISSING)


def _progress_bar(total: int, metric: str, enabled: bool):
    if not enabled or total == 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"evaluate {metric}", unit="item")


def score_item(metric: str, problem: dict[str, Any], run: RunImages, judge_backend: Any, grader_backend: Any, *,
               fidelity_mode: str = "default", judge_parse: str = "strict", quiz_grader: str = "rule",
               options: str = "repaired", image_encoding: str = "default", corrupted: str = "default") -> ItemResult:
    """Score one item of a run with one metric (the image is read from the run folder)."""
    item_id = str(problem["id"])
    ctx = EvalContext(answerers={"default": judge_backend}, default="default",
                      graders={"quiz": grader_backend, "quiz_blind": grader_backend, "rinv": grader_backend},
                      switches=dict(fidelity_mode=fidelity_mode, judge_parse=judge_parse, quiz_grader=quiz_grader,
                                    options=options, image_encoding=image_encoding, corrupted=corrupted))
    return compute_item(ctx, problem, run.image(item_id), [ItemTask(metric, "")], run.missing_reason(item_id))[0]


def _plan(metric: str, todo: list[dict[str, Any]], run: RunImages, grader_id: str | None) -> dict[str, int]:
    """Calls a metric would make for the items still to evaluate (upper bound for graders)."""
    calls = grader_max = 0
    for p in todo:
        has_image = run.image(str(p["id"])) is not None
        if metric == "judge" and has_image:
            calls += 1
        elif metric == "quiz" and has_image:
            n = _n_scorable(p)
            calls += n
            grader_max += n if grader_id else 0
        elif metric == "quiz_blind":
            n = _n_scorable(p)
            calls += n
            grader_max += n if grader_id else 0
        elif metric == "rinv" and has_image:
            from scigenbench.metrics.rinv import rinv_question

            if rinv_question(p):
                calls += 1
                grader_max += 1
    return {"items_to_evaluate": len(todo), "calls": calls, "grader_calls_max": grader_max}


def _write_outputs(report: EvalReport, eval_dir: Path, problems: list[dict[str, Any]]) -> None:
    from scigenbench.metrics.quiz import guessing_baseline

    eval_dir.mkdir(parents=True, exist_ok=True)
    for metric in report.metrics:
        report.files.append(write_parquet(eval_dir / f"{metric}.parquet", report.records[metric]))
        if metric in ("quiz", "quiz_blind"):
            report.summaries[metric]["guessing_baseline"] = guessing_baseline(problems)
    if "quiz" in report.metrics and "rinv" in report.metrics:
        report.summaries["pooled_upstream"] = aggregate.pooled_upstream(report.records["quiz"],
                                                                        report.records["rinv"])
    summary_path = eval_dir / "summary.json"
    previous = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    if ("quiz" in report.metrics) != ("rinv" in report.metrics):
        # the pooled number of an earlier quiz+rinv evaluation no longer matches the re-evaluated metric
        previous.get("metrics", {}).pop("pooled_upstream", None)
    previous.setdefault("metrics", {}).update(report.summaries)
    for metric in report.metrics:  # a panel's agreement and per-judge numbers of a re-evaluated metric are stale
        previous.get("agreement", {}).pop(metric, None)
        for per_judge in previous.get("judges", {}).values():
            per_judge.pop(metric, None)
    previous.update(run_dir=str(report.run_dir), updated=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    scope=report.scope)
    tmp = summary_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(previous, indent=1, default=str))
    tmp.replace(summary_path)
    report.files.append(summary_path)
