"""Image fidelity against the SeePhys reference figures: PSNR, SSIM, CLIP score, FID/KID (PROTOCOL §2.5).

Project defaults (``fidelity="default"``), every choice recorded in the result:

- both images are composited on white and converted to RGB;
- PSNR/SSIM: the **reference stays at its native size**; the generated image is padded on white to the
  reference's aspect ratio (centred, nothing cropped or distorted) and resized (LANCZOS) to the reference size;
  SSIM uses scikit-image's default 7×7 window, ``data_range=255``, ``channel_axis=2``;
- CLIP: the image is padded on white to a square and given to the CLIP processor as **uint8**, so it is rescaled
  by 1/255 exactly once; text is the problem's ``question``, truncated to 77 tokens; score = max(100·cos, 0);
- FID: features from a pluggable extractor (Inception-v3 pool features by default) over the images padded on
  white to a square and resized to 299×299; reported with N and KID, since FID is strongly biased at N ≤ 330.

``fidelity="upstream"`` reproduces upstream: ``convert("RGB")`` (alpha dropped, not composited), the reference
resized (bicubic) to the generated size, SSIM ``win_size=3``, square 224/299 bilinear resizes without padding (what
torchvision's ``Resize`` does on PIL images), and float [0,1] CLIP input that the processor rescales a
second time (a known defect: the model sees near-black images). Such results are labelled upstream-compat.
"""

from __future__ import annotations

import io
import warnings
from typing import Any, Callable, Sequence

import numpy as np

from scigenbench._optional import require
from scigenbench.metrics.records import MISSING, SCORED, UNSCORED, ItemResult, problem_fields, sha256_hex

METRIC = "fidelity"
MODES = ("default", "upstream")
DEFAULT_CLIP_MODEL = "openai/clip-vit-base-patch16"
FeatureExtractor = Callable[[Sequence[Any]], np.ndarray]


