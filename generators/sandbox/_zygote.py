"""The matplotlib zygote: runs inside the sandbox, imports matplotlib once, forks a confined child per job.

Started by ``scigenbench.generators.sandbox.pool`` as ``python _zygote.py CTRL_FD JSON_CONFIG``. Without
bubblewrap it first builds its own namespaces and minimal root (``_isolate.isolate_worker``); either way it drops
to the sandbox uid with no capabilities before importing anything heavy. It talks to the host over the
SOCK_SEQPACKET socket ``CTRL_FD``:

* host -> zygote, per job: a JSON header ``{"dpi", "timeout", "limits"}`` with two file descriptors attached:
  the read end of a pipe holding the program's source and the job's end of a socket for the result (a socket,
  so the job cannot reopen it through ``/dev/fd/N``). The zygote never reads the source or the result (they go
  straight between the host and the child), so its memory, which every later child inherits, holds no earlier
  job's data.
* zygote -> host, per job: a JSON trailer ``{"exit", "signal", "cpu_s", "timed_out"}`` once the child ended.

The child (forked per job) reads the source, enters its own user + IPC namespace, applies rlimits, Landlock and
seccomp, clears the environment, runs the program (``_capture.run_program``) and writes
``b"SGBR" + u32 len + JSON + PNG`` to the result socket; the host validates every field (``frames.py``).
Only stdlib, matplotlib and numpy are imported here (loaded as top-level modules from this directory).
"""

from __future__ import annotations

import errno
import gc
import json
import os
import select
import signal
import socket
import struct
import sys
import time

import _cleanup
import _confine
import _isolate

RESULT_MAGIC = b"SGBR"
MAX_SOURCE = 1 << 20
_PR_SET_PDEATHSIG = 1


def _isolate_self(config: dict) -> dict:
    """Namespaces, scratch tmpfs and the uid drop (bubblewrap did the namespaces already when it started us)."""
    uid = config.get("drop_uid")
    info: dict = {}
    if config.get("isolate"):
        iso = config["isolate"]
        info = _isolate.isolate_worker(new_root=iso["new_root"], scratch=iso["scratch"],
                                       scratch_bytes=int(iso["scratch_bytes"]), uid=None if uid is None else int(uid),
                                       read_only=list(iso["read_only"]))
    elif uid is not None:
        _isolate.drop_to(int(uid))
    else:
        _isolate.drop_capabilities()
    held = _isolate.capabilities_held()
    if held or (os.geteuid() == 0 and uid is not None):
        raise SystemExit(f"refusing to run jobs: the worker still holds capabilities {held:#x} (uid {os.geteuid()})")
    return info


def main() -> None:
    ctrl_fd = int(sys.argv[1])
    config = json.loads(sys.argv[2])
    isolation = _isolate_self(config)
    # no core dumps, no /proc/<pid>/mem access by same-uid children; reap anything orphaned
    _confine.prctl(_confine.PR_SET_DUMPABLE, 0)
    _confine.prctl(_confine.PR_SET_CHILD_SUBREAPER, 1)
    ctrl = socket.socket(fileno=ctrl_fd)
    os.makedirs(config["mpl_dir"], exist_ok=True)
    os.makedirs(config["jobs_dir"], mode=0o700, exist_ok=True)
    _receive_font_cache(ctrl, config["mpl_dir"])

    t0 = time.monotonic()
    import _capture  # imports matplotlib (Agg) and pyplot

    for name in config.get("preload", []):
        try:
            __import__(name)
        except Exception:  # a missing optional module only costs the job that uses it an import
            pass
    _capture.install_patches()
    _capture.warm_up()
    abi = _confine.landlock_abi() if config.get("landlock", True) else 0
    seccomp, seccomp_reason = _confine.seccomp_or_none() if config.get("seccomp", True) else (None, "disabled")
    if seccomp is not None and abi >= 6:
        # Landlock's signal scope confines signals, so one pid-independent filter serves every child
        seccomp.bpf = seccomp.export_bpf()
    gc.collect()
    gc.freeze()  # keep the warm heap shared with children (copy-on-write)
    ready = {"ready": True, "startup_s": round(time.monotonic() - t0, 3), "landlock_abi": abi,
             "seccomp": seccomp is not None, "seccomp_reason": seccomp_reason, "pid": os.getpid(),
             "uid": os.getuid(), "isolation": isolation, "job_ipc_ns": _probe_job_ipc_ns()}
    config["job_ipc_ns"] = ready["job_ipc_ns"]
    _send_with_blob(ctrl, ready, _font_cache_bytes(config["mpl_dir"]))

    job_no = 0
    while True:
        msg, fds, _flags, _addr = socket.recv_fds(ctrl, 65536, 4)
        if not msg:
            return
        job = json.loads(msg)
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            ctrl.send(json.dumps({"error": "protocol: expected 2 descriptors"}).encode())
            continue
        job_no += 1
        job_dir = os.path.join(config["jobs_dir"], f"job{job_no}")
        os.mkdir(job_dir, 0o700)
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            _child(job, fds[0], fds[1], job_dir, config, abi, seccomp, ctrl)
        for fd in fds:
            os.close(fd)
        trailer = _wait(pid, started + float(job["timeout"]), kill_group=not config.get("private_pid_ns"))
        leftovers = _reap_leftovers(private_pid_ns=bool(config.get("private_pid_ns")))
        if leftovers:
            trailer["leftover_processes"] = leftovers
        if not _cleanup.remove_tree(job_dir):
            trailer["recycle"] = "the job left files its directory could not be cleaned of"
        if leftovers < 0:
            trailer["recycle"] = "processes started by the job could not all be killed"
        ctrl.send(json.dumps(trailer).encode())


