"""Namespaces, mounts and privileges for sandboxes started without bubblewrap (stdlib + ctypes only).

Loaded as a top-level module inside the sandbox (by ``_zygote.py``), so it must import nothing from
``scigenbench``. Used in two places:

* :func:`isolate_worker`: a matplotlib worker started without bubblewrap enters its own mount, IPC, network and
  UTS namespaces (as root directly, otherwise inside a new user namespace), makes the host's mounts read-only in
  that view, mounts a size-capped tmpfs as its scratch folder, makes a Python installation that other users cannot
  read (a pyenv under ``/root``) visible to the sandbox uid through read-only bind mounts on a tmpfs (nothing on
  the host changes), then drops to the sandbox uid with no capabilities and ``no_new_privs``.
* :func:`new_job_ipc_namespace`: every job child enters a fresh user + IPC namespace and drops every capability
  it has there, so System V IPC objects never outlive the job or cross between jobs.
"""

from __future__ import annotations

import ctypes
import os
import stat
import struct

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
_SYS_MOUNT_SETATTR = 442
_AT_FDCWD = -100
_AT_RECURSIVE = 0x8000
_MOUNT_ATTR_RDONLY = 0x1
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_PR_SET_NO_NEW_PRIVS = 38
_CAP_VERSION_3 = 0x20080522


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: s.encode() if s is not None else None)
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {target}")


def _read_only_everywhere() -> bool:
    """Make every mount of this (private) mount namespace read-only; False when the kernel cannot (< 5.12)."""
    attr = struct.pack("QQQQ", _MOUNT_ATTR_RDONLY, 0, 0, 0)
    buf = ctypes.create_string_buffer(attr, len(attr))
    rc = _libc.syscall(_SYS_MOUNT_SETATTR, ctypes.c_int(_AT_FDCWD), b"/", ctypes.c_uint(_AT_RECURSIVE), buf,
                       ctypes.c_size_t(len(attr)))
    return rc == 0


def hidden_ancestor(path: str) -> str | None:
    """The highest directory on the way to ``path`` that other users cannot enter (None: all can)."""
    parts = os.path.realpath(path).split("/")[1:]
    current = ""
    for part in parts[:-1]:
        current += "/" + part
        try:
            if not os.stat(current).st_mode & stat.S_IXOTH:
                return current
        except OSError:
            return current
    return None


def _expose(roots: list[str]) -> list[str]:
    """Make each root (readable itself) reachable when a parent is closed to other users; returns the roots
    exposed. Each closed parent is covered by a small read-only tmpfs holding only bind mounts of the roots
    below it, so the rest of that parent stays invisible."""
    pending = []
    for root in roots:
        real = os.path.realpath(root)
        top = hidden_ancestor(real)
        if top is not None:
            pending.append((top, real, os.open(real, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)))
    done = []
    try:
        tops = sorted({top for top, _, _ in pending}, key=len)
        tops = [t for t in tops if not any(t.startswith(o + "/") for o in tops if o != t)]
        for top in tops:
            mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
        for top, real, fd in pending:
            os.makedirs(real, mode=0o755, exist_ok=True)
            mount(f"/proc/self/fd/{fd}", real, None, MS_BIND | MS_REC)
            mount(None, real, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
            done.append(real)
        for top in tops:
            mount(None, top, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "mode=0755")
    finally:
        for _, _, fd in pending:
            os.close(fd)
    return done


def isolate_worker(*, scratch: str, scratch_bytes: int, uid: int | None, expose: list[str]) -> dict:
    """Enter private namespaces, cap the scratch folder and drop privileges (see the module docstring).

    Args:
        scratch: an existing empty directory; a tmpfs of ``scratch_bytes`` is mounted on it, owned by the worker.
        uid: as root, the sandbox uid to become; ``None`` when not root (the worker keeps the caller's uid).
        expose: directory trees the worker must read after dropping to ``uid`` (the Python installation).

    Returns:
        What holds: ``{"namespaces": [...], "read_only_host": bool, "exposed": [...]}``. Raises ``OSError`` when
        a namespace or the scratch tmpfs cannot be had.
    """
    namespaces = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUTS
    real_uid, real_gid = os.getuid(), os.getgid()
    if uid is None:  # not root: a user namespace grants the mount rights, mapping only our own ids
        unshare(CLONE_NEWUSER | namespaces)
        for name, text in (("setgroups", "deny"), ("uid_map", f"{real_uid} {real_uid} 1"),
                           ("gid_map", f"{real_gid} {real_gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
    else:
        unshare(namespaces)
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing done here reaches the host's mount table
    _libc.sethostname(b"sandbox", ctypes.c_size_t(7))
    read_only = _read_only_everywhere()
    exposed = _expose(expose) if uid is not None else []
    owner = uid if uid is not None else real_uid
    group = uid if uid is not None else real_gid
    mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV,
          f"size={int(scratch_bytes)},mode=0700,uid={owner},gid={group}")
    if uid is not None:
        drop_to(uid)
    else:
        drop_capabilities()
    return {"namespaces": ["mount-ns", "ipc-ns", "net-ns", "uts-ns"], "read_only_host": read_only,
            "exposed": exposed}


def drop_to(uid: int) -> None:
    """Become ``uid`` for good, with no capabilities and ``no_new_privs`` (the caller is root)."""
    for cap in range(64):  # the bounding set: nothing can be regained, even through a set-uid file
        if _libc.prctl(_PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0) != 0:
            break  # past the last capability the kernel knows (or CAP_SETPCAP already gone)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # clears the permitted and effective sets
    drop_capabilities()


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capabilities() -> None:
    """Empty the effective, permitted, inheritable and ambient sets and set ``no_new_privs``."""
    _libc.prctl(_PR_CAP_AMBIENT, ctypes.c_ulong(_PR_CAP_AMBIENT_CLEAR_ALL), 0, 0, 0)
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset")
    _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), 0, 0, 0), "prctl(NO_NEW_PRIVS)")


def capabilities_held() -> int:
    """The union of this process's effective, permitted, inheritable and ambient capability sets (0: none)."""
    held = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("CapEff:", "CapPrm:", "CapInh:", "CapAmb:")):
                held |= int(line.split()[1], 16)
    return held


def new_job_ipc_namespace() -> str:
    """Give this (single-threaded, forked) job its own IPC namespace, then drop the capabilities the new user
    namespace handed out. Raises ``OSError`` when user namespaces are disabled."""
    unshare(CLONE_NEWUSER | CLONE_NEWIPC)
    drop_capabilities()
    return "job-ipc-ns"
