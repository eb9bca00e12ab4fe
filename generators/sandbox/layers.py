"""Detect the confinement layers this machine offers and build the bubblewrap command lines.

Two ways to run bubblewrap, picked at start-up:

* **as root** (``mode="root"``): bwrap runs privileged *without* a user namespace (with one, root's files stay
  root's and uid 0 maps to uid 0), keeps only CAP_SETUID/CAP_SETGID, and the sandboxed program drops to a
  fresh unprivileged uid as its first action (a random uid per sandbox, so ``RLIMIT_NPROC`` counts only that
  sandbox). TeX jobs use ``setpriv`` for that drop. This also lets the sandbox see a Python installed under
  ``/root`` (bwrap canonicalises bind sources as the calling user).
* **as a normal user** (``mode="user"``): bwrap creates a user namespace; the program keeps the user's uid.

Without bubblewrap (or when it fails) a matplotlib worker builds its own namespaces (:mod:`._isolate`: mount,
IPC, network and UTS namespaces, a minimal root with read-only ``/usr`` and Python, a size-capped scratch tmpfs,
and as root the uid drop, even with a Python installation under a closed folder such as ``/root``),
then the per-process layers (rlimits, Landlock, seccomp, empty environment) apply as usual; every result says
``no-bwrap``. TikZ runs in bubblewrap, else in a minimal root of its own (``_texjail.py``), else it is refused:
TeX must not run without a file-system view limited to the job and the TeX tree.
A layer the sandbox requires (:meth:`HostPlan.missing_required`) that cannot be had makes the pool refuse to start.
"""

from __future__ import annotations

import functools
import os
import random
import shutil
import site
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import _confine, cgroups

SANDBOX_CODE_DIR = Path(__file__).resolve().parent
CODE_MOUNT = "/opt/scigenbench-sandbox"
UID_RANGE = (1_900_000_000, 2_000_000_000)


@dataclass
class HostPlan:
    """What the host offers, detected once per process."""

    bwrap: str | None
    bwrap_version: str
    bwrap_error: str
    mode: str  # "root" | "user" | "none"
    landlock_abi: int
    seccomp: bool
    seccomp_reason: str
    python_roots: list[str] = field(default_factory=list)
    euid: int = field(default_factory=os.geteuid)
    python_world_readable: bool = True
    #: without bubblewrap: the worker can build its own namespaces and scratch tmpfs (see :mod:`._isolate`)
    ns_isolation: bool = False
    ns_error: str = ""
    #: a memory + pids cgroup per matplotlib worker, where the host allows one (see :mod:`.cgroups`)
    cgroup: cgroups.CgroupPlan = field(default_factory=lambda: cgroups.CgroupPlan(0, {}, "not probed"))

    @property
    def uid_drop(self) -> bool:
        """matplotlib workers run as a fresh unprivileged uid (as root; without bubblewrap the worker needs its
        own mount namespace to see a Python installation that other users cannot read)."""
        if self.mode == "root":
            return True
        return self.mode == "none" and self.euid == 0 and (self.ns_isolation or self.python_world_readable)

    @property
    def tex_uid_drop(self) -> bool:
        """TeX jobs run as a fresh unprivileged uid (in bubblewrap as root, or in their own namespaces as root)."""
        return self.mode == "root" or (self.mode == "none" and self.euid == 0 and self.ns_isolation)

    @property
    def scratch_tmpfs(self) -> bool:
        """Job folders live on a size-capped tmpfs (bubblewrap's, or the worker's own mount namespace's)."""
        return bool(self.bwrap) or self.ns_isolation

    def missing_required(self) -> list[str]:
        """What the pool refuses to run without (unless weak confinement is allowed), one phrase each."""
        missing = []
        if not (self.bwrap or self.landlock_abi or self.uid_drop):
            # seccomp and rlimits alone leave every file of the user readable and writable (~/.ssh, ~/.bashrc, ...)
            missing.append("nothing isolates the file system (no bubblewrap, no Landlock, no uid drop), so generated "
                           "code could read and write your files")
        if self.euid == 0 and not self.uid_drop:
            missing.append("jobs would run as root: bubblewrap is missing and the worker cannot build its own mount "
                           f"namespace to drop to an unprivileged uid ({self.ns_error or 'not possible here'})")
        if not self.scratch_tmpfs:
            missing.append("no size-capped scratch folder: bubblewrap is missing and the worker cannot mount its own "
                           f"tmpfs ({self.ns_error or 'no mount namespace'})")
        if not self.seccomp:
            missing.append(f"no seccomp ({self.seccomp_reason or 'unavailable'}): memory from memfd_create and System "
                           "V IPC would not be capped and file-metadata and scheduler calls would stay open")
        return missing

    def layers(self) -> list[str]:
        """Names of the layers every job gets (``no-*`` for the missing ones)."""
        out = []
        if self.bwrap:
            out += ["bwrap", "mount-ns", "pid-ns", "net-ns", "ipc-ns"]
            out.append("uid-drop" if self.uid_drop else "user-ns")
        else:
            out.append("no-bwrap")
            if self.ns_isolation:
                out += ["mount-ns", "net-ns", "ipc-ns"]
            if self.euid == 0:  # without bubblewrap, root's jobs drop to a fresh uid when they can
                out.append("uid-drop" if self.uid_drop else "no-uid-drop")
        out.append("scratch-tmpfs" if self.scratch_tmpfs else "no-scratch-tmpfs")
        if self.cgroup.version:  # optional: without it seccomp and the tmpfs cap keep memory bounded
            out.append(self.cgroup.layer)
        out += ["rlimits"]
        if self.landlock_abi >= 1:
            out.append(f"landlock-abi{self.landlock_abi}")
        else:
            out.append("no-landlock")
        out.append("seccomp" if self.seccomp else "no-seccomp")
        out += ["empty-env", "wall-timeout", "output-caps"]
        return out


