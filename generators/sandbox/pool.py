"""RendererPool: warm, confined matplotlib zygotes (one per core) plus sandboxed TikZ compiles.

Each worker is a zygote process started in bubblewrap, or in namespaces and a minimal root of its own without it
(see :mod:`.layers`), in a memory + pids cgroup where the host allows one (:mod:`.cgroups`), that imported
matplotlib and numpy once and did a warm-up render; every job runs in a fresh child forked from it, so no state
leaks between jobs, and the child confines itself (own IPC namespace, rlimits, Landlock, seccomp, empty
environment) before running the program. The host side here enforces the wall-clock limit (the zygote SIGKILLs
the child at the deadline; the host kills the whole sandbox if the zygote does not answer shortly after), caps
the result size, validates what comes back as untrusted input (:mod:`.frames`), checks the PNG and maps
everything to a :class:`RenderResult` status; it never raises for what a job did.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass

from . import _cleanup, cgroups
from . import layers as _layers
from .extract import extract_code_with_offset
from .frames import parse_result_frame, parse_trailer
from .png import inspect_png
from .result import RenderResult, TextArtist

MAX_SOURCE_BYTES = 1 << 20
HOST_GRACE_S = 5.0  # the zygote kills the child at the deadline; the host waits this much longer
WORKER_START_TIMEOUT_S = 90.0
SCRATCH_BYTES = 256 << 20  # a worker's scratch space: a size-capped tmpfs (unlinked-but-open files count too)
#: modules imported in the zygote so programs do not pay for them (not preloaded: imported per job, read-only)
DEFAULT_PRELOAD = ("numpy", "matplotlib.patches", "matplotlib.lines", "matplotlib.path", "matplotlib.collections",
                   "matplotlib.patheffects", "matplotlib.transforms", "matplotlib.ticker", "matplotlib.colors",
                   "matplotlib.gridspec", "matplotlib.cm", "mpl_toolkits.mplot3d", "mpl_toolkits.mplot3d.art3d",
                   "math", "random", "itertools", "functools", "collections", "textwrap", "string", "fractions",
                   "decimal", "statistics", "json", "re")
_SIGNAL_STATUS = {signal.SIGXCPU: ("timeout", "CPU time limit exceeded"),
                  signal.SIGXFSZ: ("killed", "file size limit exceeded"),
                  signal.SIGKILL: ("killed", "killed (memory or another resource limit)"),
                  signal.SIGSYS: ("blocked", "a forbidden system call")}


class SandboxUnavailableError(RuntimeError):
    """A confinement layer the sandbox requires cannot be had here and weak confinement was not allowed."""


@dataclass
class Limits:
    """Resource limits applied to every job."""

    address_space: int = 2 << 30
    file_size: int = 32 << 20
    open_files: int = 64
    processes: int = 64  # only when each sandbox has its own uid (root mode)
    output_chars: int = 64 << 10  # stdout and stderr, each
    png_bytes: int = 32 << 20
    png_pixels: int = 40_000_000
    #: size of a worker's scratch tmpfs, which holds its jobs' folders (with or without bubblewrap)
    scratch_bytes: int = SCRATCH_BYTES


class _Spawner:
    """A long-lived thread that starts the sandboxes (their PDEATHSIG fires when the starting thread ends)."""

    def __init__(self):
        self._jobs: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="scigenbench-sandbox-spawner", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            fn, done, box = item
            try:
                box["value"] = fn()
            except BaseException as e:  # handed back to the caller
                box["error"] = e
            done.set()

    def call(self, fn):
        done, box = threading.Event(), {}
        self._jobs.put((fn, done, box))
        done.wait()
        if "error" in box:
            raise box["error"]
        return box["value"]

    def stop(self) -> None:
        self._jobs.put(None)


class _Zygote:
    """One sandboxed zygote process and its control socket (used by one job at a time)."""

    def __init__(self, plan: _layers.HostPlan, preload: tuple[str, ...], font_cache: dict, spawner: "_Spawner",
                 limits: Limits):
        self.plan, self.preload, self.font_cache, self.spawner = plan, preload, font_cache, spawner
        self.limits = limits
        self.proc: subprocess.Popen | None = None
        self.ctrl: socket.socket | None = None
        self.jobs = 0
        self.info: dict = {}
        self._host_dir: str | None = None
        self._cgroup: cgroups.WorkerCgroup | None = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        uid = _layers.new_sandbox_uid() if self.plan.uid_drop else None
        isolate, work = None, "/tmp/sgb"
        if not self.plan.bwrap:  # an empty host folder: the worker mounts its own root there, in its namespace
            self._host_dir = tempfile.mkdtemp(prefix=_cleanup.host_folder_prefix("sandbox"))
            if self.plan.ns_isolation:
                isolate = {"new_root": self._host_dir, "scratch": work, "scratch_bytes": self.limits.scratch_bytes,
                           "read_only": ["/usr", *self.plan.python_roots, str(_layers.SANDBOX_CODE_DIR)]}
            else:  # weak mode (allowed explicitly): the folder sits on the host's disk
                work = self._host_dir
                if uid is not None:
                    os.chown(self._host_dir, uid, uid)
        config = {"drop_uid": uid, "isolate": isolate, "landlock": self.plan.landlock_abi >= 1,
                  "seccomp": self.plan.seccomp,
                  "private_pid_ns": bool(self.plan.bwrap),
                  "mpl_dir": f"{work}/mpl", "jobs_dir": f"{work}/jobs", "preload": list(self.preload),
                  # what a job may read (Landlock); its own job directory is added read-write per job
                  "read_only": ["/usr", *self.plan.python_roots, self._code_dir(), f"{work}/mpl", "/dev/urandom"]}
        env = {"HOME": f"{work}/home", "MPLCONFIGDIR": f"{work}/mpl", "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0",
               "PYTHONDONTWRITEBYTECODE": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin", "TMPDIR": f"{work}/jobs"}
        argv = [sys.executable, "-B", "-s", os.path.join(self._code_dir(), "_zygote.py"), str(child_sock.fileno()),
                json.dumps(config)]
        if self.plan.bwrap:
            cmd = [self.plan.bwrap, *_layers.namespace_args(self.plan.mode), *_layers.system_binds(),
                   "--size", str(self.limits.scratch_bytes), "--perms", "1777", "--tmpfs", "/tmp",
                   *_layers.ro_bind_with_parents([*self.plan.python_roots]),
                   "--perms", "0755", "--dir", os.path.dirname(_layers.CODE_MOUNT),
                   "--ro-bind", str(_layers.SANDBOX_CODE_DIR), _layers.CODE_MOUNT, "--chdir", "/tmp"]
            for key, value in env.items():
                cmd += ["--setenv", key, value]
            cmd += ["--", *argv]
            popen_env = {}
        else:
            cmd, popen_env = argv, env
        if self.plan.cgroup.version:
            try:  # address space + scratch tmpfs + the zygote's own pages; the job's threads and processes
                self._cgroup = cgroups.WorkerCgroup(
                    self.plan.cgroup, memory_bytes=self.limits.address_space + self.limits.scratch_bytes + (512 << 20),
                    tasks=self.limits.processes + 32)
            except OSError as e:
                child_sock.close()
                parent_sock.close()
                raise RuntimeError(f"could not create the worker's cgroup: {e}") from None
            cmd = self._cgroup.wrap(cmd)
        # bwrap --die-with-parent ties the sandbox to the *thread* that started it: use the pool's spawner
        self.proc = self.spawner.call(lambda: subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            pass_fds=[child_sock.fileno()], env=popen_env, start_new_session=True))
        child_sock.close()
        self.ctrl = parent_sock
        self._stderr_tail = b""
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        try:
            self._send_font_cache()
            self.ctrl.settimeout(WORKER_START_TIMEOUT_S)
            msg, fds, _, _ = socket.recv_fds(self.ctrl, 65536, 1)
            if not msg:
                raise RuntimeError("the sandbox worker exited during start-up")
            self.info = json.loads(msg)
            if not isinstance(self.info, dict) or self.info.get("ready") is not True:
                raise ValueError(f"unexpected start-up message from the worker: {msg[:200]!r}")
            if fds:
                blob = _read_fd(fds[0], 8 << 20)
                os.close(fds[0])
                if blob and not self.font_cache.get("blob"):
                    self.font_cache["blob"] = blob
        except (OSError, ValueError, RuntimeError) as e:
            self.kill()
            time.sleep(0.05)
            tail = self._stderr_tail.decode("utf-8", "replace")[-2000:]
            raise RuntimeError(f"could not start a sandbox worker: {e}\n{tail}") from None
        self.jobs = 0

    def _code_dir(self) -> str:
        return _layers.CODE_MOUNT if self.plan.bwrap else str(_layers.SANDBOX_CODE_DIR)

    def _send_font_cache(self) -> None:
        blob = self.font_cache.get("blob")
        if not blob or len(blob) > (1 << 20):
            self.ctrl.send(b"{}")
            return
        r, w = _pipe(len(blob))
        _write_all(w, blob)
        os.close(w)
        socket.send_fds(self.ctrl, [b"{}"], [r])
        os.close(r)

    def _drain_stderr(self) -> None:
        proc = self.proc
        try:
            for line in iter(proc.stderr.readline, b""):
                self._stderr_tail = (self._stderr_tail + line)[-8192:]
        except (OSError, ValueError):
            pass

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None and self.proc.stderr is not None and self.proc.poll() is not None:
            try:
                self.proc.stderr.close()
            except (OSError, ValueError):
                pass
        if self.ctrl is not None:
            self.ctrl.close()
            self.ctrl = None
        if self._cgroup is not None:
            self._cgroup.remove()  # also kills whatever of the worker is still in it
            self._cgroup = None
        if self._host_dir:
            _cleanup.remove_tree(self._host_dir)  # empty unless in weak mode; never raises
            self._host_dir = None

    def run(self, source: bytes, *, dpi: int, timeout: float, limits: Limits) -> dict:
        """Run one job; returns the raw pieces {header, png, trailer, failure, oversize}."""
        self.jobs += 1
        ctrl = self.ctrl
        if ctrl is None:
            return {"failure": "the sandbox worker is gone", "worker_lost": True}
        src_r, src_w = _pipe(len(source))
        # the result channel is a socket, not a pipe: a job cannot reopen it through /dev/fd/N (sockets cannot be
        # open()ed), and the host's end is shut for writing, so the job reads nothing from it either
        res_host, res_job = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        res_host.shutdown(socket.SHUT_WR)
        job = {"dpi": int(dpi), "timeout": float(timeout),
               "limits": {"address_space": limits.address_space, "cpu_s": max(1, int(timeout + 0.999)),
                          "file_size": limits.file_size, "open_files": limits.open_files,
                          "processes": limits.processes if self.plan.uid_drop else None,
                          "output": limits.output_chars}}
        try:
            try:
                _write_all(src_w, source)  # fits in the pipe buffer: never blocks
            finally:
                os.close(src_w)
            socket.send_fds(ctrl, [json.dumps(job).encode()], [src_r, res_job.fileno()])
        except OSError as e:
            res_host.close()
            return {"failure": f"the sandbox worker is gone: {e}", "worker_lost": True}
        finally:
            os.close(src_r)
            res_job.close()
        deadline = time.monotonic() + timeout + HOST_GRACE_S
        try:
            data, oversize, complete = _read_until_eof(res_host.fileno(), deadline, limits.png_bytes + (4 << 20))
        finally:
            res_host.close()
        out: dict = {"oversize": oversize}
        if not complete and not oversize:
            out["failure"] = "timeout"
            return out
        try:
            ctrl.settimeout(max(0.5, deadline - time.monotonic()) + 1.0)
            raw = ctrl.recv(65536)
        except OSError:
            raw = b""
        if not raw:
            out["failure"] = "the sandbox worker died"
            out["worker_lost"] = not data  # nothing came back: the job most likely never ran
            return out
        out["trailer"], why = parse_trailer(raw)
        if out["trailer"] is None:
            out["failure"] = why
            return out
        out["header"], out["png"], out["malformed"] = parse_result_frame(data)
        return out


class RendererPool:
    """A thread-safe pool of confined renderers; use as a context manager or call :meth:`close`.

    Args:
        workers: zygote processes (default: one per available core).
        max_jobs_per_worker: a worker is replaced after this many jobs.
        limits: resource limits for every job.
        preload: modules the zygotes import once.
        allow_weak: run even when a required layer cannot be had (see :meth:`HostPlan.missing_required`: file
            isolation, the uid drop as root, the scratch tmpfs, seccomp); otherwise that raises
            :class:`SandboxUnavailableError` naming what is missing and how to get it.
        disable: layers to leave out on purpose, e.g. to test the degraded modes: ``"bwrap"``, ``"namespaces"``
            (the namespaces, minimal root and scratch tmpfs a worker builds itself without bubblewrap),
            ``"cgroup"`` (the per-worker memory and pids group), ``"landlock"``, ``"seccomp"``; results then
            list the missing layers as ``no-*``.
    """

    def __init__(self, workers: int | None = None, *, max_jobs_per_worker: int = 200, limits: Limits | None = None,
                 preload: tuple[str, ...] = DEFAULT_PRELOAD, allow_weak: bool = False, disable: tuple[str, ...] = ()):
        unknown = set(disable) - {"bwrap", "namespaces", "cgroup", "landlock", "seccomp"}
        if unknown:
            raise ValueError("disable= accepts 'bwrap', 'namespaces', 'cgroup', 'landlock', 'seccomp'; "
                             f"got {sorted(unknown)}")
        self.plan = _layers.detect()
        if "bwrap" in disable:
            self.plan = dataclasses.replace(self.plan, bwrap=None, mode="none", bwrap_error="disabled")
        if "cgroup" in disable:
            self.plan = dataclasses.replace(self.plan, cgroup=cgroups.CgroupPlan(0, {}, "disabled"))
        if "namespaces" in disable:
            self.plan = dataclasses.replace(self.plan, ns_isolation=False, ns_error="disabled")
        if "landlock" in disable:
            self.plan = dataclasses.replace(self.plan, landlock_abi=0)
        if "seccomp" in disable:
            self.plan = dataclasses.replace(self.plan, seccomp=False, seccomp_reason="disabled")
        missing = self.plan.missing_required()
        if missing and not (allow_weak or os.environ.get("SCIGENBENCH_SANDBOX_ALLOW_WEAK") == "1"):
            raise SandboxUnavailableError(
                "the sandbox refuses to run here: " + "; ".join(missing) + ". Install bubblewrap (apt install "
                "bubblewrap; in a container allow user namespaces) and libseccomp2, or set "
                "SCIGENBENCH_SANDBOX_ALLOW_WEAK=1 (allow_weak=True) to run anyway with what remains "
                f"({', '.join(x for x in self.plan.layers() if not x.startswith('no-'))}).")
        _cleanup.sweep_stale_folders()
        cgroups.sweep_stale_groups(self.plan.cgroup)
        missing = [layer for layer in self.plan.layers() if layer.startswith("no-")]
        if missing:
            warnings.warn(f"sandbox runs without {', '.join(m[3:] for m in missing)}; see `scigenbench doctor`",
                          RuntimeWarning, stacklevel=2)
        self.workers = int(workers or len(os.sched_getaffinity(0)) or 1)
        self.max_jobs_per_worker = max_jobs_per_worker
        self.limits = limits or Limits()
        self.preload = tuple(preload)
        self._font_cache: dict = {}
        self._spawner = _Spawner()
        self._idle: queue.LifoQueue[_Zygote] = queue.LifoQueue()
        for _ in range(self.workers):
            self._idle.put(_Zygote(self.plan, self.preload, self._font_cache, self._spawner, self.limits))
        self._all = list(self._idle.queue)
        self._tex_slots = threading.BoundedSemaphore(self.workers)
        self._closed = False
        self._lock = threading.Lock()
        self._pid = os.getpid()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "RendererPool":
        """Start every zygote now (in parallel) instead of on first use."""
        taken = [self._idle.get() for _ in range(self.workers)]
        first, rest = taken[0], taken[1:]
        errors = []
        try:
            if not first.alive:
                first.start()  # builds the font cache the others reuse
            threads = [threading.Thread(target=lambda z=z: z.alive or _collect(errors, z.start)) for z in rest]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            for z in taken:
                self._idle.put(z)
        if errors:
            raise errors[0]
        return self

    def close(self) -> None:
        """Kill every worker; the pool cannot be used afterwards."""
        with self._lock:
            self._closed = True
        for z in self._all:
            z.kill()
        self._spawner.stop()

    def __enter__(self) -> "RendererPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def confinement(self) -> list[str]:
        """The layers every job gets on this machine (``no-*`` marks a missing one)."""
        return self.plan.layers()

    # ------------------------------------------------------------------ rendering

    def render(self, code: str, language: str, **kw) -> RenderResult:
        """Render ``code`` in ``language`` (``"python"`` or ``"tikz"``); keywords as for the specific method."""
        if language in ("python", "matplotlib", "py"):
            return self.render_python(code, **kw)
        if language in ("tikz", "latex", "tex"):
            return self.render_tikz(code, **kw)
        raise ValueError(f"unknown language {language!r}: use 'python' or 'tikz'")

    def render_tikz(self, source: str, *, timeout: float = 30, dpi: int = 150) -> RenderResult:
        """Compile a TikZ/LaTeX document (or a bare tikzpicture) confined; see :mod:`.tikz`."""
        from .tikz import render_tikz_confined

        self._check_open(timeout)
        with self._tex_slots:
            return render_tikz_confined(source, timeout=timeout, dpi=dpi, plan=self.plan, limits=self.limits)

    def render_python(self, code: str, *, timeout: float = 30, dpi: int = 150) -> RenderResult:
        """Run a matplotlib program confined and capture its figure.

        Args:
            code: the program; markdown fences are removed (see :func:`extract_code`), ``error_line`` then counts
                lines of the text passed in.
            timeout: wall-clock seconds (also the CPU-time limit).
            dpi: resolution of the PNG.
        """
        self._check_open(timeout)
        started = time.monotonic()
        offset = 0
        if "```" in code or "~~~" in code:
            code, offset = extract_code_with_offset(code, "python")
        source = code.encode("utf-8", "surrogatepass")
        result = RenderResult(status="error", language="python", confinement=self.plan.layers())
        if len(source) > MAX_SOURCE_BYTES:
            result.error = f"the program is {len(source)} bytes long; the limit is {MAX_SOURCE_BYTES}"
            return result
        zygote = self._idle.get()
        try:
            for attempt in range(2):
                if self._closed:
                    result.error = "the RendererPool was closed while this job waited"
                    return result
                try:
                    if not zygote.alive:
                        zygote.start()
                except RuntimeError as e:
                    result.error = str(e)
                    return result
                raw = zygote.run(source, dpi=dpi, timeout=timeout, limits=self.limits)
                if raw.get("failure") or zygote.jobs >= self.max_jobs_per_worker or (
                        raw.get("trailer") or {}).get("recycle"):
                    zygote.kill()  # damaged, hung or worn: the next job starts a fresh one
                if not raw.get("worker_lost"):
                    break  # a worker lost before the job ran is replaced and the job tried once more
        finally:
            self._idle.put(zygote)
        self._fill(result, raw, timeout, offset)
        result.wall_s = round(time.monotonic() - started, 4)
        return result

    def _check_open(self, timeout: float = 1.0) -> None:
        if self._closed:
            raise RuntimeError("this RendererPool is closed")
        if os.getpid() != self._pid:
            raise RuntimeError("a RendererPool cannot be used after fork(); create a new one in this process "
                               "(get_default_pool() does that by itself)")
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")

    def _fill(self, result: RenderResult, raw: dict, timeout: float, offset: int) -> None:
        """Turn the raw job pieces into statuses and fields; never raises (the result says what went wrong)."""
        try:
            self._fill_checked(result, raw, timeout, offset)
        except Exception as e:  # a bug here must not cost the caller a batch; say so instead
            result.status, result.png = "error", None
            result.error = f"the sandbox could not read the job's result ({type(e).__name__}: {e})"

    def _fill_checked(self, result: RenderResult, raw: dict, timeout: float, offset: int) -> None:
        trailer, header = raw.get("trailer") or {}, raw.get("header")
        result.cpu_s = float(trailer.get("cpu_s") or 0.0)
        if header:
            result.stdout = header["stdout"][: self.limits.output_chars + 100]
            result.stderr = header["stderr"][: self.limits.output_chars + 100]
            if header["layers"]:
                result.confinement = self._job_layers(header["layers"])
        failure = raw.get("failure")
        if trailer.get("timed_out") or failure == "timeout":
            result.status, result.error = "timeout", f"wall-clock limit of {timeout:g} s exceeded"
            return
        if raw.get("oversize"):
            result.status, result.error = "killed", f"result larger than {self.limits.png_bytes} bytes"
            return
        if failure:
            result.status, result.error = "killed", failure
            return
        sig = trailer.get("signal")
        if sig:
            status, why = _SIGNAL_STATUS.get(sig, ("killed", f"terminated by signal {sig}"))
            result.status, result.error = status, why
            return
        if raw.get("malformed"):
            result.status, result.error = "error", raw["malformed"]
            return
        if not header:
            code = trailer.get("exit")
            result.status = "no_image" if code == 0 else "error"
            result.error = f"the program ended the process (exit status {code}) before a figure was captured"
            return
        result.status = header["status"]
        if header["error"]:
            reason = header["reason"]
            prefix = f"{result.status}: {reason}\n" if reason and result.status in ("blocked", "killed") else ""
            result.error = prefix + header["error"]
        if header["error_line"] is not None:
            result.error_line = header["error_line"] + offset
        result.texts = [TextArtist(*t) for t in header["texts"]]
        if result.status == "ok":
            png = raw.get("png") or b""
            status, error, width, height = inspect_png(png, max_pixels=self.limits.png_pixels)
            result.status, result.width, result.height = status, width, height
            if status == "ok" or status == "blank_image":
                result.png = png
            result.error = error

    def _job_layers(self, child_layers: list[str]) -> list[str]:
        """Host layers plus what the child reported it applied."""
        host = [x for x in self.plan.layers() if not (x == "rlimits" or x.startswith(("landlock", "no-landlock",
                                                                                        "seccomp", "no-seccomp",
                                                                                        "empty-env")))]
        return host + child_layers


def _collect(errors: list, fn) -> None:
    try:
        fn()
    except Exception as e:  # surfaced by start()
        errors.append(e)


def _pipe(size: int) -> tuple[int, int]:
    r, w = os.pipe2(os.O_CLOEXEC)
    if size > 65536:
        import fcntl

        fcntl.fcntl(w, 1031, min(1 << 20, max(size, 65536)))  # F_SETPIPE_SZ
    return r, w


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_fd(fd: int, limit: int) -> bytes:
    chunks, size = [], 0
    while size <= limit:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _read_until_eof(fd: int, deadline: float, cap: int) -> tuple[bytes, bool, bool]:
    """(data, oversize, complete): read until EOF, the deadline or ``cap`` bytes."""
    buf = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return bytes(buf), False, False
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return bytes(buf), False, True
        buf += chunk
        if len(buf) > cap:
            return b"", True, True


# ---------------------------------------------------------------------- process-wide default pool

_default_pool: RendererPool | None = None
_default_lock = threading.Lock()


def get_default_pool() -> RendererPool:
    """The process-wide pool, started lazily on first use and closed at interpreter exit."""
    global _default_pool
    with _default_lock:
        if _default_pool is None or _default_pool._closed or _default_pool._pid != os.getpid():
            _default_pool = RendererPool()
            atexit.register(_default_pool.close)
        return _default_pool


def render_python(code: str, *, timeout: float = 30, dpi: int = 150) -> RenderResult:
    """Render a matplotlib program in the default pool (see :meth:`RendererPool.render_python`)."""
    return get_default_pool().render_python(code, timeout=timeout, dpi=dpi)


def render_tikz(source: str, *, timeout: float = 30, dpi: int = 150) -> RenderResult:
    """Compile TikZ in the sandbox (see :meth:`RendererPool.render_tikz`)."""
    return get_default_pool().render_tikz(source, timeout=timeout, dpi=dpi)


def render(code: str, language: str, **kw) -> RenderResult:
    """Render ``code`` in ``language`` (``"python"`` or ``"tikz"``) in the default pool."""
    return get_default_pool().render(code, language, **kw)