def to_rgb(image: Any):
    """A PIL RGB image from bytes, a path or a PIL image, alpha composited on white."""
    from PIL import Image

    from scigenbench.metrics._calls import image_bytes

    img = image if isinstance(image, Image.Image) else Image.open(io.BytesIO(image_bytes(image)))
    img.load()
    if img.mode in ("RGBA", "LA", "P", "PA"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def _rgb(image: Any, mode: str):
    """RGB as the mode reads it: composited on white (default) or upstream's plain ``convert("RGB")``."""
    if mode != "upstream":
        return to_rgb(image)
    from PIL import Image

    from scigenbench.metrics._calls import image_bytes

    img = image if isinstance(image, Image.Image) else Image.open(io.BytesIO(image_bytes(image)))
    return img.convert("RGB")


def pad_to_aspect(img, aspect: float, fill=(255, 255, 255)):
    """Pad ``img`` on ``fill`` (centred) to width/height ratio ``aspect``."""
    from PIL import Image

    w, h = img.size
    if abs(w / h - aspect) < 1e-6:
        return img
    if w / h < aspect:
        new_w, new_h = round(h * aspect), h
    else:
        new_w, new_h = w, round(w / aspect)
    canvas = Image.new("RGB", (new_w, new_h), fill)
    canvas.paste(img, ((new_w - w) // 2, (new_h - h) // 2))
    return canvas


def aligned_pair(generated: Any, reference: Any, mode: str = "default") -> tuple[np.ndarray, np.ndarray]:
    """The two uint8 RGB arrays PSNR/SSIM compare, aligned by the documented resize rule of ``mode``."""
    from PIL import Image

    _check_mode(mode)
    gen, ref = _rgb(generated, mode), _rgb(reference, mode)
    if mode == "upstream":
        if ref.size != gen.size:
            ref = ref.resize(gen.size, Image.BICUBIC)
    else:
        gen = pad_to_aspect(gen, ref.width / ref.height)
        if gen.size != ref.size:
            gen = gen.resize(ref.size, Image.LANCZOS)
    return np.asarray(gen, dtype=np.uint8), np.asarray(ref, dtype=np.uint8)


def psnr_ssim(generated: Any, reference: Any, mode: str = "default") -> dict[str, Any]:
    """PSNR (dB, ``data_range=255``) and SSIM between a generated image and its reference."""
    metrics = require("skimage.metrics", purpose="PSNR/SSIM")
    gen, ref = aligned_pair(generated, reference, mode)
    # identical images: PSNR is infinite; report the conventional cap of 100 dB
    psnr = 100.0 if np.array_equal(ref, gen) else float(metrics.peak_signal_noise_ratio(ref, gen, data_range=255))
    win = 3 if mode == "upstream" else None
    if win is None and min(ref.shape[:2]) < 7:
        raise ValueError(f"SSIM needs images of at least 7x7 pixels, got {ref.shape[1]}x{ref.shape[0]}")
    ssim = float(metrics.structural_similarity(ref, gen, data_range=255, channel_axis=2, win_size=win))
    return {"psnr": psnr, "ssim": ssim, "size": [ref.shape[1], ref.shape[0]],
            "ssim_win_size": win or 7, "mode": mode}


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"fidelity mode must be one of {MODES}, got {mode!r}")


# --- CLIP score ---------------------------------------------------------------------------------------------

def clip_pixel_values(images: Sequence[Any], processor: Any, mode: str = "default"):
    """CLIP ``pixel_values`` for ``images``.

    ``default``: pad on white to square, hand the processor uint8 arrays (it rescales by 1/255 once).
    ``upstream``: resize to 224×224 and convert to float [0,1] like ``ToTensor()``; the processor then rescales by
    1/255 a second time (``do_rescale=True``), so every image reaches the model almost black.
    """
    from PIL import Image

    _check_mode(mode)
    arrays = []
    for image in images:
        img = _rgb(image, mode)
        if mode == "upstream":  # torchvision Resize((224, 224)) on a PIL image = PIL bilinear
            arrays.append(np.asarray(img.resize((224, 224), Image.BILINEAR), dtype=np.float32) / 255.0)
        else:
            arrays.append(np.asarray(pad_to_aspect(img, 1.0), dtype=np.uint8))
    return processor(images=arrays, return_tensors="pt")["pixel_values"]


def clip_scores(images: Sequence[Any], texts: Sequence[str], *, model: Any = None, processor: Any = None,
                tokenizer: Any = None, model_name: str = DEFAULT_CLIP_MODEL, mode: str = "default") -> list[float]:
    """Per-image CLIP score ``max(100·cos(E_img, E_txt), 0)``; texts truncated to the model's max length.

    ``model``/``processor``/``tokenizer`` default to ``model_name`` loaded with ``transformers`` (from the local
    cache when offline; a clear error says how to fetch it when it is absent).
    """
    torch = require("torch", purpose="CLIP score")
    if len(images) != len(texts):
        raise ValueError(f"clip_scores needs one text per image, got {len(images)} images and {len(texts)} texts")
    if model is None or processor is None or tokenizer is None:
        model, processor, tokenizer = load_clip(model_name)
    pixel_values = clip_pixel_values(images, processor, mode)
    max_len = getattr(model.config.text_config, "max_position_embeddings", 77)
    tokens = tokenizer(list(texts), padding=True, truncation=True, max_length=max_len, return_tensors="pt")
    with torch.no_grad():
        img = model.get_image_features(pixel_values=pixel_values)
        txt = model.get_text_features(input_ids=tokens["input_ids"], attention_mask=tokens.get("attention_mask"))
    img = getattr(img, "pooler_output", img)
    txt = getattr(txt, "pooler_output", txt)
    img = img / img.norm(dim=-1, keepdim=True)
    txt = txt / txt.norm(dim=-1, keepdim=True)
    cos = (img * txt).sum(dim=-1)
    return [max(100.0 * float(c), 0.0) for c in cos]


def load_clip(model_name: str = DEFAULT_CLIP_MODEL):
    """Load a CLIP model, image processor and tokenizer with ``transformers``."""
    transformers = require("transformers", purpose="CLIP score")
    try:
        model = transformers.CLIPModel.from_pretrained(model_name).eval()
        processor = transformers.CLIPImageProcessor.from_pretrained(model_name)
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_name)
    except OSError as exc:
        raise RuntimeError(
            f"CLIP model {model_name!r} is not available ({exc}). Download it once with "
            f"`huggingface-cli download {model_name}` (or pass model=/processor=/tokenizer=, or "
            "--clip-model PATH to a local copy); offline mode needs it in the Hugging Face cache.") from exc
    return model, processor, tokenizer


# --- FID / KID ----------------------------------------------------------------------------------------------

def fid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    """Fréchet distance ‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2(Σ_r Σ_g)^{1/2}) between two feature sets (N × D)."""
    linalg = require("scipy.linalg", purpose="FID")
    real, fake = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    if len(real) < 2 or len(fake) < 2:
        raise ValueError(f"FID needs at least 2 images per side, got {len(real)} real and {len(fake)} generated")
    mu_r, mu_f = real.mean(0), fake.mean(0)
    cov_r, cov_f = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    with warnings.catch_warnings():  # singular covariances (small N) are expected and handled below
        warnings.simplefilter("ignore")
        covmean = linalg.sqrtm(cov_r @ cov_f)
        if not np.isfinite(covmean).all():  # singular product: regularise, as pytorch-fid does
            eps = np.eye(cov_r.shape[0]) * 1e-6
            covmean = linalg.sqrtm((cov_r + eps) @ (cov_f + eps))
    covmean = covmean.real
    return float(((mu_r - mu_f) ** 2).sum() + np.trace(cov_r) + np.trace(cov_f) - 2 * np.trace(covmean))


def kid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    """Unbiased KID (MMD² with the cubic polynomial kernel) over all samples (no subsets)."""
    real, fake = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    d = real.shape[1]
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    m, n = len(real), len(fake)
    k_rr, k_ff, k_rf = k(real, real), k(fake, fake), k(real, fake)
    return float((k_rr.sum() - np.trace(k_rr)) / (m * (m - 1)) + (k_ff.sum() - np.trace(k_ff)) / (n * (n - 1))
                 - 2 * k_rf.mean())


def fid_inputs(images: Sequence[Any], size: int = 299, mode: str = "default") -> np.ndarray:
    """uint8 N×3×size×size arrays: padded on white to square (default) or squashed (upstream), then resized."""
    from PIL import Image

    out = []
    for image in images:
        img = _rgb(image, mode)
        if mode == "default":
            img = pad_to_aspect(img, 1.0)
        resample = Image.BILINEAR if mode == "upstream" else Image.BICUBIC  # upstream: torchvision Resize on PIL
        out.append(np.asarray(img.resize((size, size), resample), dtype=np.uint8).transpose(2, 0, 1))
    return np.stack(out)


def inception_extractor(mode: str = "default") -> FeatureExtractor:
    """The default FID feature extractor: Inception-v3 2048-d pool features, from whichever implementation is
    installed (``torchmetrics``/``torch-fidelity`` FID Inception, else ``torchvision``'s ImageNet Inception-v3).

    Raises:
        RuntimeError: when no implementation is installed or its weights cannot be loaded offline; the message
            says what to install or download, and that ``feature_extractor=`` accepts any callable.
    """
    errors = []
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3  # type: ignore

        net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"]).eval()

        def extract(images: Sequence[Any]) -> np.ndarray:
            import torch

            with torch.no_grad():
                return net(torch.from_numpy(fid_inputs(images, mode=mode))).numpy().reshape(len(images), -1)

        return extract
    except Exception as exc:  # not installed, or weights not downloadable offline
        errors.append(f"torchmetrics: {type(exc).__name__}: {exc}")
    try:
        import torchvision  # type: ignore

        net = torchvision.models.inception_v3(weights="DEFAULT", aux_logits=True).eval()
        net.fc = __import__("torch").nn.Identity()
        weights = torchvision.models.Inception_V3_Weights.DEFAULT

        def extract_tv(images: Sequence[Any]) -> np.ndarray:
            import torch

            x = weights.transforms()(torch.from_numpy(fid_inputs(images, mode=mode)))
            with torch.no_grad():
                return net(x).numpy()

        return extract_tv
    except Exception as exc:
        errors.append(f"torchvision: {type(exc).__name__}: {exc}")
    raise RuntimeError(
        "No Inception-v3 feature extractor is available for FID (" + "; ".join(errors) + "). Install one with "
        "`pip install torchmetrics[image]` (or torchvision) and run once online so its weights are cached, or pass "
        "feature_extractor=<callable: list of images -> N×D array>.")


def fid_kid(generated: Sequence[Any], references: Sequence[Any], *,
            feature_extractor: FeatureExtractor | None = None, mode: str = "default") -> dict[str, Any]:
    """FID and KID between the generated images and their references, with N (pairs used)."""
    if len(generated) != len(references):
        raise ValueError(f"fid_kid needs paired lists, got {len(generated)} generated and {len(references)} refs")
    _check_mode(mode)
    extractor = feature_extractor or inception_extractor(mode)
    fake, real = np.asarray(extractor(list(generated))), np.asarray(extractor(list(references)))
    return {"fid": fid_from_features(real, fake), "kid": kid_from_features(real, fake), "n": len(generated),
            "feature_dim": int(real.shape[1]), "mode": mode,
            "extractor": getattr(feature_extractor, "__name__", "inception-v3") if feature_extractor else
            "inception-v3"}


# --- per item -------------------------------------------------------------------------------------------------

def fidelity_item(problem: dict[str, Any], image: Any | None, reference: Any | None, *, mode: str = "default",
                  missing_reason: str = "no image") -> ItemResult:
    """PSNR and SSIM of one generated image against the item's reference (CLIP and FID are set-level)."""
    from scigenbench.metrics._calls import image_bytes

    base = dict(id=str(problem["id"]), metric=METRIC, prompt_version=None, **problem_fields(problem))
    if mode != "default":
        base.update(protocol="upstream-compat", switches=[f"fidelity={mode}"])
    if reference is None:
        from scigenbench.metrics.records import NOT_APPLICABLE

        return ItemResult(state=NOT_APPLICABLE, reason="no reference image (fidelity needs SeePhys)", **base)
    if image is None:
        return ItemResult(state=MISSING, reason=missing_reason, **base)
    data = image_bytes(image)
    base["image_sha256"] = sha256_hex(data)
    try:
        values = psnr_ssim(data, reference, mode)
    except Exception as exc:  # undecodable or degenerate image: recorded, not dropped
        return ItemResult(state=UNSCORED, reason=f"fidelity failed: {type(exc).__name__}: {exc}"[:300], **base)
    return ItemResult(state=SCORED, details=values, **base)
