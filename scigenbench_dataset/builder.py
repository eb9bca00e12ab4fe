"""The SciGenBench ``datasets`` builder (the design card's "loading script") and :func:`load_scigenbench`.

Configs ``scigen`` (1,057 problems), ``seephys`` (330, with reference images) and ``mini`` (the project's own
set shipped in the package); one split, ``test``. Sources in order: ``data_dir=``, ``$SCIGENBENCH_DATA_DIR``,
else a download of the upstream files at the pinned commit through the ``datasets`` download manager (so the
download cache and ``HF_DATASETS_OFFLINE`` behave as usual). Every row goes through :mod:`.validation`.

>>> ds = load_scigenbench("mini")          # doctest: +SKIP
>>> ds = load_scigenbench("seephys", data_dir="path/to/upstream/data")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import datasets

from .mini import validate_mini
from .schema import SOURCES, problem_features
from .sources import (
    UPSTREAM_COMMIT,
    UPSTREAM_REPO,
    UPSTREAM_SHA256,
    base_url as _base_url,
    resolve_data_dir,
    sha256_file,
    source_fingerprint,
)
from .validation import ValidationReport, normalise_rows, read_json_rows, seephys_image_stems, validate_data_dir

logger = logging.getLogger(__name__)

_VERSION = datasets.Version("1.0.0")
_HOMEPAGE = f"https://github.com/{UPSTREAM_REPO}"
_LICENSE = "apache-2.0"
_CITATION = """\
@article{scigenbench2026,
  title   = {Scientific Image Synthesis: Benchmarking, Methodologies, and Downstream Utility},
  journal = {arXiv preprint arXiv:2601.17027},
  year    = {2026},
  url     = {https://arxiv.org/abs/2601.17027}
}
"""
_DESCRIPTIONS = {
    "scigen": "SciGenBench SciGen split: 1,057 text-only science problems, each to be turned into a figure "
    "(25 image types in 5 domains), with the visual elements the figure should show and quizzes about it.",
    "seephys": "SciGenBench SeePhys split: 330 physics problems with their real reference figure (image).",
    "mini": "The scigenbench mini set: problems authored by the project (one or more per image type), same "
    "schema, shipped inside the package for offline demos and tests.",
}


@dataclass
class SciGenBenchConfig(datasets.BuilderConfig):
    """Config of the SciGenBench builder.

    Attributes:
        base_url: URL folder to download from when no local copy is given (default: ``$SCIGENBENCH_DATA_URL``
            or the upstream repository at the pinned commit).
        source_fingerprint: identifies the data source (content hash of a local copy, or the URL); part of the
            cache key, so a changed ``data_dir`` never returns a stale prepared dataset. Computed when omitted.
    """

    base_url: str | None = None
    source_fingerprint: str | None = None


def _code_fingerprint() -> str:
    """Hash of the code that shapes rows: a change re-prepares the cache."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in ("builder.py", "schema.py", "taxonomy.py", "validation.py", "mini.py"):
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:16]


