"""Namespaces, mounts and privileges for sandboxes started without bubblewrap (stdlib + ctypes only).

Loaded as a top-level module inside the sandbox (by ``_zygote.py``), so it must import nothing from
``scigenbench``. Used in two places:

* :func:`isolate_worker`: a matplotlib worker started without bubblewrap enters its own mount, IPC, network and
  UTS namespaces (as root directly, otherwise inside a new user namespace) and switches (``pivot_root``) to a
  fresh tmpfs root that holds only read-only binds of ``/usr``, the Python installation and the sandbox code, a
  few device nodes, ``/proc`` and a size-capped scratch tmpfs: the host's other files are not in its view at all.
  A Python installation that other users cannot read (a pyenv under ``/root``) is reachable there because the
  folders leading to it are the new root's own (0755); nothing on the host changes. Then it drops to the sandbox
  uid with no capabilities and ``no_new_privs``.
* ``_texjail.py`` uses :func:`enter_namespaces` and :func:`build_root` the same way for one TeX job (the TeX trees
  instead of Python, no ``/proc``).
* :func:`new_job_ipc_namespace`: every job child enters a fresh user + IPC namespace and drops every capability
  it has there, so System V IPC objects never outlive the job or cross between jobs.
"""

from __future__ import annotations

import ctypes
import os

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
_MS_NOEXEC = 8
_MS_NOATIME = 1024
_MS_NODIRATIME = 2048
_MS_RELATIME = 1 << 21
_ST_RELATIME = 4096
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
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


_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
_MNT_DETACH = 2
DEVICES = ("null", "zero", "full", "random", "urandom")


def _bind(source: str, target: str, *, read_only: bool = True, nodev: bool = True) -> None:
    """Bind ``source`` at ``target`` (created like the source: a folder or an empty file), read-only by default."""
    if os.path.isdir(source):
        os.makedirs(target, mode=0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        open(target, "a").close()
    mount(source, target, None, MS_BIND | MS_REC)
    flags = MS_REMOUNT | MS_BIND | MS_NOSUID | (MS_RDONLY if read_only else 0) | (MS_NODEV if nodev else 0)
    mount(None, target, None, flags | _kept_flags(source))


def _kept_flags(path: str) -> int:
    """The flags of the mount holding ``path`` that a remount must keep (in a user namespace they are locked)."""
    st = os.statvfs(path).f_flag
    kept = st & (MS_RDONLY | MS_NOSUID | MS_NODEV | _MS_NOEXEC | _MS_NOATIME | _MS_NODIRATIME)
    return kept | (_MS_RELATIME if st & _ST_RELATIME else 0)


def _pivot_into(new_root: str) -> None:
    """Make ``new_root`` this mount namespace's ``/`` and drop every host mount from the view."""
    import platform

    number = _SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(38, f"pivot_root: unknown system call number on {platform.machine()}")
    os.chdir(new_root)
    _check(_libc.syscall(number, b".", b"."), "pivot_root")  # the old root now lies stacked under the new one
    _check(_libc.umount2(b".", ctypes.c_int(_MNT_DETACH)), "umount old root")
    os.chdir("/")


def build_root(new_root: str, read_only: list[str], tmpfs: dict[str, tuple[int, int, int]], *,
               proc: bool = True) -> None:
    """Pivot into a fresh tmpfs root mounted on ``new_root`` that holds only ``read_only`` trees (read-only binds at
    their own paths), the /bin, /lib... links or binds, a few device nodes, /proc when ``proc``, and one
    size-capped tmpfs per ``tmpfs`` entry (path -> (bytes, owner uid, owner gid)). Call after
    :func:`enter_namespaces`."""
    mount("tmpfs", new_root, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=0755")
    for path in read_only:
        if os.path.exists(path):
            _bind(os.path.realpath(path), new_root + os.path.realpath(path))
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            os.symlink(os.readlink(top), new_root + top)
        elif os.path.isdir(top):
            _bind(top, new_root + top)
    for name in DEVICES:
        _bind(f"/dev/{name}", f"{new_root}/dev/{name}", read_only=False, nodev=False)
    os.symlink("/proc/self/fd", f"{new_root}/dev/fd")
    if proc:
        try:  # the worker finds its jobs' leftovers there; without it, seccomp alone keeps jobs from forking
            _bind("/proc", f"{new_root}/proc", read_only=False)
        except OSError:
            pass
    for path, (size, owner, group) in tmpfs.items():
        os.makedirs(new_root + path, mode=0o755, exist_ok=True)
        mount("tmpfs", new_root + path, "tmpfs", MS_NOSUID | MS_NODEV,
              f"size={int(size)},mode=0700,uid={owner},gid={group}")
    _pivot_into(new_root)
    mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def enter_namespaces(uid: int | None) -> None:
    """New mount, IPC, network and UTS namespaces, the mount tree made private (as root directly; with ``uid``
    None, inside a new user namespace that maps only the caller's own ids)."""
    namespaces = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUTS
    real_uid, real_gid = os.getuid(), os.getgid()
    if uid is None:  # not root: a user namespace grants the mount rights
        unshare(CLONE_NEWUSER | namespaces)
        for name, text in (("setgroups", "deny"), ("uid_map", f"{real_uid} {real_uid} 1"),
                           ("gid_map", f"{real_gid} {real_gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
    else:
        unshare(namespaces)
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing done here reaches the host's mount table
    _libc.sethostname(b"sandbox", ctypes.c_size_t(7))


def isolate_worker(*, new_root: str, scratch: str, scratch_bytes: int, uid: int | None,
                   read_only: list[str]) -> dict:
    """Enter private namespaces, switch to a minimal root and drop privileges (see the module docstring).

    Args:
        new_root: an existing empty host folder; the worker's root tmpfs is mounted on it (the host sees nothing).
        scratch: where the size-capped scratch tmpfs goes inside the new root (``/tmp/sgb``).
        uid: as root, the sandbox uid to become; ``None`` when not root (the worker keeps the caller's uid).
        read_only: directory trees visible (read-only) in the new root: ``/usr``, the Python installation, ...

    Returns:
        What holds: ``{"namespaces": [...], "root": "minimal"}``. Raises ``OSError`` when a namespace, a mount or
        the pivot cannot be had.
    """
    owner = (uid, uid) if uid is not None else (os.getuid(), os.getgid())
    enter_namespaces(uid)
    build_root(new_root, read_only, {scratch: (scratch_bytes, *owner)})
    if uid is not None:
        drop_to(uid)
    else:
        drop_capabilities()
    return {"namespaces": ["mount-ns", "ipc-ns", "net-ns", "uts-ns"], "root": "minimal"}


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
    """The union of this process's effective, permitted and inheritable capability sets (0: none; the ambient set is
    always a subset of permitted and inheritable)."""
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capget(ctypes.byref(header), data), "capget")
    held = 0
    for i, part in enumerate(data):
        held |= (part.effective | part.permitted | part.inheritable) << (32 * i)
    return held


def new_job_ipc_namespace() -> str:
    """Give this (single-threaded, forked) job its own IPC namespace, then drop the capabilities the new user
    namespace handed out. Raises ``OSError`` when user namespaces are disabled."""
    unshare(CLONE_NEWUSER | CLONE_NEWIPC)
    drop_capabilities()
    return "job-ipc-ns"
