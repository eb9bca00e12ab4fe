"""Removing what a hostile job left behind, and sweeping host folders of processes that died without cleaning up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from scigenbench.generators.sandbox import _cleanup


def _deep_tree(root: str, depth: int) -> None:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):  # relative to a descriptor: the path would be far longer than PATH_MAX
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        with open(os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd), "w") as f:
            f.write("x")
    finally:
        os.close(fd)


def test_a_3000_deep_tree_is_removed_without_recursion(tmp_path):
    os.mkdir(tmp_path / "job")
    _deep_tree(str(tmp_path / "job"), 3000)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # no recursion anywhere in the removal
    try:
        assert _cleanup.remove_tree(str(tmp_path / "job")) is True
    finally:
        sys.setrecursionlimit(limit)
    assert not (tmp_path / "job").exists()


def test_unreadable_directories_and_links_pointing_outside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("keep me")
    job = tmp_path / "job"
    (job / "a" / "b").mkdir(parents=True)
    (job / "a" / "b" / "f").write_text("x")
    (job / "to-outside").symlink_to(outside)
    (job / "file-outside").symlink_to(outside / "keep")
    os.mkfifo(job / "fifo")
    os.chmod(job / "a" / "b", 0)
    os.chmod(job / "a", 0)
    os.chmod(outside, 0o755)
    assert _cleanup.remove_tree(str(job)) is True
    assert not job.exists() and (outside / "keep").read_text() == "keep me"
    assert outside.stat().st_mode & 0o777 == 0o755  # nothing was chmod-ed through a link


def test_missing_paths_and_single_files_never_raise(tmp_path):
    assert _cleanup.remove_tree(str(tmp_path / "nothing-here")) is True
    single = tmp_path / "single"
    single.write_text("x")
    assert _cleanup.remove_tree(str(single)) is True and not single.exists()


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("chattr"), reason="setting the immutable flag needs root "
                    "and chattr")
def test_immutable_and_append_only_entries_are_cleared_then_removed(tmp_path):
    job = tmp_path / "job"
    (job / "locked").mkdir(parents=True)
    (job / "locked" / "inside").write_text("x")
    (job / "frozen").write_text("x")
    (job / "append").write_text("x")
    flagged = [(job / "frozen", "+i"), (job / "append", "+a"), (job / "locked", "+i")]
    try:
        for path, flag in flagged:
            if subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode != 0:
                pytest.skip("this file system does not support the immutable flag")
        assert _cleanup.remove_tree(str(job)) is True
        assert not job.exists()
    finally:  # whatever happened, leave no immutable file behind
        for path, flag in flagged:
            if path.exists():
                subprocess.run(["chattr", "-" + flag[1:], str(path)], capture_output=True)


def test_sweep_removes_only_folders_of_dead_processes(tmp_path):
    mine = tmp_path / (_cleanup.host_folder_prefix("sandbox") + "live")
    pid, start = mine.name.split("-")[2].split(".")
    dead = tmp_path / f"scigenbench-sandbox-{pid}.{int(start) + 1}-gone"  # same pid, another start: not us
    unknown = tmp_path / "scigenbench-sandbox-oldstyle"  # no owner recorded: never touched
    other_kind = tmp_path / f"scigenbench-app-{pid}.{int(start) + 1}-x"
    for folder in (mine, dead, unknown, other_kind):
        (folder / "sub").mkdir(parents=True)
    removed = _cleanup.sweep_stale_folders(str(tmp_path))
    assert removed == [str(dead)]
    assert mine.exists() and unknown.exists() and other_kind.exists() and not dead.exists()
