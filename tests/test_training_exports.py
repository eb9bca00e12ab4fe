"""`export-training`: each layout written from a verified SYN_DIR and read back by its consumer where it installs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from training_fixtures import PROBLEMS, make_syn_dir

from scigenbench.scripts.cli import main
from scigenbench.training import export_training
from scigenbench.training.exports import DEFAULT_INSTRUCTION, FORMATS
from scigenbench.training.rewards import compute_score


@pytest.fixture(scope="module")
def syn_dir(tmp_path_factory) -> Path:
    return make_syn_dir(tmp_path_factory.mktemp("syn"))


@pytest.fixture(scope="module")
def source_images(syn_dir) -> dict[str, bytes]:
    import pyarrow.parquet as pq

    table = pq.read_table(next((syn_dir / "verified" / "data").glob("*.parquet"))).to_pylist()
    return {row["id"]: row["image"]["bytes"] for row in table}


def read_parquet(path: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


# --- verl ---------------------------------------------------------------------------------------------------

def test_verl_rows_follow_verl_multimodal_layout(syn_dir, source_images, tmp_path):
    result = export_training(syn_dir, "verl", tmp_path, test_fraction=0.34, seed=1)
    assert result.counts == {"train": 4, "test": 2} and result.files == ["train.parquet", "test.parquet"]
    answers = {p[0]: p[4] for p in PROBLEMS}
    for split in ("train", "test"):
        rows = read_parquet(tmp_path / f"{split}.parquet")
        for index, row in enumerate(rows):
            assert set(row) == {"data_source", "prompt", "images", "ability", "reward_model", "extra_info"}
            (message,) = row["prompt"]
            assert message["role"] == "user" and isinstance(message["content"], str)
            assert message["content"].count("<image>") == len(row["images"]) == 1
            assert message["content"].endswith(DEFAULT_INSTRUCTION) and "\\boxed{}" in message["content"]
            info = row["extra_info"]
            assert (info["split"], info["index"]) == (split, index)
            assert row["images"][0]["bytes"] == source_images[info["id"]]   # bytes unchanged
            assert row["reward_model"] == {"style": "rule", "ground_truth": answers[info["id"]]}
            assert info["answer"] == answers[info["id"]]
            assert info["original_question"].startswith(f"Original text of {info['id']}")
            assert info["image_type"] and row["ability"] == info["domain"].lower()
            assert row["data_source"] == "scigenbench-synth/test"


def test_split_is_seeded_and_limit_gives_nested_subsets_with_a_fixed_test_split(syn_dir, tmp_path):
    def ids(folder, split):
        return {r["extra_info"]["id"] for r in read_parquet(folder / f"{split}.parquet")}

    runs = {}
    for limit in (1, 2, None):
        out = tmp_path / f"limit-{limit}"
        export_training(syn_dir, "verl", out, test_fraction=0.34, seed=7, limit=limit)
        runs[limit] = (ids(out, "train"), ids(out, "test"))
    assert runs[1][1] == runs[2][1] == runs[None][1]                 # the test split does not move
    assert runs[1][0] < runs[2][0] < runs[None][0]                    # nested training subsets
    assert not runs[None][0] & runs[None][1] and len(runs[None][0] | runs[None][1]) == len(PROBLEMS)
    export_training(syn_dir, "verl", tmp_path / "again", test_fraction=0.34, seed=7)
    assert ids(tmp_path / "again", "test") == runs[None][1]           # same seed, same split
    export_training(syn_dir, "verl", tmp_path / "train-only")
    assert not (tmp_path / "train-only" / "test.parquet").exists()


def test_verl_rlhf_dataset_reads_the_export_and_verl_loads_the_reward(syn_dir, tmp_path):
    """VeRL's own dataset class and reward loader over our files (needs `verl`; see the README for the install)."""
    rl_dataset = pytest.importorskip("verl.utils.dataset.rl_dataset", reason="verl is not installed")
    from omegaconf import OmegaConf
    from training_fixtures import tiny_vlm
    from transformers import AutoProcessor
    from verl.trainer.ppo.reward import get_custom_reward_fn

    export_training(syn_dir, "verl", tmp_path / "verl")
    processor = AutoProcessor.from_pretrained(tiny_vlm(tmp_path / "vlm"))
    config = OmegaConf.create({"prompt_key": "prompt", "image_key": "images", "max_prompt_length": 4096,
                               "filter_overlong_prompts": False, "cache_dir": str(tmp_path / "cache")})
    dataset = rl_dataset.RLHFDataset(str(tmp_path / "verl" / "train.parquet"), processor.tokenizer, config,
                                     processor)
    assert len(dataset) == len(PROBLEMS)
    row = dataset[0]
    image_part, text_part = row["raw_prompt"][0]["content"]
    assert image_part["type"] == "image" and image_part["image"].size[0] > 0
    assert text_part["type"] == "text" and text_part["text"].startswith(PROBLEMS[0][3])
    prompt = processor.apply_chat_template(row["raw_prompt"], add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[prompt], images=[image_part["image"]], return_tensors="pt")
    assert inputs["pixel_values"].shape[0] == 1

    for path in ("pkg://scigenbench.training.rewards", str(Path(compute_score.__code__.co_filename))):
        reward_fn = get_custom_reward_fn(OmegaConf.create(
            {"reward": {"custom_reward_function": {"path": path, "name": "compute_score", "reward_kwargs": {}}}}))
        truth = row["reward_model"]["ground_truth"]
        assert reward_fn(data_source=row["data_source"], solution_str=f"So \\boxed{{{truth}}}",
                         ground_truth=truth, extra_info=row["extra_info"]) == 1.0
        assert reward_fn(data_source=row["data_source"], solution_str="\\boxed{nope}", ground_truth=truth,
                         extra_info=row["extra_info"]) == 0.0


