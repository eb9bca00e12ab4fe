"""A new user's first hour: the demo on a machine without the system tools, the command line's small promises and
the leaderboard a person reads. Missing tools are hidden from PATH for real (a folder of links to every other
program), never mocked."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from PIL import Image

from scigenbench.metrics.testing import make_run, png, scripted_judge, toy_problem
from scigenbench.scripts.cli import main

TIKZ_ID = "mini-chemistry-esterification"
PYTHON_ID = "mini-biology-energy-pyramid"


def path_without(tmp_path: Path, *hidden: str) -> str:
    """A PATH of one folder linking every program on the current PATH except ``hidden``."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for name in os.listdir(directory):
            target = folder / name
            if name in hidden or target.exists() or target.is_symlink():
                continue
            source = os.path.join(directory, name)
            if os.access(source, os.X_OK):
                target.symlink_to(source)
    return str(folder)


def _mini(*ids: str) -> list[dict]:
    from scigenbench.dataset import load_mini_problems

    return [p for p in load_mini_problems() if p["id"] in ids]


# --- the demo ---------------------------------------------------------------------------------------------------

def test_without_tex_tikz_items_are_skipped_not_failed_and_a_rerun_with_tex_renders_them(tmp_path, monkeypatch):
    from scigenbench.dataset.runs import RunFolder
    from scigenbench.generators.demo import generate_demo
    from scigenbench.generators.imgcoder import run_stats

    monkeypatch.setenv("PATH", path_without(tmp_path, "pdflatex", "pdftoppm"))
    runs = generate_demo(tmp_path / "demo", problems=_mini(TIKZ_ID, PYTHON_ID), progress=False, verbose=False)
    records = RunFolder.open(runs["imgcoder"]).records()
    skipped = records[TIKZ_ID]
    assert skipped["status"] == "skipped" and "pdflatex" in skipped["error"] and "apt-get install" in skipped["error"]
    assert [s["stage"] for s in skipped["extra"]["stages"]].count("repair") == 0  # no repair round spent on it
    assert records[PYTHON_ID]["status"] == "ok"
    stats = run_stats(records.values())
    assert stats["n"] == 2 and stats["render_rate_first_try"] == 1.0  # a missing tool is not a render failure

    monkeypatch.undo()  # the tools are back
    if not (shutil.which("pdflatex") and shutil.which("pdftoppm")):
        pytest.skip("the re-run half needs pdflatex and pdftoppm")
    generate_demo(tmp_path / "demo", problems=_mini(TIKZ_ID, PYTHON_ID), progress=False, verbose=False)
    assert RunFolder.open(runs["imgcoder"]).done_ids() == {TIKZ_ID, PYTHON_ID}  # picked up without a flag


def test_generation_summary_reports_skipped_items_once_with_the_reason():
    from scigenbench.generators.runner import RunSummary

    summary = RunSummary(run_dir="r", generator="imgcoder", config_hash="h", dataset="mini", n_requested=3,
                         n_attempted=3, counts={"ok": 1, "skipped": 2},
                         skipped_reasons={"not rendered: pdflatex not found": 2})
    assert "skipped 2 (not a model failure; a re-run retries them): not rendered: pdflatex" in summary.format()
    only_skipped = RunSummary(run_dir="r", generator="g", config_hash="h", dataset="mini", n_attempted=2,
                              counts={"skipped": 2})
    assert not only_skipped.all_failed and only_skipped.exit_code() == 0


def test_without_an_ocr_engine_the_demo_scores_say_not_run_with_the_reason(tmp_path, monkeypatch):
    from scigenbench.metrics.demo import score_demo

    monkeypatch.setenv("PATH", path_without(tmp_path, "tesseract"))
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)  # RapidOCR cannot be imported
    run_dir = make_run(tmp_path / "imgcoder", {PYTHON_ID: png()})
    text = score_demo([run_dir], tmp_path / "board")
    line = next(line for line in text.splitlines() if line.startswith("imgcoder:"))
    assert "not run: no OCR engine can run" in line and "scigenbench[ocr]" in line and "%" not in line
    assert not (run_dir / "scores").exists() and not (tmp_path / "board" / "leaderboard.md").exists()


