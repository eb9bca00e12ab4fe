"""The one deterministic image encoder used for every image sent to a model (PROTOCOL §3).

Rules, applied in this order to every image (PIL image, raw bytes, or a file path):

1. **Decompression-bomb guard**: the header size is checked *before* pixels are decoded; more than
   :data:`MAX_INPUT_PIXELS` (64 megapixels) raises :class:`ImageEncodingError`. Pillow's global
   ``Image.MAX_IMAGE_PIXELS`` is left untouched.
2. **Colour**: alpha (``RGBA``, ``LA``, palette transparency) is composited on **white**; every image becomes
   8-bit ``RGB`` (greyscale, CMYK, 16-bit and float images are converted).
3. **Size**: downscale only, aspect ratio preserved, so that the long side is at most :data:`MAX_SIDE`
   (2,048 px), with LANCZOS; smaller images are never upscaled.
4. **Format**: PNG (``compress_level=6``, no metadata). If the PNG exceeds :data:`MAX_BYTES` (3 MiB, i.e.
   about 4 MiB as base64), high-quality JPEG instead: quality 95, then 90, then 85, 4:4:4 chroma, no EXIF.
   If even quality 85 is over the cap, :class:`ImageEncodingError` (no low-quality ladder, no silent shrink).
5. **As is**: PNG bytes that these rules would not change in what a model sees — 8-bit RGB without a
   transparent colour, or 8-bit RGBA whose every pixel is opaque; long side ≤ :data:`MAX_SIDE`; at most
   :data:`MAX_BYTES`; intact (chunk checksums verified, RGBA fully decoded) — are sent byte for byte, without
   decoding and re-compressing them (that costs tens of milliseconds per image; generated figures are usually
   such PNGs).

The same input gives the same bytes (for a given Pillow version), so the SHA-256 of the bytes sent identifies
the image in cache keys, replay recordings and result provenance.

>>> from PIL import Image
>>> enc = encode_image(Image.new("RGBA", (4000, 1000), (255, 0, 0, 0)))
>>> enc.format, enc.mime, (enc.width, enc.height), enc.data[:4] == b"\\x89PNG"
('png', 'image/png', (2048, 512), True)
>>> enc.to_pil().getpixel((0, 0))  # fully transparent red composited on white
(255, 255, 255)
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image

from scigenbench.generators.backends.base import ImageEncodingError

MAX_SIDE = 2048
MAX_BYTES = 3 * 1024 * 1024
MAX_INPUT_PIXELS = 64_000_000
PNG_COMPRESS_LEVEL = 6
JPEG_QUALITIES = (95, 90, 85)


@dataclass(frozen=True)
class EncodedImage:
    """The exact bytes sent to a model, with their identity."""

    data: bytes
    mime: str
    sha256: str
    width: int
    height: int

    @property
    def format(self) -> str:
        return self.mime.split("/", 1)[1]

    @property
    def size(self) -> int:
        return len(self.data)

    def data_url(self) -> str:
        """``data:<mime>;base64,<...>`` for OpenAI-style ``image_url`` parts (computed once per image: every
        quiz of an item sends the same image)."""
        url = self.__dict__.get("_data_url")
        if url is None:
            url = f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"
            object.__setattr__(self, "_data_url", url)
        return url

    def to_pil(self) -> Image.Image:
        """Decode the bytes sent (what a local model should see)."""
        img = Image.open(io.BytesIO(self.data))
        img.load()
        return img

    def provenance(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "bytes": self.size, "format": self.format, "width": self.width,
                "height": self.height}

    def __repr__(self) -> str:  # never dump megabytes into logs
        return f"EncodedImage({self.format}, {self.width}x{self.height}, {self.size} B, sha256={self.sha256[:12]})"


def encode_image(image: Any, *, max_side: int = MAX_SIDE, max_bytes: int = MAX_BYTES) -> EncodedImage:
    """Encode ``image`` (PIL image, ``bytes``, path, or :class:`EncodedImage`) by the rules above.

    Raises:
        ImageEncodingError: unreadable/corrupt input, decompression bomb, or too big even as JPEG q85.
    """
    if isinstance(image, EncodedImage):
        return image
    if isinstance(image, (bytes, bytearray)):
        ready = _sendable_as_is(bytes(image), max_side, max_bytes)
        if ready is not None:
            return ready
    pil = _open(image)
    rgb = _downscale(_to_rgb(pil), max_side)
    data = _png_bytes(rgb)
    mime = "image/png"
    if len(data) > max_bytes:
        data, mime = _jpeg_bytes(rgb, max_bytes)
    return EncodedImage(data, mime, hashlib.sha256(data).hexdigest(), rgb.width, rgb.height)


def _sendable_as_is(data: bytes, max_side: int, max_bytes: int) -> EncodedImage | None:
    """``data`` itself when it is a PNG the rules would not change (rule 5), else ``None`` (encode it)."""
    if len(data) > max_bytes or not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            width, height, mode, info = img.width, img.height, img.mode, dict(img.info)
            rawmode = img.tile[0][3] if img.tile and len(img.tile[0]) > 3 else None
            if (width * height > MAX_INPUT_PIXELS or max(width, height) > max_side or mode not in ("RGB", "RGBA")
                    or rawmode not in ("RGB", "RGBA") or "transparency" in info):
                return None
            if mode == "RGBA":
                img.load()
                if img.getchannel("A").getextrema() != (255, 255):
                    return None
            else:
                img.verify()  # every chunk's CRC: a truncated or damaged file is re-encoded, and fails there
    except Exception:  # noqa: BLE001 - anything odd goes through the full encoder, which reports it
        return None
    return EncodedImage(data, "image/png", hashlib.sha256(data).hexdigest(), width, height)


def decode_data_url(url: str) -> bytes:
    """The bytes of a ``data:...;base64,`` URL (raises :class:`ImageEncodingError` if it is not one)."""
    if not url.startswith("data:") or ";base64," not in url:
        raise ImageEncodingError(f"not a base64 data URL: {url[:40]!r}")
    try:
        return base64.b64decode(url.split(";base64,", 1)[1], validate=True)
    except ValueError as exc:
        raise ImageEncodingError(f"data URL is not valid base64: {exc}") from exc


def _open(image: Any) -> Image.Image:
    if isinstance(image, Image.Image):
        _check_pixels(image.width, image.height, "image")
        return image
    if isinstance(image, (bytes, bytearray)):
        source, what = io.BytesIO(bytes(image)), f"{len(image)} bytes"
    elif isinstance(image, (str, os.PathLike)):
        source, what = os.fspath(image), repr(os.fspath(image))
    else:
        raise ImageEncodingError(f"cannot encode an image of type {type(image).__name__}; "
                                 "pass a PIL image, bytes or a file path")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(source)
            _check_pixels(img.width, img.height, what)
            img.load()
    except ImageEncodingError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageEncodingError(f"cannot read image {what}: {type(exc).__name__}: {exc}") from exc
    return img


def _check_pixels(width: int, height: int, what: str) -> None:
    if width * height > MAX_INPUT_PIXELS:
        raise ImageEncodingError(f"image {what} has {width}x{height} pixels, more than the decompression-bomb "
                                 f"limit of {MAX_INPUT_PIXELS:,}; downscale it before sending")


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "RGBa", "La", "PA"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        img = img.point(lambda v: v / 256) if img.mode != "F" else img  # 16-bit → 8-bit range
        img = img.convert("L")
    return img.convert("RGB") if img.mode != "RGB" else img


def _downscale(img: Image.Image, max_side: int) -> Image.Image:
    long_side = max(img.width, img.height)
    if long_side <= max_side:
        return img
    scale = max_side / long_side
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.Resampling.LANCZOS)


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL, optimize=False)
    return buf.getvalue()


def _jpeg_bytes(img: Image.Image, max_bytes: int) -> tuple[bytes, str]:
    for quality in JPEG_QUALITIES:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=quality, subsampling=0, optimize=False)
        if buf.tell() <= max_bytes:
            return buf.getvalue(), "image/jpeg"
    raise ImageEncodingError(f"image {img.width}x{img.height} is over {max_bytes:,} bytes even as JPEG quality "
                             f"{JPEG_QUALITIES[-1]}; pass a smaller image or raise max_bytes")