def _probe_job_ipc_ns() -> bool:
    """Whether a job child can enter its own user + IPC namespace here (user namespaces may be disabled)."""
    pid = os.fork()
    if pid == 0:
        try:
            _isolate.new_job_ipc_namespace()
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def _reap_leftovers(*, private_pid_ns: bool) -> int:
    """Kill and reap whatever the job started that is still around (only possible when seccomp is missing).

    The zygote is a subreaper, so orphans of the job are re-parented to it. In bubblewrap's private PID namespace
    as a fresh uid, ``kill(-1)`` reaches exactly the job's leftovers (the namespace's init is exempt and every
    other process there is the zygote itself). Outside one, the zygote's children are found in ``/proc`` (the
    job itself is already reaped, so every child left is a leftover, even one that called ``setsid``). Returns
    the number of processes reaped, -1 when some would not die.
    """
    reaped = 0
    for _ in range(50):
        while True:  # ECHILD: no child at all, the usual case, costs one system call
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return reaped
            if pid == 0:
                break
            reaped += 1
        if private_pid_ns:
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass  # ESRCH: nothing left to signal
        else:
            for pid in _children_of(os.getpid()):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        time.sleep(0.002)  # give them time to die
    return -1


def _children_of(parent: int) -> list[int]:
    """Pids whose parent is ``parent`` (from /proc; a child still a zombie is included, harmlessly)."""
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()  # after "pid (comm) ": state, ppid, ...
        if len(fields) > 1 and int(fields[1]) == parent:
            found.append(int(entry))
    return found


def _wait(pid: int, deadline: float, *, kill_group: bool = False) -> dict:
    """Wait for the child until ``deadline``, then SIGKILL it; return how it ended.

    With ``kill_group`` the job's process group is killed too, while the child's zombie still reserves the id.
    """
    timed_out = False
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            os.kill(pid, signal.SIGKILL)
            break
        if pidfd is not None:
            ready, _, _ = select.select([pidfd], [], [], remaining)
            if ready:
                break
        else:  # no pidfd (old kernel): poll without reaping
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                break
            time.sleep(min(0.005, remaining))
    if pidfd is not None:
        os.close(pidfd)
    if kill_group:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    _, status, usage = os.wait4(pid, 0)
    trailer = {"timed_out": timed_out, "cpu_s": round(usage.ru_utime + usage.ru_stime, 4),
               "maxrss_kb": usage.ru_maxrss, "exit": None, "signal": None}
    if os.WIFSIGNALED(status):
        trailer["signal"] = os.WTERMSIG(status)
    elif os.WIFEXITED(status):
        trailer["exit"] = os.WEXITSTATUS(status)
    return trailer


