"""Accuracy of a vision-language model on GEO3K, MathVision or any image QA Parquet, scored by our reward.

Each question is sent with its image(s) through the project's backend layer (a vLLM server of the checkpoint:
``openai:<name>@http://127.0.0.1:8000/v1``; or ``transformers:<path>`` for small models) and the reply is scored
by :func:`scigenbench.training.rewards.compute_score` (last ``\\boxed{}`` against the gold answer, the R_inv
equivalence checker), the same rule the model was trained with.

Layouts read (one Parquet file per benchmark):

- VeRL: ``prompt`` (chat, ``<image>`` placeholders), ``images``, ``reward_model.ground_truth`` -- our
  ``export-training --format verl`` and VeRL's ``examples/data_preprocess/geo3k.py`` output;
- EasyR1: ``problem``, ``answer``, ``images`` (e.g. ``hiyouga/geometry3k``);
- plain: ``question``, ``answer``, ``image``/``decoded_image``/``images``, optional ``options`` (MathVision:
  choices are appended as ``A. ...`` lines and the gold is the letter).

::

    vllm serve checkpoints/hf --port 8000 --served-model-name ckpt &
    python training/recipes/eval_accuracy.py --model openai:ckpt@http://127.0.0.1:8000/v1 \\
        --data geo3k=data/geo3k/test.parquet --data mathvision=data/mathvision/test.parquet --out eval/

Writes ``OUT/<name>.jsonl`` (one record per item: id, reply, extracted answer, gold, score) and
``OUT/<name>.json`` (accuracy, n, failed calls), and prints one line per benchmark plus the average.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from scigenbench.training.exports import DEFAULT_INSTRUCTION


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="backend spec, e.g. openai:NAME@http://127.0.0.1:8000/v1")
    p.add_argument("--data", action="append", required=True, metavar="NAME=FILE.parquet",
                   help="a benchmark to score (repeatable)")
    p.add_argument("--out", required=True, help="folder for the per-item records and summaries")
    p.add_argument("--limit", type=int, help="score the first N items of each benchmark")
    p.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    p.add_argument("--max-tokens", type=int, default=4096)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--instruction", default=DEFAULT_INSTRUCTION,
                   help="appended to questions of layouts that carry no instruction (EasyR1, plain)")
    return p.parse_args(argv)


def load_items(path: str | Path, instruction: str = DEFAULT_INSTRUCTION, limit: int | None = None) -> list[dict]:
    """``[{"id", "text", "images": [bytes], "answer"}]`` from a Parquet file in one of the layouts above."""
    import pyarrow.parquet as pq

    rows = pq.read_table(path).to_pylist()[:limit]
    items = []
    for index, row in enumerate(rows):
        images = _images(row)
        if row.get("prompt"):
            text = next(m["content"] for m in row["prompt"] if m["role"] == "user")
            answer = (row.get("reward_model") or {}).get("ground_truth")
            item_id = (row.get("extra_info") or {}).get("id") or str(index)
        else:
            text = row.get("problem") or row.get("question") or ""
            if row.get("options"):
                text += "\n" + "\n".join(f"{chr(65 + i)}. {o}" for i, o in enumerate(row["options"]))
            text = f"{text}\n\n{instruction}"
            answer = row.get("answer")
            item_id = str(row.get("id") or row.get("pid") or index)
        items.append({"id": str(item_id), "text": text.replace("<image>", "").strip(), "images": images,
                      "answer": "" if answer is None else str(answer)})
    return items


def _images(row: dict[str, Any]) -> list[bytes]:
    for column in ("images", "image", "decoded_image"):
        value = row.get(column)
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        found = [v["bytes"] if isinstance(v, dict) else v for v in values]
        found = [v for v in found if isinstance(v, bytes)]
        if found:
            return found
    return []


def score_items(items: list[dict], backend: Any, *, concurrency: int = 32, **params: Any) -> list[dict]:
    """Ask each item (images first, then the text) and score the reply; failed calls score 0 and are marked."""
    from scigenbench.training.rewards import compute_score, extract_final_answer

    def one(item: dict) -> dict:
        content = [{"type": "image", "image": data} for data in item["images"]]
        content.append({"type": "text", "text": item["text"]})
        try:
            reply, error = backend.chat([{"role": "user", "content": content}], **params).text, None
        except Exception as exc:  # a failed call is recorded, not fatal for the benchmark
            reply, error = None, f"{type(exc).__name__}: {exc}"
        return {"id": item["id"], "answer": item["answer"], "reply": reply, "error": error,
                "extracted": extract_final_answer(reply or ""),
                "score": compute_score("eval", reply or "", item["answer"])}

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return list(pool.map(one, items))


def main(argv: list[str] | None = None) -> int:
    from scigenbench.generators.backends import get_backend

    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    backend = get_backend(args.model, concurrency=args.concurrency, cache=False)
    accuracies = {}
    for entry in args.data:
        name, sep, path = entry.partition("=")
        if not sep:
            raise SystemExit(f"--data {entry!r}: write it as NAME=FILE.parquet")
        records = score_items(load_items(path, args.instruction, args.limit), backend,
                              concurrency=args.concurrency, max_tokens=args.max_tokens,
                              temperature=args.temperature)
        with open(out / f"{name}.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        n = len(records)
        accuracy = sum(r["score"] for r in records) / n if n else 0.0
        summary = {"benchmark": name, "data": path, "model": args.model, "n": n, "accuracy": accuracy,
                   "failed_calls": sum(r["error"] is not None for r in records)}
        (out / f"{name}.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
        accuracies[name] = accuracy
        print(f"{name}: {100 * accuracy:.1f} % of {n}" + (f" ({summary['failed_calls']} failed calls)"
                                                          if summary["failed_calls"] else ""))
    if len(accuracies) > 1:
        print(f"average: {100 * sum(accuracies.values()) / len(accuracies):.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
