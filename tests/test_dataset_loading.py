"""Loading: mini (package files), scigen/seephys from SCIGENBENCH_DATA_DIR, and the download path over HTTP."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image

from scigenbench.dataset import load_mini_problems, load_scigenbench, problem_features, validate_mini
from scigenbench.dataset.sources import MINI_PROBLEMS_DIR


@pytest.fixture(scope="session")
def ds_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("datasets-cache")


@pytest.fixture(scope="session")
def scigen(upstream_dir, ds_cache):
    return load_scigenbench("scigen", cache_dir=ds_cache)  # data_dir from $SCIGENBENCH_DATA_DIR


@pytest.fixture(scope="session")
def seephys(upstream_dir, ds_cache):
    return load_scigenbench("seephys", cache_dir=ds_cache)


# ------------------------------------------------------------------------------------------------- mini

def test_every_mini_file_is_valid():
    rows, report = validate_mini()
    assert len(rows) >= 1 and len(rows) == len(list(MINI_PROBLEMS_DIR.glob("*.json")))
    assert report.ok, report.to_markdown()
    assert not report.by_code("D2") and not report.by_code("MINI")


def test_load_mini_as_dataset_matches_plain_dicts(ds_cache):
    ds = load_scigenbench("mini", cache_dir=ds_cache)
    plain = load_mini_problems()
    assert ds.features == problem_features()
    assert ds["id"] == [p["id"] for p in plain] and len(ds) >= 1
    assert set(ds["source"]) == {"mini"} and all(img is None for img in ds["image"])
    assert all(q["options"]["E"] is None for row in plain for q in row["quizzes"])


# ------------------------------------------------------------------------------------------------- upstream

def test_scigen_has_1057_rows_with_contract_features(scigen):
    assert len(scigen) == 1057
    assert scigen.features == problem_features()
    assert sum(len(q) for q in scigen["quizzes"]) == 4146
    assert sum(m is None for m in scigen["multimodal_question"]) == 59
    assert set(scigen["source"]) == {"scigen"} and len(set(scigen["id"])) == 1057


def test_seephys_has_330_rows_each_with_its_reference_image(seephys, upstream_dir):
    assert len(seephys) == 330
    assert set(seephys["domain"]) == {"Physics"} and set(seephys["image_type"]) == {None}
    for row in seephys.select_columns(["id", "image"]):
        with Image.open(upstream_dir / "seephys_images" / f"{row['id']}.png") as ref:
            assert row["image"].size == ref.size


def test_a_changed_data_dir_is_not_served_from_a_stale_cache(upstream_dir, ds_cache, scigen, tmp_path):
    rows = json.loads((upstream_dir / "scigen.json").read_text())
    (tmp_path / "scigen.json").write_text(json.dumps(rows[:10]))
    assert len(load_scigenbench("scigen", data_dir=tmp_path, cache_dir=ds_cache)) == 10
    assert len(load_scigenbench("scigen", cache_dir=ds_cache)) == 1057


def test_unknown_config_and_split_are_clear_errors(ds_cache):
    with pytest.raises(ValueError, match="scigen"):
        load_scigenbench("scigne", cache_dir=ds_cache)
    with pytest.raises(ValueError, match="test"):
        load_scigenbench("mini", split="train", cache_dir=ds_cache)


# ------------------------------------------------------------------------------------------------- download

class _Recorder(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def do_GET(self):  # noqa: N802
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def upstream_server(upstream_dir, tmp_path):
    """A loopback HTTP server serving a tmp copy of the upstream folder (symlinked files)."""
    root = tmp_path / "served" / "data"
    (root / "seephys_images").mkdir(parents=True)
    for name in ("scigen.json", "seephys.json"):
        shutil.copy(upstream_dir / name, root / name)
    for image in (upstream_dir / "seephys_images").iterdir():
        os.symlink(image, root / "seephys_images" / image.name)
    handler = type("Handler", (_Recorder,), {"requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler.requests, root
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_download_path_fetches_only_referenced_images_then_works_offline(upstream_server, tmp_path, monkeypatch):
    url, requests, _ = upstream_server
    monkeypatch.delenv("SCIGENBENCH_DATA_DIR", raising=False)
    cache = tmp_path / "cache"
    ds = load_scigenbench("seephys", cache_dir=cache, base_url=url)
    assert len(ds) == 330 and all(img is not None for img in ds["image"])
    images = {p for p in requests if p.startswith("/seephys_images/")}
    assert images == {f"/seephys_images/{i}.png" for i in ds["id"]}  # the 330 referenced, not the 131 extras
    assert requests.count("/seephys.json") == 1
    # offline: a fresh process with HF_DATASETS_OFFLINE=1 and no server reads the prepared cache
    requests.clear()
    code = (
        "from scigenbench.dataset import load_scigenbench;"
        f"print(len(load_scigenbench('seephys', cache_dir={str(cache)!r}, base_url={url!r})))"
    )
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1"}
    env.pop("SCIGENBENCH_DATA_DIR", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "330" and requests == []


def test_download_refuses_files_that_differ_from_the_pin(upstream_server, tmp_path, monkeypatch):
    url, _, root = upstream_server
    monkeypatch.delenv("SCIGENBENCH_DATA_DIR", raising=False)
    (root / "scigen.json").write_text("[]")
    with pytest.raises(ValueError, match="f082af5"):
        load_scigenbench("scigen", cache_dir=tmp_path / "cache", base_url=url)


def test_validate_without_local_copy_downloads_the_pinned_files(upstream_server, tmp_path, monkeypatch):
    from scigenbench.dataset import validate_upstream

    url, requests, _ = upstream_server
    monkeypatch.delenv("SCIGENBENCH_DATA_DIR", raising=False)
    report = validate_upstream(["scigen"], base_url=url, cache_dir=tmp_path / "dl")
    assert report.counts("scigen")["D2"] == 37 and requests == ["/scigen.json"]


def test_script_module_defines_a_working_builder(ds_cache, monkeypatch):
    """Old datasets import the script as a module and use the builder class defined in it; do the same."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scigenbench_dataset" / "scigenbench.py"
    spec = importlib.util.spec_from_file_location("scigenbench_script", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    builder = module.Scigenbench(config_name="mini", cache_dir=str(ds_cache))
    builder.download_and_prepare()
    assert len(builder.as_dataset(split="test")) == len(load_mini_problems())


def test_unreachable_download_says_how_to_use_a_local_copy(monkeypatch, tmp_path):
    from scigenbench.dataset import load_scigenbench

    monkeypatch.delenv("SCIGENBENCH_DATA_DIR", raising=False)
    with pytest.raises(ConnectionError, match=r"127\.0\.0\.1:9/scigen\.json.*SCIGENBENCH_DATA_DIR"):
        load_scigenbench("scigen", base_url="http://127.0.0.1:9", cache_dir=str(tmp_path))


def test_cli_validate_from_the_download_says_image_checks_were_skipped(upstream_server, monkeypatch, capsys):
    from scigenbench.scripts.cli import main as cli_main

    url, _, _ = upstream_server
    monkeypatch.delenv("SCIGENBENCH_DATA_DIR", raising=False)
    monkeypatch.setenv("SCIGENBENCH_DATA_URL", url)
    assert cli_main(["validate", "--config", "seephys", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["summary"]["seephys"]["issues_by_code"]["D2"] == 12
    assert "image checks (MISSING_IMAGE, D15) were skipped" in captured.err
