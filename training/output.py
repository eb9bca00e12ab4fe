"""The outputs of a synthesis folder, rebuilt from its stage logs and run folder at the end of every invocation.

``SYN_DIR/``::

    synth.json                  the settings (input, models, prompt versions, policy), written once
    skipped.jsonl               input rows not used (empty question/answer, repeated id), with the reason
    items.jsonl                 one line per item: where it ended (accepted, rejected, not_visualizable, ...) and why
    stages/<stage>.jsonl        per-id stage records: triage, elements, quizzes, rewrite, validate, verify
    run/                        the generation run folder (``scigenbench.dataset.runs``: images, attempts.jsonl)
    constructed/                the constructed problems: data/train-*.parquet + README.md (SciGenBench schema)
    scores/verification.parquet one row per item: the verification outcome of its last attempt
    verified/                   the Hub-ready dataset: data/train-*.parquet (images embedded) + README.md card
    report.md, report.json      the funnel per domain and image type, letter balance, guessable and text-shortcut
                                rates, reject reasons, calls and cost

``verified/`` columns: ``id``, ``image``, ``question`` (the figure-dependent rewrite), ``answer``,
``original_question``, ``solution`` (or null), ``domain``, ``image_type``, ``data_source``, ``quizzes`` (JSON) and
``verification`` (JSON). ``datasets.load_dataset(SYN_DIR + "/verified", split="train")`` reads it.
"""

from __future__ import annotations

import collections
import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

from scigenbench.training import checks, construct, prompting

#: columns of ``verified/`` in order (the contract the training exports read)
VERIFIED_COLUMNS = ("id", "image", "question", "answer", "original_question", "solution", "domain", "image_type",
                    "data_source", "quizzes", "verification")
FUNNEL = ("input", "visualizable", "constructed", "generated", "verified")


def verified_features():
    import datasets

    string = datasets.Value("string")
    return datasets.Features({name: datasets.Image() if name == "image" else string for name in VERIFIED_COLUMNS})


def constructed_features():
    import datasets

    from scigenbench.dataset import problem_features

    features = problem_features()
    features["solution"] = datasets.Value("string")
    features["data_source"] = datasets.Value("string")
    return features


def item_outcome(item: dict[str, Any], verify: dict[str, Any] | None,
                 generation: dict[str, Any] | None = None) -> dict[str, Any]:
    """Where an item ended: ``{"status", "stage", "reason"}`` (``generation``: its latest run-folder attempt)."""
    for name in construct.CONSTRUCTION_STAGES:
        record = item.get(name)
        if record is None:
            return {"status": "pending", "stage": name, "reason": "not processed yet"}
        if record["status"] == "not_visualizable":
            return {"status": "not_visualizable", "stage": name, "reason": record.get("error")}
        if record["status"] == "error":
            return {"status": "error", "stage": name, "reason": record.get("error")}
        if record["status"] not in construct.CONTINUE:
            return {"status": "invalid" if name == "validate" else "construction_failed", "stage": name,
                    "reason": record.get("error")}
    if verify is None and generation is not None and generation.get("status") != "ok":
        return {"status": "error", "stage": "generate", "reason": str(generation.get("error"))[:300]}
    if verify is None:
        return {"status": "pending", "stage": "generate", "reason": "not generated or verified yet"}
    if not verify.get("final"):
        return {"status": "pending", "stage": "verify", "reason": "a revision is under way"}
    reasons = ", ".join((verify.get("decision") or {}).get("reasons") or [])
    return {"status": verify["status"], "stage": "verify", "reason": reasons or verify.get("error")}


