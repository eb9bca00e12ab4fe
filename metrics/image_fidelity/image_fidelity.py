"""Image fidelity against reference figures (SeePhys): PSNR, SSIM, CLIP score and FID/KID."""

import datasets
import evaluate

from scigenbench.metrics.modules import CITATION, compute_fidelity

_DESCRIPTION = """\
Image fidelity (SciGenBench, SeePhys real-image subset). Compares each generated figure with its reference figure.
PSNR and SSIM: both images composited on white; the reference keeps its native size and the generated image is
padded on white to the reference's aspect ratio and resized (LANCZOS) to it; SSIM with scikit-image's default 7x7
window. CLIP score (optional, needs a CLIP model): images padded to square and given to the processor as uint8
(rescaled once), text truncated to 77 tokens, max(100 cos, 0). FID/KID (optional): features from a pluggable
extractor (Inception-v3 by default), reported with N. mode="upstream" reproduces the upstream recipe (reference
resized to the generated size, 3x3 SSIM window, square resizes, float CLIP input rescaled twice: a known defect).
These metrics have no meaningful zero: they are averaged over available pairs, with coverage.
"""

_KWARGS_DESCRIPTION = """
Args:
    images (`list` of images): generated figures; `None` for a failed generation (reported as missing).
    references (`list` of images): the reference figures.
    texts (`list` of `str`, optional): problem texts, needed for the CLIP score.
    mode (`str`, default "default"): "default" or "upstream" (compatibility, labelled).
    clip_model (`str` or `(model, processor, tokenizer)`, optional): compute the CLIP score with this model.
    feature_extractor (callable, optional): images -> N x D features for FID/KID (default Inception-v3 when fid=True).
    fid (`bool`, default False): compute FID and KID over the pairs.
    return_records (`bool`, default False): also return per-pair records.
Returns:
    psnr (`float`, dB), ssim (`float`): means over available pairs; n_pairs (`int`).
    clip_score (`float`): when clip_model is given.
    fid, fid_kid, fid_n (`float`, `float`, `int`): when fid=True or a feature_extractor is given.
    n_items, n_scored, n_unscored, n_missing (`int`), mode (`str`).
Examples:
    An exact copy of the reference has SSIM 1 and PSNR capped at 100 dB; a missing image is counted, not averaged:

    >>> from scigenbench.metrics.modules import load_metric
    >>> from PIL import Image, ImageDraw
    >>> fidelity = load_metric("image_fidelity")
    >>> ref = Image.new("RGB", (120, 90), "white")
    >>> ImageDraw.Draw(ref).rectangle([20, 20, 70, 60], outline="black", width=3)
    >>> out = fidelity.compute(images=[ref, None], references=[ref, ref])
    >>> round(out["ssim"], 3), out["psnr"], out["n_pairs"], out["n_missing"]
    (1.0, 100.0, 1, 1)

    FID with a tiny custom feature extractor (Inception-v3 is the default when fid=True):

    >>> import numpy as np
    >>> def mean_rgb(images):
    ...     return np.array([np.asarray(im.convert("RGB"), dtype=float).mean(axis=(0, 1)) for im in images])
    >>> gen = [Image.new("RGB", (64, 64), (250 - i, 250, 250)) for i in range(4)]
    >>> refs = [Image.new("RGB", (64, 64), (250 - i, 250, 250)) for i in range(4)]
    >>> out = fidelity.compute(images=gen, references=refs, feature_extractor=mean_rgb)
    >>> round(out["fid"], 6), out["fid_n"]
    (0.0, 4)
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ImageFidelity(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"images": datasets.Image(), "references": datasets.Image()}),
            reference_urls=["https://arxiv.org/abs/2601.17027", "https://github.com/SciGenBench/SciGenBench"],
        )

    def _compute(self, images, references, texts=None, mode="default", clip_model=None, feature_extractor=None,
                 fid=False, return_records=False):
        return compute_fidelity(images, references, texts=texts, mode=mode, clip_model=clip_model,
                                feature_extractor=feature_extractor, fid=fid, return_records=return_records)
