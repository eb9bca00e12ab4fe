"""Training recipes: the TRL GRPO script (one real step on CPU), the VeRL config, our scorer and the size sweep."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from training_fixtures import PROBLEMS, make_syn_dir, tiny_vlm

from scigenbench.training import export_training

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "training" / "recipes"
TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def syn_dir(tmp_path_factory) -> Path:
    return make_syn_dir(tmp_path_factory.mktemp("syn"))


def run_script(args: list[str], env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(TESTS), **(env or {})})


# --- TRL ----------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_trl_grpo_script_runs_one_real_optimisation_step_on_a_tiny_vlm(syn_dir, tmp_path):
    pytest.importorskip("trl")
    from safetensors.torch import load_file

    export_training(syn_dir, "trl", tmp_path / "data")
    model = tiny_vlm(tmp_path / "vlm")
    probe = tmp_path / "probe.jsonl"
    done = run_script([str(RECIPES / "trl_grpo.py"), "--model", str(model), "--data", str(tmp_path / "data"),
                       "--output-dir", str(tmp_path / "out"), "--cpu", "--max-steps", "1", "--num-generations", "2",
                       "--per-device-train-batch-size", "2", "--max-completion-length", "8", "--learning-rate",
                       "1e-2", "--logging-steps", "1", "--save-steps", "1", "--reward-funcs",
                       "scigenbench.training.rewards:accuracy_reward,training_fixtures:probe_reward"],
                      env={"SCIGENBENCH_PROBE_FILE": str(probe)})
    assert done.returncode == 0, done.stderr[-3000:]
    state = json.loads((tmp_path / "out" / "checkpoint-1" / "trainer_state.json").read_text())
    assert state["global_step"] == 1
    logged = state["log_history"][0]
    assert "rewards/accuracy_reward/mean" in logged and "rewards/probe_reward/mean" in logged
    # the trainer handed the reward functions the dataset's solution column and conversational completions
    calls = [json.loads(line) for line in probe.read_text().splitlines()]
    answers = {p[4] for p in PROBLEMS}
    assert calls and all(set(c["solution"]) <= answers and c["kinds"] == ["list"] * len(c["solution"])
                         for c in calls)
    # one optimisation step changed the weights
    before, after = load_file(model / "model.safetensors"), load_file(tmp_path / "out" / "model.safetensors")
    assert before.keys() == after.keys()
    assert any(not before[k].equal(after[k]) for k in before)


def test_trl_script_names_a_missing_export(tmp_path):
    done = run_script([str(RECIPES / "trl_grpo.py"), "--model", "x", "--data", str(tmp_path), "--output-dir",
                       str(tmp_path / "o")], timeout=300)
    assert done.returncode != 0 and "is not a trl export" in done.stderr


# --- VeRL ---------------------------------------------------------------------------------------------------

def _leaves(node, prefix=""):
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")  # hydra/omegaconf deprecations
def test_verl_config_composes_with_verl_and_builds_its_worker_configs():
    """Every key of our YAML exists in VeRL's own ppo_trainer config and VeRL's dataclasses accept the values."""
    pytest.importorskip("verl.trainer.config", reason="verl is not installed")
    import verl.trainer.config
    import yaml
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf
    from verl.utils.config import omega_conf_to_dataclass

    ours = yaml.safe_load((RECIPES / "verl_grpo_qwen3_vl_8b.yaml").read_text())
    with initialize_config_dir(config_dir=str(RECIPES), version_base=None):
        cfg = compose(config_name="verl_grpo_qwen3_vl_8b", overrides=["data.train_files=t", "data.val_files=v"])
    with initialize_config_dir(config_dir=str(Path(verl.trainer.config.__file__).parent), version_base=None):
        base = compose(config_name="ppo_trainer")
    known = OmegaConf.to_container(base, resolve=False)
    for key, value in _leaves({k: v for k, v in ours.items() if k not in ("hydra", "defaults")}):
        node = known
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"{key} is not a VeRL key"
            node = node[part]
        if value != "???":
            assert OmegaConf.select(cfg, key) == value
    assert cfg.algorithm.adv_estimator == "grpo"
    assert cfg.reward.custom_reward_function == {"path": "pkg://scigenbench.training.rewards",
                                                 "name": "compute_score"}
    for section in (cfg.actor_rollout_ref.actor, cfg.actor_rollout_ref.rollout, cfg.algorithm):
        omega_conf_to_dataclass(section)  # VeRL's own validation


def test_verl_launch_script_fills_the_export_paths(syn_dir, tmp_path):
    export_training(syn_dir, "verl", tmp_path / "data", test_fraction=0.3)
    done = subprocess.run(["bash", str(RECIPES / "verl_grpo_qwen3_vl_8b.sh"), str(tmp_path / "data"),
                           "trainer.total_epochs=1"], capture_output=True, text=True, env={**os.environ,
                           "DRY_RUN": "1"}, timeout=60)
    assert done.returncode == 0, done.stderr
    command = done.stdout
    assert "verl.trainer.main_ppo" in command and "--config-name=verl_grpo_qwen3_vl_8b" in command
    assert f"data.train_files={tmp_path}/data/train.parquet" in command
    assert f"data.val_files={tmp_path}/data/test.parquet" in command and command.strip().endswith("total_epochs=1")
    missing = subprocess.run(["bash", str(RECIPES / "verl_grpo_qwen3_vl_8b.sh"), str(tmp_path / "nothing")],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "export-training" in missing.stderr


# --- our scorer and the data-size sweep ---------------------------------------------------------------------

def answering_server(correct_ids: set[str]):
    """A loopback model that answers the question of each id in ``correct_ids`` right, every other wrong."""
    from scigenbench.generators.backends.testing import OpenAICompatServer

    by_question = {question: (pid, answer) for pid, _, _, question, answer, _ in PROBLEMS}

    def handler(request):
        text = " ".join(p.get("text", "") for m in request["messages"] if isinstance(m["content"], list)
                        for p in m["content"])
        pid, answer = next(v for q, v in by_question.items() if q in text)
        return f"Reasoning.\n\\boxed{{{answer if pid in correct_ids else 'wrong'}}}"

    return OpenAICompatServer(handler=handler)


def test_scorer_sends_each_image_and_scores_with_the_reward(syn_dir, tmp_path):
    sys.path.insert(0, str(RECIPES))
    try:
        import eval_accuracy
    finally:
        sys.path.remove(str(RECIPES))
    export_training(syn_dir, "verl", tmp_path / "verl")
    export_training(syn_dir, "easyr1", tmp_path / "easyr1")
    with answering_server({"geo-1", "chem-1", "phy-2"}) as server:
        assert eval_accuracy.main(["--model", f"openai:test-model@{server.base_url}", "--data",
                                   f"verl={tmp_path}/verl/train.parquet", "--data",
                                   f"easyr1={tmp_path}/easyr1/train.parquet", "--out", str(tmp_path / "eval")]) == 0
        assert all(len(r.image_urls()) == 1 for r in server.requests)
    for name in ("verl", "easyr1"):
        summary = json.loads((tmp_path / "eval" / f"{name}.json").read_text())
        assert (summary["n"], summary["accuracy"], summary["failed_calls"]) == (6, 0.5, 0)
        records = [json.loads(line) for line in (tmp_path / "eval" / f"{name}.jsonl").read_text().splitlines()]
        assert {r["id"] for r in records if r["score"] == 1.0} == {"geo-1", "chem-1", "phy-2"}


def test_size_sweep_exports_nested_subsets_plans_every_stage_and_collects_the_table(syn_dir, tmp_path):
    work = tmp_path / "sweep"
    bench = tmp_path / "bench"
    export_training(syn_dir, "verl", bench)
    done = run_script([str(RECIPES / "data_size_sweep.py"), str(syn_dir), "--work", str(work), "--sizes", "2",
                       "4", "100", "--eval", f"geo3k={bench}/train.parquet", "--baseline", "--dry-run"])
    assert done.returncode == 0, done.stderr
    ids = {n: {r["extra_info"]["id"] for r in _rows(work / f"n{n}" / "data" / "train.parquet")} for n in (2, 4, 6)}
    assert len(ids[2]) == 2 and ids[2] < ids[4] < ids[6]          # 100 is clipped to the 6 items there are
    plan = json.loads((work / "plan.json").read_text())
    assert [run["label"] for run in plan] == ["baseline", "n2", "n4", "n6"]
    n4 = plan[2]
    assert n4["train"][0][1].endswith("verl_grpo_qwen3_vl_8b.sh") and n4["train"][0][2] == str(work / "n4" / "data")
    assert n4["train"][1][:4] == ["python3", "-m", "verl.model_merger", "merge"]
    assert "eval_accuracy.py" in n4["eval"][0][1] and f"geo3k={bench}/train.parquet" in n4["eval"][0]

    # score two "checkpoints" for real through the scorer (a loopback model), then collect the table
    sys.path.insert(0, str(RECIPES))
    try:
        import eval_accuracy
    finally:
        sys.path.remove(str(RECIPES))
    for label, right in (("baseline", {"geo-1"}), ("n4", {"geo-1", "chem-1", "phy-2"})):
        with answering_server(right) as server:
            eval_accuracy.main(["--model", f"openai:test-model@{server.base_url}", "--data",
                                f"geo3k={bench}/train.parquet", "--out", str(work / label / "eval")])
    done = run_script([str(RECIPES / "data_size_sweep.py"), str(syn_dir), "--work", str(work), "--eval",
                       f"geo3k={bench}/train.parquet", "--collect"])
    assert done.returncode == 0, done.stderr
    table = (work / "sweep.md").read_text()
    assert "| baseline | 16.7 | 16.7 |" in table and "| 4 | 50.0 | 50.0 |" in table
    assert [row["size"] for row in json.loads((work / "sweep.json").read_text())] == [0, 4]


def _rows(path: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()
