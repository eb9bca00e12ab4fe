"""Confined TikZ rendering: pdflatex + pdftoppm in one sandbox; errors with lines; the TeX attacks."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from scigenbench.generators.sandbox import RendererPool
from scigenbench.generators.sandbox import layers as _layers

pytestmark = [pytest.mark.needs_tex,
              pytest.mark.skipif(not (shutil.which("pdflatex") and shutil.which("pdftoppm")),
                                 reason="needs pdflatex and pdftoppm")]

DOC = r"""\documentclass[tikz,border=3pt]{standalone}
\usetikzlibrary{arrows.meta}
\begin{document}
\begin{tikzpicture}
\draw[-{Stealth}] (0,0) -- (2,1) node[right] {$F = 5$ N};
\draw (0,0) circle (0.5);
\end{tikzpicture}
\end{document}
"""


@pytest.fixture(scope="module", params=["default", "no-bwrap"])
def pool(request):
    """The default pool, and one without bubblewrap (TeX then builds its own namespaces and minimal root)."""
    if request.param == "default":
        with RendererPool(workers=2) as p:
            yield p
        return
    if not _layers.detect().ns_isolation:
        pytest.skip(f"no namespaces of its own for TeX here: {_layers.detect().ns_error}")
    with pytest.warns(RuntimeWarning, match="without bwrap"):
        p = RendererPool(workers=2, disable=("bwrap",))
    with p:
        yield p


def test_document_renders_deterministically(pool):
    a = pool.render_tikz(DOC, timeout=20, dpi=100)
    b = pool.render_tikz(DOC, timeout=20, dpi=100)
    assert a.status == "ok", a.error
    assert a.width > 50 and a.height > 20
    assert hashlib.sha256(a.png).digest() == hashlib.sha256(b.png).digest()
    assert "no-shell-escape" in a.confinement and "openin_any=p" in a.confinement


def test_bare_tikzpicture_in_a_fence_is_wrapped_and_lines_count_in_the_answer(pool):
    answer = ("Here:\n```latex\n\\begin{tikzpicture}\n\\draw (0,0) -- (1,0);\n\\undefinedmacro\n"
              "\\end{tikzpicture}\n```")
    r = pool.render_tikz(answer, timeout=20)
    assert r.status == "error"
    assert r.error_line == 5 and "Undefined control sequence" in r.error and "l.5" in r.error
    ok = pool.render_tikz("\\begin{tikzpicture}\\draw (0,0) -- (1,1);\\end{tikzpicture}", timeout=20)
    assert ok.status == "ok", ok.error


def test_latex_error_line_in_a_full_document(pool):
    bad = DOC.replace(r"\draw (0,0) circle (0.5);", r"\draw (0,0) circle (0.5) \oops;")
    r = pool.render_tikz(bad, timeout=20)
    assert r.status == "error" and r.error_line == 6


def test_engine_error_without_a_line_reaches_the_result(pool):
    # T1 fontenc without lmodern needs bitmap EC fonts, which the sandbox never generates
    import subprocess

    if subprocess.run(["kpsewhich", "sfrm1000.pfb"], capture_output=True, text=True).stdout.strip():
        pytest.skip("cm-super (Type 1 EC fonts) is installed, so T1 text compiles")
    doc = ("\\documentclass[tikz]{standalone}\n\\usepackage[T1]{fontenc}\n\\begin{document}\n"
           "\\begin{tikzpicture}\\node {T1 text};\\end{tikzpicture}\n\\end{document}\n")
    result = pool.render_tikz(doc, timeout=20)
    assert result.status == "error"
    assert "Font ec" in result.error and "not found" in result.error


def test_bare_picture_with_a_degree_sign_renders(pool):
    result = pool.render_tikz("\\begin{tikzpicture}\\draw (0,0) -- (1,0) node[right] {30°};\\end{tikzpicture}",
                              timeout=20)
    assert result.status == "ok", result.error


def test_error_in_a_moved_preamble_line_points_at_its_own_line(pool):
    source = "\\draw (0,0) -- (1,1);\n\\usetikzlibrary{nosuchlibrary}\n\\draw (1,1) -- (2,0);"
    result = pool.render_tikz(source, timeout=20)
    assert result.status == "error"
    assert result.error_line == 2 and "-" not in result.error.split("figure.tex:")[-1][:3]


def test_input_of_a_host_file_is_blocked(pool, tmp_path):
    host_file = tmp_path / "host.tex"
    host_file.write_text("HOST-SECRET-77")
    src = "\\documentclass{standalone}\n\\begin{document}\n\\input{" + str(host_file) + "}\n\\end{document}\n"
    r = pool.render_tikz(src, timeout=10)
    assert r.status == "blocked" and r.error_line == 3
    assert "HOST-SECRET-77" not in (r.error or "") + r.stderr


def test_write18_shell_escape_is_blocked(pool, tmp_path):
    marker = tmp_path / "w18"
    src = ("\\documentclass{standalone}\n\\begin{document}\n\\immediate\\write18{touch " + str(marker) + "}\n"
           "text\n\\end{document}\n")
    r = pool.render_tikz(src, timeout=10)
    assert r.status == "blocked" and "write18" in r.error
    assert not marker.exists()


def test_endless_macro_loop_times_out(pool):
    r = pool.render_tikz("\\documentclass{standalone}\n\\begin{document}\n\\def\\x{\\x}\\x\n\\end{document}\n",
                         timeout=3)
    assert r.status == "timeout" and r.wall_s < 10
    assert pool.render_tikz(DOC, timeout=20).status == "ok"


def test_huge_output_is_killed(pool):
    src = ("\\documentclass{standalone}\n\\begin{document}\n\\newwrite\\f\\immediate\\openout\\f=big.txt\n"
           "\\def\\a{" + "x" * 100 + "}" + "\\edef\\a{" + "\\a" * 10 + "}" + "\\edef\\a{" + "\\a" * 10 + "}\n"
           "\\def\\y{\\immediate\\write\\f{\\a}\\y}\\y\n\\end{document}\n")
    r = pool.render_tikz(src, timeout=10)
    assert r.status == "killed" and "file size" in r.error
    assert pool.render_tikz(DOC, timeout=20).status == "ok"


def test_cached_preamble_format_gives_identical_bytes_and_falls_back_on_errors(pool):
    # a preamble no other test (or the other mode: the format cache is per process) uses
    doc = DOC.replace("border=3pt", "border=5pt" if pool.plan.bwrap else "border=6pt")
    first = pool.render_tikz(doc, timeout=20)
    pool.render_tikz(doc, timeout=20)  # second success: the format is built
    third = pool.render_tikz(doc, timeout=20)
    assert "cached-format" in third.confinement and "cached-format" not in first.confinement
    assert third.png == first.png
    bad = pool.render_tikz(doc.replace(r"\draw (0,0) circle (0.5);", r"\nosuchmacro"), timeout=20)
    assert bad.status == "error" and bad.error_line == 6 and "cached-format" not in bad.confinement