def new_sandbox_uid() -> int:
    return random.SystemRandom().randrange(*UID_RANGE)


def python_roots() -> list[str]:
    """Directory trees the sandboxed Python needs to read (installation, venv, site-packages)."""
    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    candidates.update(p for p in site.getsitepackages() if os.path.isdir(p))
    for module in ("matplotlib", "numpy", "PIL"):
        try:
            mod = __import__(module)
            candidates.add(str(Path(mod.__file__).resolve().parent.parent))
        except Exception:
            pass
    exe = Path(sys.executable)
    candidates.add(str(exe.parent.parent))
    candidates.add(str(exe.resolve().parent.parent))
    roots = sorted({os.path.normpath(c) for c in candidates if c and os.path.isdir(c)})
    kept: list[str] = []
    for root in roots:  # drop nested ones and anything /usr already covers
        if root == "/usr" or root.startswith("/usr/"):
            continue
        if any(root.startswith(k.rstrip("/") + "/") for k in kept):
            continue
        kept.append(root)
    return kept


@functools.lru_cache(maxsize=1)
def detect() -> HostPlan:
    """Probe bubblewrap, Landlock and seccomp (cached for the process)."""
    bwrap = shutil.which("bwrap")
    version, error = "", ""
    mode = "none"
    if bwrap:
        try:
            version = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError) as e:
            error = str(e)
        mode = "root" if os.geteuid() == 0 else "user"
        probe = [bwrap, *namespace_args(mode), *system_binds(), "--", "/usr/bin/true"]
        try:
            r = subprocess.run(probe, capture_output=True, text=True, timeout=20)
            if r.returncode != 0:
                error = (r.stderr or r.stdout).strip()[-300:] or f"exit status {r.returncode}"
        except (OSError, subprocess.SubprocessError) as e:
            error = str(e)
        if error:
            bwrap, mode = None, "none"
    seccomp, reason = _confine.seccomp_or_none()
    roots = python_roots()
    ns_ok, ns_error = probe_ns_isolation(roots)
    return HostPlan(bwrap=bwrap, bwrap_version=version, bwrap_error=error, mode=mode,
                    landlock_abi=_confine.landlock_abi(), seccomp=seccomp is not None, seccomp_reason=reason,
                    python_roots=roots, euid=os.geteuid(),
                    python_world_readable=all(world_readable(r) for r in [*roots, str(SANDBOX_CODE_DIR)]),
                    ns_isolation=ns_ok, ns_error=ns_error, cgroup=cgroups.detect())


