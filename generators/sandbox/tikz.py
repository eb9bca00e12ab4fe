"""TikZ/LaTeX rendering: ``pdflatex`` then ``pdftoppm``, both in one per-job bubblewrap sandbox.

Safety (see shared/SANDBOX.md §4): ``-no-shell-escape`` plus ``shell_escape=f``; ``openin_any=p`` (no reading
absolute or ``..`` paths: ``\\input{/etc/passwd}`` fails) and ``openout_any=p``; font generation off
(``MKTEX*=0``); rlimits (CPU = timeout, 1 GiB address space, 32 MiB per file) and a wall-clock kill; the job
directory and ``/tmp`` are size-capped tmpfs mounts inside the sandbox, so nothing is written on the host; no
network, no /etc except ``/etc/texmf``. ``pdftoppm`` parses the (attacker-controlled) PDF inside the same sandbox.

TikZ runs only where the file-system view is limited to the job and the TeX tree: kpathsea expands ``$VAR``
(``$SELFAUTOPARENT``, ...) after its ``openin_any=p`` check, so ``\\input``, ``\\openin``, ``\\includegraphics``
and pdfTeX's file primitives can reach any file the process can see. That view is bubblewrap's, or, without it,
the one ``_texjail.py`` builds itself (new namespaces and a minimal root with ``/usr`` and the TeX trees; as root or
with user namespaces). Where neither can be had, every TikZ job is refused with status ``error`` saying so.

Input rules: markdown fences are removed; a full document (``\\documentclass``) is compiled as is; otherwise
the text is wrapped in a ``standalone`` document (``tikz``, ``amsmath``, ``amssymb`` and common TikZ
libraries), its ``\\usepackage``/``\\usetikzlibrary``/``\\tikzset`` lines are moved to the preamble, and it is
wrapped in a ``tikzpicture`` when it has none. Error line numbers always count lines of the text passed in.

Speed: once a preamble (the exact text before ``\begin{document}``) has compiled twice, a format with it
preloaded is dumped (``mylatexformat``) and later compiles use it (about 0.27 -> 0.16 s); a compile with the
cached format is kept only when it succeeds, otherwise the document is compiled normally, so errors and
images never depend on the cache (tested: identical PNG bytes).
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable

from . import _cleanup
from . import layers as _layers
from .extract import extract_code_with_offset
from .png import inspect_png
from .result import RenderResult

TEX_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "TEXMFVAR": "/tmp/texmf-var", "TEXMFCONFIG": "/tmp/texmf-config",
           "openin_any": "p", "openout_any": "p", "shell_escape": "f", "MKTEXPK": "0", "MKTEXTFM": "0",
           "MKTEXFMT": "0", "MKTEXMF": "0", "LC_ALL": "C", "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1",
           "max_print_line": "10000", "error_line": "254", "half_error_line": "238"}
# lmodern: Type 1 fonts for every encoding (a bare picture's "°" needs TS1), since bitmap fonts are never generated
_PREAMBLE = (r"\documentclass[tikz,border=4pt]{standalone}", r"\usepackage{lmodern}", r"\usepackage{amsmath,amssymb}",
             r"\usetikzlibrary{arrows.meta,calc,positioning,shapes,patterns,angles,quotes,decorations.markings,"
             r"decorations.pathmorphing,intersections,through,backgrounds,fit}")
_PREAMBLE_LINE = re.compile(r"^\s*\\(usepackage|usetikzlibrary|usepgfplotslibrary|pgfplotsset|tikzset|"
                            r"definecolor|newcommand|renewcommand|def)\b")
_JOB_TMPFS_BYTES = 64 << 20
_TMP_TMPFS_BYTES = 16 << 20
TEX_NEEDS_BWRAP = ("refused: TikZ runs only in bubblewrap or in namespaces of its own, neither of which works here "
                   "(bubblewrap: {why}; namespaces: {ns_why}); without a file-system view limited to the job and the "
                   "TeX tree, TeX can read host files. Install bubblewrap (apt install bubblewrap; in a container "
                   "allow user namespaces)")
_TEX_TREES = ("/etc/texmf", "/var/lib/texmf", "/usr/local/share/texmf")
_LOG_CAP = 256 << 10

_SCRIPT = r"""
ulimit -t {cpu} && ulimit -v {as_kb} && ulimit -f {fsize_blocks} && ulimit -n 256 && ulimit -c 0 {nproc}|| exit 13
cd /job || exit 12
pdflatex {fmt} -no-shell-escape -interaction=nonstopmode -halt-on-error -file-line-error figure.tex </dev/null >/dev/null 2>&1
rc=$?
[ -f figure.log ] && head -c {log_cap} figure.log >&2
[ $rc -gt 128 ] && exit $rc
[ $rc -ne 0 ] && exit 10
[ -f figure.pdf ] || exit 10
pdftoppm -png -r {dpi} -singlefile figure.pdf out </dev/null >/dev/null 2>&1
rc=$?
[ $rc -gt 128 ] && exit $rc
[ $rc -ne 0 ] && exit 11
exec cat out.png
"""


_BUILD_SCRIPT = r"""
ulimit -t {cpu} && ulimit -v {as_kb} && ulimit -f {fsize_blocks} && ulimit -n 256 && ulimit -c 0 {nproc}|| exit 13
cd /job || exit 12
pdflatex -ini -no-shell-escape -interaction=nonstopmode -halt-on-error -jobname=pre "&pdflatex" mylatexformat.ltx \
    figure.tex </dev/null >/dev/null 2>&1 || exit 10