@pytest.mark.slow
def test_demo_on_a_machine_without_tools_names_them_before_the_work(tmp_path):
    env = {**os.environ, "PATH": path_without(tmp_path, "pdflatex", "pdftoppm", "bwrap", "tesseract"),
           "SCIGENBENCH_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "scigenbench.scripts", "demo", "--out", str(tmp_path / "out"),
                           "--no-score"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    banner = out.index("This machine lacks tools the demo uses")
    assert banner < out.index("run ") and "missing: pdflatex and pdftoppm" in out and "TikZ needs them" in out and "missing: bwrap" in out
    assert "tools/install-system-tools.sh demo" in out
    assert "ok 22, skipped 4" in out and "render rate: 100.0% at first try, 100.0% after repair (n=22)" in out
    assert "Traceback" not in proc.stderr and "--retry-failed" not in out
    assert "[skipped]" not in proc.stderr  # summarised once, not one progress-bar line per item


def test_install_script_without_root_lists_what_is_missing_and_what_it_skips(tmp_path):
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("runs the script as an unprivileged user: needs root and setpriv")
    script = Path(__file__).resolve().parents[1] / "tools" / "install-system-tools.sh"
    if not os.access(script, os.R_OK, effective_ids=False) or not (os.stat(script.parent).st_mode & 0o001):
        pytest.skip("the checkout is not readable by an unprivileged user")
    shared = Path(tempfile.mkdtemp(prefix="scigenbench-nobody-"))  # pytest's tmp_path is private to root
    shared.chmod(0o755)
    env = {"PATH": path_without(shared, "pdflatex", "bwrap", "sudo")}
    (shared / "bin").chmod(0o755)
    proc = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "sh", str(script), "demo"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0
    assert "not root and has no passwordless sudo" in proc.stdout
    assert "pdflatex (texlive-latex-base" in proc.stdout and "TikZ figures are skipped" in proc.stdout
    assert "bwrap (bubblewrap)" in proc.stdout
    required = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "sh", str(script), "demo",
                               "--require"], capture_output=True, text=True, env=env, timeout=60)
    assert required.returncode == 1
    shutil.rmtree(shared)


# --- the command line -------------------------------------------------------------------------------------------

def test_validate_into_a_closed_pipe_ends_quietly(upstream_dir):
    proc = subprocess.run(f"'{sys.executable}' -m scigenbench.scripts validate --config all | head -n 1",
                          shell=True, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "SCIGENBENCH_DATA_DIR": str(upstream_dir)}, executable="/bin/bash")
    assert proc.stdout.startswith("#") and proc.stderr == ""


