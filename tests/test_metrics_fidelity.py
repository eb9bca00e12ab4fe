"""Image fidelity: PSNR/SSIM resize rules, CLIP preprocessing (upstream's double rescaling shown with a tiny
random CLIP built here), FID/KID with a pluggable extractor."""

import numpy as np
import pytest

from scigenbench.metrics import fidelity
from scigenbench.metrics.testing import png, toy_problem


def figure(size=(120, 90), shift=0):
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle([20 + shift, 20, 70 + shift, 60], outline="black", width=3)
    draw.line([0, 80, size[0], 10], fill="blue", width=2)
    return img


def test_identical_images_have_max_ssim_and_capped_psnr():
    out = fidelity.psnr_ssim(figure(), figure())
    assert out["ssim"] == pytest.approx(1.0) and out["psnr"] == 100.0 and out["ssim_win_size"] == 7


def test_default_keeps_reference_size_and_pads_generated_to_its_aspect():
    gen, ref = fidelity.aligned_pair(figure((400, 150)), figure((120, 90)))
    assert gen.shape == ref.shape == (90, 120, 3)
    assert (gen[:10] == 255).all()  # white padding above: the wide image was not stretched


def test_upstream_mode_resizes_reference_to_generated_size_with_3x3_window():
    gen, ref = fidelity.aligned_pair(figure((400, 150)), figure((120, 90)), mode="upstream")
    assert gen.shape == ref.shape == (150, 400, 3)
    assert fidelity.psnr_ssim(figure((400, 150)), figure((120, 90)), mode="upstream")["ssim_win_size"] == 3


def test_a_shifted_drawing_scores_lower_than_the_same_drawing():
    same = fidelity.psnr_ssim(figure(), figure())
    shifted = fidelity.psnr_ssim(figure(shift=25), figure())
    assert shifted["psnr"] < same["psnr"] and shifted["ssim"] < 0.99


def test_fidelity_item_states():
    problem = toy_problem("s1")
    assert fidelity.fidelity_item(problem, None, figure()).state == "missing"
    assert fidelity.fidelity_item(problem, png(), None).state == "not_applicable"
    assert fidelity.fidelity_item(problem, b"not an image", figure()).state == "unscored"
    scored = fidelity.fidelity_item(problem, png(), figure())
    assert scored.state == "scored" and 0 < scored.details["ssim"] <= 1 and scored.image_sha256


@pytest.fixture(scope="module")
def tiny_clip():
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, PreTrainedTokenizerFast

    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=dict(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
                         pad_token_id=0),
        vision_config=dict(image_size=32, patch_size=8, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                           num_attention_heads=2),
        projection_dim=8)
    model = CLIPModel(config).eval()
    vocab = {"[PAD]": 0, "[UNK]": 1, **{w: i + 2 for i, w in enumerate("a block on an incline figure of".split())}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]")
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return model, processor, tokenizer


def test_clip_default_rescales_once_upstream_twice(tiny_clip):
    _, processor, _ = tiny_clip
    from PIL import Image

    white, black = Image.new("RGB", (90, 90), "white"), Image.new("RGB", (90, 90), "black")
    ours = fidelity.clip_pixel_values([white, black], processor)
    upstream = fidelity.clip_pixel_values([white, black], processor, mode="upstream")
    # ours: white reaches the model bright (≈ +1.9 after CLIP normalisation), black dark (≈ -1.8)
    assert ours[0].max() > 1.5 and ours[1].max() < -1.4
    # upstream: float [0,1] input is divided by 255 again, so even a white image arrives almost black
    assert upstream[0].max() < -1.4
    assert (upstream[0] - upstream[1]).abs().max() < 0.05 < (ours[0] - ours[1]).abs().max()


def test_clip_scores_differ_between_the_two_preprocessings(tiny_clip):
    model, processor, tokenizer = tiny_clip
    texts = ["a block on an incline"] * 2
    images = [figure(), figure(shift=30)]
    ours = fidelity.clip_scores(images, texts, model=model, processor=processor, tokenizer=tokenizer)
    upstream = fidelity.clip_scores(images, texts, model=model, processor=processor, tokenizer=tokenizer,
                                    mode="upstream")
    assert all(0 <= s <= 100 for s in ours + upstream)
    assert ours != pytest.approx(upstream, abs=1e-3)
    # upstream cannot tell two different drawings apart: both arrive near-black
    assert abs(upstream[0] - upstream[1]) < abs(ours[0] - ours[1]) + 1e-9


def mean_color_features(images):
    """A tiny deterministic feature extractor: per-channel means and stds of the 299×299 inputs."""
    x = fidelity.fid_inputs(images).astype(np.float64) / 255.0
    return np.concatenate([x.mean(axis=(2, 3)), x.std(axis=(2, 3))], axis=1)


