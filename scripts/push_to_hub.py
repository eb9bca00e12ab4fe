"""Push an exported SciGenBench folder (``scigenbench export --out DIR``) to a Hugging Face dataset repo.

Usage::

    python -m scigenbench.scripts.push_to_hub DIR USER/REPO [--private] [--revision BRANCH] [--dry-run]

The folder is checked first (a card with a ``configs:`` block whose ``data_files`` patterns all match Parquet
files, one default config, ``dataset_info`` per config), then the repo is created if needed and the folder
uploaded in one commit with ``huggingface_hub`` (stale shards of the uploaded configs are deleted in that commit).
The token comes from ``HF_TOKEN`` or ``hf auth login`` (never from the command line, never printed);
``HF_ENDPOINT`` selects another Hub. ``--dry-run`` stops after the checks and prints what would be uploaded.
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from pathlib import Path


class ExportFolderError(ValueError):
    """The folder is not a complete export; the message says what is missing."""


def check_export_folder(folder: str | Path) -> dict[str, list[str]]:
    """Check an exported folder; return ``{config: [parquet files]}``.

    Raises:
        ExportFolderError: no README.md, no ``configs``, a pattern matching no file, no default config, or a
            config without ``dataset_info``.
    """
    from huggingface_hub import DatasetCard

    folder = Path(folder)
    card_path = folder / "README.md"
    if not card_path.exists():
        raise ExportFolderError(f"{folder} has no README.md: create it with `scigenbench export --out {folder}`.")
    data = DatasetCard(card_path.read_text(encoding="utf-8")).data.to_dict()
    configs = data.get("configs") or []
    if not configs:
        raise ExportFolderError(f"{card_path} has no `configs:` block in its YAML header; re-run the export.")
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.parquet"))
    found: dict[str, list[str]] = {}
    for config in configs:
        name = config.get("config_name")
        for data_file in config.get("data_files") or []:
            matched = fnmatch.filter(files, data_file["path"])
            if not matched:
                raise ExportFolderError(f"config {name!r}: data_files pattern {data_file['path']!r} matches no "
                                        f"Parquet file in {folder}.")
            found.setdefault(name, []).extend(matched)
    defaults = [c.get("config_name") for c in configs if c.get("default")]
    if len(defaults) != 1:
        raise ExportFolderError(f"{card_path} must mark exactly one config `default: true`, found {defaults}.")
    infos = data.get("dataset_info") or []
    infos = [infos] if isinstance(infos, dict) else infos
    missing = set(found) - {i.get("config_name") for i in infos}
    if missing:
        raise ExportFolderError(f"{card_path} lacks dataset_info for config(s) {sorted(missing)}; re-run the export.")
    return found


def push(folder: str | Path, repo_id: str, *, private: bool = False, revision: str | None = None,
         commit_message: str = "Upload SciGenBench export", token: str | None = None) -> str:
    """Create ``repo_id`` (dataset) and ``revision`` (branch) if needed and upload ``folder``; return the commit URL.

    Remote Parquet files of the uploaded configs that the export does not hold (e.g. shards of an earlier export
    with another shard count) are deleted in the same commit: the card's ``data/<config>/test-*`` pattern would
    otherwise load them too and duplicate rows. Only the card and the Parquet files its configs name are uploaded
    (not leftovers of an earlier export into the same folder); other configs' remote files are left alone.
    """
    from huggingface_hub import HfApi

    found = check_export_folder(folder)
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    if revision and revision != "main" and not revision.startswith("refs/"):  # commits need an existing branch
        api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
    info = api.upload_folder(repo_id=repo_id, repo_type="dataset", folder_path=str(folder), revision=revision,
                             commit_message=commit_message,
                             allow_patterns=["README.md", *(f for files in found.values() for f in files)],
                             delete_patterns=[f"data/{config}/*.parquet" for config in sorted(found)])
    return getattr(info, "commit_url", str(info))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="push_to_hub", description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="folder written by `scigenbench export --out`")
    parser.add_argument("repo_id", help="target dataset repo, e.g. USER/SciGenBench")
    parser.add_argument("--private", action="store_true", help="create the repo private")
    parser.add_argument("--revision", default=None, help="branch to commit to (default: main)")
    parser.add_argument("--message", default="Upload SciGenBench export", help="commit message")
    parser.add_argument("--dry-run", action="store_true", help="check the folder and list files; upload nothing")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        found = check_export_folder(args.folder)
    except ExportFolderError as exc:
        print(f"push_to_hub: {exc}", file=sys.stderr)
        return 2
    for config, files in found.items():
        print(f"{config}: {', '.join(files)}")
    if args.dry_run:
        print(f"dry run: would upload README.md and {sum(map(len, found.values()))} Parquet file(s) to "
              f"datasets/{args.repo_id}")
        return 0
    try:
        url = push(args.folder, args.repo_id, private=args.private, revision=args.revision,
                   commit_message=args.message)
    except Exception as exc:  # network/auth errors from huggingface_hub: report, do not trace
        print(f"push_to_hub: upload to {args.repo_id} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"pushed: {url}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