exec cat pre.fmt
"""


def prepare_document(text: str) -> tuple[str, Callable[[int], int | None]]:
    """(full LaTeX document, source_line): ``source_line(n)`` is the line of ``text`` that the document's line ``n``
    came from, or ``None`` for lines the sandbox added (its own preamble)."""
    offset = 0
    if "```" in text or "~~~" in text:
        text, offset = extract_code_with_offset(text, "tikz")
    if r"\documentclass" in text:
        return text, _line_map(-offset, {})
    lines = text.split("\n")
    preamble = list(_PREAMBLE)
    if re.search(r"\\begin\{axis\}|pgfplots", text) and not any("pgfplots" in ln for ln in lines if
                                                                    ln.strip().startswith(r"\usepackage")):
        preamble.append(r"\usepackage{pgfplots}\pgfplotsset{compat=1.18}")
    body, moved = [], {}  # moved: document line (1-based) -> line of ``text``
    for number, line in enumerate(lines, start=1):  # the body keeps its line count: moved lines leave empty ones
        if _PREAMBLE_LINE.match(line):
            preamble.append(line)
            moved[len(preamble)] = number + offset
            body.append("")
        else:
            body.append(line)
    head = [*preamble, r"\begin{document}"]
    has_picture = r"\begin{tikzpicture}" in text
    if not has_picture:
        head.append(r"\begin{tikzpicture}")
    tail = ([r"\end{tikzpicture}"] if not has_picture else []) + [r"\end{document}", ""]
    return "\n".join(head + body + tail), _line_map(len(head) - offset, moved)


def _line_map(offset: int, moved: dict[int, int]) -> Callable[[int], int | None]:
    def source_line(n: int) -> int | None:
        line = moved.get(n, n - offset)
        return line if line >= 1 else None

    return source_line


def parse_latex_error(log: str) -> tuple[str | None, int | None, bool]:
    """(message with context, line in figure.tex, blocked) from a pdflatex log."""
    lines = log.splitlines()
    blocked = bool(re.search(r"runsystem\(.*?\)\.\.\.disabled", log.replace("\n", ""), re.S))
    for i, line in enumerate(lines):
        m = re.match(r"^(?:\./)?([^:\s]+\.(?:tex|sty|cls|code\.tex)):(\d+): (.*)$", line)
        # "! Undefined control sequence." and engine errors such as "!pdfTeX error: ... Font ... not found"
        bang = line.startswith("!") and not line.startswith("!  ==>")
        if not (m or bang):
            continue
        context = lines[i: i + 12]
        cut = next((j + 2 for j, ln in enumerate(context) if re.match(r"^l\.\d+", ln)), None)
        if cut is None:
            cut = next((j for j, ln in enumerate(context) if j and not ln.strip()), len(context))
        message = "\n".join(ln.rstrip() for ln in context[:cut]).strip()
        number = None
        if m and os.path.basename(m.group(1)) == "figure.tex":
            number = int(m.group(2))
        else:
            for follow in lines[i: i + 30]:
                lm = re.match(r"^l\.(\d+)", follow)
                if lm:
                    number = int(lm.group(1))
                    break
        text = m.group(3) if m else line[1:].lstrip()
        fm = re.search(r"File `([^']*)' not found|I can't (?:write on|find) file `([^']*)'|"
                       r"cannot (?:find|open) image file '?([^'\s]+)", text + "\n" + message)
        if fm:
            target = fm.group(1) or fm.group(2) or fm.group(3) or ""
            if target.startswith("/") or ".." in target.split("/"):
                blocked = True
        return message, number, blocked
    m = re.search(r"^\*\*\*.*$", log, re.M)
    if m:
        return m.group(0), None, blocked
    if blocked:
        return "shell escape (\\write18) is disabled in the sandbox", None, True
    return None, None, blocked


def render_tikz_confined(source: str, *, timeout: float, dpi: int, plan: _layers.HostPlan, limits) -> RenderResult:
    """Compile and rasterise one document in a fresh sandbox (used by :class:`RendererPool`).

    A preamble that already compiled twice gets a cached format (``mylatexformat``); a compile with it is used
    only when it succeeds, otherwise the document is compiled normally, so results never depend on the cache.
    """
    started = time.monotonic()
    result = RenderResult(status="error", language="tikz", confinement=_tex_layers(plan))
    if not (plan.bwrap or plan.ns_isolation):
        result.error = TEX_NEEDS_BWRAP.format(why=plan.bwrap_error or "not installed",
                                              ns_why=plan.ns_error or "unavailable")
        return result
    if not shutil.which("pdflatex") or not shutil.which("pdftoppm"):
        result.error = "pdflatex and pdftoppm are needed for TikZ (apt install texlive-pictures " \
                       "texlive-latex-extra poppler-utils)"
        return result
    document, source_line = prepare_document(source)
    payload = document.encode("utf-8")
    if len(payload) > (1 << 20):
        result.error = "the document is larger than 1 MiB"
        return result
    limits_args = dict(cpu=max(1, int(timeout + 0.999)), as_kb=(1 << 30) // 1024,
                       fsize_blocks=limits.file_size // 512, nproc="&& ulimit -p 64 " if plan.tex_uid_drop else "")
    key = _preamble_key(document)
    fmt = FORMATS.get(key)
    if fmt is not None:
        script = _SCRIPT.format(**limits_args, log_cap=_LOG_CAP, dpi=int(dpi), fmt="-fmt=pre")
        rc, out, err, timed_out = _run_sandboxed(script, payload, plan, timeout, fmt_path=fmt)
        if rc == 0 and not timed_out:
            _finish(result, rc, timed_out, err, out, timeout, source_line, limits, started)
            if result.status in ("ok", "blank_image"):
                result.confinement.append("cached-format")
                return result
        result = RenderResult(status="error", language="tikz", confinement=_tex_layers(plan))
    script = _SCRIPT.format(**limits_args, log_cap=_LOG_CAP, dpi=int(dpi), fmt="")
    rc, out, err, timed_out = _run_sandboxed(script, payload, plan, timeout)
    _finish(result, rc, timed_out, err, out, timeout, source_line, limits, started)
    if result.status in ("ok", "blank_image") and FORMATS.wants(key):
        build = _BUILD_SCRIPT.format(**limits_args)
        rc, out, _err, timed_out = _run_sandboxed(build, payload, plan, timeout)
        if rc == 0 and not timed_out and out[:4] in (b"W2TX", b"\x1f\x8b\x08\x00"):  # format (gzipped) magic
            FORMATS.put(key, out)
    return result


def _finish(result, rc, timed_out, err, out, timeout, source_line, limits, started) -> None:
    result.wall_s = round(time.monotonic() - started, 4)
    log = err.decode("utf-8", "replace")
    result.stderr = log[-(limits.output_chars):]
    _classify(result, rc, timed_out, log, out, timeout, source_line, limits)


def _preamble_key(document: str) -> str:
    head, found, _ = document.partition(r"\begin{document}")
    return hashlib.sha256(head.encode("utf-8")).hexdigest() if found else ""


class _FormatCache:
    """Per-process cache of TeX formats, one per exact preamble, built after a preamble compiled twice."""

    def __init__(self, max_entries: int = 16):
        self.max_entries = max_entries
        self._dir: str | None = None
        self._paths: dict[str, str] = {}
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()
        self.enabled = True

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._paths.get(key) if key and self.enabled else None

    def wants(self, key: str) -> bool:
        """Count a successful normal compile; True when this preamble should now get a format."""
        if not key or not self.enabled or not _HAVE_MYLATEXFORMAT():
            return False
        with self._lock:
            self._seen[key] = self._seen.get(key, 0) + 1
            return self._seen[key] == 2 and key not in self._paths and len(self._paths) < self.max_entries

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            if self._dir is None:
                self._dir = tempfile.mkdtemp(prefix=_cleanup.host_folder_prefix("texfmt"))
                atexit.register(_cleanup.remove_tree, self._dir)
            path = os.path.join(self._dir, f"{key}.fmt")
            with open(path, "wb") as f:
                f.write(data)
            os.chmod(path, 0o644)
            self._paths[key] = path


FORMATS = _FormatCache()


@functools.lru_cache(maxsize=1)
def _HAVE_MYLATEXFORMAT() -> bool:
    try:
        r = subprocess.run(["kpsewhich", "mylatexformat.ltx"], capture_output=True, text=True, timeout=10)
        return bool(r.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return False


def _run_sandboxed(script: str, payload: bytes, plan: _layers.HostPlan, timeout: float,
                   fmt_path: str | None = None) -> tuple[int, bytes, bytes, bool]:
    """Run ``script`` (sh) with ``figure.tex`` in a fresh sandbox (bubblewrap, else ``_texjail.py``); returns
    (returncode, stdout, stderr, timed_out). Every writable place is a size-capped tmpfs."""
    r, w = os.pipe2(os.O_CLOEXEC)
    import fcntl

    fcntl.fcntl(w, 1031, 1 << 20)  # F_SETPIPE_SZ: the document (<= 1 MiB) fits, the write never blocks
    os.write(w, payload)
    os.close(w)
    new_root = None
    if plan.bwrap:
        cmd = bwrap_command(plan, script, source_fd=r, fmt_path=fmt_path)
    else:  # an empty host folder: the jail mounts its own root on it, in its own mount namespace
        new_root = tempfile.mkdtemp(prefix=_cleanup.host_folder_prefix("tex"))
        cmd = jail_command(plan, script, source_fd=r, new_root=new_root, fmt_path=fmt_path)
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                pass_fds=[r], env={}, start_new_session=True)
        os.close(r)
        r = -1
        try:
            out, err = proc.communicate(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            timed_out = True
    finally:
        if r >= 0:
            os.close(r)
        if new_root:
            _cleanup.remove_tree(new_root)
    return proc.returncode, out, err, timed_out


def bwrap_command(plan: _layers.HostPlan, script: str, *, source_fd: int, fmt_path: str | None = None) -> list[str]:
    """The bubblewrap command line of one TeX job: ``figure.tex`` comes from ``source_fd``; ``/tmp`` and ``/job``
    are tmpfs mounts, each with its own size (bubblewrap's ``--size`` applies to the next ``--tmpfs``)."""
    cmd = [plan.bwrap, *_layers.namespace_args(plan.mode), *_layers.system_binds()]
    for path in _TEX_TREES:
        if os.path.isdir(path):
            cmd += _layers.ro_bind_with_parents([path])
    cmd += ["--size", str(_TMP_TMPFS_BYTES), "--perms", "1777", "--tmpfs", "/tmp",
            "--size", str(_JOB_TMPFS_BYTES), "--perms", "1777", "--tmpfs", "/job",
            "--file", str(source_fd), "/job/figure.tex", "--chdir", "/job"]
    if fmt_path:
        cmd += ["--ro-bind", fmt_path, "/job/pre.fmt"]
    for key, value in TEX_ENV.items():
        cmd += ["--setenv", key, value]
    return cmd + ["--", *_drop_to_fresh_uid(["/bin/sh", "-c", script], plan)]


def jail_command(plan: _layers.HostPlan, script: str, *, source_fd: int, new_root: str,
                 fmt_path: str | None = None) -> list[str]:
    """The command line of one TeX job without bubblewrap (see ``_texjail.py``)."""
    config = {"uid": _layers.new_sandbox_uid() if plan.euid == 0 else None, "new_root": new_root,
              "read_only": ["/usr", *_TEX_TREES], "job_bytes": _JOB_TMPFS_BYTES, "tmp_bytes": _TMP_TMPFS_BYTES,
              "fmt": fmt_path, "env": TEX_ENV}
    return [sys.executable, "-S", "-E", "-s", str(_layers.SANDBOX_CODE_DIR / "_texjail.py"), json.dumps(config),
            str(source_fd), "--", "/bin/sh", "-c", script]


def _drop_to_fresh_uid(argv: list[str], plan: _layers.HostPlan) -> list[str]:
    """``argv`` run as a fresh unprivileged uid via ``setpriv`` when bubblewrap runs as root."""
    if not plan.tex_uid_drop:
        return argv
    uid = _layers.new_sandbox_uid()
    return ["setpriv", "--reuid", str(uid), "--regid", str(uid), "--clear-groups", "--no-new-privs",
            "--inh-caps=-all", "--", *argv]


def _classify(result: RenderResult, rc: int, timed_out: bool, log: str, out: bytes, timeout: float,
              source_line: Callable[[int], int | None],
              limits) -> None:
    message, line, blocked = parse_latex_error(log)
    if message:  # speak in lines of the submitted text ("preamble" for lines the sandbox added)
        message = re.sub(r"figure\.tex:(\d+):", lambda m: f"figure.tex:{source_line(int(m.group(1))) or 'preamble'}:",
                         message)
        message = re.sub(r"^l\.(\d+)", lambda m: f"l.{source_line(int(m.group(1))) or 'preamble'}", message,
                         flags=re.M)
    if line is not None:
        result.error_line = source_line(line)
    if timed_out:
        result.status, result.error = "timeout", f"wall-clock limit of {timeout:g} s exceeded"
        return
    if rc in (128 + signal.SIGXCPU, -signal.SIGXCPU):
        result.status, result.error = "timeout", "CPU time limit exceeded"
        return
    if rc in (128 + signal.SIGXFSZ, -signal.SIGXFSZ):
        result.status, result.error = "killed", "file size limit exceeded (output too large)"
        return
    if rc > 128 or rc < 0:
        result.status, result.error = "killed", f"terminated by signal {abs(rc) % 128}"
        return
    if rc != 0:
        result.status = "blocked" if blocked else "error"
        if rc == 11:
            message = message or "pdftoppm could not rasterise the PDF"
        result.error = message or f"pdflatex failed (exit status {rc}) without an error message in its log"
        if "TeX capacity exceeded" in (message or ""):
            result.status = "killed"
        return
    status, error, width, height = inspect_png(out, max_pixels=limits.png_pixels)
    result.status, result.error, result.width, result.height = status, error, width, height
    if status in ("ok", "blank_image"):
        result.png = out
    if blocked and status == "ok":
        result.status = "blocked"
        result.error = message or "shell escape (\\write18) is disabled in the sandbox"


def _tex_layers(plan: _layers.HostPlan) -> list[str]:
    if plan.bwrap:
        out = ["bwrap", "mount-ns", "pid-ns", "net-ns", "ipc-ns"]
    elif plan.ns_isolation:
        out = ["no-bwrap", "mount-ns", "net-ns", "ipc-ns", "minimal-root"]
    else:
        return ["no-bwrap", "refused"]
    return out + ["uid-drop" if plan.tex_uid_drop else "user-ns", "rlimits", "no-shell-escape", "openin_any=p",
                  "openout_any=p", "no-mktex", "wall-timeout", "job-tmpfs"]
