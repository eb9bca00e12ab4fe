"""judge-check: corruptions are program edits that render and differ; the OCR proxy detects label and value
corruptions above chance (CI shown); a judge that always answers the same comes out at chance."""

import json
import shutil

import pytest

from scigenbench.metrics.corruptions import (
    KINDS, CorruptionError, apply_edits, build_corruptions, reference_program, render_set,
)
from scigenbench.metrics.judge_check import discrimination, run_judge_check
from scigenbench.scripts.cli import main

#: items whose labels the OCR proxy reads on most references, plus two where it does not (atwood, nmr)
OCR_ITEMS = ["mini-chemistry-bcc-iron", "mini-chemistry-iron-orbitals", "mini-math-cone-volume",
             "mini-math-ellipse-foci", "mini-physics-incline-friction", "mini-physics-standing-wave-string",
             "mini-physics-atwood-machine", "mini-chemistry-nmr-ester"]


def test_every_kind_is_made_by_editing_programs():
    made = build_corruptions()
    assert {c.kind for c in made} == set(KINDS)
    for c in made:
        code, language = reference_program(c.item_id)
        assert c.language == language and c.program != code and c.program == apply_edits(code, c.edits)
    assert sum(c.kind == "change_value" for c in made) >= 15 and sum(c.kind == "remove_label" for c in made) >= 15


def test_an_edit_that_no_longer_applies_is_an_error():
    with pytest.raises(CorruptionError, match="occurs 0 times"):
        apply_edits("ax.text(0, 0, 'a')", [{"find": "'b'", "replace": "''"}])


def test_discrimination_counts_ties_as_half():
    out = discrimination([(1.0, 0.0), (0.5, 0.5), (0.0, 1.0), (1.0, 0.5)], n_boot=200)
    assert out["discrimination"] == pytest.approx((1 + 0.5 + 0 + 1) / 4) and out["n"] == 4
    assert out["ci95"][0] <= out["discrimination"] <= out["ci95"][1]


@pytest.mark.slow
def test_every_corruption_renders_and_differs_from_its_reference():
    rendered = render_set(build_corruptions())
    assert rendered.dropped == []
    assert len(rendered.references) == 26 and len(rendered.corruptions) == len(build_corruptions())


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tesseract") is None, reason="the OCR proxy needs tesseract")
def test_ocr_proxy_detects_label_and_value_corruptions_above_chance(tmp_path, capsys):
    out = tmp_path / "check"
    code = main(["judge-check", "--judge", "ocr", "--out", str(out), "--kinds", "remove_label,change_value",
                 "--items", ",".join(OCR_ITEMS), "--bootstrap", "500"])
    assert code == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "judge_check.json").read_text())
    assert report["judge"].startswith("ocr-proxy:tesseract")
    assert set(report["kinds"]) == {"remove_label", "change_value"}
    for kind in ("remove_label", "change_value"):
        block = report["kinds"][kind]["quiz"]
        assert set(block) == {"discrimination", "ci95", "n"} and block["n"] == len(OCR_ITEMS)
        assert block["ci95"][0] > 0.5, block  # clearly above chance
        assert f"{block['discrimination']:.2f} [{block['ci95'][0]:.2f}, {block['ci95'][1]:.2f}]" in printed
    assert set(report["skipped_metrics"]) == {"judge", "rinv"}
    rows = [json.loads(line) for line in (out / "corruption_set" / "metadata.jsonl").read_text().splitlines()]
    assert {r["kind"] for r in rows} == {"reference", "remove_label", "change_value"}
    assert all((out / "corruption_set" / r["file_name"]).exists() for r in rows)


def test_a_constant_judge_comes_out_at_chance(tmp_path):
    from scigenbench.generators.backends import get_backend
    from scigenbench.metrics.testing import judge_json

    constant = "Answer: A\nFinal answer: 42\n" + judge_json(1, 1, 1, 1, 1) + "\nVerdict: INCORRECT"
    backend = get_backend("fake", responses=lambda messages, **_: constant, cache=False)
    report = run_judge_check(backend, tmp_path / "check", items=OCR_ITEMS[:3], n_boot=100)
    assert set(report["metrics"]) == {"judge", "quiz", "rinv"}
    for kind, per_metric in report["kinds"].items():
        for metric, block in per_metric.items():
            assert block["discrimination"] == 0.5, (kind, metric)
            assert block["ci95"] == ([0.5, 0.5] if block["n"] > 1 else None), (kind, metric)
    assert all(not d["moves"] for per_dim in report["judge_dimensions"].values() for d in per_dim.values())
    assert (tmp_path / "check" / "report.md").read_text().startswith("# judge-check: fake")


def test_export_only_writes_a_loadable_versioned_dataset(tmp_path, capsys):
    from datasets import load_dataset

    items = "mini-physics-incline-friction,mini-math-cone-volume"
    assert main(["judge-check", "--export-only", "--out", str(tmp_path), "--items", items,
                 "--kinds", "change_value,reverse_direction"]) == 0
    assert "3 corruptions of 2 references" in capsys.readouterr().out
    ds = load_dataset("imagefolder", data_dir=str(tmp_path / "corruption_set"), split="train")
    assert sorted(ds["kind"]) == ["change_value", "change_value", "reference", "reference", "reverse_direction"]
    assert set(ds["set_version"]) == {"1.0"} and ds[0]["image"].size[0] > 100


def test_dimension_moves_by_hand():
    from scigenbench.metrics.judge_check import dimension_moves

    ref = {"Correctness_Fidelity": 2, "Layout_Precision": 2, "Readability_Occlusion": 2,
           "Scientific_Plausibility": 1, "Expressiveness_Richness": 1}
    worse = dict(ref, Readability_Occlusion=0)
    slightly = dict(ref, Readability_Occlusion=1)
    moves = dimension_moves([(ref, worse), (ref, slightly), (ref, slightly)], n_boot=300)
    assert moves["Readability_Occlusion"]["mean_drop"] == pytest.approx((2 + 1 + 1) / 3)
    assert moves["Readability_Occlusion"]["moves"] and moves["Readability_Occlusion"]["short"] == "R&O"
    assert moves["Correctness_Fidelity"] == {"short": "C&F", "mean_drop": 0.0, "ci95": [0.0, 0.0], "n": 3,
                                             "moves": False}
