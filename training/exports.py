"""Training-data exports of a verified synthesis: VeRL, TRL, LLaMA-Factory and EasyR1 layouts.

The input is ``SYN_DIR/verified`` (what ``scigenbench synthesize`` writes; any folder that
``datasets.load_dataset(folder, split="train")`` reads with the columns ``id``, ``image`` (or ``images``),
``question``, ``answer`` and optionally ``original_question``, ``solution``, ``domain``, ``image_type``,
``data_source``). Every format keeps one row per item, its image bytes unchanged, and the split recorded.

Layouts written into ``out`` (see the README's "Training data exports"):

- ``verl``: ``train.parquet`` [+ ``test.parquet``]: ``data_source``, ``prompt`` (one user message whose string
  content has one ``<image>`` per image, the question and the instruction), ``images`` (list of
  ``{"bytes", "path"}``), ``ability``, ``reward_model`` ``{"style": "rule", "ground_truth"}``, ``extra_info``.
- ``trl``: a Hub dataset folder (``README.md`` + ``data/{split}-*.parquet``): ``prompt`` in conversational form with
  an image content part, ``images``, ``solution`` (the answer, for reward functions); config ``sft`` with
  ``messages`` for the items that have a worked solution.
- ``llamafactory``: ``scigenbench_synth[_test].json`` in ShareGPT form, ``images/``, ``dataset_info.json``.
- ``easyr1``: ``train.parquet`` [+ ``test.parquet``]: ``problem`` (``<image>`` + question), ``answer``, ``images``.

Every export also writes ``export.json`` (what was exported, from where, which items were skipped and why) and a
``README.md``.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMATS = ("verl", "trl", "llamafactory", "easyr1")
DEFAULT_INSTRUCTION = ("Think step by step about the figure and the question, then give only the final answer "
                       "inside \\boxed{}.")
DEFAULT_DATA_SOURCE = "scigenbench-synth"
LLAMAFACTORY_DATASET = "scigenbench_synth"
_REQUIRED = ("id", "question", "answer")


@dataclass
class ExportResult:
    """What :func:`export_training` wrote."""

    format: str
    out: Path
    counts: dict[str, int]                       # rows per split
    files: list[str]                             # paths relative to ``out``
    skipped: list[dict[str, str]] = field(default_factory=list)   # {"id", "reason"}

    def summary(self) -> str:
        splits = ", ".join(f"{n} {split}" for split, n in self.counts.items())
        skipped = f"; {len(self.skipped)} skipped (see export.json)" if self.skipped else ""
        return f"{self.format}: {splits}{skipped} -> {self.out}"


@dataclass
class _Item:
    """One exportable item, format-independent."""

    id: str
    images: list[bytes]
    question: str
    answer: str
    original_question: str
    solution: str | None
    domain: str
    image_type: str
    data_source: str


def load_verified(syn_dir: str | os.PathLike):
    """The verified dataset of ``SYN_DIR`` (``SYN_DIR/verified``, or the folder itself when it is one).

    Reads its ``data/train-*.parquet`` files directly into a :class:`datasets.Dataset` with the features stored
    in them. ``load_dataset(folder)`` would work too, but ``datasets`` keys its cache of a local folder with a
    ``configs`` card on the card's file patterns, so two SYN_DIRs (or a re-run) could return stale rows.
    """
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(syn_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder: give the SYN_DIR that `scigenbench synthesize` wrote")
    folder = root / "verified" if (root / "verified").is_dir() or (root / "synth.json").exists() else root
    files = sorted(folder.glob("data/train-*.parquet"))
    if not files:
        raise FileNotFoundError(f"no Parquet files {folder}/data/train-*.parquet: is {root} a SYN_DIR with a "
                                "verified/ dataset? Run `scigenbench synthesize` first (or let it finish)")
    tables = [pq.read_table(f) for f in files]
    try:
        table = pa.concat_tables(tables, promote_options="default")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValueError(f"{folder}: the Parquet files do not share one schema ({exc})") from exc
    ds = datasets.Dataset(table)
    missing = [c for c in _REQUIRED if c not in ds.column_names]
    if "image" not in ds.column_names and "images" not in ds.column_names:
        missing.append("image")
    if missing:
        raise ValueError(f"{folder}: the verified dataset lacks column(s) {missing}; it has {ds.column_names}")
    for column in ("image", "images"):  # keep the stored bytes: no decode, no re-encode
        if column in ds.column_names:
            ds = ds.cast_column(column, _undecoded(ds.features[column]))
    return ds


def _undecoded(feature):
    import datasets

    if isinstance(feature, datasets.Image):
        return datasets.Image(decode=False)
    if isinstance(feature, (datasets.List, datasets.Sequence)) and isinstance(feature.feature, datasets.Image):
        return datasets.List(datasets.Image(decode=False))
    return feature


def export_training(syn_dir: str | os.PathLike, format: str, out: str | os.PathLike, *, test_fraction: float = 0.0,
                    seed: int = 0, limit: int | None = None, instruction: str = DEFAULT_INSTRUCTION) -> ExportResult:
    """Export ``SYN_DIR/verified`` for a trainer.

    Args:
        syn_dir: the synthesis folder (or its ``verified/`` folder).
        format: ``verl``, ``trl``, ``llamafactory`` or ``easyr1``.
        out: folder to write (created; files of an earlier export of the same format are replaced).
        test_fraction: share of items held out as ``test`` (0 = train only), drawn with ``seed``.
        seed: the order items are drawn in: the test split is the first ``round(n * test_fraction)`` items of a
            seeded shuffle, training items follow.
        limit: keep only the first ``limit`` training items of that order. The test split does not depend on
            ``limit`` and subsets of growing ``limit`` are nested (the data-size sweep relies on both).
        instruction: appended to each question; it must ask for the final answer in ``\\boxed{}``, which the
            rewards read.

    Returns:
        An :class:`ExportResult` (counts per split, files, skipped items with reasons).

    Raises:
        ValueError: unknown format, a bad ``test_fraction``/``limit``, or a dataset without the needed columns.
        FileNotFoundError: no verified dataset under ``syn_dir``.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}: choose from {', '.join(FORMATS)}")
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of training items, got {limit}")
    ds = load_verified(syn_dir)
    items, skipped = _read_items(ds)
    if not items:
        raise ValueError(f"{syn_dir}: no exportable item ({len(skipped)} skipped: "
                         f"{skipped[0]['reason'] if skipped else 'the dataset is empty'})")
    splits = split_items(items, test_fraction=test_fraction, seed=seed, limit=limit)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = _WRITERS[format](splits, out, instruction)
    result = ExportResult(format=format, out=out, counts={k: len(v) for k, v in splits.items()}, files=files,
                          skipped=skipped)
    _write_manifest(result, syn_dir, ds, test_fraction=test_fraction, seed=seed, limit=limit,
                    instruction=instruction)
    return result


