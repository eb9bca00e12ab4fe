"""Confined matplotlib rendering: statuses, errors with line numbers, determinism, input rules, the pool."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import threading

import pytest
from PIL import Image

from scigenbench.generators.sandbox import RendererPool, STATUSES
from scigenbench.generators.sandbox import layers as _layers

FIGURE = """import matplotlib.pyplot as plt
import numpy as np
x = np.linspace(0, 2 * np.pi, 50)
fig, ax = plt.subplots(figsize=(4, 3))
ax.plot(x, np.sin(x) + np.random.rand(50) * 0.1)
ax.set_title("θ = 30°")
ax.set_xlabel("t (s)")
ax.annotate("m = 2 kg", xy=(1, 0.5))
"""


@pytest.fixture(scope="module")
def pool():
    with RendererPool(workers=2) as p:
        p.start()
        yield p


def _sha(result) -> str:
    return hashlib.sha256(result.png).hexdigest()


def test_renders_a_figure_with_its_text_artists(pool):
    r = pool.render_python(FIGURE, timeout=20, dpi=100)
    assert r.status == "ok", r.error
    assert Image.open(io.BytesIO(r.png)).size == (400, 300) == (r.width, r.height)
    kinds = {(t.text, t.kind) for t in r.texts}
    assert {("θ = 30°", "title"), ("t (s)", "xlabel"), ("m = 2 kg", "annotation")} <= kinds
    title = next(t for t in r.texts if t.kind == "title")
    assert 0 < title.x < 400 and 250 < title.y <= 300  # origin bottom-left: the title is near the top
    assert "seccomp" in r.confinement and "empty-env" in r.confinement and "rlimits" in r.confinement
    assert r.cpu_s > 0


def test_same_program_gives_identical_bytes_even_after_global_style_changes(pool):
    first = pool.render_python(FIGURE, timeout=20)
    second = pool.render_python(FIGURE, timeout=20)
    evil = ("import matplotlib.pyplot as plt, matplotlib\nplt.style.use('dark_background')\n"
            "matplotlib.rcParams['lines.linewidth'] = 9\nplt.rcParams['font.size'] = 30\nplt.plot([1, 2])\n")
    for _ in range(2):  # both workers get a style-changing job
        assert pool.render_python(evil, timeout=20).status == "ok"
    after = [pool.render_python(FIGURE, timeout=20) for _ in range(2)]
    assert first.status == "ok"
    assert _sha(first) == _sha(second) == _sha(after[0]) == _sha(after[1])


def test_bug_reports_traceback_and_line_number(pool):
    code = "import matplotlib.pyplot as plt\nx = [1, 2, 3]\nplt.plot(x)\ny = x[10]\n"
    r = pool.render_python(code, timeout=20)
    assert r.status == "error"
    assert r.error_line == 4
    assert "IndexError" in r.error and 'File "figure.py", line 4' in r.error
    assert "_capture" not in r.error and "_zygote" not in r.error  # only the program's frames
    assert r.png is None


def test_error_inside_matplotlib_points_to_the_calling_line(pool):
    code = "import matplotlib.pyplot as plt\n\nfig, ax = plt.subplots()\nax.plot([1, 2], [1, 2, 3])\n"
    r = pool.render_python(code, timeout=20)
    assert r.status == "error" and r.error_line == 4 and "ValueError" in r.error


def test_syntax_error_line(pool):
    r = pool.render_python("import matplotlib.pyplot as plt\nplt.plot([1, 2]\nx = 1\n", timeout=20)
    assert r.status == "error" and r.error_line in (2, 3) and "SyntaxError" in r.error


def test_blank_figure_is_reported_as_blank(pool):
    r = pool.render_python("import matplotlib.pyplot as plt\nfig = plt.figure()\n", timeout=20)
    assert r.status == "blank_image"


def test_program_without_figure_is_no_image(pool):
    r = pool.render_python("x = sum(range(10))\nprint(x)\n", timeout=20)
    assert r.status == "no_image" and r.stdout == "45\n"


def test_markdown_fenced_answer_and_line_numbers_of_the_answer(pool):
    answer = ("Here is the program:\n\n```python\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])\n"
              "plt.show()\n```\n")
    assert pool.render_python(answer, timeout=20).status == "ok"
    buggy = "Fixed:\n```python\nimport matplotlib.pyplot as plt\nplt.plot(undefined)\n```"
    r = pool.render_python(buggy, timeout=20)
    assert r.status == "error" and r.error_line == 4  # line 4 of the answer text


def test_savefig_to_an_odd_path_is_captured_and_writes_nothing(pool, tmp_path):
    target = tmp_path / "out" / "figure.pdf"
    code = ("import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('saved')\n"
            f"plt.savefig({str(target)!r}, dpi=600, bbox_inches='tight')\nplt.close()\n")
    r = pool.render_python(code, timeout=20, dpi=100)
    assert r.status == "ok", r.error
    assert r.width < 1000  # our dpi, not the program's 600
    assert [t.text for t in r.texts if t.kind == "title"] == ["saved"]
    assert not target.parent.exists()


def test_main_guard_runs_and_show_then_close_keeps_the_figure(pool):
    code = ("import matplotlib.pyplot as plt\n\ndef main():\n    plt.plot([3, 1])\n    plt.xlabel('x')\n"
            "    plt.show()\n    plt.close()\n\nif __name__ == '__main__':\n    main()\n")
    r = pool.render_python(code, timeout=20)
    assert r.status == "ok" and [t.text for t in r.texts if t.kind == "xlabel"] == ["x"]


def test_several_figures_the_last_with_content_wins(pool):
    code = ("import matplotlib.pyplot as plt\nplt.figure()\nplt.title('first')\nplt.plot([1, 2])\n"
            "plt.figure()\nplt.title('second')\nplt.plot([2, 1])\nplt.figure()\n")
    r = pool.render_python(code, timeout=20)
    assert r.status == "ok" and [t.text for t in r.texts if t.kind == "title"] == ["second"]


def test_concurrent_callers_share_the_workers(pool):
    results = [None] * 6

    def work(i):
        results[i] = pool.render_python(FIGURE, timeout=30)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.status for r in results} == {"ok"}
    assert len({_sha(r) for r in results}) == 1


def test_statuses_are_the_documented_ones(pool):
    assert set(STATUSES) == {"ok", "error", "timeout", "killed", "blocked", "no_image", "blank_image"}


@pytest.mark.slow
def test_worker_is_recycled_after_n_jobs_and_replaced_when_it_dies():
    with RendererPool(workers=1, max_jobs_per_worker=2) as p:
        seen = set()
        for _ in range(3):
            assert p.render_python("import matplotlib.pyplot as plt\nplt.plot([1])\n", timeout=20).status == "ok"
            seen.add(p._all[0].proc.pid)
        assert len(seen) == 2  # a fresh worker process after two jobs
        os.killpg(p._all[0].proc.pid, signal.SIGKILL)  # damage from outside
        assert p.render_python("import matplotlib.pyplot as plt\nplt.plot([1])\n", timeout=20).status == "ok"


@pytest.mark.slow
def test_each_worker_start_gets_a_fresh_uid():
    plan = _layers.detect()
    if not plan.uid_drop:
        pytest.skip("jobs drop to a fresh unprivileged uid only when the host process is root "
                    f"(euid {plan.euid}, mode {plan.mode}); here they keep the caller's uid")
    with RendererPool(workers=1, max_jobs_per_worker=1) as p:
        uids = set()
        for _ in range(2):
            assert p.render_python("import matplotlib.pyplot as plt\nplt.plot([1])\n", timeout=20).status == "ok"
            uids.add(p._all[0].info["uid"])
        assert len(uids) == 2 and 0 not in uids


def test_degraded_mode_still_confines_and_says_so(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("degraded-secret")
    with pytest.warns(RuntimeWarning, match="without bwrap"):
        p = RendererPool(workers=1, disable=("bwrap",))
    with p:
        ok = p.render_python("import matplotlib.pyplot as plt\nplt.plot([1, 2])\n", timeout=20)
        assert ok.status == "ok" and "no-bwrap" in ok.confinement
        r = p.render_python(f"print(open({str(secret)!r}).read())\n", timeout=20)
        assert r.status == "blocked" and "degraded-secret" not in r.stdout  # Landlock still holds


def test_module_level_functions_use_one_default_pool():
    from scigenbench.generators.sandbox import get_default_pool, render, render_python

    assert get_default_pool() is get_default_pool()
    assert render("import matplotlib.pyplot as plt\nplt.plot([1, 2])\n", "python", timeout=20, dpi=40).status == "ok"
    assert render_python("import matplotlib.pyplot as plt\nplt.bar([1], [2])\n", timeout=20, dpi=40).status == "ok"
    with pytest.raises(ValueError, match="unknown language"):
        render("x", "rust")