# --- trl ----------------------------------------------------------------------------------------------------

def test_trl_export_loads_with_datasets_and_fills_trl_image_placeholders(syn_dir, tmp_path):
    import datasets
    from PIL import Image
    from trl.data_utils import prepare_multimodal_messages

    export_training(syn_dir, "trl", tmp_path, test_fraction=0.34, seed=1)
    grpo = datasets.load_dataset(str(tmp_path))
    assert sorted(grpo) == ["test", "train"] and len(grpo["train"]) + len(grpo["test"]) == len(PROBLEMS)
    row = grpo["train"][0]
    assert isinstance(row["images"][0], Image.Image)
    assert row["solution"] == {p[0]: p[4] for p in PROBLEMS}[row["id"]]
    (turn,) = row["prompt"]
    assert turn["role"] == "user" and [p["type"] for p in turn["content"]] == ["image", "text"]
    filled = prepare_multimodal_messages(row["prompt"], images=row["images"])  # what GRPOTrainer does
    assert filled[0]["content"][0]["image"] is row["images"][0]


def test_trl_sft_config_holds_only_items_with_a_worked_solution(syn_dir, tmp_path):
    import datasets

    export_training(syn_dir, "trl", tmp_path)
    sft = datasets.load_dataset(str(tmp_path), "sft", split="train")
    with_solution = {p[0]: p for p in PROBLEMS if p[5]}
    assert sorted(sft["id"]) == sorted(with_solution)
    for row in sft:
        user, assistant = row["messages"]
        assert user["content"][0]["type"] == "image" and len(row["images"]) == 1
        target = assistant["content"][0]["text"]
        assert target.startswith(with_solution[row["id"]][5])
        assert compute_score("d", target, with_solution[row["id"]][4]) == 1.0  # the target earns the reward


@pytest.mark.slow
def test_trl_sft_trainer_takes_one_step_on_the_sft_config(syn_dir, tmp_path):
    """TRL's SFTTrainer reads the ``sft`` config (messages + images) and optimises a tiny random VLM one step."""
    pytest.importorskip("trl")
    import datasets
    import transformers
    from training_fixtures import tiny_vlm
    from trl import SFTConfig, SFTTrainer

    export_training(syn_dir, "trl", tmp_path / "data")
    model_dir = tiny_vlm(tmp_path / "vlm")
    config = SFTConfig(output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=2, use_cpu=True,
                       report_to="none", logging_steps=1, save_strategy="no", max_length=None,
                       gradient_checkpointing=False)
    trainer = SFTTrainer(model=transformers.AutoModelForImageTextToText.from_pretrained(model_dir), args=config,
                         train_dataset=datasets.load_dataset(str(tmp_path / "data"), "sft", split="train"),
                         processing_class=transformers.AutoProcessor.from_pretrained(model_dir))
    trainer.train()
    step = trainer.state.log_history[0]
    assert step["step"] == 1 and step["loss"] > 0 and step["grad_norm"] > 0


# --- llamafactory and easyr1 (documented schemas: neither installs on this CPU machine's stack) ---------------

