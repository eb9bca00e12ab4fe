"""A memory and pids cgroup per matplotlib worker, when the host lets this process create one.

``RLIMIT_AS`` bounds a job's address space only; a cgroup counts every page the worker and its jobs use (tmpfs,
page cache, kernel memory) and every task. :func:`detect` looks for, in order:

* **cgroup v2** (unified): this process's own cgroup is writable and has ``memory`` and ``pids`` in its
  ``cgroup.subtree_control`` (a delegated subtree), or they can be enabled there;
* **cgroup v1**: the ``memory`` and ``pids`` hierarchies are mounted and this process's groups in them are writable
  (root on a cgroup-v1 host).

Otherwise the pool runs without, and seccomp's denial of ``memfd_create`` and System V IPC plus the size-capped
scratch tmpfs keep memory RLIMIT_AS does not see bounded (``doctor`` says which layer holds). A worker is placed
in its group before bubblewrap or Python starts (a shell writes its own pid, then ``exec``s), so nothing it forks
escapes; groups are named after the owning process and removed when the worker is killed.
"""

from __future__ import annotations

import functools
import os
import signal
import time
from dataclasses import dataclass, field

from . import _cleanup

#: shell prologue: join each cgroup given as an argument (count first), then run the command after them
_JOIN = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n - 1)); done; exec "$@"'


@dataclass(frozen=True)
class CgroupPlan:
    """Where worker groups can be made: ``version`` 2 or 1 with the parent folder per controller, or 0 and why."""

    version: int
    parents: dict = field(default_factory=dict)  # controller ("memory", "pids", or "unified") -> parent folder
    error: str = ""

    @property
    def layer(self) -> str:
        return f"cgroup-v{self.version}" if self.version else "no-cgroup"


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, file-system type, super options) of every cgroup mount."""
    out = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fstype, _source, opts = (right.split() + ["", "", ""])[:3]
                if fstype in ("cgroup", "cgroup2"):
                    out.append((left.split()[4], fstype, set(opts.split(","))))
    except OSError:
        pass
    return out


def _own_paths() -> dict[str, str]:
    """Controller list (``""`` for v2) -> this process's cgroup path, from /proc/self/cgroup."""
    paths = {}
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                for c in controllers.split(",") if controllers else [""]:
                    paths[c] = path
    except (OSError, ValueError):
        pass
    return paths


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


@functools.lru_cache(maxsize=1)
def detect() -> CgroupPlan:
    mounts, own = _mounts(), _own_paths()
    reasons = []
    for point, fstype, _ in mounts:
        if fstype != "cgroup2" or "" not in own:
            continue
        base = os.path.normpath(point + own[""])
        available = set(_read(os.path.join(base, "cgroup.controllers")).split())
        if not {"memory", "pids"} <= available:
            reasons.append(f"cgroup v2 at {point} offers {', '.join(sorted(available)) or 'no controllers'} here, "
                           "not memory and pids")
            continue
        enabled = set(_read(os.path.join(base, "cgroup.subtree_control")).split())
        if not {"memory", "pids"} <= enabled:
            try:
                with open(os.path.join(base, "cgroup.subtree_control"), "w") as f:
                    f.write("+memory +pids")
            except OSError as e:
                reasons.append(f"cannot enable memory and pids below {base}: {e.strerror}")
                continue
        if os.access(base, os.W_OK):
            return CgroupPlan(2, {"unified": base})
        reasons.append(f"{base} is not writable")
    parents = {}
    for controller in ("memory", "pids"):
        point = next((p for p, fstype, opts in mounts if fstype == "cgroup" and controller in opts), None)
        if point is None or controller not in own:
            reasons.append(f"no cgroup v1 {controller} hierarchy")
            break
        base = os.path.normpath(point + own[controller])
        if not os.access(base, os.W_OK):
            reasons.append(f"{base} is not writable")
            break
        parents[controller] = base
    else:
        return CgroupPlan(1, parents)
    return CgroupPlan(0, {}, "; ".join(reasons) or "no cgroup file system mounted")


class WorkerCgroup:
    """The group(s) of one worker: created with limits, joined by the worker's start command, removed at the end."""

    def __init__(self, plan: CgroupPlan, *, memory_bytes: int, tasks: int):
        self.plan = plan
        name = _cleanup.host_folder_prefix("cgroup") + os.urandom(4).hex()
        self.dirs = {c: os.path.join(parent, name) for c, parent in plan.parents.items()}
        try:
            for controller, path in self.dirs.items():
                os.mkdir(path)
                for key, value in self._limits(controller, memory_bytes, tasks):
                    if os.path.exists(os.path.join(path, key)):
                        with open(os.path.join(path, key), "w") as f:
                            f.write(value)
        except OSError:
            self.remove()
            raise

    def _limits(self, controller: str, memory_bytes: int, tasks: int) -> list[tuple[str, str]]:
        if self.plan.version == 2:
            return [("memory.max", str(memory_bytes)), ("memory.swap.max", "0"), ("pids.max", str(tasks))]
        if controller == "memory":
            return [("memory.limit_in_bytes", str(memory_bytes)), ("memory.memsw.limit_in_bytes", str(memory_bytes))]
        return [("pids.max", str(tasks))]

    def wrap(self, cmd: list[str]) -> list[str]:
        """``cmd`` started inside the group(s)."""
        procs = [os.path.join(path, "cgroup.procs") for path in self.dirs.values()]
        return ["/bin/sh", "-c", _JOIN, "sh", str(len(procs)), *procs, *cmd]

    def kill_all(self) -> None:
        """SIGKILL every process left in the group (``cgroup.kill`` on v2, one by one on v1)."""
        for path in self.dirs.values():
            kill_file = os.path.join(path, "cgroup.kill")
            if os.path.exists(kill_file):
                try:
                    with open(kill_file, "w") as f:
                        f.write("1")
                    continue
                except OSError:
                    pass
            for pid in _read(os.path.join(path, "cgroup.procs")).split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass

    def remove(self) -> None:
        """Kill what is left and delete the group(s); never raises (a busy group is retried for up to 2 s)."""
        self.kill_all()
        for path in self.dirs.values():
            for _ in range(200):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)  # its last processes are still exiting
        self.dirs = {}


def sweep_stale_groups(plan: CgroupPlan) -> None:
    """Remove worker groups of processes that died without cleaning up (only empty ones can go)."""
    for parent in plan.parents.values():
        for path in _cleanup.stale_host_folders(parent, kinds=("cgroup",)):
            try:
                os.rmdir(path)
            except OSError:
                pass