def test_errors_are_one_line(capsys, tmp_path):
    assert main(["leaderboard", str(tmp_path / "NOPE"), "--out", str(tmp_path / "board")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "NOPE does not exist" in err and "scigenbench evaluate" not in err


def test_blind_quiz_has_one_name_and_the_ocr_proxy_refuses_it(tmp_path, capsys):
    run_dir = make_run(tmp_path / "run", {PYTHON_ID: png()})
    for name in ("quiz_blind", "blind"):
        assert main(["evaluate", "--run", str(run_dir), "--metrics", name, "--judge", "ocr", "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert "cannot answer quiz_blind" in err and "without" in err
    assert not (run_dir / "scores" / "quiz_blind.jsonl").exists()
    assert main(["evaluate", "--run", str(run_dir), "--metrics", "nope", "--judge", "fake"]) == 2
    assert "quiz_blind" in capsys.readouterr().err
    from scigenbench.scripts.cli import build_parser

    evaluate_help = build_parser()._subparsers._group_actions[0].choices["evaluate"].format_help()
    assert "quiz_blind" in evaluate_help and " blind (" not in evaluate_help


def test_doctor_lists_ocr_engines_and_chromium(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", path_without(tmp_path, "tesseract", "chromium", "chromium-browser", "google-chrome"))
    assert main(["doctor", "--no-probe", "--json"]) in (0, 1)
    report = json.loads(capsys.readouterr().out)
    assert report["tools"]["chromium"] is None and report["tools"]["tesseract"] is None
    assert set(report["ocr_engines"]) == {"rapidocr", "tesseract"}
    assert "tesseract is not on PATH" in report["ocr_engines"]["tesseract"]
    main(["doctor", "--no-probe"])
    text = capsys.readouterr().out
    assert "ocr proxy engines" in text and "chromium" in text


# --- the leaderboard a person reads -----------------------------------------------------------------------------

def _evaluated_quiz_run(tmp_path: Path, name: str = "run") -> Path:
    from scigenbench.metrics.evaluation import evaluate_run

    problems = [toy_problem("p1"), toy_problem("p2", domain="Math", image_type="Math - Geometry")]
    run_dir = make_run(tmp_path / name, {"p1": png(), "p2": png("gray")})
    evaluate_run(run_dir, ["quiz"], "fake", problems=problems, progress=False, n_boot=0,
                 backend_options={"cache_dir": str(tmp_path / "cache"), "responses": scripted_judge()})
    return run_dir


def test_tables_use_readable_names_and_the_same_columns_in_every_format(tmp_path):
    from scigenbench.metrics.leaderboard import build_leaderboard

    out = tmp_path / "board"
    build_leaderboard([_evaluated_quiz_run(tmp_path)], out)
    for stem in ("overall", "by_domain"):
        with (out / f"{stem}.csv").open() as fh:
            header = next(csv.reader(fh))
        markdown_header = [c.strip() for c in (out / f"{stem}.md").read_text().splitlines()[2].strip("|").split("|")]
        html = (out / f"{stem}.html").read_text()
        html_header = [cell.split("</th>")[0] for cell in html.split("<th>")[1:]]
        assert header == markdown_header == [h.replace("&amp;", "&") for h in html_header], stem
    overall = (out / "overall.csv").read_text()
    assert "quiz accuracy (%)" in overall and "C&F (0–2)" in overall and "R_inv (%)" in overall
    assert "quiz:quiz_acc_micro" not in (out / "leaderboard.md").read_text()
    rows = list(csv.DictReader((out / "overall.csv").open()))
    ours = next(r for r in rows if r["source"] == "this run")
    published = next(r for r in rows if r["source"] == "published")
    assert ours["quiz accuracy (%)"] == "100.0" and published["R_inv (%)"] and published["C&F (0–2)"]


def test_plots_without_data_say_why(tmp_path):
    from scigenbench.metrics.leaderboard import build_leaderboard

    out = tmp_path / "board"
    build_leaderboard([_evaluated_quiz_run(tmp_path)], out, include_published=False)
    for name in ("judge_radar.png", "precision_expressiveness.png"):
        with Image.open(out / name) as img:
            assert img.text["Description"].startswith("no data: no row has the five judge dimensions"), name
    with Image.open(out / "by_domain.png") as img:
        assert "Description" not in img.text  # it has data


def test_twenty_series_get_twenty_distinct_styles():
    from scigenbench.metrics.leaderboard import series_styles

    styles = series_styles(20)
    assert len({(s["color"], s["marker"]) for s in styles}) == 20
    assert len({s["color"] for s in styles}) == 20


def test_quiz_plot_baseline_and_judge_views_are_drawn(tmp_path):
    from scigenbench.metrics.leaderboard import build_leaderboard, guessing_baseline_pct, load_run

    run_dir = _evaluated_quiz_run(tmp_path)
    assert guessing_baseline_pct([load_run(run_dir)]) == 100.0  # every toy quiz's answer is B
    out = tmp_path / "board"
    build_leaderboard([run_dir], out)
    for name in ("by_domain.png", "judge_radar.png", "precision_expressiveness.png"):
        with Image.open(out / name) as img:
            assert "Description" not in img.text and img.width > 600, name
