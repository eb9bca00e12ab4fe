"""Degraded modes: with a layer missing, what remains still confines, and jobs leave nothing behind."""

from __future__ import annotations

import ast
import os
import shutil

import pytest

from scigenbench.generators.sandbox import RendererPool
from scigenbench.generators.sandbox.pool import Limits
from scigenbench.generators.sandbox import layers as _layers

FIGURE = "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\n"
# a process that leaves the job's process group and outlives the job (only possible without seccomp)
STRAGGLER = ("import os, time\npid = os.fork()\nif pid == 0:\n    os.close(3)\n    os.setsid()\n"
             "    time.sleep(60)\n    os._exit(0)\n" + FIGURE)


def _pool(disable, **kw):
    plan = _layers.detect()
    if "bwrap" not in disable and not plan.bwrap:
        pytest.skip("bubblewrap is not available")
    if plan.landlock_abi < 1:
        pytest.skip("Landlock is not available: without bubblewrap and seccomp nothing would confine the job")
    with pytest.warns(RuntimeWarning, match="sandbox runs without"):
        # without seccomp the pool refuses unless weak confinement is allowed explicitly
        return RendererPool(workers=1, disable=disable, allow_weak="seccomp" in disable, **kw)


@pytest.fixture(scope="module")
def no_bwrap_no_seccomp():
    with _pool(("bwrap", "seccomp"), limits=Limits(scratch_bytes=8 << 20)) as p:
        p.start()
        yield p


@pytest.fixture(scope="module")
def no_seccomp():
    with _pool(("seccomp",)) as p:
        p.start()
        yield p


def _descendants(pid: int) -> int:
    """How many processes are ``pid`` or below it (read from the host's /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            children.setdefault(int(stat[stat.rfind(b")") + 2:].split()[1]), []).append(int(entry))
    todo, count = [pid], 0
    while todo:
        count += 1
        todo += children.get(todo.pop(), [])
    return count


@pytest.mark.parametrize("pool_name", ["no_bwrap_no_seccomp", "no_seccomp"])
def test_processes_a_job_started_do_not_outlive_it(pool_name, request):
    pool = request.getfixturevalue(pool_name)
    worker = pool._all[0]
    before = _descendants(worker.proc.pid)
    r = pool.render_python(STRAGGLER, timeout=5, dpi=40)
    assert r.status == "ok", r.error
    assert _descendants(worker.proc.pid) == before  # the setsid'd sleeper was killed and reaped
    assert pool.render_python(FIGURE, timeout=20, dpi=40).status == "ok"


def test_without_bubblewrap_the_worker_sees_a_minimal_root_even_without_landlock(tmp_path):
    plan = _layers.detect()
    if not plan.ns_isolation:
        pytest.skip(f"the worker cannot build its own namespaces here: {plan.ns_error}")
    secret = tmp_path / "secret.txt"
    secret.write_text("minimal-root-secret")
    with pytest.warns(RuntimeWarning, match="without bwrap, landlock"):
        pool = RendererPool(workers=1, disable=("bwrap", "landlock"))
    with pool:
        r = pool.render_python(f"import os\nprint(sorted(os.listdir('/')))\nprint(open({str(secret)!r}).read())\n",
                               timeout=20, dpi=40)
    assert r.status == "blocked" and "minimal-root-secret" not in r.stdout + (r.error or "")
    visible = set(ast.literal_eval(r.stdout.splitlines()[0]))
    assert not visible & {"etc", "home", "root", "var", "work"} - {p.strip("/").split("/")[0]
                                                                  for p in plan.python_roots}
    assert {"usr", "dev", "tmp"} <= visible


def test_exec_is_refused_by_landlock_without_seccomp(no_bwrap_no_seccomp):
    r = no_bwrap_no_seccomp.render_python("import os\nos.execv('/usr/bin/true', ['true'])\n", timeout=5)
    assert r.status == "blocked" and r.error_line == 2


def _jobs_dir_seen_from_the_host(pool) -> str:
    """The worker's scratch ``jobs`` folder: on the host without bubblewrap, else through /proc/PID/root."""
    worker = pool._all[0]
    if worker._host_dir and not pool.plan.ns_isolation:  # weak mode: on the host's disk
        return os.path.join(worker._host_dir, "jobs")
    if os.geteuid() != 0:
        pytest.skip("looking into another uid's sandbox needs root")
    todo = [worker.proc.pid]
    while todo:  # bwrap -> bwrap's init -> the zygote (the one running as the sandbox uid)
        pid = todo.pop()
        if os.stat(f"/proc/{pid}").st_uid == worker.info["uid"]:
            return f"/proc/{pid}/root/tmp/sgb/jobs"
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            todo += [int(x) for x in f.read().split()]
    raise AssertionError("zygote not found")