def write_outputs(out: Path, config: Any, items: list[dict[str, Any]], skipped: list[dict[str, Any]], n_rows: int,
                  ctx: Any) -> dict[str, Any]:
    """Rebuild every output file from the folder's state; returns the report (funnel, outputs, ...)."""
    state = ctx.store.state()
    verify_rows: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for row in ctx.store.rows("verify"):
        verify_rows[row["id"]].append(row)
    attempts = ctx.run.attempts()
    generated_ids = {a["id"] for a in attempts if a.get("status") == "ok"}
    last_attempt = {a["id"]: a for a in attempts}
    for item in items:
        item.update(state.get(item["id"], {}))
    lines, constructed, verified, score_rows = [], [], [], []
    for item in items:
        rows = verify_rows.get(item["id"], [])
        outcome = item_outcome(item, rows[-1] if rows else None, last_attempt.get(item["id"]))
        triage = (item.get("triage") or {}).get("output") or {}
        lines.append({"id": item["id"], "row": item["row"], **outcome, "image_type": triage.get("image_type"),
                      "generated": item["id"] in generated_ids})
        validate = item.get("validate")
        if validate and validate["status"] == "ok":
            constructed.append(item)
        if rows and rows[-1].get("final") and rows[-1].get("seen"):
            score_rows.append(_score_row(item, rows))
        if outcome["status"] == "accepted":
            verified.append(item)
    _write_jsonl(out / "items.jsonl", lines)
    data_source = config.input.input
    outputs = {"constructed": str(_write_constructed(out / "constructed", constructed, data_source, config)),
               "scores": str(_write_scores(out / "scores" / "verification.parquet", score_rows))}
    report = build_report(config, items, lines, skipped, n_rows, verify_rows, attempts, ctx)
    outputs["verified"] = str(_write_verified(out / "verified", verified, verify_rows, ctx.run, data_source, config,
                                              report))
    (out / "report.json").write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    (out / "report.md").write_text(report_markdown(report), encoding="utf-8")
    outputs["report"] = str(out / "report.md")
    report["outputs"] = outputs
    return report


# --------------------------------------------------------------------------------------------- datasets


#: rows per Parquet shard (images of about 100 kB: shards of about 100 MB)
ROWS_PER_SHARD = 1000


def _write_dataset(folder: Path, rows: Iterable[dict[str, Any]], features: Any, card_body: str, *,
                   pretty_name: str, rows_per_shard: int = ROWS_PER_SHARD) -> Path:
    """``folder/data/train-<hash>-XXXXX-of-YYYYY.parquet`` (media embedded) + ``folder/README.md`` with a YAML
    ``configs`` block. Rows are streamed shard by shard, so a large output never sits in memory at once."""
    import datasets
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard, DatasetCardData

    data_dir = folder / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    for old in [*data_dir.glob("train-*.parquet"), *data_dir.glob(".part-*.parquet")]:
        old.unlink()
    parts, n_rows, n_bytes = _write_parts(rows, features, data_dir, rows_per_shard)
    # datasets caches a local folder under a hash of its card (the data_files patterns, not the files): a pattern
    # naming the content keeps two SYN_DIRs, or two runs into one, from sharing a stale cache entry
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part.read_bytes()).digest())
    pattern = f"data/train-{digest.hexdigest()[:12]}-*"
    for index, part in enumerate(parts):
        part.rename(folder / pattern.replace("*", f"{index:05d}-of-{len(parts):05d}.parquet"))
    card = DatasetCardData(pretty_name=pretty_name, task_categories=["visual-question-answering"],
                           tags=["scigenbench", "synthetic", "science"])
    info = datasets.DatasetInfo(features=features, config_name="default")
    info.splits = datasets.SplitDict()
    info.splits.add(datasets.SplitInfo(name="train", num_bytes=n_bytes, num_examples=n_rows))
    info.download_size = sum(p.stat().st_size for p in data_dir.glob("train-*.parquet"))
    info.dataset_size = n_bytes
    DatasetInfosDict({"default": info}).to_dataset_card_data(card)
    MetadataConfigs({"default": {"data_files": [{"split": "train", "path": pattern}]}}).to_dataset_card_data(card)
    DatasetCard(f"---\n{card.to_yaml()}\n---\n\n{card_body}").save(str(folder / "README.md"))
    return folder


