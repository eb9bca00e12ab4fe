"""Hub Eval Results: what `leaderboard --hub-results` writes parses with huggingface_hub, names registered tasks,
and the exported dataset registers those tasks in eval.yaml."""

import yaml
from huggingface_hub import parse_eval_result_entries

from scigenbench.dataset.export import export_dataset
from scigenbench.dataset.hub_tasks import hub_tasks
from scigenbench.generators.backends import get_backend
from scigenbench.metrics.evaluation import evaluate_run
from scigenbench.metrics.testing import make_run, png, scripted_judge, toy_problem
from scigenbench.scripts.cli import main


def _evaluated_run(tmp_path, judge="fake"):
    problems = [toy_problem("p1"), toy_problem("p2"), toy_problem("p3")]
    run_dir = make_run(tmp_path / "run-a", {"p1": png("white"), "p2": png("gray"), "p3": None}, dataset="scigen")
    backend = judge if judge == "ocr" else get_backend("fake", responses=scripted_judge(), cache=False)
    metrics = ["quiz"] if judge == "ocr" else ["judge", "quiz", "rinv"]
    evaluate_run(run_dir, metrics, backend, problems=problems, progress=False, n_boot=50)
    return run_dir


def test_hub_results_parse_with_huggingface_hub_and_name_registered_tasks(tmp_path, capsys):
    run_dir = _evaluated_run(tmp_path)
    hub = tmp_path / "hub"
    assert main(["leaderboard", str(run_dir), "--out", str(tmp_path / "lb"), "--hub-results", str(hub),
                 "--hub-dataset", "me/SciGenBench"]) == 0
    path = hub / "run-a" / ".eval_results" / "scigenbench_scigen.yaml"
    entries = parse_eval_result_entries(yaml.safe_load(path.read_text()))
    tasks = {t["id"] for t in hub_tasks()}
    by_task = {e.task_id: e for e in entries}
    assert all(e.dataset_id == "me/SciGenBench" and e.task_id in tasks for e in entries)
    assert {"scigen_r_inv", "scigen_quiz_acc", "scigen_judge_overall", "scigen_judge_correctness_fidelity"} <= set(by_task)
    # p3 has no image: strict numbers count it 0 (2 of 3 items right for R_inv; judge 1.6 on 2 of 3)
    assert by_task["scigen_r_inv"].value == round(200 / 3, 4)
    assert by_task["scigen_judge_overall"].value == round(1.6 * 2 / 3, 4)
    notes = by_task["scigen_quiz_acc"].notes
    assert "judge fake:fake" in notes and "protocol default" in notes and "coverage 2/3 scored, 1 missing" in notes
    assert "hub results run-a: " in capsys.readouterr().out


def test_ocr_proxy_numbers_are_never_written(tmp_path, capsys):
    run_dir = _evaluated_run(tmp_path, judge="ocr")
    assert main(["leaderboard", str(run_dir), "--out", str(tmp_path / "lb"), "--hub-results",
                 str(tmp_path / "hub")]) == 0
    assert not (tmp_path / "hub" / "run-a" / ".eval_results").exists()
    assert "answered by the OCR proxy" in capsys.readouterr().out


def test_exported_dataset_registers_the_tasks_in_eval_yaml(tmp_path):
    export_dataset(tmp_path / "export", ["mini"])
    spec = yaml.safe_load((tmp_path / "export" / "eval.yaml").read_text())
    assert spec["evaluation_framework"] == "scigenbench" and spec["name"] == "SciGenBench"
    assert {"id": "mini_r_inv", "config": "mini", "split": "test"} in spec["tasks"]
    assert all(t["config"] == "mini" for t in spec["tasks"])
    assert "## Leaderboard on the Hub" in (tmp_path / "export" / "README.md").read_text()
