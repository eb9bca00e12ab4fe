"""Hostile programs: each is contained or clearly refused, reported with a precise status, and the pool stays healthy.

Every test runs twice: in the default mode and in the degraded mode, with bubblewrap hidden from ``PATH`` (the
worker then builds its own namespaces; TikZ is refused). Host files the attacks aim at live in temporary folders
this test creates; nothing outside them is touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import warnings

import pytest

from scigenbench.generators.sandbox import Limits, RendererPool
from scigenbench.generators.sandbox import layers as _layers

ENV_SECRET = "sgb-env-secret-5f1d"
NORMAL = "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.title('still fine')\n"
TIKZ_NORMAL = "\\begin{tikzpicture}\\draw[->] (0,0) -- (2,1) node[right] {$F$};\\end{tikzpicture}"
HAVE_TEX = bool(shutil.which("pdflatex") and shutil.which("pdftoppm"))


def _pool_without_bwrap_on_path(tmp_dir: str, **kw) -> RendererPool:
    """A pool created while ``bwrap`` is not on PATH (the other tools stay reachable through symlinks)."""
    hidden = os.path.join(tmp_dir, "bin")
    os.makedirs(hidden)
    for tool in ("pdflatex", "pdftoppm", "kpsewhich", "setpriv", "sh"):
        if shutil.which(tool):
            os.symlink(shutil.which(tool), os.path.join(hidden, tool))
    old_path = os.environ.get("PATH", "")
    os.environ["PATH"] = hidden
    _layers.detect.cache_clear()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "sandbox runs without bwrap" is the point here
            pool = RendererPool(**{"workers": 2, **kw})
    finally:
        os.environ["PATH"] = old_path
        _layers.detect.cache_clear()
    assert pool.plan.bwrap is None
    return pool


@pytest.fixture(scope="module", params=["default", "no-bwrap"])
def pool(request, tmp_path_factory):
    if request.param == "default" and not _layers.detect().bwrap:
        pytest.skip("bubblewrap is not available here")
    os.environ["SGB_TEST_API_KEY"] = ENV_SECRET  # present in the host process when the workers start
    try:
        p = RendererPool(workers=2) if request.param == "default" else _pool_without_bwrap_on_path(
            str(tmp_path_factory.mktemp("nobwrap")))
        with p:
            p.start()
            yield p
    finally:
        os.environ.pop("SGB_TEST_API_KEY", None)


@pytest.fixture
def host_dir():
    """A world-readable folder in the host's temp dir (reachable by path, unlike pytest's 0700 tmp_path)."""
    path = tempfile.mkdtemp(prefix="sgb-hostile-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _run(pool, code, timeout=5.0):
    result = pool.render_python(code, timeout=timeout, dpi=60)
    healthy = pool.render_python(NORMAL, timeout=20, dpi=60)
    assert healthy.status == "ok", f"pool unhealthy after the attack: {healthy.error}"
    return result


def _everything(result) -> str:
    return "\n".join([result.stdout, result.stderr, result.error or "", *(t.text for t in result.texts)])


def _try_each(calls: dict[str, str]) -> str:
    """A program that runs each named call, prints ``name ok`` or ``name errno``, then draws a figure."""
    lines = ["import ctypes, errno, os, resource, signal", "libc = ctypes.CDLL(None, use_errno=True)"]
    for name, call in calls.items():
        lines += ["try:", f"    rc = {call}",
                  "    if isinstance(rc, int) and rc < 0:",
                  "        raise OSError(ctypes.get_errno(), 'raw call failed')",
                  f"    print({name!r}, 'ok')", "except OSError as e:", f"    print({name!r}, e.errno)"]
    return "\n".join(lines) + "\n" + NORMAL


def _outcomes(result) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)


# ------------------------------------------------------------------------------------ basic containment


def test_normal_matplotlib_renders(pool):
    r = pool.render_python(NORMAL, timeout=20, dpi=60)
    assert r.status == "ok" and r.png and "seccomp" in r.confinement and "scratch-tmpfs" in r.confinement


def test_network_connect_to_a_loopback_listener(pool):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.3)
    port = listener.getsockname()[1]
    try:
        r = _run(pool, f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
                       "s.sendall(b'stolen')\n")
        assert r.status == "blocked" and r.error_line == 2
        with pytest.raises(socket.timeout):
            listener.accept()
    finally:
        listener.close()


def test_reading_a_planted_secret_outside_the_job_dir(pool, host_dir):
    secret = os.path.join(host_dir, "secret.txt")
    with open(secret, "w") as f:
        f.write("planted-secret-91c2")
    os.chmod(secret, 0o644)
    r = _run(pool, "import matplotlib.pyplot as plt\n"
                   f"text = open({secret!r}).read()\nprint(text)\nplt.title(text)\n")
    assert r.status == "blocked" and r.error_line == 2
    assert "planted-secret-91c2" not in _everything(r)


def test_writing_outside_the_job_dir(pool, host_dir):
    os.chmod(host_dir, 0o777)  # even a world-writable folder stays out of reach
    marker = os.path.join(host_dir, "marker.txt")
    r = _run(pool, f"open({marker!r}, 'w').write('owned')\n")
    assert r.status == "blocked"
    assert not os.path.exists(marker)


def test_environment_secret_never_reaches_the_program(pool):
    r = _run(pool, "import os, matplotlib.pyplot as plt\nprint(dict(os.environ))\n"
                   "plt.title(os.environ.get('SGB_TEST_API_KEY', 'absent'))\nplt.plot([1, 2])\n")
    assert r.status == "ok"
    assert r.stdout == "{}\n" and "absent" in [t.text for t in r.texts]
    assert ENV_SECRET not in _everything(r)


def test_fork_bomb(pool):
    r = _run(pool, "import os\nwhile True:\n    os.fork()\n")
    assert r.status == "blocked" and r.error_line == 3


def test_memory_hog(pool):
    r = _run(pool, "hog = bytearray(16 << 30)\n")
    assert r.status == "killed" and "memory" in r.error and r.error_line == 1


def test_cpu_loop(pool):
    r = _run(pool, "while True:\n    pass\n", timeout=2)
    assert r.status == "timeout" and r.wall_s < 10


def test_sleep_forever(pool):
    r = _run(pool, "import time\ntime.sleep(10_000)\n", timeout=2)
    assert r.status == "timeout" and r.wall_s < 10


def test_huge_output_file(pool):
    r = _run(pool, "with open('big.bin', 'wb') as f:\n    while True:\n        f.write(b'x' * (1 << 20))\n")
    assert r.status == "killed" and "file size" in r.error


def test_subprocess(pool):
    r = _run(pool, "import subprocess\nsubprocess.run(['id'])\n")
    assert r.status == "blocked" and r.error_line == 2


def test_os_system(pool, host_dir):
    marker = os.path.join(host_dir, "system-marker")
    r = _run(pool, f"import os\nos.system('touch {marker}')\n")
    assert r.status == "blocked" and not os.path.exists(marker)


def test_signalling_the_parent_worker(pool):
    r = _run(pool, "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n")
    assert r.status == "blocked"


def test_signalling_the_test_process(pool):
    r = _run(pool, f"import os, signal\nos.kill({os.getpid()}, signal.SIGTERM)\n")
    assert r.status == "blocked"  # and we are still here


def test_gigantic_figure(pool):
    code = ("import matplotlib.pyplot as plt\nfig = plt.figure(figsize=(600, 600), dpi=100)\nplt.plot([1, 2])\n"
            "fig.savefig('huge.png', dpi=100)\n")
    r = pool.render_python(code, timeout=5, dpi=100)  # 60000 x 60000 px
    assert r.status == "killed" and "60000x60000" in r.error
    assert pool.render_python(NORMAL, timeout=20).status == "ok"


def test_gigantic_canvas_drawn_by_the_program(pool):
    r = _run(pool, "import matplotlib.pyplot as plt\nfig = plt.figure(figsize=(600, 600), dpi=100)\n"
                   "fig.canvas.draw()\n")
    assert r.status == "killed" and r.error_line == 3


def test_raw_system_calls_through_ctypes(pool):
    # bypassing Python's wrappers: socket, fork-style clone, clone3, vfork, io_uring, ptrace of the worker, unshare
    r = _run(pool, "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                   "calls = {'socket': (41, 2, 1, 0), 'clone': (56, 17, 0, 0, 0, 0), 'vfork': (58,),\n"
                   "         'clone3': (435, ctypes.create_string_buffer(88), 88), 'io_uring': (425, 4, 0),\n"
                   "         'ptrace': (101, 16, os.getppid(), 0, 0), 'unshare': (272, 0x10000000)}\n"
                   "for name, args in calls.items():\n"
                   "    rc = libc.syscall(*args)\n"
                   "    if rc == 0:\n        os._exit(0)\n"
                   "    print(name, rc, ctypes.get_errno())\n", timeout=5)
    assert r.status == "no_image" and len(r.stdout.splitlines()) == 7, r.stdout
    assert all(line.split()[1] == "-1" for line in r.stdout.splitlines())


# ------------------------------------------------------------- 1. memory RLIMIT_AS does not count


def test_memfd_memory_is_refused(pool):
    r = _run(pool, "import os\nfds = [os.memfd_create(f'm{i}') for i in range(40)]\n"
                   "for fd in fds:\n    os.ftruncate(fd, 30 << 20)\n    os.write(fd, b'x' * (30 << 20))\n")
    assert r.status == "blocked" and r.error_line == 2


def test_system_v_shared_memory_is_refused(pool):
    r = _run(pool, "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                   "shm = libc.shmget(0, ctypes.c_size_t(1 << 30), 0o1600)\n"  # IPC_PRIVATE, IPC_CREAT | 0600
                   "if shm < 0:\n    raise OSError(ctypes.get_errno(), 'shmget')\n"
                   "libc.shmat.restype = ctypes.c_void_p\naddr = libc.shmat(shm, None, 0)\n"
                   "ctypes.memset(addr, 1, 1 << 30)\n")
    assert r.status == "blocked" and r.error_line == 5


def test_posix_message_queues_and_semaphores_are_refused(pool):
    r = _run(pool, _try_each({"semget": "libc.semget(0, 1, 0o1600)", "msgget": "libc.msgget(0, 0o1600)",
                              "mq_open": "libc.syscall(240, b'q', 0o100 | 2, 0o600, None)"}))
    assert r.status == "ok" and _outcomes(r) == {"semget": "1", "msgget": "1", "mq_open": "1"}


def test_scratch_space_fills_up_instead_of_host_memory(pool):
    # each file stays under RLIMIT_FSIZE; together they would be far more than the scratch tmpfs holds
    r = _run(pool, "i = 0\nwhile True:\n    with open(f'f{i}', 'wb') as f:\n        f.write(b'x' * (30 << 20))\n"
                   "    i += 1\n", timeout=20)
    assert r.status == "killed" and "disk limit" in r.error


# --------------------------------------------------------------- 2. untrusted result frames


def test_forged_frame_with_a_text_position_that_is_not_a_number(pool):
    r = _run(pool, "import json, os, struct\n"
                   "body = json.dumps({'status': 'ok', 'png_len': 0, 'texts': [['a', 'left', 1, 'text']]}).encode()\n"
                   "os.write(3, b'SGBR' + struct.pack('>I', len(body)) + body)\nos._exit(0)\n")
    assert r.status == "error" and "texts[0].x" in r.error


def test_forged_frame_nested_50000_deep(pool):
    r = _run(pool, "import os, struct\nbody = b'{\"status\": \"ok\", \"x\": ' + b'[' * 50000 + b']' * 50000 + b'}'\n"
                   "os.write(3, b'SGBR' + struct.pack('>I', len(body)) + body)\nos._exit(0)\n")
    assert r.status == "error" and "nested too deeply" in r.error


def test_garbage_on_the_result_channel(pool):
    r = _run(pool, "import os\nos.write(3, os.urandom(4096))\nos._exit(0)\n")
    assert r.status == "error" and "frame is invalid" in r.error


# ------------------------------------------------------------------ 3. no job with root's powers


def test_the_job_holds_no_privileges(pool):
    r = _run(pool, "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                   "header = (ctypes.c_uint32 * 2)(0x20080522, 0)\ndata = (ctypes.c_uint32 * 6)()\n"
                   "libc.capget(header, data)\n"
                   "print('euid', os.geteuid(), 'caps', sum(data), 'nnp', libc.prctl(39, 0, 0, 0, 0))\n" + NORMAL)
    assert r.status == "ok", r.error
    fields = r.stdout.split()
    assert fields[0] == "euid" and fields[1] != "0" and fields[3] == "0" and fields[5] == "1", r.stdout


def test_host_file_metadata_cannot_be_changed(pool, host_dir):
    target = os.path.join(host_dir, "host-file")
    with open(target, "w") as f:
        f.write("host data")
    os.chmod(target, 0o644)
    before = os.stat(target)
    r = _run(pool, _try_each({"chmod": f"os.chmod({target!r}, 0o777)", "chown": f"os.chown({target!r}, 1, 1)",
                              "utime": f"os.utime({target!r}, (1, 1))",
                              "xattr": f"os.setxattr({target!r}, 'user.x', b'1')",
                              "own-chmod": "os.chmod(open('mine', 'w').name, 0o777)"}))
    after = os.stat(target)
    assert r.status == "ok", r.error
    assert all(v != "ok" for v in _outcomes(r).values()), r.stdout
    assert (after.st_mode, after.st_uid, after.st_gid, after.st_mtime_ns) == (
        before.st_mode, before.st_uid, before.st_gid, before.st_mtime_ns)
    assert os.listxattr(target) == []


def test_scheduling_and_priorities_of_other_processes_are_out_of_reach(pool):
    me = os.getpid()
    nice, affinity, nofile = os.getpriority(os.PRIO_PROCESS, me), os.sched_getaffinity(me), None
    import resource

    nofile = resource.prlimit(me, resource.RLIMIT_NOFILE)
    r = _run(pool, _try_each({
        "realtime": "os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))",
        "renice": f"os.setpriority(os.PRIO_PROCESS, {me}, 19)",
        "pin": f"os.sched_setaffinity({me}, {{0}})",
        "prlimit": f"resource.prlimit({me}, resource.RLIMIT_NOFILE, (1, 1))",
        "ioprio": "libc.syscall(251, 1, 0, (1 << 13) | 7)",
        "clock_adjtime": "libc.syscall(305, 0, ctypes.create_string_buffer(256))",
        "fanotify": "libc.syscall(300, 0, 0)",
        "mlockall": "libc.mlockall(3)",
        "inotify": "libc.inotify_init()",
    }))
    assert r.status == "ok", r.error
    assert all(v != "ok" for v in _outcomes(r).values()), r.stdout
    assert len(_outcomes(r)) == 9
    assert os.getpriority(os.PRIO_PROCESS, me) == nice and os.sched_getaffinity(me) == affinity
    assert resource.prlimit(me, resource.RLIMIT_NOFILE) == nofile


# ------------------------------------------------------------------- 4. TeX and host files


def test_tikz_kpathsea_variables_do_not_reach_host_files(pool, host_dir):
    if not HAVE_TEX:
        pytest.skip("needs pdflatex and pdftoppm")
    secret = os.path.join(host_dir, "secret.tex")
    with open(secret, "w") as f:
        f.write("TEX-HOST-SECRET-4471")
    os.chmod(secret, 0o644)
    via_var = "$SELFAUTOPARENT" + secret  # SELFAUTOPARENT is / for /usr/bin/pdflatex
    for body in (f"\\input{{{via_var}}}", f"\\pdffiledump length 64{{{via_var}}}",
                 f"\\edef\\x{{\\pdfmdfivesum file {{{via_var}}}}}\\x"):
        r = pool.render_tikz("\\documentclass{standalone}\n\\begin{document}\n" + body + "\n\\end{document}\n",
                             timeout=20, dpi=40)
        assert r.status != "ok" and "TEX-HOST-SECRET-4471" not in _everything(r)
        if not (pool.plan.bwrap or pool.plan.ns_isolation):
            assert r.error.startswith("refused: TikZ runs only in bubblewrap or in namespaces of its own")


def test_normal_tikz_renders(pool):
    if not HAVE_TEX:
        pytest.skip("needs pdflatex and pdftoppm")
    r = pool.render_tikz(TIKZ_NORMAL, timeout=30, dpi=60)
    if pool.plan.bwrap or pool.plan.ns_isolation:  # bubblewrap, or TeX's own minimal root without it
        assert r.status == "ok", r.error
        assert ("bwrap" if pool.plan.bwrap else "minimal-root") in r.confinement
    else:
        assert r.status == "error" and "refused" in r.error and "bubblewrap" in r.error


# ------------------------------------------------------------------------------ 5. disk caps


def test_unlinked_but_open_files_count_against_the_disk_cap(pool):
    r = _run(pool, "import os\nfiles = []\nwhile True:\n    f = open(f'g{len(files)}', 'wb')\n"
                   "    os.unlink(f.name)\n    files.append(f)\n    f.write(b'x' * (30 << 20))\n    f.flush()\n",
             timeout=20)
    assert r.status == "killed" and "disk limit" in r.error


# ------------------------------------------------------------------------------- 6. cleanup


def test_a_3000_deep_directory_tree_is_removed_and_the_worker_survives(pool):
    workers = {z.proc.pid for z in pool._all}
    r = _run(pool, "import os\nfor _ in range(3000):\n    os.mkdir('d')\n    os.chdir('d')\n"
                   "open('deep', 'w').write('x')\nos.chdir('/')\n" + NORMAL, timeout=20)
    assert r.status == "ok", r.error
    assert {z.proc.pid for z in pool._all} == workers  # cleaned up: no worker had to be replaced


def test_a_job_cannot_make_its_files_immutable(pool):
    r = _run(pool, _try_each({"immutable": "__import__('fcntl').ioctl(open('f', 'w'), 0x40086602, "
                                           "(0x10).to_bytes(8, 'little'))"}))
    assert r.status == "ok" and _outcomes(r)["immutable"] != "ok", r.stdout


# ------------------------------------------------------------------------------ 8. result channel


def test_the_result_channel_cannot_be_reopened(pool):
    r = _run(pool, _try_each({"dev-fd-read": "os.open('/dev/fd/3', os.O_RDONLY)",
                              "proc-fd-write": "os.open('/proc/self/fd/3', os.O_WRONLY)",
                              "read-own-end": "len(os.read(3, 1)) - 1"}), timeout=10)
    assert r.status == "ok", r.error  # the host did not hang until the timeout
    assert all(v != "ok" for v in _outcomes(r).values()), r.stdout


# --------------------------------------------------------------------- 9. final figure size


def test_tight_bbox_that_grows_the_canvas_is_refused_before_rasterising(pool):
    r = _run(pool, "import matplotlib.pyplot as plt\nfig = plt.figure(figsize=(4, 3))\nplt.plot([1, 2])\n"
                   "fig.text(150, 150, 'far away')\nfig.savefig('out.png', bbox_inches='tight')\n")
    assert r.status == "killed" and "canvas to rasterise" in r.error and r.error_line == 5


def test_tight_bbox_over_the_megapixel_limit_without_a_long_side(pool):
    r = _run(pool, "import matplotlib.pyplot as plt\nfig = plt.figure(figsize=(4, 3))\nplt.plot([1, 2])\n"
                   "fig.text(40, 40, 'corner')\nfig.savefig('out.png', bbox_inches='tight')\n")
    assert r.status == "killed" and "megapixels" in r.error


def test_the_figure_size_check_leaves_a_normal_tight_figure_alone(pool):
    r = pool.render_python("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.title('tight')\n"
                           "plt.savefig('x.png', bbox_inches='tight')\n", timeout=20, dpi=60)
    assert r.status == "ok" and r.width < 400


# ------------------------------------------- 1 and 7 with seccomp switched off: what holds underneath


def _weak_pool(mode: str, tmp_path, **kw) -> RendererPool:
    """A one-worker pool without seccomp (allowed explicitly), in the default or the no-bubblewrap mode."""
    if mode == "default" and not _layers.detect().bwrap:
        pytest.skip("bubblewrap is not available here")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if mode == "default":
            return RendererPool(workers=1, disable=("seccomp",), allow_weak=True, **kw)
        return _pool_without_bwrap_on_path(str(tmp_path), workers=1, disable=("seccomp",), allow_weak=True, **kw)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["default", "no-bwrap"])
def test_system_v_objects_end_with_the_job_that_made_them(mode, tmp_path):
    with _weak_pool(mode, tmp_path) as p:
        make = p.render_python("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                               "print(libc.shmget(0x5347, 4096, 0o1600))\n", timeout=20, dpi=40)
        if "job-ipc-ns" not in make.confinement:
            pytest.skip("user namespaces are disabled here: jobs cannot get their own IPC namespace")
        assert make.status == "no_image" and int(make.stdout) >= 0  # created, and left behind on purpose
        find = p.render_python("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                               "print(libc.shmget(0x5347, 0, 0), ctypes.get_errno())\n", timeout=20, dpi=40)
        assert find.stdout.split() == ["-1", "2"]  # ENOENT: the next job of the same worker sees nothing
    with open("/proc/sysvipc/shm") as f:
        assert not any(line.split()[0] == str(0x5347) for line in f.readlines()[1:] if line.split())


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["default", "no-bwrap"])
def test_memory_outside_the_address_space_is_capped_by_the_worker_cgroup(mode, tmp_path):
    with _weak_pool(mode, tmp_path, limits=Limits(address_space=512 << 20, scratch_bytes=16 << 20)) as p:
        if not p.plan.cgroup.version:
            pytest.skip(f"no cgroup for the workers here: {p.plan.cgroup.error}")
        # 40 memfds of 30 MiB (each under RLIMIT_FSIZE): 1.2 GiB that RLIMIT_AS never sees
        r = p.render_python("import os\nfds = []\nfor i in range(40):\n    fds.append(os.memfd_create(str(i)))\n"
                            "    os.write(fds[-1], b'x' * (30 << 20))\nprint('survived')\n", timeout=30, dpi=40)
        assert r.status == "killed" and "survived" not in r.stdout
        assert p.render_python(NORMAL, timeout=30, dpi=40).status == "ok"


# ------------------------------------------------------------------- the command line, bwrap hidden


@pytest.mark.slow
def test_render_command_without_bwrap_on_path(tmp_path):
    prog = tmp_path / "attack.py"
    prog.write_text("import os\nos.memfd_create('m')\n")
    fig = tmp_path / "fig.py"
    fig.write_text(NORMAL)
    env = {**os.environ, "PATH": os.path.dirname(sys.executable)}  # the venv's bin: no bwrap, no TeX
    cli = [sys.executable, "-m", "scigenbench.scripts.cli", "render"]
    attack = subprocess.run([*cli, str(prog)], capture_output=True, text=True, env=env, timeout=300)
    normal = subprocess.run([*cli, str(fig)], capture_output=True, text=True, env=env, timeout=300)
    assert attack.returncode == 1 and attack.stdout.startswith("blocked"), attack.stdout + attack.stderr
    assert normal.returncode == 0 and "no-bwrap" in normal.stdout, normal.stdout + normal.stderr
    assert "uid-drop" in normal.stdout or os.geteuid() != 0
    if HAVE_TEX and _layers.detect().ns_isolation:  # TeX in its own minimal root (the tools found by absolute path)
        tex = tmp_path / "fig.tex"
        tex.write_text(TIKZ_NORMAL)
        tools = tmp_path / "tools"
        tools.mkdir()
        for tool in ("pdflatex", "pdftoppm", "kpsewhich"):
            (tools / tool).symlink_to(shutil.which(tool))
        env_tex = {**env, "PATH": f"{tools}:{env['PATH']}"}  # TeX reachable, bubblewrap still not
        tikz = subprocess.run([*cli, str(tex)], capture_output=True, text=True, env=env_tex, timeout=300)
        assert tikz.returncode == 0 and "minimal-root" in tikz.stdout, tikz.stdout + tikz.stderr