def split_items(items: list, *, test_fraction: float, seed: int, limit: int | None) -> dict[str, list]:
    """``{"train": [...], "test": [...]}`` (test only when non-empty), each in the input order."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    n_test = round(len(items) * test_fraction)
    if test_fraction > 0 and n_test == 0 and len(items) > 1:
        n_test = 1
    test, train = order[:n_test], order[n_test:]
    if limit is not None:
        train = train[:limit]
    splits = {"train": [items[i] for i in sorted(train)]}
    if test:
        splits["test"] = [items[i] for i in sorted(test)]
    return splits


def _read_items(ds) -> tuple[list[_Item], list[dict[str, str]]]:
    items, skipped = [], []
    for row in ds:
        item_id = str(row.get("id") or "")
        reason = None
        images = _image_bytes(row)
        if not item_id:
            reason = "no id"
        elif not str(row.get("question") or "").strip():
            reason = "empty question"
        elif row.get("answer") is None or not str(row["answer"]).strip():
            reason = "empty answer"
        elif not images:
            reason = "no image bytes"
        if reason:
            skipped.append({"id": item_id or f"row {len(items) + len(skipped)}", "reason": reason})
            continue
        question = str(row["question"]).strip()
        items.append(_Item(
            id=item_id, images=images, question=question, answer=str(row["answer"]).strip(),
            original_question=str(row.get("original_question") or question).strip(),
            solution=(str(row["solution"]).strip() or None) if row.get("solution") is not None else None,
            domain=str(row.get("domain") or ""), image_type=str(row.get("image_type") or ""),
            data_source=str(row.get("data_source") or DEFAULT_DATA_SOURCE)))
    return items, skipped


def _image_bytes(row: dict[str, Any]) -> list[bytes]:
    values = row.get("images") if row.get("images") is not None else [row.get("image")]
    out = []
    for value in values or []:
        if isinstance(value, dict):
            data = value.get("bytes")
            if data is None and value.get("path") and Path(value["path"]).is_file():
                data = Path(value["path"]).read_bytes()
        elif isinstance(value, (bytes, bytearray)):
            data = bytes(value)
        else:
            data = None
        if data:
            out.append(data)
    return out


# --- shared pieces ------------------------------------------------------------------------------------------

def _prompt_text(item: _Item, instruction: str) -> str:
    return f"{item.question}\n\n{instruction}".strip()


def _sft_target(item: _Item) -> str:
    """The assistant turn for supervised formats: the worked solution (if any) ending in the boxed answer."""
    boxed = f"\\boxed{{{item.answer}}}"
    if not item.solution:
        return boxed
    return item.solution if "\\boxed" in item.solution else f"{item.solution}\n\nThe final answer is {boxed}."


def _image_dicts(item: _Item) -> list[dict[str, Any]]:
    return [{"bytes": data, "path": None} for data in item.images]


def _to_parquet(rows: list[dict[str, Any]], features, path: Path) -> None:
    """One Parquet file whose schema carries the ``datasets`` features (images load as images everywhere)."""
    import datasets
    import pyarrow.parquet as pq

    pq.write_table(datasets.Dataset.from_list(rows, features=features).data.table, str(path))


def _clear(out: Path, patterns: tuple[str, ...]) -> None:
    for pattern in patterns:
        for old in out.glob(pattern):
            if old.is_file():
                old.unlink()


# --- verl ---------------------------------------------------------------------------------------------------

def _verl_features():
    from datasets import Features, Image, List, Value

    text = Value("string")
    return Features({
        "data_source": text,
        "prompt": List({"role": text, "content": text}),
        "images": List(Image()),
        "ability": text,
        "reward_model": {"style": text, "ground_truth": text},
        "extra_info": {"split": text, "index": Value("int64"), "id": text, "image_type": text, "domain": text,
                       "question": text, "original_question": text, "answer": text},
    })


def _write_verl(splits: dict[str, list[_Item]], out: Path, instruction: str) -> list[str]:
    _clear(out, ("train.parquet", "test.parquet"))
    files = []
    for split, items in splits.items():
        rows = [{
            "data_source": item.data_source,
            "prompt": [{"role": "user",
                        "content": "<image>" * len(item.images) + _prompt_text(item, instruction)}],
            "images": _image_dicts(item),
            "ability": (item.domain or "science").lower(),
            "reward_model": {"style": "rule", "ground_truth": item.answer},
            "extra_info": {"split": split, "index": index, "id": item.id, "image_type": item.image_type,
                           "domain": item.domain, "question": item.question,
                           "original_question": item.original_question, "answer": item.answer},
        } for index, item in enumerate(items)]
        _to_parquet(rows, _verl_features(), out / f"{split}.parquet")
        files.append(f"{split}.parquet")
    return files


# --- easyr1 -------------------------------------------------------------------------------------------------

def _write_easyr1(splits: dict[str, list[_Item]], out: Path, instruction: str) -> list[str]:
    from datasets import Features, Image, List, Value

    features = Features({"problem": Value("string"), "answer": Value("string"), "images": List(Image()),
                         "id": Value("string"), "domain": Value("string"), "image_type": Value("string")})
    _clear(out, ("train.parquet", "test.parquet"))
    files = []
    for split, items in splits.items():
        # EasyR1 adds its own instruction (data.format_prompt); the problem is the image placeholders + question
        rows = [{"problem": "<image>" * len(item.images) + item.question, "answer": item.answer,
                 "images": _image_dicts(item), "id": item.id, "domain": item.domain,
                 "image_type": item.image_type} for item in items]
        _to_parquet(rows, features, out / f"{split}.parquet")
        files.append(f"{split}.parquet")
    return files


# --- trl ----------------------------------------------------------------------------------------------------

def _trl_features(sft: bool):
    from datasets import Features, Image, List, Value

    text = Value("string")
    part = {"type": text, "text": text}
    columns = {"id": text, "images": List(Image())}
    if sft:
        columns["messages"] = List({"role": text, "content": List(part)})
    else:
        columns.update(prompt=List({"role": text, "content": List(part)}), solution=text, domain=text,
                       image_type=text, original_question=text)
    return Features(columns)


def _trl_user_turn(item: _Item, instruction: str) -> dict[str, Any]:
    parts = [{"type": "image", "text": None} for _ in item.images]
    return {"role": "user", "content": parts + [{"type": "text", "text": _prompt_text(item, instruction)}]}


def _write_trl(splits: dict[str, list[_Item]], out: Path, instruction: str) -> list[str]:
    import shutil

    for folder in ("data", "sft"):
        if (out / folder).is_dir():
            shutil.rmtree(out / folder)
    files: dict[str, dict[str, str]] = {"default": {}, "sft": {}}
    for split, items in splits.items():
        rows = [{"id": item.id, "images": _image_dicts(item), "prompt": [_trl_user_turn(item, instruction)],
                 "solution": item.answer, "domain": item.domain, "image_type": item.image_type,
                 "original_question": item.original_question} for item in items]
        files["default"][split] = _write_fingerprinted(rows, _trl_features(sft=False), out / "data", split)
        sft_rows = [{"id": item.id, "images": _image_dicts(item), "messages": [
            _trl_user_turn(item, instruction),
            {"role": "assistant", "content": [{"type": "text", "text": _sft_target(item)}]}]}
            for item in items if item.solution]
        if sft_rows:
            files["sft"][split] = _write_fingerprinted(sft_rows, _trl_features(sft=True), out / "sft", split)
    _write_trl_card(out, files)
    return [path for config in files.values() for path in config.values()]


def _write_fingerprinted(rows: list[dict[str, Any]], features, folder: Path, split: str) -> str:
    """Write ``folder/{split}-{sha256[:16]}.parquet``; returns the path relative to the export folder.

    The card names each file exactly: ``datasets`` keys its cache of a local folder with a ``configs`` card on
    the card's patterns, not on the files, so a fixed pattern would let a re-export load stale cached rows.
    """
    import hashlib

    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{split}.parquet.tmp"
    _to_parquet(rows, features, tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()[:16]
    final = folder / f"{split}-{digest}.parquet"
    tmp.replace(final)
    return f"{folder.name}/{final.name}"


def _write_trl_card(out: Path, files: dict[str, dict[str, str]]) -> None:
    """A card whose ``configs`` make ``load_dataset(out)`` (GRPO rows) and ``load_dataset(out, "sft")`` work."""
    from huggingface_hub import DatasetCard, DatasetCardData

    data = DatasetCardData(configs=[
        {"config_name": name, **({"default": True} if name == "default" else {}),
         "data_files": [{"split": split, "path": path} for split, path in splits.items()]}
        for name, splits in files.items() if splits])
    card = DatasetCard(f"---\n{data.to_yaml()}\n---\n" + _readme_body("trl"))
    card.save(str(out / "README.md"))


# --- llamafactory -------------------------------------------------------------------------------------------

def _write_llamafactory(splits: dict[str, list[_Item]], out: Path, instruction: str) -> list[str]:
    import shutil

    if (out / "images").is_dir():
        shutil.rmtree(out / "images")
    (out / "images").mkdir()
    _clear(out, (f"{LLAMAFACTORY_DATASET}*.json",))
    names = _ImageNames()
    files, info = [], {}
    for split, items in splits.items():
        records = []
        for item in items:
            paths = [names.write(out / "images", item.id, data) for data in item.images]
            records.append({"messages": [
                {"role": "user", "content": "<image>" * len(paths) + _prompt_text(item, instruction)},
                {"role": "assistant", "content": _sft_target(item)}],
                "images": [f"images/{p}" for p in paths]})
        name = LLAMAFACTORY_DATASET if split == "train" else f"{LLAMAFACTORY_DATASET}_{split}"
        (out / f"{name}.json").write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
        files.append(f"{name}.json")
        info[name] = {"file_name": f"{name}.json", "formatting": "sharegpt",
                      "columns": {"messages": "messages", "images": "images"},
                      "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                               "assistant_tag": "assistant"}}
    (out / "dataset_info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return files + ["dataset_info.json", "images/"]


class _ImageNames:
    """File names from item ids (readable, filesystem-safe, unique), the extension from the image bytes."""

    def __init__(self):
        self.used: set[str] = set()

    def write(self, folder: Path, item_id: str, data: bytes) -> str:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", item_id).strip("._")[:80] or "image"
        name, n = f"{stem}.{_extension(data)}", 1
        while name in self.used:
            n += 1
            name = f"{stem}-{n}.{_extension(data)}"
        self.used.add(name)
        (folder / name).write_bytes(data)
        return name


def _extension(data: bytes) -> str:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            return {"JPEG": "jpg"}.get(img.format or "", (img.format or "png").lower())
    except Exception:  # undecodable bytes are exported as they are; the trainer reports them
        return "bin"


# --- manifest and card --------------------------------------------------------------------------------------

_WRITERS = {"verl": _write_verl, "trl": _write_trl, "llamafactory": _write_llamafactory, "easyr1": _write_easyr1}

_USAGE = {
    "verl": "python -m verl.trainer.main_ppo data.train_files=OUT/train.parquet data.val_files=OUT/test.parquet "
            "data.image_key=images custom_reward_function.path=<scigenbench>/training/rewards.py "
            "custom_reward_function.name=compute_score ...  (see training/recipes/verl_grpo_qwen3_vl_8b.sh)",
    "trl": "datasets.load_dataset(OUT, split='train') -> GRPOTrainer(..., reward_funcs=[accuracy_reward]); "
           "load_dataset(OUT, 'sft') -> SFTTrainer  (see training/recipes/trl_grpo.py)",
    "llamafactory": "copy or point dataset_dir at OUT, then dataset: scigenbench_synth in the training YAML",
    "easyr1": "data.train_files=OUT/train.parquet data.val_files=OUT/test.parquet data.prompt_key=problem "
              "data.answer_key=answer data.image_key=images",
}


def _readme_body(format: str) -> str:
    return (f"# SciGenBench synthetic training data ({format} layout)\n\n"
            "Figure-grounded questions whose images passed SciGenBench verification, exported by "
            f"`scigenbench export-training --format {format}`. `export.json` records the source, split, seed and "
            f"skipped items.\n\nUse: {_USAGE[format]}\n")


def _write_manifest(result: ExportResult, syn_dir, ds, **options: Any) -> None:
    from scigenbench import __version__

    manifest = {"format": result.format, "source": str(Path(syn_dir).resolve()), "rows_in_source": len(ds),
                "counts": result.counts, "files": result.files, "skipped": result.skipped,
                "scigenbench_version": __version__, **options}
    (result.out / "export.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    if result.format != "trl":  # the trl card carries the dataset configs and is written with the data
        (result.out / "README.md").write_text(_readme_body(result.format), encoding="utf-8")


__all__ = ["DEFAULT_INSTRUCTION", "FORMATS", "ExportResult", "export_training", "load_verified", "split_items"]
