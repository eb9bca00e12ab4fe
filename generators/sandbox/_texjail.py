"""Start one TeX job without bubblewrap, in a file-system view limited to the job and the TeX tree.

Run by ``scigenbench.generators.sandbox.tikz`` as ``python -S _texjail.py JSON_CONFIG SOURCE_FD -- ARGV...`` (as
root, or as a user allowed to create user namespaces). It enters new mount, IPC, network and UTS namespaces, pivots
into a fresh tmpfs root that holds only read-only ``/usr`` and the TeX trees (``/etc/texmf``, ``/var/lib/texmf``,
...), a few device nodes, a size-capped ``/job`` (with ``figure.tex`` read from ``SOURCE_FD`` and, when given, a
cached format) and ``/tmp``; no ``/proc``, no other host file. Then it drops to the sandbox uid (as root) or every
capability, sets ``no_new_privs`` and ``exec``s ``ARGV`` (``/bin/sh -c SCRIPT``) with the TeX environment. Only the
standard library is imported (it is loaded by path, next to ``_isolate.py``).
"""

from __future__ import annotations

import json
import os
import signal
import sys

import _isolate


def main() -> None:
    config = json.loads(sys.argv[1])
    source_fd = int(sys.argv[2])
    argv = sys.argv[sys.argv.index("--") + 1:]
    uid = config.get("uid")
    source = b""
    while chunk := os.read(source_fd, 1 << 16):
        source += chunk
    os.close(source_fd)
    fmt = None
    if config.get("fmt"):
        with open(config["fmt"], "rb") as f:
            fmt = f.read()
    _isolate.enter_namespaces(uid)
    owner = (uid, uid) if uid is not None else (os.getuid(), os.getgid())
    _isolate.build_root(config["new_root"], config["read_only"],
                        {"/job": (int(config["job_bytes"]), *owner), "/tmp": (int(config["tmp_bytes"]), *owner)},
                        proc=False)
    for name, data in (("figure.tex", source), ("pre.fmt", fmt)):
        if data is not None:
            with open(f"/job/{name}", "wb") as f:
                f.write(data)
            os.chown(f"/job/{name}", *owner)
    os.chdir("/job")
    if uid is not None:
        _isolate.drop_to(uid)
    else:
        _isolate.drop_capabilities()
    if _isolate.capabilities_held():
        raise SystemExit("refusing to run TeX: capabilities are still held")
    for name in ("SIGPIPE", "SIGXFSZ", "SIGXFZ"):  # Python ignores these; TeX must die of SIGXFSZ at the file cap
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    os.execve(argv[0], argv, config["env"])


if __name__ == "__main__":
    main()