def _write_parts(rows: Iterable[dict[str, Any]], features: Any, data_dir: Path,
                 rows_per_shard: int) -> tuple[list[Path], int, int]:
    """Write ``rows`` into temporary Parquet parts of ``rows_per_shard`` rows (at least one part, maybe empty)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = features.arrow_schema  # carries the datasets features (Image, nested quizzes) in its metadata
    parts: list[Path] = []
    n_rows = n_bytes = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal n_rows, n_bytes
        table = pa.Table.from_pylist([features.encode_example(r) for r in batch], schema=schema)
        part = data_dir / f".part-{len(parts):05d}.parquet"
        with pq.ParquetWriter(part, schema) as writer:
            if table.num_rows:  # an empty file has no row group (readers reject a row group of 0 rows)
                writer.write_table(table)
        parts.append(part)
        n_rows, n_bytes = n_rows + table.num_rows, n_bytes + table.nbytes
        batch.clear()

    for row in rows:
        batch.append(row)
        if len(batch) >= rows_per_shard:
            flush()
    if batch or not parts:
        flush()
    return parts, n_rows, n_bytes


def _write_constructed(folder: Path, items: list[dict[str, Any]], data_source: str, config: Any) -> Path:
    rows = ({**item["validate"]["output"], "solution": item.get("solution"), "data_source": data_source}
            for item in items)
    body = (f"# Constructed problems\n\nText QA items from `{data_source}` turned into SciGenBench problems by "
            f"`scigenbench synthesize` (construction model `{config.model}`; prompts "
            f"{', '.join(prompting.PROMPT_VERSIONS.values())}): image type, visual elements, 3–5 quizzes with "
            f"balanced correct letters, and the figure-dependent `multimodal_question`. {len(items)} rows; they have "
            "no image yet (see `../verified/`).\n")
    return _write_dataset(folder, rows, constructed_features(), body, pretty_name="Constructed problems")


def verified_quizzes(problem: dict[str, Any]) -> list[dict[str, Any]]:
    """The quizzes of a problem row as stored in ``verified/`` (options A-D, the letter permutation recorded)."""
    out = []
    for quiz in problem["quizzes"]:
        extra = json.loads(quiz["extra"]) if quiz.get("extra") else {}
        out.append({"question": quiz["question"],
                    "options": {k: v for k, v in quiz["options"].items() if v is not None},
                    "correct_option": quiz["correct_option"], "evidence": quiz["evidence"],
                    "rebalanced": extra.get("rebalanced")})
    return out


def verification_summary(rows: list[dict[str, Any]], policy: dict[str, Any]) -> dict[str, Any]:
    """The ``verification`` column: the final attempt's outcome, compact."""
    last = rows[-1]
    blind = next((r["blind"] for r in rows if r.get("blind")), None) or {}
    seen = last.get("seen") or {}
    decision = last.get("decision") or {}
    quiz = seen.get("quiz") or {}
    shortcut = blind.get("text_shortcut") or {}
    rinv = seen.get("rinv") or {}
    judge = seen.get("judge")
    return {"accepted": bool(decision.get("accepted")), "reasons": decision.get("reasons") or [],
            "attempts": last.get("attempt"), "quiz_acc": decision.get("quiz_acc"),
            "quizzes_informative": len(decision.get("informative") or []),
            "quizzes_guessable": len(blind.get("guessable") or []), "guessable": blind.get("guessable") or [],
            "quiz_judge": quiz.get("judge_model"),
            "rinv": {"state": rinv.get("state"), "score": rinv.get("score"), "verdict": rinv.get("verdict"),
                     "reason": rinv.get("reason")},
            "text_shortcut": {"state": shortcut.get("state"), "correct": shortcut.get("correct"),
                              "reason": shortcut.get("reason")},
            "judge": None if judge is None else {"state": judge.get("state"), "dimensions": judge.get("dimensions")},
            "policy": policy}


def _write_verified(folder: Path, items: list[dict[str, Any]], verify_rows: dict[str, list[dict[str, Any]]], run: Any,
                    data_source: str, config: Any, report: dict[str, Any]) -> Path:
    policy = config.policy.to_dict()

    def rows():  # one image read at a time
        for item in items:
            problem = item["validate"]["output"]
            yield {"id": item["id"], "image": {"bytes": run.image_path(item["id"]).read_bytes(), "path": None},
                   "question": problem["multimodal_question"], "answer": problem["answer"],
                   "original_question": problem["question"], "solution": item.get("solution"),
                   "domain": problem["domain"], "image_type": problem["image_type"], "data_source": data_source,
                   "quizzes": json.dumps(verified_quizzes(problem), ensure_ascii=False),
                   "verification": json.dumps(verification_summary(verify_rows[item["id"]], policy),
                                              ensure_ascii=False, default=str)}

    return _write_dataset(folder, rows(), verified_features(), verified_card(config, report, len(items)),
                          pretty_name="Verified figure-grounded science problems")


