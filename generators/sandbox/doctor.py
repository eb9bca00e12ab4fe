"""``doctor()``: which confinement layers and tools this machine offers, checked by a live probe."""

from __future__ import annotations

import os
import sys
import time


def doctor(*, probe: bool = True) -> dict:
    """Report the sandbox's layers and tools.

    Args:
        probe: also render a tiny matplotlib figure (and a TikZ picture when pdflatex exists) in a fresh
            one-worker pool and report what the job itself applied.

    Returns:
        ``{"layers": {name: {"active": bool, "detail": str}}, "tools": {...}, "python": {...},
        "probe": {...}, "ok": bool}``; ``ok`` is False when a probe failed.
    """
    from . import layers as _layers

    plan = _layers.detect()
    layers = {
        "bwrap": {"active": bool(plan.bwrap), "detail": (
            f"{plan.bwrap_version}; mode={plan.mode}" if plan.bwrap
            else f"unavailable: {plan.bwrap_error or 'not installed'}")},
        "namespaces": {"active": bool(plan.bwrap), "detail": "mount, pid, net, ipc, uts" if plan.bwrap else "none"},
        "uid-drop": {"active": plan.uid_drop, "detail": _uid_detail(plan)},
        "rlimits": {"active": True, "detail": "address space, CPU, file size, open files"
                    + (", processes" if plan.uid_drop else "")},
        "landlock": {"active": plan.landlock_abi >= 1, "detail": (
            f"ABI {plan.landlock_abi}" + ("; TCP deny" if plan.landlock_abi >= 4 else "")
            + ("; signal scope" if plan.landlock_abi >= 6 else ""))
            if plan.landlock_abi else "not supported by this kernel"},
        "seccomp": {"active": plan.seccomp, "detail": "libseccomp.so.2" if plan.seccomp else plan.seccomp_reason},
        "empty-env": {"active": True, "detail": "environment cleared before the program runs"},
        "wall-timeout": {"active": True, "detail": "SIGKILL at the deadline"},
    }
    report = {"layers": layers, "tools": _layers.tool_versions(), "euid": os.geteuid(),
              "python": {"executable": sys.executable, "version": sys.version.split()[0],
                         "sandbox_roots": plan.python_roots},
              "job_confinement": plan.layers(), "ok": True}
    if probe:
        report["probe"] = _probe()
        report["ok"] = all(p.get("status") == "ok" for p in report["probe"].values())
    return report


def _uid_detail(plan) -> str:
    if plan.uid_drop:
        return "each sandbox runs as a fresh unprivileged uid"
    if plan.bwrap:
        return "runs as the calling user inside a user namespace"
    if plan.euid == 0:
        return ("matplotlib jobs run as root: the Python installation is not readable by other users "
                "(TikZ jobs still drop to a fresh uid)" if plan.tex_uid_drop else "jobs run as root")
    return "runs as the calling user"


def _probe() -> dict:
    import shutil

    from .pool import RendererPool

    from .pool import SandboxUnavailableError

    out = {}
    t0 = time.monotonic()
    try:
        pool = RendererPool(workers=1)
    except SandboxUnavailableError as e:  # the report still lists what is missing
        return {"python": {"status": "refused", "error": str(e)}}
    with pool:
        r = pool.render_python("import matplotlib.pyplot as plt\nplt.plot([0, 1], [0, 1])\nplt.title('probe')\n",
                               timeout=60, dpi=50)
        out["python"] = {"status": r.status, "error": r.error, "confinement": r.confinement,
                         "first_render_s": round(time.monotonic() - t0, 3)}
        if shutil.which("pdflatex"):
            r = pool.render_tikz(r"\begin{tikzpicture}\draw (0,0) -- (1,1) node[right] {probe};\end{tikzpicture}",
                                 timeout=60, dpi=50)
            out["tikz"] = {"status": r.status, "error": r.error, "confinement": r.confinement, "wall_s": r.wall_s}
    return out