_NS_PROBE = r"""
import os, sys
sys.path.insert(0, sys.argv[1])
import _isolate
new_root, roots = sys.argv[2], sys.argv[3:]
uid = int(os.environ["SGB_PROBE_UID"]) if os.geteuid() == 0 else None
_isolate.isolate_worker(new_root=new_root, scratch="/tmp/sgb", scratch_bytes=1 << 20, uid=uid,
                        read_only=["/usr", *roots])
for root in roots:
    os.listdir(root)
open("/tmp/sgb/probe", "w").close()
assert _isolate.capabilities_held() == 0 and not os.path.exists("/etc")
"""


def probe_ns_isolation(roots: list[str]) -> tuple[bool, str]:
    """Whether a worker started without bubblewrap can build its own namespaces, scratch tmpfs and (as root) uid
    drop with the Python installation visible: tried once in a throw-away process (about 30 ms)."""
    import tempfile

    scratch = tempfile.mkdtemp(prefix="scigenbench-nsprobe-")
    try:
        env = {"SGB_PROBE_UID": str(new_sandbox_uid()), "PATH": "/usr/bin:/bin"}
        r = subprocess.run([sys.executable, "-S", "-c", _NS_PROBE, str(SANDBOX_CODE_DIR), scratch, *roots,
                            str(SANDBOX_CODE_DIR)], capture_output=True, text=True, timeout=30, env=env,
                           cwd="/")
        if r.returncode == 0:
            return True, ""
        lines = (r.stderr or r.stdout).strip().splitlines()
        return False, lines[-1][:300] if lines else f"exit status {r.returncode}"
    except (OSError, subprocess.SubprocessError) as e:
        return False, str(e)
    finally:
        try:
            os.rmdir(scratch)
        except OSError:
            pass


def world_readable(path: str) -> bool:
    """Whether any user can reach and list ``path`` (every parent searchable by others, itself readable)."""
    p = Path(path).resolve()
    try:
        if not os.stat(p).st_mode & 0o005 == 0o005:
            return False
        return all(os.stat(parent).st_mode & 0o001 for parent in p.parents)
    except OSError:
        return False


def namespace_args(mode: str) -> list[str]:
    common = ["--die-with-parent", "--new-session", "--clearenv", "--unshare-ipc", "--unshare-pid",
              "--unshare-net", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
    if mode == "root":
        return common + ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return common + ["--unshare-user", "--cap-drop", "ALL"]


def system_binds() -> list[str]:
    """/usr read-only and the merged-/usr symlinks (or binds) for /bin, /lib, ...; /dev and /proc."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    return args + ["--dev", "/dev", "--proc", "/proc"]


def ro_bind_with_parents(paths: list[str]) -> list[str]:
    """Read-only binds at the same paths, creating traversable (0755) parents first."""
    args, made = [], set()
    for path in paths:
        parts = Path(path).parts
        for i in range(2, len(parts)):
            parent = str(Path(*parts[:i]))
            if parent not in made and not parent.startswith("/usr"):
                made.add(parent)
                args += ["--perms", "0755", "--dir", parent]
        args += ["--ro-bind", path, path]
    return args


def tool_versions() -> dict[str, str | None]:
    """Paths and first version lines of the external tools the sandbox uses."""
    out: dict[str, str | None] = {}
    for tool, flag in (("bwrap", "--version"), ("pdflatex", "--version"), ("pdftoppm", "-v"),
                       ("setpriv", "--version"), ("kpsewhich", "--version")):
        path = shutil.which(tool)
        if not path:
            out[tool] = None
            continue
        try:
            r = subprocess.run([path, flag], capture_output=True, text=True, timeout=10)
            first = (r.stdout or r.stderr).strip().splitlines()
            out[tool] = f"{path} ({first[0] if first else 'unknown version'})"
        except (OSError, subprocess.SubprocessError):
            out[tool] = path
    return out
