"""The HunyuanImage-3.0 generator loads remote code through transformers' real ``trust_remote_code`` path.

The 80B checkpoint cannot be used here; ``tests/fixtures/hunyuan3_stub`` is a local model folder whose remote
code has HunyuanImage-3.0's entry points (``load_tokenizer``, ``generate_image``) and no real network.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")

from scigenbench.generators import get_generator  # noqa: E402

STUB = Path(__file__).parent / "fixtures" / "hunyuan3_stub"
PROBLEM = {"id": "mini-a", "question": "A 2 kg block rests on a 30° incline."}


@pytest.fixture()
def model_dir(tmp_path):
    folder = tmp_path / "HunyuanImage-3"  # the upstream card asks for a dot-free folder name
    shutil.copytree(STUB, folder)
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    AutoModelForCausalLM.from_config(config, trust_remote_code=True).save_pretrained(folder)  # tiny weights
    return folder


def test_refuses_remote_code_without_explicit_trust(model_dir):
    with pytest.raises(ValueError, match="trust_remote_code=True"):
        get_generator(f"hunyuan3:{model_dir}")


def test_generates_through_remote_code_with_per_item_seed(model_dir):
    gen = get_generator(f"hunyuan3:{model_dir}", trust_remote_code=True, steps=3, device_map="cpu",
                        local_files_only=True)
    first, again = gen.generate(PROBLEM), gen.generate(PROBLEM)
    other = gen.generate({**PROBLEM, "id": "mini-b"})
    assert first.ok, first.error
    assert first.image_png == again.image_png
    assert other.image_png != first.image_png
    assert first.extra["steps"] == 3 and first.extra["like_for_like_with_paper"] is False