def verified_card(config: Any, report: dict[str, Any], n_rows: int) -> str:
    funnel = report["funnel"]["total"]
    policy = config.policy
    judge_min = ", ".join(f"{k} ≥ {v}" for k, v in policy.judge_min.items()) or "none"
    lines = [
        "# Verified figure-grounded science problems",
        "",
        f"{n_rows} items made by `scigenbench synthesize` from the text QA dataset `{config.input.input}`"
        + (f" (config `{config.input.config}`)" if config.input.config else "")
        + (f" (split `{config.input.split}`)" if config.input.split else "") + ". Each row is a figure rendered for "
        "the problem, the question rewritten so that it needs the figure (`question`), the gold `answer`, the "
        "`original_question`, and how the item was verified.",
        "",
        "## Models and prompts",
        "",
        f"- construction (triage, elements, quizzes, rewrite): `{config.model}`",
        f"- generator: `{config.generator}`" + (f" with backbone `{config.backbone or config.model}`"
                                                if config.generator.startswith("imgcoder") else ""),
        f"- verification judge: `{config.judge}`" + (f", grader `{config.grader}`" if config.grader else ""),
        f"- prompt versions: {', '.join(prompting.PROMPT_VERSIONS.values())}",
        "",
        "## Acceptance policy",
        "",
        f"- quiz accuracy over informative (not guessable) quizzes ≥ {policy.min_quiz_acc}",
        f"- R_inv on the rewritten question required: {'yes' if policy.require_rinv else 'no'}",
        f"- text shortcuts (question answered right without the figure) rejected: "
        f"{'yes' if policy.reject_text_shortcut else 'no'}",
        f"- judge minimums: {judge_min}",
        f"- figures tried per item: up to {config.max_attempts}",
        "",
        "## Funnel",
        "",
        "| " + " | ".join(FUNNEL) + " |",
        "|" + "---|" * len(FUNNEL),
        "| " + " | ".join(str(funnel.get(k, 0)) for k in FUNNEL) + " |",
        "",
        "## Columns",
        "",
        "`id`, `image`, `question` (figure-dependent), `answer`, `original_question`, `solution` (null when the input "
        "had none), `domain`, `image_type`, `data_source`, `quizzes` (JSON: the verified multiple-choice quizzes), "
        "`verification` (JSON: quiz accuracy, R_inv, guessable quizzes, text-shortcut check, judge scores, attempts).",
        "",
        "```python",
        "from datasets import load_dataset",
        'ds = load_dataset("path/to/verified", split="train")',
        "```",
    ]
    return "\n".join(lines) + "\n"


def _score_row(item: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    summary = verification_summary(rows, {})
    return {"id": item["id"], "status": rows[-1]["status"], "attempts": summary["attempts"],
            "quiz_acc": summary["quiz_acc"], "quizzes_informative": summary["quizzes_informative"],
            "quizzes_guessable": summary["quizzes_guessable"], "rinv_state": summary["rinv"]["state"],
            "rinv_score": summary["rinv"]["score"], "text_shortcut": summary["text_shortcut"]["state"] == "scored"
            and bool(summary["text_shortcut"]["correct"]), "reasons": ",".join(summary["reasons"]),
            "judge": json.dumps(summary["judge"])}


def _write_scores(path: Path, rows: list[dict[str, Any]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("id", pa.string()), ("status", pa.string()), ("attempts", pa.int64()),
                        ("quiz_acc", pa.float64()), ("quizzes_informative", pa.int64()),
                        ("quizzes_guessable", pa.int64()), ("rinv_state", pa.string()), ("rinv_score", pa.float64()),
                        ("text_shortcut", pa.bool_()), ("reasons", pa.string()), ("judge", pa.string())])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp)
    tmp.replace(path)
    return path


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(path)


# --------------------------------------------------------------------------------------------- report


