"""Upstream-style entry point: ``python -m scigenbench.scripts.eval_scigenbench --image_dir DIR --mode all``.

It maps onto ``scigenbench evaluate``. ``--image_dir`` is either a run folder (``run.json``) or a plain folder of
``<id>.png``/``<id>.jpg`` images as upstream's generators wrote them; a plain folder is imported once into a run
folder (``--run_dir``, default ``<image_dir>.run``), where every dataset item without an image is *missing*.
Modes: ``judge``, ``quiz``, ``ve``/``rinv``, ``t2i``/``fidelity`` (SeePhys), ``all`` (judge + quiz + rinv, plus
fidelity on SeePhys).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MODES = {"judge": ["judge"], "quiz": ["quiz"], "ve": ["rinv"], "rinv": ["rinv"], "t2i": ["fidelity"],
         "fidelity": ["fidelity"]}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image_dir", required=True, help="run folder, or folder of <id>.png images")
    p.add_argument("--dataset", default=None, choices=["scigen", "seephys", "mini"],
                   help="dataset of the images (required for a plain image folder)")
    p.add_argument("--mode", default="all", choices=[*MODES, "all"])
    p.add_argument("--judge", default=None, help="judge/answering backend spec (see `scigenbench evaluate -h`)")
    p.add_argument("--grader", default=None, help="grader backend spec")
    p.add_argument("--run_dir", default=None, help="where a plain image folder is imported (default <dir>.run)")
    p.add_argument("--data_dir", default=None, help="local upstream release (default $SCIGENBENCH_DATA_DIR)")
    p.add_argument("--concurrency", type=int, default=16, help="model requests in flight (default 16)")
    p.add_argument("--dry_run", action="store_true")
    p.add_argument("--blind", action="store_true")
    return p.parse_args(argv)


def _upstream_images(image_dir: Path) -> dict[str, Path]:
    """One image per id, chosen in upstream's lookup order: ``<id>.png``, ``<id>.jpg``, ``images/<id>.png``,
    ``images/<id>.jpg`` (``.jpeg`` after ``.jpg``)."""
    chosen: dict[str, Path] = {}
    for folder in (image_dir, image_dir / "images"):
        if not folder.is_dir():
            continue
        for suffix in (".png", ".jpg", ".jpeg"):
            for path in sorted(folder.iterdir()):
                if path.is_file() and path.suffix.lower() == suffix:
                    chosen.setdefault(path.stem, path)
    return chosen


def import_image_folder(image_dir: Path, run_dir: Path, dataset: str) -> Path:
    """Copy ``<id>.png|jpg`` images (also from an ``images/`` subfolder, upstream's lookup order) into a run folder
    (converted to PNG); idempotent."""
    import io

    from PIL import Image

    from scigenbench.dataset.runs import RunFolder

    run = RunFolder.create(run_dir, generator=f"imported:{image_dir.name}", config={"source": str(image_dir)},
                           dataset=dataset)
    done = run.done_ids()
    for stem, path in sorted(_upstream_images(image_dir).items()):
        if stem in done:
            continue
        try:
            with Image.open(path) as img:
                buf = io.BytesIO()
                img.convert("RGBA" if img.mode in ("RGBA", "LA", "P") else "RGB").save(buf, format="PNG")
            run.append({"id": path.stem, "status": "ok"}, buf.getvalue())
        except OSError as exc:
            run.append({"id": path.stem, "status": "failed", "error": f"unreadable image {path.name}: {exc}"})
    return run_dir


def _run_dataset(run_dir: Path) -> str | None:
    import json

    try:
        return json.loads((run_dir / "run.json").read_text()).get("dataset")
    except (OSError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    from scigenbench.scripts import cmd_evaluate

    args = parse_args(argv)
    image_dir = Path(args.image_dir)
    if (image_dir / "run.json").exists():
        run_dir = image_dir
    else:
        if not args.dataset:
            raise SystemExit("--dataset is required when --image_dir is a plain image folder")
        run_dir = import_image_folder(image_dir, Path(args.run_dir or f"{image_dir}.run"), args.dataset)
    if args.mode == "all":
        dataset = args.dataset or _run_dataset(run_dir)
        metrics = ["judge", "quiz", "rinv"] + (["fidelity"] if dataset == "seephys" else [])
    else:
        metrics = MODES[args.mode]
    cli = ["--run", str(run_dir), "--metrics", ",".join(metrics), "--concurrency", str(args.concurrency)]
    for flag, value in (("--judge", args.judge), ("--grader", args.grader), ("--dataset", args.dataset),
                        ("--data-dir", args.data_dir)):
        if value:
            cli += [flag, value]
    cli += ["--dry-run"] * args.dry_run + ["--blind"] * args.blind
    parser = argparse.ArgumentParser(prog="scigenbench evaluate")
    cmd_evaluate.add_arguments(parser)
    return cmd_evaluate.run(parser.parse_args(cli))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
