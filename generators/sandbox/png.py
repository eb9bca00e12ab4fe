"""Host-side validation of the PNG a sandboxed job returned."""

from __future__ import annotations

import io


def inspect_png(data: bytes, *, max_pixels: int = 40_000_000) -> tuple[str, str | None, int | None, int | None]:
    """Decode ``data`` and classify it.

    Returns:
        (status, error, width, height): ``ok``; ``blank_image`` when every pixel has the same colour (or the
        image is fully transparent); ``killed`` when it exceeds ``max_pixels``; ``error`` when it is no PNG.
    """
    from PIL import Image

    if not data:
        return "no_image", "the program produced no image", None, None
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format != "PNG":
                return "error", f"the image is {im.format}, not PNG", None, None
            width, height = im.size
            if width < 1 or height < 1:
                return "no_image", f"the image is empty ({width}x{height} px)", width, height
            if width * height > max_pixels:
                return "killed", f"image of {width}x{height} px exceeds the {max_pixels} pixel limit", width, height
            im.load()
            if _is_blank(im):
                return "blank_image", "the figure is blank (every pixel has the same colour)", width, height
            return "ok", None, width, height
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        return "error", f"the image could not be decoded: {e}", None, None


def _is_blank(im) -> bool:
    if im.mode not in ("RGB", "RGBA", "L", "LA"):
        im = im.convert("RGBA")
    extrema = im.getextrema()
    if im.mode in ("L",):
        extrema = (extrema,)
    if im.mode in ("RGBA", "LA") and extrema[-1][1] == 0:
        return True  # fully transparent
    return all(lo == hi for lo, hi in extrema)
