"""Host-side parsing of what a sandboxed job and its worker send back: untrusted input, validated, never raising.

A job can write anything to its result channel (it holds the descriptor while the program runs), and a worker
shares the sandbox with the jobs, so both messages are checked field by field: types, sizes, ranges and nesting.
Every function here returns a value and a reason instead of raising; an invalid frame becomes status ``error``
with that reason (see :meth:`RendererPool._fill`).

Frame layout (job -> host): ``b"SGBR"`` + big-endian u32 header length + JSON header + PNG bytes. The header is an
object with ``status``, ``error``, ``error_line``, ``reason``, ``stdout``, ``stderr``, ``texts``
(``[[text, x, y, kind], ...]``), ``width``, ``height``, ``layers`` and ``png_len`` (the length of the PNG after it).
"""

from __future__ import annotations

import json
import math
import struct

RESULT_MAGIC = b"SGBR"
MAX_HEADER_BYTES = 8 << 20
MAX_TEXTS = 20_000
MAX_TEXT_CHARS = 10_000
MAX_MESSAGE_CHARS = 1 << 20
MAX_LAYERS = 64
JOB_STATUSES = ("ok", "error", "killed", "blocked", "no_image")
TEXT_KINDS = ("text", "title", "suptitle", "xlabel", "ylabel", "zlabel", "tick", "legend", "annotation")
_TRAILER_INTS = ("exit", "signal", "maxrss_kb", "leftover_processes")


class InvalidFrame(ValueError):
    """A field of a frame that is not what the protocol allows (the message names the field)."""


def _loads(data: bytes, what: str) -> dict:
    try:
        value = json.loads(data)
    except RecursionError:
        raise InvalidFrame(f"{what}: JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError, MemoryError) as e:
        raise InvalidFrame(f"{what}: not JSON ({type(e).__name__})") from None
    if not isinstance(value, dict):
        raise InvalidFrame(f"{what}: not a JSON object")
    return value


def _text(header: dict, key: str, limit: int, *, optional: bool = False) -> str | None:
    value = header.get(key)
    if value is None and optional:
        return None
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidFrame(f"field {key!r} is {type(value).__name__}, not text")
    return value[:limit]


def _integer(value, key: str, low: int, high: int, *, optional: bool = True) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidFrame(f"field {key!r} is not an integer in [{low}, {high}]")
    return value


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidFrame(f"{where} is {type(value).__name__}, not a number")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidFrame(f"{where} is not a finite number")
    return number


def _texts(value) -> list[tuple[str, float, float, str]]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_TEXTS:
        raise InvalidFrame(f"field 'texts' must be a list of at most {MAX_TEXTS} entries")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, list) or len(item) != 4:
            raise InvalidFrame(f"texts[{i}] is not [text, x, y, kind]")
        text, x, y, kind = item
        if not isinstance(text, str) or not isinstance(kind, str) or kind not in TEXT_KINDS:
            raise InvalidFrame(f"texts[{i}] has a non-text string or an unknown kind")
        out.append((text[:MAX_TEXT_CHARS], _number(x, f"texts[{i}].x"), _number(y, f"texts[{i}].y"), kind))
    return out


def validate_header(header: dict, png_len: int) -> dict:
    """A clean copy of a job's header (only known fields, checked); raises :class:`InvalidFrame`."""
    status = header.get("status")
    if status not in JOB_STATUSES:
        raise InvalidFrame(f"field 'status' is not one of {', '.join(JOB_STATUSES)}")
    if _integer(header.get("png_len"), "png_len", 0, 1 << 40, optional=False) != png_len:
        raise InvalidFrame("field 'png_len' does not match the bytes that followed")
    layers = header.get("layers") or []
    if not isinstance(layers, list) or len(layers) > MAX_LAYERS or not all(
            isinstance(x, str) and len(x) <= 64 for x in layers):
        raise InvalidFrame("field 'layers' is not a short list of short strings")
    return {
        "status": status,
        "error": _text(header, "error", MAX_MESSAGE_CHARS, optional=True),
        "error_line": _integer(header.get("error_line"), "error_line", 0, 1 << 31),
        "reason": _text(header, "reason", 500),
        "stdout": _text(header, "stdout", MAX_MESSAGE_CHARS),
        "stderr": _text(header, "stderr", MAX_MESSAGE_CHARS),
        "texts": _texts(header.get("texts")),
        "width": _integer(header.get("width"), "width", 0, 1 << 20),
        "height": _integer(header.get("height"), "height", 0, 1 << 20),
        "layers": list(layers),
    }


def parse_result_frame(data: bytes) -> tuple[dict | None, bytes, str]:
    """(header, png, reason): the validated header and the PNG, or ``(None, b"", why)`` for an invalid frame.

    Empty ``data`` (the job wrote nothing) gives ``(None, b"", "")``. Never raises.
    """
    if not data:
        return None, b"", ""
    try:
        if len(data) < 8 or data[:4] != RESULT_MAGIC:
            raise InvalidFrame("it does not start with the frame marker")
        (size,) = struct.unpack(">I", data[4:8])
        if size > MAX_HEADER_BYTES or 8 + size > len(data):
            raise InvalidFrame(f"its header length {size} is over the limit or past the end of the data")
        png = data[8 + size:]
        return validate_header(_loads(data[8: 8 + size], "header"), len(png)), png, ""
    except InvalidFrame as e:
        return None, b"", f"the job's result frame is invalid: {e}"
    except Exception as e:  # whatever else the bytes provoke, the host keeps going
        return None, b"", f"the job's result frame is invalid: {type(e).__name__}"


def parse_trailer(raw: bytes) -> tuple[dict | None, str]:
    """(trailer, reason): the worker's end-of-job report, checked; ``(None, why)`` when invalid. Never raises."""
    try:
        if len(raw) > 65536:
            raise InvalidFrame("longer than 64 KiB")
        trailer = _loads(raw, "report")
        clean: dict = {"timed_out": trailer.get("timed_out") is True}
        for key in _TRAILER_INTS:
            clean[key] = _integer(trailer.get(key), key, -1, 1 << 40)
        cpu = trailer.get("cpu_s")
        clean["cpu_s"] = 0.0 if cpu is None else _number(cpu, "cpu_s")
        for key in ("recycle", "error"):
            if trailer.get(key) is not None:
                clean[key] = str(_text(trailer, key, 500))
        return clean, ""
    except InvalidFrame as e:
        return None, f"the sandbox worker sent an invalid report: {e}"
    except Exception as e:
        return None, f"the sandbox worker sent an invalid report: {type(e).__name__}"