def test_fid_with_pluggable_extractor_is_zero_for_identical_sets_and_grows_with_difference():
    refs = [figure(shift=s) for s in range(0, 40, 5)]
    same = fidelity.fid_kid(refs, refs, feature_extractor=mean_color_features)
    assert same["fid"] == pytest.approx(0.0, abs=1e-6) and same["n"] == 8 and same["feature_dim"] == 6
    from PIL import Image

    dark = [Image.new("RGB", (120, 90), (40 + 5 * i, 40, 40)) for i in range(8)]
    far = fidelity.fid_kid(dark, refs, feature_extractor=mean_color_features)
    assert far["fid"] > 0.1 and far["kid"] > 0


def test_fid_matches_closed_form_for_gaussians():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, (4000, 2)), rng.normal(1, 1, (4000, 2))
    assert fidelity.fid_from_features(a, b) == pytest.approx(2.0, abs=0.15)  # ‖μ_a − μ_b‖² = 2, equal covariances


def test_fid_default_extractor_fails_clearly_when_unavailable(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    try:
        extractor = fidelity.inception_extractor()
    except RuntimeError as exc:
        assert "feature_extractor=" in str(exc) and "Inception" in str(exc)
    else:  # an implementation with cached weights is installed: it must produce 2048-d features
        assert extractor([figure(), figure(shift=5)]).shape == (2, 2048)


def test_fidelity_over_a_run_folder_with_coverage_and_set_level_fid(tmp_path):
    import io

    from scigenbench.metrics.evaluation import evaluate_run
    from scigenbench.metrics.testing import make_run

    def png_of(img):
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        return buf.getvalue()

    problems = [dict(toy_problem(f"s{i}"), source="seephys", image=figure(shift=3 * i)) for i in range(4)]
    problems.append(dict(toy_problem("s-noref"), source="seephys", image=None))
    images = {"s0": png_of(figure()), "s1": png_of(figure(shift=20)), "s2": png_of(figure((300, 100))),
              "s-noref": png()}
    run_dir = make_run(tmp_path / "run", images, dataset="seephys")
    report = evaluate_run(run_dir, ["fidelity"], None, problems=problems, progress=False,
                          feature_extractor=mean_color_features)
    s = report.summaries["fidelity"]
    cov = s["coverage"]
    assert (cov["n_scored"], cov["n_missing"], cov["n_not_applicable"]) == (3, 1, 1)
    assert s["psnr"]["n"] == 3 and s["fid_n"] == 3 and s["fid"] >= 0 and "fid_error" not in s
    again = evaluate_run(run_dir, ["fidelity"], None, problems=problems, progress=False)
    assert again.reused["fidelity"] == 5 and again.summaries["fidelity"]["psnr"] == s["psnr"]


def _transparent_figure():
    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (120, 90), (0, 0, 0, 0))
    ImageDraw.Draw(img).rectangle([20, 20, 70, 60], outline=(0, 0, 0, 255), width=3)
    return img


def test_upstream_mode_drops_alpha_like_convert_rgb_default_composites_on_white():
    gen_default, _ = fidelity.aligned_pair(_transparent_figure(), figure())
    gen_upstream, _ = fidelity.aligned_pair(_transparent_figure(), figure(), mode="upstream")
    assert (gen_default[0, 0] == 255).all() and (gen_upstream[0, 0] == 0).all()


def test_fid_inputs_squash_in_upstream_mode_and_pad_by_default():
    wide = figure((400, 100))
    padded = fidelity.fid_inputs([wide], size=64)[0]
    squashed = fidelity.fid_inputs([wide], size=64, mode="upstream")[0]
    assert padded.shape == squashed.shape == (3, 64, 64)
    assert (padded[:, :10] == 255).all() and not (squashed[:, :10] == 255).all()


def test_a_set_metric_that_cannot_be_computed_is_printed(tmp_path):
    import io

    from scigenbench.metrics.evaluation import evaluate_run
    from scigenbench.metrics.testing import make_run

    def failing_extractor(images):
        raise RuntimeError("no Inception weights offline")

    buf = io.BytesIO()
    figure().save(buf, format="PNG")
    problems = [dict(toy_problem("s0"), source="seephys", image=figure())]
    run_dir = make_run(tmp_path / "run", {"s0": buf.getvalue()}, dataset="seephys")
    report = evaluate_run(run_dir, ["fidelity"], None, problems=problems, progress=False, fid=True,
                          feature_extractor=failing_extractor)
    assert "FID/KID not computed: RuntimeError: no Inception weights offline" in report.to_text()
