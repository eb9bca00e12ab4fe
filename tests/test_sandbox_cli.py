"""`scigenbench render` and `scigenbench doctor` on real files."""

from __future__ import annotations

import io
import json

from PIL import Image

from scigenbench.scripts.cli import main


def test_render_command_writes_the_png_and_prints_the_status(tmp_path, capsys):
    src = tmp_path / "fig.py"
    src.write_text("```python\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.title('cli')\n```\n")
    out = tmp_path / "fig.png"
    assert main(["render", str(src), "--out", str(out), "--dpi", "50"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("ok -> ") and "seccomp" in printed
    assert Image.open(io.BytesIO(out.read_bytes())).format == "PNG"


def test_render_command_reports_an_error_line_and_fails(tmp_path, capsys):
    src = tmp_path / "bad.py"
    src.write_text("import matplotlib.pyplot as plt\n\nplt.plot(nope)\n")
    assert main(["render", str(src), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "error" and report["error_line"] == 3
    assert not (tmp_path / "bad.png").exists()


def test_doctor_lists_the_layers(capsys):
    assert main(["doctor", "--no-probe", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"bwrap", "landlock", "seccomp", "rlimits", "empty-env"} <= set(report["layers"])
    assert report["tools"]["pdflatex"] is None or "pdfTeX" in report["tools"]["pdflatex"]


def test_doctor_says_which_layer_holds_memory_and_what_is_refused(capsys):
    main(["doctor", "--no-probe", "--json"])
    report = json.loads(capsys.readouterr().out)
    memory = report["layers"]["memory-cap"]["detail"]
    assert "cgroup v" in memory or "seccomp denies memfd_create" in memory
    assert {"namespaces", "job-ipc-ns", "capabilities", "scratch-tmpfs", "tikz"} <= set(report["layers"])
    assert isinstance(report["refused"], list) and report["ok"] == (not report["refused"])
