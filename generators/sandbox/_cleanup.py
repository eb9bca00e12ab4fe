"""Remove a directory tree a hostile job left behind, whatever it did to it (stdlib only).

Loaded as a top-level module inside the sandbox (by ``_zygote.py``) and imported by the host, so it must import
nothing from ``scigenbench``. :func:`remove_tree` is iterative (a 3,000-deep tree needs no recursion and no long
paths: it holds one directory descriptor at a time and walks back up through ``..``, checking that it lands where
it came from), never follows symbolic links, makes ``chmod 000`` directories usable again, clears the immutable and
append-only flags where the caller may (root), and never raises.

Host folders (the format cache, a worker's mount point without bubblewrap) are named after the process that owns
them (:func:`host_folder_prefix`), so :func:`sweep_stale_folders` can remove those of processes that died without
cleaning up, and only those.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import struct
import tempfile

_FS_IOC_GETFLAGS = 0x80086601
_FS_IOC_SETFLAGS = 0x40086602
_FS_IMMUTABLE_FL = 0x00000010
_FS_APPEND_FL = 0x00000020
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_ENTRIES = 2_000_000  # a bound on the work, so even a pathological tree ends


def remove_tree(path: str) -> bool:
    """Delete ``path`` (a directory tree or a single file); True when it is gone. Never raises."""
    try:
        return _remove(os.path.abspath(path))
    except Exception:  # a cleanup must not take the worker or the host down with it
        return not _lexists(path)


def _lexists(path: str) -> bool:
    try:
        return os.path.lexists(path)
    except Exception:
        return True


def _remove(path: str) -> bool:
    parent, name = os.path.split(path)
    try:
        pfd = os.open(parent or "/", _DIR_FLAGS & ~os.O_NOFOLLOW)
    except FileNotFoundError:
        return True
    try:
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return True
        if not stat.S_ISDIR(st.st_mode):
            return _unlink(pfd, name)
        _empty_tree(pfd, name)
        return _rmdir(pfd, name)
    finally:
        os.close(pfd)


def _ident(fd: int, name: str | None = None) -> tuple[int, int]:
    st = os.fstat(fd) if name is None else os.stat(name, dir_fd=fd, follow_symlinks=False)
    return st.st_dev, st.st_ino


def _empty_tree(top_parent: int, top: str) -> None:
    """Delete everything below ``top`` (a directory in ``top_parent``), depth first, without recursion."""
    fd = _open_dir(top_parent, top)
    if fd is None:
        return
    stack: list[tuple[str, tuple[int, int]]] = []  # (name of the directory we are in, identity of its parent)
    stuck: set[tuple[int, int]] = set()  # directories that cannot be emptied: never entered again
    budget = MAX_ENTRIES
    try:
        while budget > 0:
            sub, failed = None, False
            try:
                names = os.listdir(fd)
            except OSError:
                names, failed = [], True
            for entry in names:
                budget -= 1
                try:
                    st = os.stat(entry, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                except OSError:
                    failed = True
                    continue
                if stat.S_ISDIR(st.st_mode):
                    if (st.st_dev, st.st_ino) in stuck:
                        failed = True
                        continue
                    sub = entry
                    break
                if not _unlink(fd, entry):
                    failed = True
            if sub is not None:
                child = _open_dir(fd, sub)
                if child is None:
                    stuck.add(_ident(fd, sub))
                    continue
                stack.append((sub, _ident(fd)))
                os.close(fd)
                fd = child
                continue
            if failed:
                stuck.add(_ident(fd))
            if not stack:
                return
            name, parent_id = stack.pop()
            here = _ident(fd)
            up = os.open("..", _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = up
            if _ident(fd) != parent_id:  # the tree moved under us: stop rather than delete elsewhere
                return
            if not _rmdir(fd, name):
                stuck.add(here)
    finally:
        os.close(fd)


def _open_dir(parent: int, name: str) -> int | None:
    """A descriptor for directory ``name``, restoring its owner's permissions first when needed."""
    for attempt in range(2):
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent)
        except PermissionError:
            if attempt or not _make_usable(parent, name):
                return None
        except OSError:
            return None
    return None


def _make_usable(parent: int, name: str) -> bool:
    """chmod 0700 a directory the job made unreadable (through an O_PATH descriptor: never via a symlink)."""
    try:
        pfd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=parent)
    except OSError:
        return False
    try:
        os.chmod(f"/proc/self/fd/{pfd}", 0o700)
        return True
    except OSError:
        return False
    finally:
        os.close(pfd)


def _unlink(parent: int, name: str) -> bool:
    return _delete(os.unlink, parent, name)


def _rmdir(parent: int, name: str) -> bool:
    return _delete(os.rmdir, parent, name)


def _delete(remove, parent: int, name: str) -> bool:
    """``remove(name, dir_fd=parent)``, retried once after clearing immutable/append-only flags on EPERM."""
    for attempt in range(2):
        try:
            remove(name, dir_fd=parent)
            return True
        except FileNotFoundError:
            return True
        except PermissionError as e:
            if attempt or e.errno != errno.EPERM:
                return False
            _clear_flags(parent)  # an immutable or append-only directory refuses every removal in it
            _clear_flags_of(parent, name)
        except OSError:
            return False
    return False


def _clear_flags_of(parent: int, name: str) -> None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY, dir_fd=parent)
    except OSError:
        return
    try:
        _clear_flags(fd)
    finally:
        os.close(fd)


def _clear_flags(fd: int) -> None:
    """Drop the immutable and append-only flags (only root may; a no-op everywhere else)."""
    import fcntl

    try:
        buf = bytearray(8)
        fcntl.ioctl(fd, _FS_IOC_GETFLAGS, buf)
        (flags,) = struct.unpack_from("=i", buf)
        if flags & (_FS_IMMUTABLE_FL | _FS_APPEND_FL):
            struct.pack_into("=i", buf, 0, flags & ~(_FS_IMMUTABLE_FL | _FS_APPEND_FL))
            fcntl.ioctl(fd, _FS_IOC_SETFLAGS, buf)
    except OSError:
        pass


def _process_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), or None when no such process runs."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            line = f.read()
        return line[line.rfind(b")") + 2:].split()[19].decode()
    except (OSError, IndexError):
        return None


def host_folder_prefix(kind: str) -> str:
    """``scigenbench-<kind>-<pid>.<start time>-``: a host folder names the process that owns it."""
    return f"scigenbench-{kind}-{os.getpid()}.{_process_start_time(os.getpid())}-"


_HOST_FOLDER = re.compile(r"^scigenbench-([a-z]+)-(\d+)\.(\d+)-")


def stale_host_folders(where: str, kinds: tuple[str, ...]) -> list[str]:
    """Folders in ``where`` named by :func:`host_folder_prefix` for one of ``kinds``, owned by this user, whose
    owning process is gone (a pid now used by another process has another start time)."""
    stale = []
    try:
        names = os.listdir(where)
    except OSError:
        return stale
    for name in names:
        m = _HOST_FOLDER.match(name)
        if not m or m.group(1) not in kinds or _process_start_time(int(m.group(2))) == m.group(3):
            continue
        path = os.path.join(where, name)
        try:
            if os.lstat(path).st_uid == os.geteuid():
                stale.append(path)
        except OSError:
            continue
    return stale


def sweep_stale_folders(where: str | None = None) -> list[str]:
    """Remove this user's sandbox host folders whose owning process died without cleaning up; folders of running
    processes are left alone. Returns the folders removed."""
    return [path for path in stale_host_folders(where or tempfile.gettempdir(), ("sandbox", "tex", "texfmt"))
            if remove_tree(path)]