def test_llamafactory_sharegpt_records_match_their_images_and_dataset_info(syn_dir, source_images, tmp_path):
    export_training(syn_dir, "llamafactory", tmp_path, test_fraction=0.34, seed=1)
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert set(info) == {"scigenbench_synth", "scigenbench_synth_test"}
    seen = set()
    for name, entry in info.items():
        assert entry["formatting"] == "sharegpt"
        assert entry["columns"] == {"messages": "messages", "images": "images"}
        assert entry["tags"] == {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                                 "assistant_tag": "assistant"}
        for record in json.loads((tmp_path / entry["file_name"]).read_text()):
            user, assistant = record["messages"]
            assert (user["role"], assistant["role"]) == ("user", "assistant")
            assert user["content"].count("<image>") == len(record["images"]) == 1
            assert "<image>" not in assistant["content"] and "\\boxed{" in assistant["content"]
            image = tmp_path / record["images"][0]          # relative to the dataset dir (LLaMA-Factory's media_dir)
            seen.add(image.read_bytes())
    assert seen == set(source_images.values())
    assert (tmp_path / "images" / "math_2.png").is_file()  # "math/2" made safe for a file name


def test_easyr1_rows_carry_problem_answer_images(syn_dir, source_images, tmp_path):
    export_training(syn_dir, "easyr1", tmp_path)
    rows = read_parquet(tmp_path / "train.parquet")
    assert len(rows) == len(PROBLEMS)
    for row in rows:
        assert {"problem", "answer", "images"} <= set(row)
        assert row["problem"].startswith("<image>") and row["problem"].count("<image>") == len(row["images"])
        assert row["images"][0]["bytes"] == source_images[row["id"]]


# --- input problems and the command line ------------------------------------------------------------------

def test_rows_without_answer_or_image_are_skipped_and_listed(tmp_path):
    problems = PROBLEMS[:3] + [("empty-answer", "Math", "Math - Plane Geometric", "Find x.", " ", None)]
    syn = make_syn_dir(tmp_path / "syn", problems)
    result = export_training(syn, "easyr1", tmp_path / "out")
    assert result.counts == {"train": 3}
    assert result.skipped == [{"id": "empty-answer", "reason": "empty answer"}]
    assert json.loads((tmp_path / "out" / "export.json").read_text())["skipped"] == result.skipped


@pytest.mark.parametrize("fmt", FORMATS)
def test_cli_exports_each_format(syn_dir, tmp_path, capsys, fmt):
    assert main(["export-training", str(syn_dir), "--format", fmt, "--out", str(tmp_path), "--test-fraction",
                 "0.2", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{fmt}: 5 train, 1 test")
    manifest = json.loads((tmp_path / "export.json").read_text())
    assert manifest["format"] == fmt and manifest["seed"] == 3 and manifest["counts"] == {"train": 5, "test": 1}
    assert (tmp_path / "README.md").is_file()


def test_cli_reports_a_missing_verified_dataset_in_one_line(tmp_path, capsys):
    assert main(["export-training", str(tmp_path), "--format", "verl", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "no Parquet files" in err and "scigenbench synthesize" in err and "Traceback" not in err


def test_unknown_format_is_a_clear_error(syn_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown export format 'axolotl'"):
        export_training(syn_dir, "axolotl", tmp_path)


def test_reexport_replaces_earlier_files(syn_dir, tmp_path):
    export_training(syn_dir, "verl", tmp_path, test_fraction=0.5)
    export_training(syn_dir, "verl", tmp_path)
    assert not (tmp_path / "test.parquet").exists()
    assert len(read_parquet(tmp_path / "train.parquet")) == len(PROBLEMS)


def test_png_bytes_are_real_images(source_images):
    from PIL import Image

    for data in source_images.values():
        assert Image.open(io.BytesIO(data)).format == "PNG"


def test_unfinished_syn_dir_without_verified_is_an_error_not_the_constructed_data(syn_dir, tmp_path):
    import shutil

    (tmp_path / "synth.json").write_text("{}")
    shutil.copytree(syn_dir / "verified", tmp_path / "constructed")   # other Parquet in SYN_DIR is never read
    with pytest.raises(FileNotFoundError, match="let it finish"):
        export_training(tmp_path, "verl", tmp_path / "out")


def test_a_verified_folder_can_be_given_directly(syn_dir, tmp_path):
    assert export_training(syn_dir / "verified", "easyr1", tmp_path).counts == {"train": len(PROBLEMS)}