def build_report(config: Any, items: list[dict[str, Any]], lines: list[dict[str, Any]], skipped: list[dict[str, Any]],
                 n_rows: int, verify_rows: dict[str, list[dict[str, Any]]], attempts: list[dict[str, Any]],
                 ctx: Any) -> dict[str, Any]:
    """Funnel, balance, rates and costs as one JSON-able dict."""
    by_id = {line["id"]: line for line in lines}
    total = {"input": n_rows, "items": len(items), "skipped_rows": len(skipped)}
    groups: dict[str, dict[str, dict[str, int]]] = {"domain": {}, "image_type": {}}
    for item in items:
        line = by_id[item["id"]]
        steps = _steps(item, line)
        for key, reached in steps.items():
            total[key] = total.get(key, 0) + int(reached)
        image_type = line.get("image_type")
        if image_type:
            from scigenbench.dataset.taxonomy import domain_of

            for group, name in (("domain", domain_of(image_type)), ("image_type", image_type)):
                row = groups[group].setdefault(name, {k: 0 for k in FUNNEL[1:]})
                for key, reached in steps.items():
                    if key in row:
                        row[key] += int(reached)
    statuses = collections.Counter(line["status"] for line in lines)
    why = collections.Counter((line["status"], str(line.get("reason") or "")[:200]) for line in lines
                              if line["status"] not in ("accepted", "pending"))
    total["not_visualizable"] = statuses.get("not_visualizable", 0)
    reasons = collections.Counter(r for rows in verify_rows.values() if rows and rows[-1].get("final")
                                  for r in (rows[-1].get("decision") or {}).get("reasons") or [])
    constructed_quizzes = [q for item in items if (item.get("validate") or {}).get("status") == "ok"
                           for q in item["validate"]["output"]["quizzes"]]
    verified_quiz_list = [q for item in items if by_id[item["id"]]["status"] == "accepted"
                          for q in item["validate"]["output"]["quizzes"]]
    input_letters = collections.Counter()
    for quiz in constructed_quizzes:
        extra = json.loads(quiz["extra"]) if quiz.get("extra") else {}
        input_letters[(extra.get("rebalanced") or {}).get("from") or quiz["correct_option"]] += 1
    guess = _rates(verify_rows)
    defects = collections.Counter(f"{d['code']}:{d['severity']}" for item in items
                                  for d in (item.get("validate") or {}).get("defects") or [])
    return {
        "source": config.input.input, "policy": config.policy.to_dict(),
        "models": {"construction": config.model, "generator": config.generator,
                   "backbone": config.backbone or config.model, "judge": config.judge, "grader": config.grader},
        "prompt_versions": dict(prompting.PROMPT_VERSIONS),
        "funnel": {"total": total, **groups},
        "statuses": dict(statuses),
        "reject_reasons": dict(reasons),
        "top_reasons": [(status, reason, n) for (status, reason), n in why.most_common(3)],
        "validation_defects": dict(defects),
        "letters": {"model_or_input": {k: input_letters.get(k, 0) for k in checks.QUIZ_LETTERS},
                    "constructed": checks.letter_counts(constructed_quizzes),
                    "verified": checks.letter_counts(verified_quiz_list)},
        **guess,
        "usage": _usage(items, verify_rows, attempts),
        "skipped_rows": skipped,
        "not_visualizable": [line["id"] for line in lines if line["status"] == "not_visualizable"],
    }


def _steps(item: dict[str, Any], line: dict[str, Any]) -> dict[str, bool]:
    triage = item.get("triage") or {}
    return {"visualizable": triage.get("status") in construct.CONTINUE,
            "constructed": (item.get("validate") or {}).get("status") == "ok",
            "generated": bool(line.get("generated")),
            "verified": line["status"] == "accepted"}


