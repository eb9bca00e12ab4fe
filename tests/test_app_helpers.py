"""The Space's Gradio-free helpers: filtering, problem display, redaction, settings, friendly errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from scigenbench.app import core
from scigenbench.dataset import IMAGE_TYPES, load_mini_problems

SENTINEL = "sk-SENTINEL-app-5d2e8b91c4"


@pytest.fixture(scope="module")
def mini():
    return load_mini_problems()


def test_importing_the_app_package_does_not_import_gradio():
    code = ("import sys, scigenbench.app, scigenbench.app.core; "
            "print(sorted(m for m in ('gradio', 'torch', 'openai') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_filter_by_domain_keeps_only_that_domain(mini):
    rows = core.filter_problems(mini, "Chemistry", core.ALL)
    assert rows and {r["domain"] for r in rows} == {"Chemistry"}
    assert len(rows) == sum(p["domain"] == "Chemistry" for p in mini)


def test_filter_by_image_type_and_text(mini):
    rows = core.filter_problems(mini, "Physics", "Physics - Optical Ray")
    assert [r["image_type"] for r in rows] == ["Physics - Optical Ray"] * len(rows) and rows
    assert core.filter_problems(mini, core.ALL, core.ALL, "LENS") == [
        p for p in mini if "lens" in (p["id"] + " " + p["question"]).lower()]
    assert core.filter_problems(mini, "Biology", "Physics - Optical Ray") == []


def test_all_filters_keep_everything_in_order(mini):
    assert core.filter_problems(mini, core.ALL, core.ALL, "") == mini
    assert core.filter_problems(mini, None, None, None) == mini


def test_image_types_follow_the_domain():
    assert core.image_types_for("Math") == [t for t, d in IMAGE_TYPES.items() if d == "Math"]
    assert len(core.image_types_for(core.ALL)) == 25


def test_problem_markdown_hides_answers_until_asked(mini):
    problem = mini[0]
    hidden = core.problem_markdown(problem, show_answers=False)
    shown = core.problem_markdown(problem, show_answers=True)
    assert core.CORRECT_MARK not in hidden and "(hidden" in hidden
    assert shown.count(core.CORRECT_MARK) == len(problem["quizzes"])
    assert all(e.split("'")[0][:20] in shown for e in problem["elements"])


def test_problem_markdown_neutralises_html():
    problem = {"id": "x", "domain": "Math", "image_type": "Math - Plane Geometric", "source": "mini",
               "question": "<script>alert(1)</script>", "answer": "", "elements": [], "quizzes": []}
    assert "<script>" not in core.problem_markdown(problem)


def test_problem_source_reads_rows_by_id(mini):
    source = core.load_source("mini", core.Settings())
    assert len(source) == len(mini)
    assert source.get(mini[3]["id"])["question"] == mini[3]["question"]
    with pytest.raises(KeyError, match="no problem 'nope' in the mini source"):
        source.get("nope")


def test_upstream_sources_need_a_local_copy(tmp_path):
    assert core.available_sources(core.Settings()) == ["mini"]
    with pytest.raises(ValueError, match="SCIGENBENCH_DATA_DIR"):
        core.load_source("scigen", core.Settings(data_dir=tmp_path))
    (tmp_path / "seephys.json").write_text("[]")
    assert core.available_sources(core.Settings(data_dir=tmp_path)) == ["mini", "seephys"]


def test_redact_removes_secret_env_values_and_key_shapes():
    env = {"MY_SERVICE_TOKEN": "tok-0123456789abcdef", "PATH": "/usr/bin",
           core.BACKBONE_ENV: "openai:gpt-4o@https://proxy.example/v1?auth=zzz999"}
    text = (f"failed with tok-0123456789abcdef and {SENTINEL} / hf_abcdefghijklmnop, Authorization: Bearer "
            "abcdefghijk123 at https://alice:pa55word@host/v1 api_key=qwerty12345 spec "
            "openai:gpt-4o@https://proxy.example/v1?auth=zzz999 in /usr/bin")
    out = core.redact(text, env)
    for secret in ("tok-0123456789abcdef", SENTINEL, "hf_abcdefghijklmnop", "abcdefghijk123", "pa55word",
                   "qwerty12345", "zzz999"):
        assert secret not in out
    assert "/usr/bin" in out and "failed with" in out and out.count(core.REDACTED) >= 7


def test_settings_from_env_reads_only_what_it_needs(tmp_path):
    env = {core.JUDGE_ENV: "", core.RESULTS_ENV: f"{tmp_path}/a{__import__('os').pathsep}{tmp_path}/b"}
    settings = core.Settings.from_env(env)
    assert settings.judge == "ocr" and settings.judge_is_proxy and settings.offline_backbone
    assert settings.results == (tmp_path / "a", tmp_path / "b")


def test_backbone_label_never_shows_the_spec_secrets(monkeypatch):
    spec = "openai:gpt-4o-mini@https://bob:hunter2hunter2@llm.example/v1"
    monkeypatch.setenv(core.BACKBONE_ENV, spec)
    label = core.backbone_label(core.Settings.from_env())
    assert "gpt-4o-mini" in label and "hunter2" not in label and "llm.example" not in label


def test_typed_text_with_the_offline_backbone_asks_for_a_backbone():
    view = core.run_imgcoder(core.typed_problem("Draw a pendulum of length 2 m."), core.Settings())
    assert not view.ok and view.png is None
    assert "Configure a backbone" in view.status_md and core.BACKBONE_ENV in view.status_md


def test_unknown_backbone_gives_a_friendly_error():
    view = core.run_imgcoder(load_mini_problems()[0], core.Settings(backbone="opnai:gpt-4o"))
    assert not view.ok
    assert "could not be set up" in view.status_md and "openai" in view.status_md


def test_missing_key_is_reported_without_a_crash(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    view = core.run_imgcoder(load_mini_problems()[0], core.Settings(backbone="openai:gpt-4o@https://llm.invalid/v1"))
    assert not view.ok and "OPENAI_API_KEY" in view.status_md


def test_score_without_image_or_quizzes_explains_why(mini):
    assert "Pick or upload an image" in core.score_image(None, mini[0], core.Settings()).summary_md
    view = core.score_image(b"\x89PNG", core.typed_problem("x"), core.Settings())
    assert not view.ok and "no quizzes" in view.summary_md


def test_redaction_keeps_backend_names_and_removes_key_shapes():
    text = "Unknown backend 'x'. Valid names: fake, hf-inference, openai; token hf_abcdefghijKLMNOP, key sk-proj-abc12345678"
    out = core.redact(text, env={})
    assert "hf-inference" in out
    assert "hf_abcdefghijKLMNOP" not in out and "sk-proj-abc12345678" not in out


def test_unknown_backbone_is_a_friendly_message_naming_the_valid_backends(mini):
    view = core.run_imgcoder(mini[0], core.Settings(backbone="nosuch:model"))
    assert not view.ok and "could not be set up" in view.status_md
    assert "hf-inference" in view.status_md and "Traceback" not in view.status_md


def test_typed_text_over_the_limit_is_refused_before_any_model_call():
    with pytest.raises(ValueError, match="at most"):
        core.typed_problem("x" * 100_000)
    assert core.typed_problem("y" * core.MAX_TYPED_CHARS)["question"]


def _png(size=(64, 64)) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("1", size).save(buffer, format="PNG")
    return buffer.getvalue()


def test_scoring_refuses_a_file_that_is_not_an_image(mini, tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not an image at all")
    view = core.score_image(str(path), mini[0], core.Settings())
    assert not view.ok and "not an image" in view.summary_md and not view.rows


def test_scoring_refuses_a_decompression_bomb_without_decoding_it(mini):
    bomb = _png((20_000, 20_000))  # 400 M pixels in a few kB: over PIL's bomb limit
    assert len(bomb) < 200_000
    view = core.score_image(bomb, mini[0], core.Settings())
    assert not view.ok and "pixels" in view.summary_md


def test_scoring_refuses_an_image_over_the_pixel_limit(mini):
    view = core.score_image(_png((6000, 5000)), mini[0], core.Settings())
    assert not view.ok and "30,000,000 pixels" in view.summary_md


def test_ocr_judge_without_its_engine_is_refused_with_an_install_hint(mini, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no tesseract binary on PATH
    view = core.score_image(_png(), mini[0], core.Settings(judge="ocr:tesseract"))
    assert not view.ok and "apt-get install tesseract-ocr" in view.summary_md


def test_space_card_and_requirements_match_what_the_hub_installs():
    import importlib.metadata
    from pathlib import Path

    from huggingface_hub import RepoCard
    from packaging.requirements import Requirement

    space = Path(core.__file__).parent
    card = RepoCard.load(space / "README.md").data
    assert card.sdk == "gradio" and card.sdk_version == importlib.metadata.version("gradio")
    assert (space / card.app_file).is_file() and len(card.short_description) <= 60
    lines = [line.strip() for line in (space / "requirements.txt").read_text().splitlines()]
    requirements = [Requirement(line) for line in lines if line and not line.startswith("#")]
    ours = [r for r in requirements if r.name == "scigenbench"]
    # pinned to this release: a bare name would let the index resolve any (or someone else's) "scigenbench"
    assert len(ours) == 1 and "app" in ours[0].extras
    assert str(ours[0].specifier) == f"=={importlib.metadata.version('scigenbench')}" or ours[0].url
    packages = (space / "packages.txt").read_text().split()
    assert {"tesseract-ocr", "bubblewrap", "poppler-utils"} <= set(packages)
