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
        "namespaces": {"active": bool(plan.bwrap) or plan.ns_isolation, "detail": _namespace_detail(plan)},
        "job-ipc-ns": {"active": _user_namespaces_enabled(), "detail": (
            "each job enters its own user + IPC namespace: System V IPC objects end with the job"
            if _user_namespaces_enabled() else "user namespaces are disabled: jobs share the worker's IPC namespace "
            "(seccomp still denies System V and POSIX IPC)")},
        "uid-drop": {"active": plan.uid_drop, "detail": _uid_detail(plan)},
        "capabilities": {"active": True, "detail": "all dropped (effective, permitted, inheritable, ambient) and "
                         "no_new_privs set before any job runs; a worker that still holds one refuses to start"},
        "scratch-tmpfs": {"active": plan.scratch_tmpfs, "detail": (
            "job folders on a size-capped tmpfs (256 MiB per worker; unlinked-but-open files count)"
            if plan.scratch_tmpfs else f"unavailable: {plan.ns_error or 'no mount namespace'}")},
        "memory-cap": {"active": bool(plan.cgroup.version or plan.seccomp), "detail": _memory_detail(plan)},
        "rlimits": {"active": True, "detail": "address space, CPU, file size, open files"
                    + (", processes" if plan.uid_drop else "")},
        "landlock": {"active": plan.landlock_abi >= 1, "detail": (
            f"ABI {plan.landlock_abi}" + ("; TCP deny" if plan.landlock_abi >= 4 else "")
            + ("; signal scope" if plan.landlock_abi >= 6 else ""))
            if plan.landlock_abi else "not supported by this kernel"},
        "seccomp": {"active": plan.seccomp, "detail": (
            "libseccomp.so.2: no sockets, exec, fork, ptrace, mounts, memfd, IPC, chmod/chown/xattr/utime, "
            "real-time scheduling, inotify; limits, affinity and priority only of the job itself")
            if plan.seccomp else plan.seccomp_reason},
        "empty-env": {"active": True, "detail": "environment cleared before the program runs"},
        "wall-timeout": {"active": True, "detail": "SIGKILL at the deadline"},
        "tikz": {"active": bool(plan.bwrap or plan.ns_isolation), "detail": (
            "pdflatex and pdftoppm in a per-job bubblewrap sandbox" if plan.bwrap else
            "pdflatex and pdftoppm in per-job namespaces and a minimal root (/usr and the TeX trees only)"
            if plan.ns_isolation else "refused: TeX needs a file-system view limited to the job and the TeX tree")},
    }
    report = {"layers": layers, "tools": _layers.tool_versions(), "euid": os.geteuid(),
              "python": {"executable": sys.executable, "version": sys.version.split()[0],
                         "sandbox_roots": plan.python_roots},
              "job_confinement": plan.layers(), "refused": plan.missing_required(),
              "ok": not plan.missing_required()}
    if probe:
        report["probe"] = _probe()
        report["ok"] = report["ok"] and all(p.get("status") == "ok" for p in report["probe"].values())
    return report


def _uid_detail(plan) -> str:
    if plan.uid_drop:
        if not plan.bwrap and not plan.python_world_readable:
            return ("each sandbox runs as a fresh unprivileged uid; the Python installation, closed to other users, "
                    "is bind-mounted read-only into the worker's own mount namespace")
        return "each sandbox runs as a fresh unprivileged uid"
    if plan.bwrap:
        return "runs as the calling user inside a user namespace"
    if plan.euid == 0:
        return f"jobs would run as root, so the pool refuses to start ({plan.ns_error or 'no mount namespace'})"
    return "runs as the calling user"


def _namespace_detail(plan) -> str:
    if plan.bwrap:
        return "mount, pid, net, ipc, uts (bubblewrap)"
    if plan.ns_isolation:
        return "mount, net, ipc, uts built by the worker itself (no pid namespace); the host read-only in its view"
    return f"none: {plan.ns_error or 'unavailable'}"


def _memory_detail(plan) -> str:
    if plan.cgroup.version:
        return (f"cgroup v{plan.cgroup.version} memory + pids limit per worker (address space + scratch + 512 MiB); "
                "RLIMIT_AS per job")
    why = f"no cgroup ({plan.cgroup.error})"
    if plan.seccomp:
        return (f"RLIMIT_AS per job; seccomp denies memfd_create and System V/POSIX IPC, which RLIMIT_AS does not "
                f"count; scratch tmpfs capped; {why}")
    return f"not capped beyond RLIMIT_AS: {why} and no seccomp"


def _user_namespaces_enabled() -> bool:
    try:
        with open("/proc/sys/user/max_user_namespaces") as f:
            return int(f.read()) > 0
    except (OSError, ValueError):
        return True  # the knob is missing on kernels that always allow them


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