def _rates(verify_rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    n_quizzes = n_guessable = n_checked = n_shortcut = 0
    for rows in verify_rows.values():
        blind = next((r["blind"] for r in rows if r.get("blind")), None)
        if not blind:
            continue
        scored = [q for q in (blind["quiz_blind"].get("quizzes") or []) if q.get("state") == "scored"]
        n_quizzes += len(scored)
        n_guessable += len(blind["guessable"])
        shortcut = blind.get("text_shortcut") or {}
        if shortcut.get("state") == "scored":
            n_checked += 1
            n_shortcut += int(bool(shortcut.get("correct")))
    return {"guessable": {"quizzes": n_quizzes, "guessable": n_guessable,
                          "rate": n_guessable / n_quizzes if n_quizzes else None},
            "text_shortcut": {"checked": n_checked, "shortcuts": n_shortcut,
                              "rate": n_shortcut / n_checked if n_checked else None}}


def _usage(items: list[dict[str, Any]], verify_rows: dict[str, list[dict[str, Any]]],
           attempts: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Calls, tokens and cost per stage, over every record written (resumed runs included; cache hits cost 0)."""
    usage: dict[str, dict[str, float]] = {}

    def add(stage: str, calls: float, prompt: float, completion: float, cost: float) -> None:
        row = usage.setdefault(stage, {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0})
        row["calls"] += calls
        row["prompt_tokens"] += prompt
        row["completion_tokens"] += completion
        row["cost_usd"] = round(row["cost_usd"] + cost, 8)

    for item in items:
        for name in ("triage", "elements", "quizzes", "rewrite"):
            u = (item.get(name) or {}).get("usage") or {}
            add(name, u.get("calls", 0) - u.get("cached_calls", 0), u.get("prompt_tokens", 0),
                u.get("completion_tokens", 0), u.get("cost_usd", 0.0))
    for attempt in attempts:
        u = attempt.get("usage") or {}
        add("generate", u.get("calls", 0) - u.get("cached_calls", 0), u.get("prompt_tokens", 0),
            u.get("completion_tokens", 0), u.get("cost_usd", 0.0))
    for rows in verify_rows.values():
        blind = next((r["blind"] for r in rows if r.get("blind")), None) or {}
        parts = [blind.get("quiz_blind"), blind.get("text_shortcut")]
        for row in rows:
            seen = row.get("seen") or {}
            parts += [seen.get("quiz"), seen.get("rinv"), seen.get("judge")]
        for part in parts:
            if part:
                u = part.get("usage") or {}
                add("verify", part.get("calls", 0) or 0, u.get("prompt_tokens", 0), u.get("completion_tokens", 0),
                    u.get("cost_usd", 0.0) or 0.0)
    return usage


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "—"


def report_markdown(report: dict[str, Any]) -> str:
    total = report["funnel"]["total"]
    lines = ["# Synthesis report", "", f"Source: `{report['source']}`. Models: "
             + ", ".join(f"{k} `{v}`" for k, v in report["models"].items() if v), "",
             "## Funnel", "", "| | " + " | ".join(FUNNEL) + " |", "|---|" + "---|" * len(FUNNEL),
             "| all | " + " | ".join(str(total.get(k, 0)) for k in FUNNEL) + " |"]
    for group in ("domain", "image_type"):
        for name, row in sorted(report["funnel"][group].items()):
            lines.append(f"| {name} | — | " + " | ".join(str(row[k]) for k in FUNNEL[1:]) + " |")
    lines += ["", f"Input rows {total['input']}: {total['items']} items, {total['skipped_rows']} skipped (empty "
              f"question or answer, repeated id: `skipped.jsonl`); {total.get('not_visualizable', 0)} judged not "
              "visualizable (kept in `items.jsonl` with reason `not_visualizable`).", "",
              "Item outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(report["statuses"].items())), "",
              "Reject reasons: " + (", ".join(f"{k} {v}" for k, v in sorted(report["reject_reasons"].items()))
                                    or "none"), "",
              "Validation defects of the constructed problems (code:severity, `stages/validate.jsonl`): "
              + (", ".join(f"{k} {v}" for k, v in sorted(report["validation_defects"].items())) or "none"), "",
              "## Correct letters", "", "| quizzes | A | B | C | D |",
              "|---|---|---|---|---|"]
    for name, counts in report["letters"].items():
        n = sum(counts.values())
        lines.append(f"| {name.replace('_', ' ')} | " + " | ".join(f"{counts[k]} ({_pct(counts[k], n)})"
                                                                      for k in checks.QUIZ_LETTERS) + " |")
    g, s = report["guessable"], report["text_shortcut"]
    lines += ["", "## Guessable quizzes and text shortcuts", "",
              f"- guessable quizzes (answered right without the figure): {g['guessable']} of {g['quizzes']} "
              f"({_pct(g['guessable'], g['quizzes'])}); they do not count toward acceptance",
              f"- text shortcuts (rewritten question answered right without the figure): {s['shortcuts']} of "
              f"{s['checked']} checked ({_pct(s['shortcuts'], s['checked'])})", "", "## Calls and cost", "",
              "| stage | calls | prompt tokens | completion tokens | cost (USD) |", "|---|---|---|---|---|"]
    for stage, u in report["usage"].items():
        lines.append(f"| {stage} | {int(u['calls'])} | {int(u['prompt_tokens'])} | {int(u['completion_tokens'])} | "
                     f"{u['cost_usd']:.4f} |")
    policy = report["policy"]
    lines += ["", "## Acceptance policy", "", f"min quiz accuracy {policy['min_quiz_acc']}, R_inv required "
              f"{policy['require_rinv']}, text shortcuts rejected {policy['reject_text_shortcut']}, judge minimums "
              f"{policy['judge_min'] or 'none'}.", ""]
    return "\n".join(lines)
