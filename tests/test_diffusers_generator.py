"""The Diffusers generator on tiny randomly initialised Qwen-Image and HunyuanImage 2.1 pipelines, loaded from
real pipeline folders through ``from_pretrained`` and run for 2 steps on CPU."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

from scigenbench.generators import get_generator  # noqa: E402
from scigenbench.generators.diffusers_tiny import save_tiny_pipeline  # noqa: E402

PROBLEMS = [
    {"id": "mini-a", "question": "A 2 kg block rests on a 30° incline.", "domain": "Physics"},
    {"id": "mini-b", "question": "Draw triangle ABC with AB = 3 cm.", "domain": "Math"},
]
TINY = {"steps": 2, "width": 32, "height": 32, "local_files_only": True, "device": "cpu"}


@pytest.fixture(scope="module", params=["qwen-image", "hunyuan-image"])
def pipeline_dir(request, tmp_path_factory):
    return save_tiny_pipeline(request.param, tmp_path_factory.mktemp(request.param))


def test_run_folder_gets_images_and_complete_metadata(pipeline_dir, tmp_path):
    from scigenbench.dataset.runs import RunFolder
    from scigenbench.generators.runner import run_generation

    gen = get_generator(f"diffusers:{pipeline_dir}", batch_size=2, guidance=2.0, **TINY)
    run_generation(gen, PROBLEMS, tmp_path / "run", concurrency=1, progress=False, dataset="test")

    run = RunFolder.open(tmp_path / "run")
    assert run.done_ids() == {"mini-a", "mini-b"}
    for pid in ("mini-a", "mini-b"):
        assert run.image_path(pid).stat().st_size > 0
        extra = run.records()[pid]["extra"]
        extra = json.loads(extra) if isinstance(extra, str) else extra
        for key in ("model", "revision", "seed", "steps", "guidance", "width", "height", "dtype", "seconds"):
            assert key in extra, key
        assert extra["steps"] == 2 and extra["width"] == 32 and extra["dtype"] == "float32"
        assert extra["like_for_like_with_paper"] is False


def test_same_seed_gives_identical_image(pipeline_dir):
    first = get_generator(f"diffusers:{pipeline_dir}", seed=7, **TINY).generate(PROBLEMS[0])
    second = get_generator(f"diffusers:{pipeline_dir}", seed=7, **TINY).generate(PROBLEMS[0])
    assert first.ok and first.image_png == second.image_png
    assert first.extra["seed"] == second.extra["seed"]


def test_different_seed_gives_different_image(pipeline_dir):
    gen = get_generator(f"diffusers:{pipeline_dir}", seed=7, **TINY)
    other = get_generator(f"diffusers:{pipeline_dir}", seed=8, **TINY)
    a, b = gen.generate(PROBLEMS[0]), other.generate(PROBLEMS[0])
    assert a.extra["seed"] != b.extra["seed"]
    assert a.image_png != b.image_png


def test_batch_does_not_change_per_item_images(pipeline_dir):
    single = get_generator(f"diffusers:{pipeline_dir}", **TINY).generate(PROBLEMS[1])
    batched = get_generator(f"diffusers:{pipeline_dir}", batch_size=2, **TINY).generate_batch(PROBLEMS)
    assert batched[1].extra["seed"] == single.extra["seed"]


def test_unknown_model_offline_names_the_model_and_the_fix():
    # local_files_only is what offline mode does: the model must already be in the cache
    gen = get_generator("diffusers:no-such-org/no-such-model", device="cpu", local_files_only=True)
    with pytest.raises(OSError, match=r"no-such-org/no-such-model.*\n.*hf download no-such-org/no-such-model"):
        gen.load()


def test_cuda_requested_without_cuda_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="CUDA is not available"):
        get_generator("diffusers:any/model", device="cuda")


def test_unknown_option_lists_valid_ones():
    with pytest.raises(ValueError, match="Unknown option.*stepz.*Valid: .*steps"):
        get_generator("diffusers:any/model", stepz=3)


def test_missing_torch_names_the_extra(tmp_path):
    # a real interpreter in which `import torch` fails, as on an install without the extra
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('No module named torch')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from scigenbench.generators import get_generator\n"
        "try:\n"
        "    get_generator('diffusers:Qwen/Qwen-Image')\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "scigenbench[diffusers]" in out.stdout, out.stdout + out.stderr


def test_aspect_keeps_the_area_and_sixteen_pixel_multiples(pipeline_dir):
    gen = get_generator(f"diffusers:{pipeline_dir}", **{**TINY, "width": 64, "height": 64}, aspect="2:1")
    out = gen.generate(PROBLEMS[0])
    assert (out.extra["width"], out.extra["height"]) == (96, 48)
    from PIL import Image
    import io

    assert Image.open(io.BytesIO(out.image_png)).size == (96, 48)