def _child(job: dict, src_fd: int, res_fd: int, job_dir: str, config: dict, abi: int, seccomp, ctrl) -> None:
    code = 70
    try:
        ctrl.close()
        os.setpgid(0, 0)  # the job's own process group: leftovers can be killed as a group
        source = _read_all(src_fd, MAX_SOURCE)
        os.close(src_fd)
        # descriptors: 0, 1, 2 -> /dev/null (the program cannot forge protocol output), 3 -> result pipe
        devnull = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.dup2(res_fd, 3)
        os.closerange(4, 1 << 16)
        res_fd = 3
        os.chdir(job_dir)
        layers = _confine_child(job, job_dir, config, abi, seccomp)
        os.environ.clear()
        os.system = _refuse_process  # system() would only return 127: make the refusal visible
        import _capture

        header, png = _capture.run_program(source.decode("utf-8", "replace"), dpi=int(job["dpi"]), job_dir=job_dir,
                                           readable_roots=tuple(config["read_only"]),
                                           output_limit=int(job["limits"]["output"]))
        header["layers"] = layers
        header["png_len"] = len(png)
        body = json.dumps(header).encode()
        _write_all(res_fd, RESULT_MAGIC + struct.pack(">I", len(body)) + body)
        if png:
            _write_all(res_fd, png)
        code = 0
    except BaseException as e:  # report what broke rather than dying silently
        try:
            body = json.dumps({"status": "killed" if isinstance(e, MemoryError) else "error",
                               "error": f"sandbox child failed: {type(e).__name__}: {e}", "png_len": 0,
                               "reason": "internal"}).encode()
            _write_all(res_fd, RESULT_MAGIC + struct.pack(">I", len(body)) + body)
        except BaseException:
            pass
    finally:
        os._exit(code)


def _refuse_process(*args, **kwargs):
    raise PermissionError(errno.EPERM, "creating processes is not allowed in the sandbox")


def _confine_child(job: dict, job_dir: str, config: dict, abi: int, seccomp) -> list[str]:
    limits = job["limits"]
    layers = []
    try:  # under memory pressure (a cgroup's OOM killer), the job goes first, not the worker
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    if config.get("job_ipc_ns"):
        try:
            layers.append(_isolate.new_job_ipc_namespace())
        except OSError:
            layers.append("no-job-ipc-ns")
    # die with the worker (set after the namespace change, which clears it)
    _confine.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    layers += [_confine.apply_rlimits(address_space=int(limits["address_space"]), cpu_s=int(limits["cpu_s"]),
                                     file_size=int(limits["file_size"]), open_files=int(limits["open_files"]),
                                     processes=limits.get("processes"))]
    if abi >= 1:
        layers.append(_confine.apply_landlock(read_only=config["read_only"], read_write=[job_dir],
                                              rw_files=["/dev/null"], abi=abi))
    else:
        layers.append("no-landlock")
    if seccomp is not None:
        bpf = getattr(seccomp, "bpf", None)
        layers.append(_confine.apply_bpf(bpf) if bpf else seccomp.apply())
    else:
        layers.append("no-seccomp")
    layers.append("empty-env")
    return layers


def _read_all(fd: int, limit: int) -> bytes:
    chunks, size = [], 0
    while size <= limit:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:limit]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _font_cache_bytes(mpl_dir: str) -> bytes:
    for name in sorted(os.listdir(mpl_dir)):
        if name.startswith("fontlist-") and name.endswith(".json"):
            with open(os.path.join(mpl_dir, name), "rb") as f:
                return name.encode() + b"\n" + f.read()
    return b""


def _receive_font_cache(ctrl: socket.socket, mpl_dir: str) -> None:
    """The host sends the font cache an earlier zygote built (or nothing): saves ~0.15 s per start."""
    msg, fds, _flags, _addr = socket.recv_fds(ctrl, 65536, 1)
    if fds:
        blob = _read_all(fds[0], 8 << 20)
        os.close(fds[0])
        name, _, content = blob.partition(b"\n")
        safe = os.path.basename(name.decode("ascii", "replace"))
        if safe.startswith("fontlist-") and content:
            with open(os.path.join(mpl_dir, safe), "wb") as f:
                f.write(content)


def _send_with_blob(ctrl: socket.socket, header: dict, blob: bytes) -> None:
    if not blob or len(blob) > (1 << 20):
        ctrl.send(json.dumps(header).encode())
        return
    r, w = os.pipe()
    try:
        import fcntl

        fcntl.fcntl(w, 1031, 1 << 20)  # F_SETPIPE_SZ: the whole blob fits, the write never blocks
        fits = True
    except OSError:
        fits = len(blob) <= 65536
    try:
        if not fits:
            raise OSError("font cache too large for the pipe")
        _write_all(w, blob)
    except OSError:
        os.close(r)
        os.close(w)
        ctrl.send(json.dumps(header).encode())
        return
    os.close(w)
    socket.send_fds(ctrl, [json.dumps(header).encode()], [r])
    os.close(r)


if __name__ == "__main__":
    main()
