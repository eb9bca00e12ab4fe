"""The host's parser of result frames and worker reports: untrusted bytes in, a value or a reason out, never raises."""

from __future__ import annotations

import json
import random
import struct

import pytest

from scigenbench.generators.sandbox.frames import RESULT_MAGIC, parse_result_frame, parse_trailer

GOOD_HEADER = {"status": "ok", "error": None, "error_line": None, "reason": "", "stdout": "hi\n", "stderr": "",
               "texts": [["θ = 30°", 10.5, 20.0, "title"], ["x", 1, 2, "tick"]], "width": 40, "height": 30,
               "layers": ["rlimits", "seccomp"]}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _frame(header: dict, png: bytes = PNG) -> bytes:
    body = json.dumps({**header, "png_len": len(png)}).encode()
    return RESULT_MAGIC + struct.pack(">I", len(body)) + body + png


def test_a_well_formed_frame_is_accepted():
    header, png, reason = parse_result_frame(_frame(GOOD_HEADER))
    assert reason == "" and png == PNG
    assert header["texts"] == [("θ = 30°", 10.5, 20.0, "title"), ("x", 1.0, 2.0, "tick")]
    assert header["stdout"] == "hi\n" and header["layers"] == ["rlimits", "seccomp"]


@pytest.mark.parametrize("field, value, words", [
    ("texts", [["a", "left", 1, "text"]], "texts[0].x"),
    ("texts", [["a", float("nan"), 1, "text"]], "finite"),
    ("texts", [["a", 1, 1, "evil"]], "unknown kind"),
    ("texts", "not a list", "texts"),
    ("texts", [["a", 1, 2]], "texts[0]"),
    ("status", "pwned", "status"),
    ("error_line", "12", "error_line"),
    ("error_line", True, "error_line"),
    ("stdout", {"a": 1}, "stdout"),
    ("layers", ["x" * 1000], "layers"),
    ("width", -5, "width"),
])
def test_each_invalid_field_is_named(field, value, words):
    header, png, reason = parse_result_frame(_frame({**GOOD_HEADER, field: value}))
    assert header is None and png == b""
    assert reason.startswith("the job's result frame is invalid") and words in reason


def test_deep_nesting_huge_numbers_and_lies_about_lengths_are_reasons_not_crashes():
    deep = b'{"status": "ok", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    cases = {
        "nested too deeply": RESULT_MAGIC + struct.pack(">I", len(deep)) + deep,
        "past the end": RESULT_MAGIC + struct.pack(">I", 1 << 30) + b"{}",
        "png_len": _frame(GOOD_HEADER)[:-3],
        "not JSON": RESULT_MAGIC + struct.pack(">I", 4) + b"{\"a\"",
        "not a JSON object": RESULT_MAGIC + struct.pack(">I", 2) + b"[]",
        "frame marker": b"XXXX" + _frame(GOOD_HEADER)[4:],
    }
    huge_int = b'{"status": "ok", "png_len": 0, "error_line": ' + b"9" * 10_000 + b"}"
    cases["invalid"] = RESULT_MAGIC + struct.pack(">I", len(huge_int)) + huge_int
    for words, data in cases.items():
        header, _, reason = parse_result_frame(data)
        assert header is None and words in reason, (words, reason)


def test_fuzzed_frames_never_raise():
    rng = random.Random(16)
    good = _frame(GOOD_HEADER)
    values = [None, True, -1, 0, 2**70, 1e308, float("inf"), "", "x" * 5000, [], {}, [[]], [None] * 3,
              ["a", 1, 2, "text"], {"status": "ok"}]
    for i in range(3000):
        kind = i % 4
        if kind == 0:  # flipped, inserted and deleted bytes
            data = bytearray(good)
            for _ in range(rng.randint(1, 8)):
                pos = rng.randrange(len(data))
                op = rng.random()
                if op < 0.5:
                    data[pos] = rng.randrange(256)
                elif op < 0.75:
                    data.insert(pos, rng.randrange(256))
                else:
                    del data[pos]
            data = bytes(data)
        elif kind == 1:  # a well-framed header with a random field replaced by a random value
            header = dict(GOOD_HEADER)
            header[rng.choice([*GOOD_HEADER, "png_len", "extra"])] = rng.choice(values)
            body = json.dumps(header).encode()
            data = RESULT_MAGIC + struct.pack(">I", len(body)) + body + PNG[: rng.randrange(len(PNG) + 1)]
        elif kind == 2:  # random bytes after the marker
            data = RESULT_MAGIC + bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
        else:  # truncations
            data = good[: rng.randrange(len(good))]
        header, png, reason = parse_result_frame(data)
        assert (header is None) == bool(reason) or data == b""
        if header is not None:
            assert header["status"] in ("ok", "error", "killed", "blocked", "no_image")
            assert all(isinstance(t[1], float) and isinstance(t[2], float) for t in header["texts"])


def test_worker_reports_are_checked_too():
    good, reason = parse_trailer(json.dumps({"timed_out": False, "cpu_s": 0.5, "exit": 0, "signal": None}).encode())
    assert reason == "" and good["exit"] == 0 and good["cpu_s"] == 0.5
    for raw in (b"", b"[]", b"{" * 100_000, json.dumps({"signal": "9"}).encode(),
                json.dumps({"cpu_s": "fast"}).encode(), b"\xff\xfe", b"x" * 70_000):
        trailer, reason = parse_trailer(raw)
        assert trailer is None and reason.startswith("the sandbox worker sent an invalid report")