@pytest.mark.parametrize("pool_name", ["no_bwrap_no_seccomp", "no_seccomp"])
def test_files_a_job_made_unreadable_are_still_removed(pool_name, request):
    pool = request.getfixturevalue(pool_name)
    jobs = _jobs_dir_seen_from_the_host(pool)
    r = pool.render_python(
        "import os\nos.makedirs('d/e')\nopen('d/e/big', 'wb').write(b'x' * 4096)\nos.chmod('d/e', 0)\n"
        "os.chmod('d', 0)\n" + FIGURE, timeout=5, dpi=40)
    assert r.status == "ok", r.error
    assert os.listdir(jobs) == []  # a chmod-000 tree no longer piles up in the worker's scratch space


def test_without_bubblewrap_a_job_cannot_fill_the_host_disk(no_bwrap_no_seccomp):
    # many files, each under RLIMIT_FSIZE: the worker's own size-capped tmpfs stops this, not the host's disk
    r = no_bwrap_no_seccomp.render_python("i = 0\nwhile True:\n    open(f'f{i}', 'wb').write(b'x' * (1 << 20))\n"
                                          "    i += 1\n", timeout=10, dpi=40)
    assert r.status == "killed" and "disk limit" in r.error
    assert os.listdir(_jobs_dir_seen_from_the_host(no_bwrap_no_seccomp)) == []
    assert os.listdir(no_bwrap_no_seccomp._all[0]._host_dir) == []  # the host's view of the worker's root: empty


def test_tikz_image_of_a_host_file_is_reported_blocked(tmp_path):
    host_image = tmp_path / "host.png"
    host_image.write_bytes(b"\x89PNG\r\n\x1a\n")
    if not (shutil.which("pdflatex") and shutil.which("pdftoppm")):
        pytest.skip("needs pdflatex and pdftoppm")
    with RendererPool(workers=1) as pool:
        r = pool.render_tikz("\\documentclass{standalone}\n\\begin{document}\n"
                             f"\\pdfximage{{{host_image}}}\\pdfrefximage\\pdflastximage\n"
                             "\\end{document}\n", timeout=10, dpi=40)
    assert r.status == "blocked" and "cannot find image file" in r.error


def test_a_pool_missing_a_required_layer_is_refused_unless_allowed(monkeypatch):
    # no bubblewrap and no namespaces of the worker's own: no scratch tmpfs (and, as root, no uid drop)
    monkeypatch.delenv("SCIGENBENCH_SANDBOX_ALLOW_WEAK", raising=False)
    from scigenbench.generators.sandbox.pool import SandboxUnavailableError

    with pytest.raises(SandboxUnavailableError, match="no size-capped scratch folder.*SCIGENBENCH_SANDBOX_ALLOW_WEAK=1"):
        RendererPool(workers=1, disable=("bwrap", "namespaces"))
    if os.geteuid() == 0 and not _layers.detect().python_world_readable:
        with pytest.raises(SandboxUnavailableError, match="jobs would run as root"):
            RendererPool(workers=1, disable=("bwrap", "namespaces"))
    with pytest.raises(SandboxUnavailableError, match="no seccomp"):
        RendererPool(workers=1, disable=("seccomp",))
    with pytest.warns(RuntimeWarning, match=r"without bwrap.*scratch-tmpfs"):
        RendererPool(workers=1, disable=("bwrap", "namespaces"), allow_weak=True).close()


def test_tikz_without_any_limited_file_system_view_is_refused():
    with pytest.warns(RuntimeWarning, match="without bwrap"):
        pool = RendererPool(workers=1, disable=("bwrap", "namespaces"), allow_weak=True)
    with pool:
        r = pool.render_tikz("\\begin{tikzpicture}\\draw (0,0) -- (1,1);\\end{tikzpicture}", timeout=20)
    assert r.status == "error" and r.error.startswith("refused: TikZ runs only in bubblewrap or in namespaces")
    assert r.png is None and "refused" in r.confinement

