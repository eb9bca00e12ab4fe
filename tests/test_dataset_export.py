"""Export to Parquet + card, loading it with plain datasets in a fresh process, the CLI and the Hub push script."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading

import pytest
import yaml

from scigenbench.dataset.export import export_dataset
from scigenbench.scripts import push_to_hub
from scigenbench.scripts.cli import main as cli_main

LOAD_WITHOUT_PROJECT = """
import json, sys
import datasets
out = {}
for config in sys.argv[2:]:
    ds = datasets.load_dataset(sys.argv[1], config, split="test")
    out[config] = {"rows": len(ds), "images": sum(img is not None for img in ds["image"]),
                   "quizzes": sum(len(q) for q in ds["quizzes"])}
out["default_rows"] = len(datasets.load_dataset(sys.argv[1], split="test"))
out["project_imported"] = any(m == "scigenbench" or m.startswith("scigenbench.") for m in sys.modules)
print(json.dumps(out))
"""


def _load_in_fresh_process(folder, configs, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("SCIGENBENCH_DATA_DIR", "PYTHONPATH")}
    env["HF_HOME"] = str(tmp_path / "hf-home")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    out = subprocess.run([sys.executable, "-c", LOAD_WITHOUT_PROJECT, str(folder), *configs], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def exported(upstream_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    export_dataset(out, data_dir=upstream_dir, cache_dir=tmp_path_factory.mktemp("export-cache"))
    return out


def _card_yaml(folder):
    text = (folder / "README.md").read_text()
    return yaml.safe_load(text.split("---\n")[1])


@pytest.mark.slow
def test_export_loads_with_plain_datasets_in_a_fresh_process(exported, tmp_path):
    result = _load_in_fresh_process(exported, ["scigen", "seephys", "mini"], tmp_path)
    assert result["scigen"] == {"rows": 1057, "images": 0, "quizzes": 4146}
    assert result["seephys"] == {"rows": 330, "images": 330, "quizzes": 1104}
    assert result["mini"]["rows"] >= 1
    assert result["default_rows"] == 1057
    assert result["project_imported"] is False


def test_export_card_has_configs_dataset_info_and_the_package_card(exported):
    meta = _card_yaml(exported)
    configs = {c["config_name"]: c for c in meta["configs"]}
    assert set(configs) == {"scigen", "seephys", "mini"} and configs["scigen"].get("default") is True
    assert configs["seephys"]["data_files"] == [{"split": "test", "path": "data/seephys/test-*"}]
    infos = {i["config_name"]: i for i in meta["dataset_info"]}
    assert infos["scigen"]["splits"] == [{"name": "test", "num_bytes": infos["scigen"]["splits"][0]["num_bytes"],
                                          "num_examples": 1057}]
    assert meta["license"] == "apache-2.0"
    assert meta["size_categories"] == ["1K<n<10K"]  # 1,057 + 330 + the mini rows
    assert "## Known upstream defects" in (exported / "README.md").read_text()


def test_export_of_mini_alone_needs_no_upstream(tmp_path):
    out = export_dataset(tmp_path / "mini-export", ["mini"], cache_dir=tmp_path / "cache")
    meta = _card_yaml(out)
    assert [c["config_name"] for c in meta["configs"]] == ["mini"] and meta["configs"][0]["default"] is True
    assert meta["size_categories"] == ["n<1K"]  # follows the rows exported, not the package card
    assert list((out / "data" / "mini").glob("test-*.parquet"))


# ------------------------------------------------------------------------------------------------ CLI

def test_cli_info_mini(capsys):
    assert cli_main(["info", "--config", "mini"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("SciGenBench mini:") and "per image type:" in out


def test_cli_validate_json_names_the_defects(upstream_dir, capsys):
    assert cli_main(["validate", "--config", "scigen", "--data-dir", str(upstream_dir), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"]["scigen"]["issues_by_code"]["D2"] == 37
    assert "seephys" not in doc["summary"]


def test_cli_validate_markdown_and_missing_data(upstream_dir, tmp_path, capsys, monkeypatch):
    assert cli_main(["validate", "--data-dir", str(upstream_dir), "--max-per-code", "2"]) == 0
    assert "| D15 | unreferenced_image | 0 | 131 |" in capsys.readouterr().out
    monkeypatch.delenv("SCIGENBENCH_DATA_DIR")
    monkeypatch.setenv("SCIGENBENCH_DATA_URL", "http://127.0.0.1:9/nothing-listens-here")  # no local copy, no server
    assert cli_main(["validate", "--config", "scigen"]) == 2
    assert "--data-dir" in capsys.readouterr().err


def test_cli_export_mini(tmp_path, capsys):
    assert cli_main(["export", "--out", str(tmp_path / "x"), "--configs", "mini",
                     "--cache-dir", str(tmp_path / "c")]) == 0
    assert (tmp_path / "x" / "README.md").exists()


# ------------------------------------------------------------------------------------------------ push to hub

class _FakeHub(http.server.BaseHTTPRequestHandler):
    """Answers repo creation, then refuses the upload: the test stops right at the point of upload.

    Subclasses set ``accept_upload`` to take the commit (files sent inline) and ``remote_files`` to what the
    repo already holds (listed by ``upload_folder`` to apply its delete patterns).
    """

    seen: list
    accept_upload = False
    remote_files: tuple = ()

    def do_GET(self):  # noqa: N802
        self.seen.append((self.path, None))
        if "/tree/" in self.path:
            self._reply(200, [{"type": "file", "path": p, "oid": "0" * 40, "size": 1} for p in self.remote_files])
        else:
            self._reply(404, {"error": "loopback hub: not found"})

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "/commit/" in self.path:  # NDJSON: header, files, deletions
            self.seen.append((self.path, [json.loads(line) for line in body.splitlines() if line.strip()]))
        else:
            self.seen.append((self.path, json.loads(body or b"{}")))
        if self.path == "/api/repos/create":
            payload = {"url": f"http://{self.headers['Host']}/datasets/someone/scigenbench", "name": "scigenbench"}
            self._reply(200, payload)
        elif self.path == "/api/validate-yaml" or "/branch/" in self.path:
            self._reply(200, {})
        elif self.accept_upload and "/preupload/" in self.path:
            files = self.seen[-1][1]["files"]
            self._reply(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                        for f in files]})
        elif self.accept_upload and "/commit/" in self.path:
            self._reply(200, {"commitUrl": f"http://{self.headers['Host']}/datasets/someone/scigenbench/commit/1",
                              "commitOid": "1" * 40, "pullRequestUrl": None})
        else:
            self._reply(403, {"error": "loopback hub: upload refused"})

    def _reply(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def _push_to_fake_hub(folder, handler, *args):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}",
               "HF_TOKEN": "hf_SECRETtoken123", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_ETAG_TIMEOUT": "5"}
        out = subprocess.run([sys.executable, "-m", "scigenbench.scripts.push_to_hub", str(folder),
                              "someone/scigenbench", *args], env=env, capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    assert "hf_SECRETtoken123" not in out.stdout + out.stderr  # the token is read from the env, never printed
    return out


def test_push_script_checks_creates_repo_and_reaches_upload(tmp_path):
    folder = export_dataset(tmp_path / "export", ["mini"], cache_dir=tmp_path / "cache")
    handler = type("Hub", (_FakeHub,), {"seen": []})
    out = _push_to_fake_hub(folder, handler)
    assert out.returncode == 1 and "upload to someone/scigenbench failed" in out.stderr
    create = [body for path, body in handler.seen if path == "/api/repos/create"]
    assert create and create[0]["type"] == "dataset" and create[0]["name"] == "scigenbench"
    uploads = [body for path, body in handler.seen if "preupload" in path]  # the upload began with the files
    assert uploads
    assert {f["path"] for f in uploads[0]["files"]} >= {"README.md", "data/mini/test-00000-of-00001.parquet"}


def test_push_script_dry_run_and_incomplete_folder(tmp_path, capsys):
    folder = export_dataset(tmp_path / "export", ["mini"], cache_dir=tmp_path / "cache")
    assert push_to_hub.main([str(folder), "someone/x", "--dry-run"]) == 0
    assert "data/mini/test-00000-of-00001.parquet" in capsys.readouterr().out
    for parquet in (folder / "data" / "mini").glob("*.parquet"):
        parquet.unlink()
    assert push_to_hub.main([str(folder), "someone/x", "--dry-run"]) == 2
    assert "matches no Parquet file" in capsys.readouterr().err


def test_push_to_a_branch_replaces_stale_shards_of_the_uploaded_configs(tmp_path):
    """A re-export with fewer shards must not leave old shards that the card's test-* pattern would also load."""
    folder = export_dataset(tmp_path / "export", ["mini"], cache_dir=tmp_path / "cache")
    (folder / "data" / "old").mkdir()
    (folder / "data" / "old" / "test-00000-of-00001.parquet").write_bytes(b"PAR1")  # not in the card: not uploaded
    remote = ("README.md", "data/mini/test-00000-of-00002.parquet", "data/mini/test-00001-of-00002.parquet",
              "data/scigen/test-00000-of-00001.parquet")
    handler = type("Hub", (_FakeHub,), {"seen": [], "accept_upload": True, "remote_files": remote})
    out = _push_to_fake_hub(folder, handler, "--revision", "v2")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "pushed:" in out.stdout
    paths = [path for path, _ in handler.seen]
    assert "/api/datasets/someone/scigenbench/branch/v2" in paths  # the branch is created before the commit
    commit = next(body for path, body in handler.seen if path.startswith("/api/datasets/someone/scigenbench/commit/v2"))
    deleted = {line["value"]["path"] for line in commit if line["key"] == "deletedFile"}
    added = {line["value"]["path"] for line in commit if line["key"] == "file"}
    assert deleted == {"data/mini/test-00000-of-00002.parquet", "data/mini/test-00001-of-00002.parquet"}
    assert added == {"README.md", "data/mini/test-00000-of-00001.parquet"}


def test_cli_validate_strict_exit_code_and_json_fields(tmp_path, capsys):
    raw = {"id": "x-1", "question": "Q?", "image_type": "Math - Plane Geometric", "answer": "4", "elements": ["a"],
           "multimodal_question": "MQ?", "quizzes": [{"question": "Which?", "options": {"A": "1", "x": "2", "y": "3"},
                                                       "correct_option": "B", "evidence_snippet": "e"}]}
    (tmp_path / "scigen.json").write_text(json.dumps([raw]))
    args = ["validate", "--config", "scigen", "--data-dir", str(tmp_path), "--format", "json"]
    assert cli_main(args) == 0
    issues = json.loads(capsys.readouterr().out)["issues"]
    assert all(set(i) == {"split", "id", "quiz", "field", "code", "reason", "severity"} for i in issues)
    assert {(i["id"], i["quiz"], i["code"], i["severity"]) for i in issues} >= {("x-1", 0, "D2", "error")}
    assert cli_main(args + ["--strict"]) == 1
    capsys.readouterr()
    assert cli_main(["validate", "--config", "mini", "--strict"]) == 0
