"""Export SciGenBench as a code-free Hub dataset folder: Parquet shards + a dataset card.

Layout of the exported folder::

    README.md                          the package card with a YAML ``configs:`` block and ``dataset_info``
    data/<config>/test-00000-of-0000N.parquet
    eval.yaml                          the benchmark's Hub leaderboard tasks (``hub_tasks``: ``<config>_<metric>``)

``load_dataset(<folder or Hub repo>, "scigen")`` then works with plain ``datasets`` (no project code, no
loading script). Images (SeePhys) are embedded as bytes in the Parquet files.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable

from .builder import load_scigenbench
from .hub_tasks import write_eval_yaml
from .schema import SOURCES

#: the package dataset card the exported README starts from
PACKAGE_CARD = Path(__file__).resolve().parent / "README.md"
DEFAULT_CONFIG = "scigen"
_MAX_SHARD_BYTES = 500 << 20


def _write_shards(ds, folder: Path, split: str, max_shard_bytes: int) -> list[Path]:
    """Write ``ds`` as ``<split>-XXXXX-of-YYYYY.parquet`` files with media bytes embedded."""
    from datasets.table import embed_table_storage

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{split}-*.parquet"):
        old.unlink()
    num_shards = max(1, math.ceil(ds.data.nbytes / max_shard_bytes))
    paths = []
    for index in range(num_shards):
        shard = ds.shard(num_shards=num_shards, index=index, contiguous=True)
        shard = shard.with_format("arrow").map(embed_table_storage, batched=True, keep_in_memory=True)
        path = folder / f"{split}-{index:05d}-of-{num_shards:05d}.parquet"
        shard.with_format(None).to_parquet(str(path))
        paths.append(path)
    return paths


def write_card(out_dir: Path, infos: dict, default: str | None, card_path: Path = PACKAGE_CARD) -> Path:
    """Write ``README.md``: the package card with ``configs`` and ``dataset_info`` for the exported configs."""
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    card = DatasetCard(card_path.read_text(encoding="utf-8"))
    data = card.data
    data["configs"] = []  # only what this export holds
    data.pop("dataset_info", None)
    DatasetInfosDict(infos).to_dataset_card_data(data)
    MetadataConfigs(
        {
            name: {"data_files": [{"split": "test", "path": f"data/{name}/test-*"}], **({"default": True}
                   if name == default else {})}
            for name in infos
        }
    ).to_dataset_card_data(data)
    out = out_dir / "README.md"
    card.save(str(out))
    return out


def export_dataset(
    out_dir: str | os.PathLike,
    configs: Iterable[str] = SOURCES,
    *,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    max_shard_bytes: int = _MAX_SHARD_BYTES,
) -> Path:
    """Export configs as Parquet shards plus a dataset card into ``out_dir``.

    Args:
        out_dir: the folder to write (created; existing shards of the exported configs are replaced).
        configs: which of ``scigen``, ``seephys``, ``mini`` to export.
        data_dir: local upstream copy (default ``$SCIGENBENCH_DATA_DIR``, else download).
        cache_dir: datasets cache for preparing the configs.
        max_shard_bytes: target upper size of one Parquet file.

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: an unknown config name.
    """
    configs = list(dict.fromkeys(configs))
    unknown = [c for c in configs if c not in SOURCES]
    if unknown or not configs:
        raise ValueError(f"Unknown or no config(s) {unknown or configs}: choose from {list(SOURCES)}.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    infos = {}
    for name in configs:
        ds = load_scigenbench(name, data_dir=data_dir, cache_dir=cache_dir)
        _write_shards(ds, out / "data" / name, "test", max_shard_bytes)
        info = ds.info.copy()
        info.config_name = name
        infos[name] = info
    default = DEFAULT_CONFIG if DEFAULT_CONFIG in infos else configs[0]
    write_card(out, infos, default)
    write_eval_yaml(out, tuple(infos))  # registers the dataset's leaderboard tasks on the Hub
    return out
