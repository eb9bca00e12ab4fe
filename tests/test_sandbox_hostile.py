"""Hostile programs: each is contained, reported with a precise status, and the pool stays healthy."""

from __future__ import annotations

import os
import socket

import pytest

from scigenbench.generators.sandbox import RendererPool

ENV_SECRET = "sgb-env-secret-5f1d"
NORMAL = "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.title('still fine')\n"


@pytest.fixture(scope="module")
def pool():
    os.environ["SGB_TEST_API_KEY"] = ENV_SECRET  # present in the host process when the workers start
    try:
        with RendererPool(workers=2) as p:
            p.start()
            yield p
    finally:
        os.environ.pop("SGB_TEST_API_KEY", None)


def _run(pool, code, timeout=3.0):
    result = pool.render_python(code, timeout=timeout, dpi=60)
    healthy = pool.render_python(NORMAL, timeout=20, dpi=60)
    assert healthy.status == "ok", f"pool unhealthy after the attack: {healthy.error}"
    return result


def _everything(result) -> str:
    return "\n".join([result.stdout, result.stderr, result.error or "", *(t.text for t in result.texts)])


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


def test_reading_a_planted_secret_outside_the_job_dir(pool, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("planted-secret-91c2")
    r = _run(pool, "import matplotlib.pyplot as plt\n"
                   f"text = open({str(secret)!r}).read()\nprint(text)\nplt.title(text)\n")
    assert r.status == "blocked" and r.error_line == 2
    assert "planted-secret-91c2" not in _everything(r)


def test_writing_outside_the_job_dir(pool, tmp_path):
    marker = tmp_path / "marker.txt"
    r = _run(pool, f"import os\nos.makedirs({str(tmp_path)!r}, exist_ok=True)\n"
                   f"open({str(marker)!r}, 'w').write('owned')\n")
    assert r.status == "blocked"
    assert not marker.exists()


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


def test_os_system(pool, tmp_path):
    marker = tmp_path / "system-marker"
    r = _run(pool, f"import os\nos.system('touch {marker}')\n")
    assert r.status == "blocked" and not marker.exists()


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
