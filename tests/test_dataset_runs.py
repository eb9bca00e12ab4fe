"""Run folders: atomic appends, resume after a killed writer, loading with datasets' imagefolder."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from PIL import Image

from scigenbench.dataset.runs import ATTEMPTS_FILE, METADATA_FILE, RunFolder


def png(value: int, size: int = 16) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (value % 256, 7, 9)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def run(tmp_path):
    return RunFolder.create(tmp_path / "run", generator="fake", config={"k": 1}, dataset="mini")


def test_failures_and_retries_load_with_imagefolder(run):
    run.append({"id": "a", "status": "ok", "plan": {"steps": [1, {"x": 2}]}, "timings": {"plan": 0.5}}, png(1))
    run.append({"id": "b", "status": "failed", "error": {"type": "RateLimit", "message": "429"}})
    run.append({"id": "c", "status": "render_failed", "error": "SyntaxError line 3", "code": "plt.plot(]"})
    run.append({"id": "b", "status": "ok", "usage": {"tokens": 12}, "extra": {"rounds": [1, 2]}}, png(2))
    assert run.done_ids() == {"a", "b"} and run.failed_ids() == {"c"}
    assert run.records()["b"]["attempt"] == 2 and run.records()["a"]["plan"] == {"steps": [1, {"x": 2}]}
    assert len(run.attempts()) == 4
    ds = run.load_dataset(cache_dir=str(run.path.parent / 'hf-cache'))
    assert sorted(ds["id"]) == ["a", "b"] and ds.features["plan"].dtype == "string"
    row = ds.filter(lambda r: r["id"] == "b")[0]
    assert json.loads(row["usage"]) == {"tokens": 12} and row["image"].getpixel((0, 0))[0] == 2


def test_ids_with_split_words_and_a_scores_folder_still_load_whole(run):
    # datasets reads split names from file and folder names and would drop every other file
    import datasets

    ids = ["val-001", "x-test", "eval", "mini-a", "1val"]
    for i, item_id in enumerate(ids):
        run.append({"id": item_id, "status": "ok"}, png(i))
    (run.path / "scores").mkdir()
    (run.path / "scores" / "summary.json").write_text("{}")
    ds = datasets.load_dataset("imagefolder", data_dir=str(run.path), split="train",
                               cache_dir=str(run.path.parent / "hf-cache"))
    assert sorted(ds["id"]) == sorted(ids)
    assert all(run.image_path(i).is_file() for i in ids)


def test_a_new_image_for_a_done_id_replaces_its_row(run):
    run.append({"id": "a", "status": "ok"}, png(1))
    run.append({"id": "a", "status": "ok"}, png(5))
    ds = run.load_dataset(cache_dir=str(run.path.parent / 'hf-cache'))
    assert ds["id"] == ["a"] and ds[0]["image"].getpixel((0, 0))[0] == 5


def test_reopen_with_other_config_is_refused(run):
    with pytest.raises(FileExistsError, match="config_hash"):
        RunFolder.create(run.path, generator="fake", config={"k": 2}, dataset="mini")
    assert RunFolder.create(run.path, generator="fake", config={"k": 1}, dataset="mini").path == run.path


def test_threads_append_without_losing_or_mixing_rows(run):
    from concurrent.futures import ThreadPoolExecutor

    def write(i):
        status = "ok" if i % 3 else "failed"
        run.append({"id": f"t{i}", "status": status, "code": str(i) * 2000}, png(i) if status == "ok" else None)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(40)))
    lines = (run.path / ATTEMPTS_FILE).read_text().splitlines()
    assert len(lines) == 40 and all(json.loads(line)["code"] == line.split('"id": "t')[1].split('"')[0] * 2000
                                    for line in lines)
    assert len(run.done_ids()) == 26 and len(run.failed_ids()) == 14
    assert len((run.path / METADATA_FILE).read_text().splitlines()) == 26


def test_unknown_record_keys_are_kept_under_extra(run):
    run.append({"id": "a", "status": "failed", "extra": {"seed": 1}, "rounds": 3})
    assert run.records()["a"]["extra"] == {"seed": 1, "rounds": 3}
    with pytest.raises(ValueError, match="file_name"):
        run.append({"id": "a", "status": "failed", "file_name": "../x.png"})


def test_open_needs_a_run_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="RunFolder.create"):
        RunFolder.open(tmp_path)


def test_bad_records_are_rejected(run):
    with pytest.raises(ValueError, match="no image_png"):
        run.append({"id": "a", "status": "ok"})
    with pytest.raises(ValueError, match="not PNG"):
        run.append({"id": "a", "status": "ok"}, b"GIF89a....")
    with pytest.raises(ValueError, match="status"):
        run.append({"id": "a"})


def test_empty_run_loads_as_empty_dataset(run):
    run.append({"id": "a", "status": "failed", "error": "x"})
    assert len(run.load_dataset(cache_dir=str(run.path.parent / 'hf-cache'))) == 0


def test_partial_row_and_missing_metadata_row_are_repaired_on_open(run):
    run.append({"id": "a", "status": "ok"}, png(1))
    # a crash after the attempt row but before the metadata row ...
    (run.path / "b.png").write_bytes(png(2))
    row = dict(json.loads((run.path / ATTEMPTS_FILE).read_text().splitlines()[0]), id="b", file_name="b.png")
    with open(run.path / ATTEMPTS_FILE, "a") as f:
        f.write(json.dumps(row) + "\n")
        f.write('{"id": "c", "status": "o')  # ... and a row cut short
    assert set(RunFolder(run.path, run.info).records()) == {"a", "b"}  # readers skip the half row
    reopened = RunFolder.open(run.path)
    assert (run.path / ATTEMPTS_FILE).read_bytes().endswith(b"\n")
    assert [json.loads(line)["id"] for line in (run.path / METADATA_FILE).read_text().splitlines()] == ["a", "b"]
    assert reopened.done_ids() == {"a", "b"}


WRITER = textwrap.dedent(
    """
    import io, sys
    from PIL import Image
    from scigenbench.dataset.runs import RunFolder
    path, start, stop = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    buf = io.BytesIO()
    Image.effect_noise((768, 768), 80).convert("RGB").save(buf, "PNG")  # ~1.7 MB: appends dominate the loop
    blob = buf.getvalue()
    run = RunFolder.create(path, generator="fake", config={"k": 1}, dataset="mini")
    done = run.done_ids()
    for i in range(start, stop):
        item = f"item-{i:03d}"
        if item in done:
            continue
        if i % 4 == 3 and item not in run.failed_ids():  # every 4th item fails once, then succeeds on resume
            run.append({"id": item, "status": "failed", "error": "transient"})
        else:
            run.append({"id": item, "status": "ok", "plan": {"i": i}, "code": "x" * 5000}, blob)
        print(item, flush=True)
    """
)


@pytest.mark.slow
def test_resume_after_a_killed_writer(tmp_path):
    path, n = tmp_path / "run", 60
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), "0", str(n)], stdout=subprocess.PIPE, text=True)
    finished = [proc.stdout.readline().strip() for _ in range(12)]  # ids whose append had returned
    time.sleep(0.005)  # land inside a later append (image write, fsync, rename or row write)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    raw = (path / ATTEMPTS_FILE).read_bytes()
    complete = raw[: raw.rfind(b"\n") + 1]
    assert all(json.loads(line) for line in complete.splitlines())  # every complete line is a whole row
    run = RunFolder.open(path)
    records = run.records()
    assert set(finished) <= set(records)  # nothing already written is lost
    assert run.done_ids() | run.failed_ids() == set(records)
    for item in run.done_ids():
        with Image.open(run.image_path(item)) as img:
            img.load()  # the whole image is there
            assert img.size == (768, 768)
    assert not (path / ".tmp").exists() or not any((path / ".tmp").iterdir())
    assert n - len(records) > 0  # the kill really happened mid-run

    resumed = subprocess.run([sys.executable, "-c", WRITER, str(path), "0", str(n)], capture_output=True, text=True,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    resumed = subprocess.run([sys.executable, "-c", WRITER, str(path), "0", str(n)], capture_output=True, text=True,
                             timeout=120)  # second pass retries the items that failed once
    run = RunFolder.open(path)
    assert run.done_ids() == {f"item-{i:03d}" for i in range(n)} and not run.failed_ids()
    ds = run.load_dataset(cache_dir=str(run.path.parent / 'hf-cache'))
    assert len(ds) == n and len(set(ds["id"])) == n
    failures = [a for a in run.attempts() if a["status"] == "failed"]
    assert {a["id"] for a in failures} == {f"item-{i:03d}" for i in range(3, n, 4)}


# ------------------------------------------------------------------------------------------- review additions

UNSAFE_IDS = ["a/b", "a_b", "..", ".", "a b", "x" * 300, "../../etc/passwd", "é∂", "y" * 200, ".hidden", "Q1", "q1"]


def test_unsafe_and_very_long_ids_get_safe_unique_names_that_map_back(run, tmp_path):
    for n, item in enumerate(UNSAFE_IDS):
        run.append({"id": item, "status": "ok"}, png(n))
    names = [run.image_path(item).name for item in UNSAFE_IDS]
    assert len({name.lower() for name in names}) == len(UNSAFE_IDS)  # distinct on case-insensitive file systems too
    assert all(len(name.encode()) <= 100 and not name.startswith(".") for name in names)
    assert all(run.image_path(item).parent == run.path and run.image_path(item).exists() for item in UNSAFE_IDS)
    reopened = RunFolder.open(run.path)
    assert reopened.done_ids() == set(UNSAFE_IDS)
    ds = reopened.load_dataset(cache_dir=str(tmp_path / "hf-cache"))
    assert {row["id"]: row["image"].getpixel((0, 0))[0] for row in ds} == {i: n for n, i in enumerate(UNSAFE_IDS)}


def test_image_path_follows_the_recorded_file_name(run):
    """A run written under an older naming rule still resolves: the row's file_name wins over the rule."""
    (run.path / "legacy-name.png").write_bytes(png(3))
    row = {"id": "z" * 150, "status": "ok", "file_name": "legacy-name.png", "attempt": 1}
    with open(run.path / ATTEMPTS_FILE, "a") as f:
        f.write(json.dumps(row) + "\n")
    reopened = RunFolder.open(run.path)
    assert reopened.done_ids() == {"z" * 150}
    assert reopened.image_path("z" * 150) == run.path / "legacy-name.png"


