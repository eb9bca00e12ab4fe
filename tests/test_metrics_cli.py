"""`scigenbench evaluate`, `scigenbench leaderboard` and `eval_scigenbench.py` on real run folders."""

import json
import os
import subprocess
import sys

import pytest

from scigenbench.generators.backends.testing import OpenAICompatServer
from scigenbench.metrics.testing import make_run, png, scripted_judge
from scigenbench.scripts.cli import main

MINI_IDS = ["mini-physics-incline-friction", "mini-math-cone-volume", "mini-biology-energy-pyramid"]


@pytest.fixture
def mini_run(tmp_path):
    from scigenbench.dataset import load_mini_problems

    ids = {p["id"] for p in load_mini_problems()}
    assert set(MINI_IDS) <= ids
    return make_run(tmp_path / "run", {i: png("white", (200, 150), text=i) for i in MINI_IDS}), len(ids)


def test_evaluate_dry_run_prints_calls_and_calls_nothing(mini_run, capsys):
    run_dir, n_items = mini_run
    with OpenAICompatServer(handler=scripted_judge()) as server:
        code = main(["evaluate", "--run", str(run_dir), "--metrics", "judge,rinv", "--judge",
                     f"openai:m@{server.base_url}", "--dry-run"])
        assert code == 0 and server.calls == 0
    out = capsys.readouterr().out
    assert f"judge: {n_items} items to evaluate, 3 model calls" in out
    assert "dry run: would make 6 model calls" in out
    assert not (run_dir / "scores" / "summary.json").exists()


def test_evaluate_then_leaderboard_in_real_processes(mini_run, tmp_path):
    run_dir, n_items = mini_run
    env = {**os.environ, "SCIGENBENCH_CACHE_DIR": str(tmp_path / "cache"), "MPLBACKEND": "Agg"}
    with OpenAICompatServer(handler=scripted_judge()) as server:
        proc = subprocess.run([sys.executable, "-m", "scigenbench.scripts.cli", "evaluate", "--run", str(run_dir),
                               "--metrics", "judge,quiz", "--judge", f"openai:judge@{server.base_url}",
                               "--no-progress", "--bootstrap", "50"],
                              capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        n_calls = server.calls
    assert f"judge: 3 scored, 0 unscored, {n_items - 3} missing" in proc.stdout
    summary = json.loads((run_dir / "scores" / "summary.json").read_text())
    assert summary["metrics"]["judge"]["judge_models"] == ["openai:judge"]
    assert n_calls == 3 + summary["metrics"]["quiz"]["answer_calls"]

    out_dir = tmp_path / "board"
    proc = subprocess.run([sys.executable, "-m", "scigenbench.scripts.cli", "leaderboard", str(run_dir),
                           "--out", str(out_dir)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ("overall.md", "overall.csv", "overall.html", "by_domain.md", "by_domain.csv", "by_domain.html",
                 "by_image_type.md", "by_image_type.csv", "by_image_type.html", "by_domain.png",
                 "judge_radar.png", "leaderboard.md"):
        assert (out_dir / name).stat().st_size > 0, name
    overall = (out_dir / "overall.csv").read_text()
    assert "published" in overall and "Gemini-3-Pro-ImgCoder" in overall and "run," in overall
    row = next(line for line in overall.splitlines() if line.startswith("run,this run"))
    assert "openai:judge" in row
    assert "| Physics" in (out_dir / "by_image_type.md").read_text()


def test_eval_scigenbench_maps_a_plain_image_folder(tmp_path, capsys):
    from scigenbench.scripts.eval_scigenbench import main as eval_main

    images = tmp_path / "images"
    images.mkdir()
    for item_id in MINI_IDS[:2]:
        (images / f"{item_id}.png").write_bytes(png("white", (120, 90)))
    with OpenAICompatServer(handler=scripted_judge()) as server:
        code = eval_main(["--image_dir", str(images), "--dataset", "mini", "--mode", "judge", "--judge",
                          f"openai:j@{server.base_url}"])
        assert code == 0 and server.calls == 2
    assert "judge: 2 scored, 0 unscored, 24 missing" in capsys.readouterr().out
    assert (tmp_path / "images.run" / "scores" / "judge.parquet").exists()


def test_evaluate_requires_a_judge_for_model_metrics(mini_run, capsys):
    run_dir, _ = mini_run
    assert main(["evaluate", "--run", str(run_dir), "--metrics", "quiz"]) == 2
    assert "--judge SPEC is required" in capsys.readouterr().err


def test_ocr_proxy_is_refused_for_judge_metrics(mini_run, capsys):
    run_dir, _ = mini_run
    code = main(["evaluate", "--run", str(run_dir), "--metrics", "judge", "--judge", "ocr"])
    assert code == 2
    assert "quizzes only" in capsys.readouterr().err


def test_eval_scigenbench_follows_upstream_image_lookup_order(tmp_path):
    from scigenbench.scripts.eval_scigenbench import _upstream_images

    (tmp_path / "images").mkdir()
    for name in ("a.jpg", "a.png", "images/a.png", "b.jpg", "images/b.png", "images/c.jpg", "images/c.png"):
        (tmp_path / name).write_bytes(png())
    chosen = {k: v.relative_to(tmp_path).as_posix() for k, v in _upstream_images(tmp_path).items()}
    assert chosen == {"a": "a.png", "b": "b.jpg", "c": "images/c.png"}
