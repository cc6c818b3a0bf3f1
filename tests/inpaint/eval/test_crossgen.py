"""evaluate-detection --generator strokes: content classes, the plainly-visible F1 counts against a
direct computation, the slider's range and the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inpaint.detect.pipeline import detect_damage
from inpaint.eval.crossgen import CONTENT_CLASSES, PLAIN_CHANGE, SENSITIVITIES, _rows, content_classes, run
from inpaint.synth.strokes import stroke_damage
from tests.helpers import tiny_detector

ROOT = Path(__file__).resolve().parents[3]


def test_content_classes_name_thin_lines_edges_texture_and_flat_areas():
    img = np.full((64, 96, 3), 100, np.uint8)
    img[10, 5:40] = 220  # a thin bright line (a hair strand, a wire)
    img[20:22, 5:40] = 10  # a thin dark line
    img[40:, 60:] = 230  # a step edge
    rng = np.random.default_rng(0)
    img[40:60, 5:30] = np.clip(100 + rng.normal(0, 30, (20, 25, 1)), 0, 255).astype(np.uint8)  # texture
    classes = content_classes(img)
    name = lambda y, x: CONTENT_CLASSES[classes[y, x]]  # noqa: E731
    assert name(10, 20) == "thin bright" and name(21, 20) == "thin dark"
    assert name(40, 80) == "edge" and name(50, 15) in ("texture", "thin bright", "thin dark")
    assert name(30, 50) == "flat" and name(5, 80) == "flat"


@pytest.fixture()
def eval_folder(tmp_path):
    folder = tmp_path / "eval"
    folder.mkdir()
    yy, xx = np.mgrid[0:80, 0:80]
    for i in range(2):
        img = np.stack([(xx * (2 + i)) % 256, (yy * 3) % 256, np.full_like(xx, 90 + 40 * i)], -1).astype(np.uint8)
        Image.fromarray(img).save(folder / f"p{i}.png")
    return folder


def test_the_counts_equal_a_direct_computation_for_the_classical_detector(eval_folder, tmp_path):
    results = run(str(eval_folder), str(tmp_path / "out"), ["classical"], size=64, repeats=1)
    assert results["rows"] == [name for name, _ in _rows()] and results["rows"][0] == "mixed"
    # the "line" row of the first photo and of the second, by hand
    from inpaint.eval.cases import find_images, load_square

    tp = fp = fn = 0
    r = results["rows"].index("line")
    for image in find_images(str(eval_folder)):
        photo = load_square(str(image.path), 64, image.sha256)
        drawn = stroke_damage(photo, np.random.default_rng([0, image.index, r, 0]), kinds=("line",))
        moved = np.abs(drawn.damaged.astype(int) - photo.astype(int)).max(-1)
        plain = drawn.footprint & (moved >= PLAIN_CHANGE)
        flagged = detect_damage(drawn.damaged, 0.5, method="classical").damage
        tp += int((flagged & plain).sum())
        fp += int((flagged & ~drawn.footprint).sum())
        fn += int((~flagged & plain).sum())
    (row,) = [t for t in results["table"] if t["row"] == "line" and t["sensitivity"] == 0.5]
    assert (row["tp"], row["fp"], row["fn"]) == (tp, fp, fn) and tp + fn > 0
    md = (tmp_path / "out" / "results.md").read_text()
    assert "| line |" in md and "| width 1-2 px |" in md and "thin bright" in md


def test_the_learned_detectors_sensitivities_move_only_its_threshold(eval_folder, tmp_path):
    model = tiny_detector(version="tiny")
    results = run(str(eval_folder), str(tmp_path / "out"), ["learned"], size=64, repeats=1, model=model)
    clean = {c["sensitivity"]: c["flagged_share"] for c in results["clean"]}
    assert sorted(clean) == list(SENSITIVITIES)
    assert clean[0.0] <= clean[0.5] <= clean[1.0]  # a higher sensitivity flags more, never less
    for c in results["clean"]:
        assert sum(v["pixels"] for v in c["by_class"].values()) == 2 * 64 * 64


def test_the_command_line_runs_the_stroke_evaluation(eval_folder, tmp_path):
    out = tmp_path / "cli"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "inpaint",
            "evaluate-detection",
            "--generator",
            "strokes",
            "--images",
            str(eval_folder),
            "--out",
            str(out),
            "--methods",
            "classical",
            "--size",
            "48",
            "--repeats",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    saved = json.loads((out / "results.json").read_text())
    assert saved["generator"] == "inpaint.synth.strokes" and saved["methods"] == ["classical"]
    assert "independent stroke generator" in proc.stdout


def test_the_physical_generator_counts_against_its_undamaged_scan(eval_folder, tmp_path):
    """--generator physical: rows by kind; a pixel is plainly visible damage when the damage moved it
    by PLAIN_CHANGE against the same print scanned undamaged, checked by replaying the draws."""
    from inpaint.eval.cases import find_images, load_square
    from inpaint.synth.physical import PHYSICAL_KINDS, physical_damage

    results = run(str(eval_folder), str(tmp_path / "out"), ["classical"], generator="physical", size=64, repeats=1)
    assert results["rows"] == ["mixed", *PHYSICAL_KINDS] and results["generator"] == "inpaint.synth.physical"
    r = results["rows"].index("tear")
    tp = fp = fn = 0
    for image in find_images(str(eval_folder)):
        photo = load_square(str(image.path), 64, image.sha256)
        sample = physical_damage(photo, np.random.default_rng([0, image.index, r, 0]), kinds=("tear",))
        moved = np.abs(sample.image.astype(int) - sample.reference.astype(int)).max(-1)
        plain = sample.footprint & (moved >= PLAIN_CHANGE)
        flagged = detect_damage(sample.image, 0.5, method="classical").damage
        tp, fp, fn = (
            tp + int((flagged & plain).sum()),
            fp + int((flagged & ~sample.footprint).sum()),
            fn + int((~flagged & plain).sum()),
        )
    (row,) = [t for t in results["table"] if t["row"] == "tear" and t["sensitivity"] == 0.5]
    assert (row["tp"], row["fp"], row["fn"]) == (tp, fp, fn) and tp + fn > 0
    assert "the physical damage model" in (tmp_path / "out" / "results.md").read_text()


def test_the_cross_table_puts_each_detector_by_each_generator(eval_folder, tmp_path):
    from inpaint.eval.crossgen import cross

    bundled, other = tiny_detector(seed=0, version="a"), tiny_detector(seed=1, version="b")
    other.metadata = {"phases": [{"generator": "synth"}, {"generator": "physical"}]}
    out = tmp_path / "cross"
    summary = cross(
        str(eval_folder), str(out), ["learned", "classical"], ["strokes", "physical"],
        model=bundled, compare={"phys": other}, size=48, repeats=1,
    )  # fmt: skip
    assert [r["method"] for r in summary["table"]] == ["learned", "phys", "classical"]
    assert [r["trained_on"] for r in summary["table"]] == ["synth", "physical", None]
    for g in ("strokes", "physical"):
        per = json.loads((out / g / "results.json").read_text())
        assert per["model_versions"] == {"learned": "a", "phys": "b"}
        for row in summary["table"]:
            (cell,) = [
                t for t in per["table"] if (t["method"], t["row"], t["sensitivity"]) == (row["method"], "mixed", 0.5)
            ]
            assert row[g]["tp"] == cell["tp"] and row[g]["f1"] == cell["f1"]
    md = (out / "cross.md").read_text()
    assert "| phys | physical |" in md and "| classical | (not trained) |" in md
    with pytest.raises(ValueError, match="taken"):
        cross(str(eval_folder), str(out), ["classical"], ["strokes"], compare={"classical": other}, size=48)


def test_the_command_line_rejects_an_unknown_generator_in_one_line(eval_folder, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "inpaint", "evaluate-detection", "--generator", "strokes,pencil",
         "--images", str(eval_folder), "--out", str(tmp_path / "x"), "--methods", "classical"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "give synth, or one or more of strokes, physical" in proc.stderr