class SciGenBench(datasets.GeneratorBasedBuilder):
    """SciGenBench problems as a ``datasets`` builder (configs ``scigen``, ``seephys``, ``mini``; split ``test``)."""

    BUILDER_CONFIG_CLASS = SciGenBenchConfig
    BUILDER_CONFIGS = [SciGenBenchConfig(name=name, version=_VERSION, description=_DESCRIPTIONS[name])
                       for name in SOURCES]
    DEFAULT_CONFIG_NAME = "scigen"
    DEFAULT_WRITER_BATCH_SIZE = 100

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        name = kwargs.get("config_name") or kwargs.get("name") or self.DEFAULT_CONFIG_NAME
        if name not in SOURCES:
            raise ValueError(f"Unknown SciGenBench config {name!r}: choose one of {list(SOURCES)}.")
        data_dir = None if name == "mini" else resolve_data_dir(kwargs.get("data_dir"))
        kwargs.pop("data_dir", None)
        if data_dir is not None:
            kwargs["data_dir"] = str(data_dir)
        if kwargs.get("source_fingerprint") is None:
            kwargs["source_fingerprint"] = source_fingerprint(name, data_dir, kwargs.get("base_url"))
        kwargs.setdefault("dataset_name", "scigenbench")
        kwargs.setdefault("hash", _code_fingerprint())
        super().__init__(*args, **kwargs)

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=_DESCRIPTIONS.get(self.config.name, ""),
            features=problem_features(),
            homepage=_HOMEPAGE,
            license=_LICENSE,
            citation=_CITATION,
        )

    def _split_generators(self, dl_manager) -> list[datasets.SplitGenerator]:
        name = self.config.name
        if name == "mini":
            kwargs = {"split": name}
        elif self.config.data_dir:
            kwargs = self._local_files(Path(self.config.data_dir), name)
        else:
            kwargs = self._download(dl_manager, name)
        return [datasets.SplitGenerator(name=datasets.Split.TEST, gen_kwargs=kwargs)]

    @staticmethod
    def _local_files(data_dir: Path, name: str) -> dict[str, Any]:
        json_path = data_dir / f"{name}.json"
        if not json_path.exists():
            raise FileNotFoundError(
                f"{json_path} not found. data_dir (or $SCIGENBENCH_DATA_DIR) must be the upstream data/ folder "
                "holding scigen.json, seephys.json and seephys_images/."
            )
        kwargs: dict[str, Any] = {"split": name, "json_path": str(json_path)}
        if name == "seephys":
            image_dir = data_dir / "seephys_images"
            kwargs["image_stems"] = seephys_image_stems(image_dir)
            kwargs["image_paths"] = {stem: str(image_dir / f"{stem}.png") for stem in kwargs["image_stems"]}
        return kwargs

    def _download(self, dl_manager, name: str) -> dict[str, Any]:
        # the URLs pin a commit, so cached files never go stale: skip the ETag request (works offline too)
        dl_manager.download_config.use_etag = False
        url = _base_url(self.config.base_url)
        json_path = _fetch(dl_manager, f"{url}/{name}.json")
        _check_sha256(json_path, f"{name}.json", url)
        kwargs: dict[str, Any] = {"split": name, "json_path": json_path}
        if name == "seephys":
            rows, _ = read_json_rows(json_path, name)
            ids = sorted({str(r["id"]) for r in rows if isinstance(r, dict) and "id" in r})
            kwargs["image_paths"] = _fetch(dl_manager, {i: f"{url}/seephys_images/{i}.png" for i in ids})
        return kwargs

    def _generate_examples(  # noqa: D102 - datasets hook
        self,
        split: str,
        json_path: str | None = None,
        image_paths: dict[str, str] | None = None,
        image_stems: list[str] | None = None,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        rows, report = _normalised_rows(split, json_path, image_stems)
        _log_report(report, split)
        for row in rows:
            path = (image_paths or {}).get(row["id"])
            if path is not None and os.path.exists(path):
                with open(path, "rb") as f:
                    row["image"] = {"path": f"{row['id']}.png", "bytes": f.read()}
            yield row["id"], row


def _normalised_rows(split: str, json_path: str | None, image_stems: list[str] | None):
    if split == "mini":
        return validate_mini()
    raw_rows, read_issues = read_json_rows(json_path, split)
    rows, report = normalise_rows(raw_rows, split, image_stems=image_stems)
    report.issues[:0] = read_issues
    return rows, report


def _check_sha256(path: str, file_name: str, url: str) -> None:
    expected = UPSTREAM_SHA256.get(file_name)
    if expected and sha256_file(path) != expected:
        raise ValueError(
            f"{url}/{file_name} does not match the pinned upstream file (commit {UPSTREAM_COMMIT[:7]}, "
            f"sha256 {expected[:12]}…). Point SCIGENBENCH_DATA_URL at a copy of that commit's data/ folder, or "
            "pass data_dir= to a local copy."
        )


def _log_report(report: ValidationReport, split: str) -> None:
    counts = report.counts(split)
    if counts:
        summary = ", ".join(f"{code}×{n}" for code, n in sorted(counts.items()))
        logger.info("%s: %d data issue(s) (%s); `scigenbench validate --config %s` lists them", split,
                    sum(counts.values()), summary, split)
    if report.errors:
        logger.warning("%s: %d error-level data issue(s); run `scigenbench validate --config %s`", split,
                       len(report.errors), split)


def load_scigenbench(
    config: str = "scigen",
    split: str = "test",
    data_dir: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    base_url: str | None = None,
    download_mode: str | None = None,
    **builder_kwargs: Any,
) -> datasets.Dataset:
    """Load one SciGenBench config as a :class:`datasets.Dataset` (the one-line entry point).

    Args:
        config: ``"scigen"``, ``"seephys"`` or ``"mini"``.
        split: only ``"test"`` exists.
        data_dir: a local copy of the upstream ``data/`` folder; default ``$SCIGENBENCH_DATA_DIR``, else the
            files are downloaded at the pinned upstream commit. Ignored for ``mini``.
        cache_dir: where prepared datasets go (default: the Hugging Face datasets cache).
        base_url: download from this URL folder instead of upstream (default ``$SCIGENBENCH_DATA_URL``).
        download_mode: passed to ``download_and_prepare`` (e.g. ``"force_redownload"``).
        **builder_kwargs: other :class:`SciGenBench` constructor arguments.

    Returns:
        The split's rows with the features of :func:`scigenbench.dataset.problem_features`.

    Raises:
        ValueError: unknown config or split.
        FileNotFoundError: ``data_dir`` lacks the upstream files.
    """
    if split != "test":
        raise ValueError(f"SciGenBench has a single split 'test'; got split={split!r}.")
    builder = SciGenBench(
        config_name=config,
        data_dir=str(data_dir) if data_dir else None,
        cache_dir=str(cache_dir) if cache_dir else None,
        base_url=base_url,
        **builder_kwargs,
    )
    builder.download_and_prepare(download_mode=download_mode)
    return builder.as_dataset(split=split)


def dataset_summary(rows) -> dict[str, Any]:
    """Counts per domain and per image type (``None`` counted as ``"(none)"``) of a dataset or list of rows."""
    from collections import Counter

    domains, types, quizzes = Counter(), Counter(), 0
    columns = rows.select_columns(["domain", "image_type", "quizzes"]) if hasattr(rows, "select_columns") else rows
    for row in columns:
        domains[row["domain"]] += 1
        types[row["image_type"] or "(none)"] += 1
        quizzes += len(row["quizzes"])
    return {"rows": sum(domains.values()), "quizzes": quizzes, "domains": dict(domains), "image_types": dict(types)}



def validate_upstream(
    splits=("scigen", "seephys"),
    *,
    data_dir: str | os.PathLike | None = None,
    base_url: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> ValidationReport:
    """Validate the upstream files: a local copy (``data_dir`` / ``$SCIGENBENCH_DATA_DIR``) or the download.

    Downloaded files come through the ``datasets`` download cache. Without a local copy the image checks
    (MISSING_IMAGE, D15) are skipped: they need the full ``seephys_images/`` listing.
    """
    local = resolve_data_dir(data_dir)
    if local is not None:
        return validate_data_dir(local, splits)
    url = _base_url(base_url)
    manager = datasets.DownloadManager(
        download_config=datasets.DownloadConfig(cache_dir=str(cache_dir) if cache_dir else None, use_etag=False)
    )
    report = ValidationReport()
    for split in splits:
        path = _fetch(manager, f"{url}/{split}.json")
        _check_sha256(path, f"{split}.json", url)
        raw_rows, read_issues = read_json_rows(path, split)
        _, split_report = normalise_rows(raw_rows, split)
        split_report.issues[:0] = read_issues
        report.extend(split_report)
    return report


def _fetch(manager: Any, urls: Any) -> Any:
    """``manager.download(urls)``, with an error that says what to do when the files cannot be fetched."""
    try:
        return manager.download(urls)
    except (OSError, ConnectionError) as exc:  # datasets reports an unreachable URL as FileNotFoundError(url)
        first = urls if isinstance(urls, str) else next(iter(urls.values()), "")
        detail = "" if str(exc) == first else f": {exc}"
        raise ConnectionError(
            f"Could not download {first} ({type(exc).__name__}{detail}). "
            "Offline or behind a firewall? Point data_dir= (CLI: --data-dir) or $SCIGENBENCH_DATA_DIR at a local copy "
            "of upstream data/ (scigen.json, seephys.json, seephys_images/), or set $SCIGENBENCH_DATA_URL to a mirror."
        ) from exc