CONCURRENT_WRITER = textwrap.dedent(
    """
    import io, sys
    from PIL import Image
    from scigenbench.dataset.runs import RunFolder
    path, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "PNG")
    run = RunFolder.create(path, generator="fake", config={"k": 1}, dataset="mini")
    for i in range(n):
        ok = i % 4 != 0
        run.append({"id": f"{tag}-{i}", "status": "ok" if ok else "failed", "code": tag * 3000},
                   buf.getvalue() if ok else None)
        if i % 5 == 0:  # both processes retry one shared id: attempts must count up across processes
            run.append({"id": "shared", "status": "ok", "extra": {"by": tag}}, buf.getvalue())
    """
)


def test_two_writer_processes_lose_nothing(tmp_path):
    path, n = tmp_path / "run", 40
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT_WRITER, str(path), tag, str(n)]) for tag in "PQ"]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    run = RunFolder.open(path)
    attempts = run.attempts()
    assert len(attempts) == 2 * n + 2 * (n // 5)
    assert all(a["code"] == a["id"][0] * 3000 for a in attempts if a["id"] != "shared")  # no interleaved rows
    assert sorted(a["attempt"] for a in attempts if a["id"] == "shared") == list(range(1, 2 * (n // 5) + 1))
    assert run.done_ids() == {f"{t}-{i}" for t in "PQ" for i in range(n) if i % 4} | {"shared"}
    metadata = [json.loads(line) for line in (path / METADATA_FILE).read_text().splitlines()]
    assert sorted(m["id"] for m in metadata) == sorted(run.done_ids())
