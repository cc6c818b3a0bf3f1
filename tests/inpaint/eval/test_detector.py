"""evaluate-detection and the detector's model card (inpaint.eval.detector, inpaint.eval.card,
inpaint.eval.metrics)."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest
from PIL import Image

from inpaint.eval.metrics import f1_counts, scores
from inpaint.nn.damagenet import load_detector
from inpaint.train.detector import DetectTrainConfig
from inpaint.train.machine import machine_summary
from tests.inpaint.detect_helpers import ROOT, _cli, detector_loop, tiny_net


def test_scores_against_a_direct_computation():
    pred = np.array([[1, 1, 0, 0], [1, 0, 0, 1]], bool)
    truth = np.array([[1, 0, 0, 0], [1, 1, 0, 0]], bool)
    tp, fp, fn = f1_counts(pred, truth)
    assert (tp, fp, fn) == (2, 2, 1)
    s = scores(tp, fp, fn)
    assert s["precision"] == pytest.approx(0.5) and s["recall"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3)) and s["iou"] == pytest.approx(2 / 5)
    assert scores(0, 0, 0)["f1"] is None and scores(0, 3, 0)["recall"] is None


def test_card_command_writes_the_detector_card_from_its_run_and_evaluation(photo_folder, tmp_path):
    from inpaint.eval.detector import run

    cfg = DetectTrainConfig(
        data=f"folder:{photo_folder}",
        out=str(tmp_path / "run"),
        val_data=str(photo_folder),
        width=4,
        depth=3,
        crop=48,
        batch_size=2,
        steps=2,
        workers=0,
        val_every=1,
        val_images=3,
        thin_weight=4.0,
        dark_weight=2.0,
        single_kind_fraction=0.5,
    )
    folder = detector_loop(cfg).fit()
    run(
        str(photo_folder),
        str(tmp_path / "ev"),
        ["learned", "classical"],
        size=64,
        repeats=1,
        limit=2,
        model=load_detector(folder, device="cpu"),
    )
    r = _cli(
        "card",
        "--model",
        str(folder),
        "--eval",
        str(tmp_path / "ev"),
        "--train-command",
        "scripts/train_detector.sh run",
    )
    assert r.returncode == 0, r.stderr
    card = (folder / "README.md").read_text()
    assert "# Damage detector for old photos (`damage-w4-d3-s2`)" in card
    assert "2 Adam steps" in card and "4 crops of 48 px" in card
    assert (
        "thin damage, the pixels a 3x3 erosion removes, 5 times more" in card and "50% of the damaged samples" in card
    )
    assert "visibly darker (by 8 grey levels or more) 2 more" in card
    assert "`scripts/train_detector.sh run`" in card and "of their pixels flagged" in card
    # the Hub's form: YAML metadata, then one results table, the F1 table of the evaluation's results.md
    assert card.startswith("---\nlicense: other\nlibrary_name: pytorch\npipeline_tag: image-segmentation\n")
    assert "\nmetrics: [f1]\n---\n\n# Damage detector" in card
    assert [h for h in card.splitlines() if h.startswith("## ")] == [
        "## How to use",
        "## Results",
        "## Limitations",
        "## Training",
        "## License",
    ]
    evaluated = (tmp_path / "ev" / "results.md").read_text()
    scratch_row = next(line for line in evaluated.splitlines() if line.startswith("| scratch |"))
    assert scratch_row in card and sum(line.startswith("| kind |") for line in card.splitlines()) == 1
    # the trainer records the commit it ran from (git rev-parse HEAD), and no recipe without --recipe
    commit = (
        subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip() or None
    )
    assert "- recipe: not recorded" in card
    assert (f"- training commit: `{commit}`" if commit else "- training commit: not recorded") in card
    assert "- training record: [training_record.json](training_record.json)" in card
    # the full record beside the card: the phases, the run's configuration and validation, the evaluation
    detector = load_detector(folder, device="cpu")
    record = json.loads((folder / "training_record.json").read_text())
    assert record["model"] == "damage-w4-d3-s2" and record["command"] == "scripts/train_detector.sh run"
    assert (record["recipe"], record["commit"]) == (None, commit)
    assert [
        {k: v for k, v in p.items() if k not in ("phase", "crops_per_second")} for p in record["phases"]
    ] == detector.metadata["phases"]
    assert record["validation"] == detector.metadata["validation"]
    assert (
        record["last_phase_config"] == detector.metadata["train_config"]
        and record["last_phase_config"]["thin_weight"] == 4.0
    )
    assert record["totals"]["steps"] == 2 and record["totals"]["images_seen"] == 4 and record["totals"]["crops"] == [48]
    results = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert (
        record["evaluation"][0]["folder"] == "ev"
        and record["evaluation"][0]["false_positive_rate"] == results["false_positive_rate"]
    )
    assert detector.config.version == "damage-w4-d3-s2"  # the weights are untouched


def test_evaluate_detection_writes_tables_and_sheets(photo_folder, tmp_path):
    from inpaint.eval.detector import ROWS, run
    from inpaint.synth.damage import SEVERITIES

    demo = photo_folder / "p0.png"
    results = run(
        str(photo_folder),
        str(tmp_path / "ev"),
        ["learned", "classical"],
        size=64,
        repeats=1,
        limit=2,
        demo=str(demo),
        model=tiny_net(),
    )
    assert len(results["table"]) == 2 * len(SEVERITIES) * len(ROWS)
    for row in results["table"]:
        assert row["tp"] + row["fn"] > 0  # every cell had damage to find
        assert row["f1"] == pytest.approx(scores(row["tp"], row["fp"], row["fn"])["f1"])
        # the visibility split covers every true pixel once, and the found ones are the true positives
        assert sum(row["truth_by_visibility"]) == row["tp"] + row["fn"]
        assert sum(row["found_by_visibility"]) == row["tp"]
        assert all(f <= t for f, t in zip(row["found_by_visibility"], row["truth_by_visibility"]))
        # the visible-truth scores drop exactly the faint bin from the truth; false positives are unchanged
        vis = row["visible"]
        assert vis["tp"] == sum(row["found_by_visibility"][1:]) and vis["fp"] == row["fp"]
        assert vis["tp"] + vis["fn"] == sum(row["truth_by_visibility"][1:])
        assert vis["f1"] == pytest.approx(scores(vis["tp"], vis["fp"], vis["fn"])["f1"])
        # the polarity split covers the plainly visible bins (changed by 20 levels or more) once
        assert sum(row["plain_truth_brighter_darker"]) == sum(row["truth_by_visibility"][2:])
        assert sum(row["plain_found_brighter_darker"]) == sum(row["found_by_visibility"][2:])
    assert set(results["false_positive_rate"]) == {"learned", "classical"}
    md = (tmp_path / "ev" / "results.md").read_text()
    assert "| scratch |" in md and "pixels flagged" in md and "Recall by how visible the damage is" in md
    assert "with the faint truth ignored" in md and sum(line.startswith("| scratch |") for line in md.splitlines()) == 5
    assert "brighter or darker" in md
    assert json.loads((tmp_path / "ev" / "results.json").read_text())["size"] == 64
    for name in ("contact-sheet.png", "demo.png"):
        with Image.open(tmp_path / "ev" / name) as im:
            assert im.width > 100


def test_darker_against_the_channel_sums():
    from inpaint.synth.truth import darker, truth_changes

    reference = np.full((2, 3, 3), 100, np.uint8)
    seen = reference.copy()
    seen[0, 0] = (60, 60, 60)  # a dark scratch
    seen[0, 1] = (250, 240, 230)  # paper showing through
    seen[0, 2] = (130, 90, 70)  # a yellow-brown cast: -10 in sum, darker
    truth = np.zeros((2, 3), bool)
    truth[0] = True
    assert darker(truth_changes(seen, reference, truth)).tolist() == [True, False, True]


def test_the_card_says_where_each_phase_ran():
    from inpaint.eval.card import UNRECORDED_MACHINE, _where_trained

    here = machine_summary()
    assert here.startswith(f"{os.cpu_count()}-core ") and ("no GPU" in here or "GPU " in here)
    assert _where_trained([{"steps": 5}]) == f" on {UNRECORDED_MACHINE}" == " on an unrecorded machine"
    assert _where_trained([]) == f" on {UNRECORDED_MACHINE}"
    mixed = [{}, {}, {"machine": "M1"}, {"machine": "M1"}, {"machine": "M2"}]
    assert _where_trained(mixed) == ": phases 1-2 on an unrecorded machine; phases 3-4 on a M1; phase 5 on a M2"
