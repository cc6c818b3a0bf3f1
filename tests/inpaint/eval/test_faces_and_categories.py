"""The evaluation's split by photo category and its PSNR inside faces: a tiny folder whose manifest
names two categories (one photo in both people and old_print), a detector with known boxes, and
the real cascade on a real face that scikit-image ships."""

from __future__ import annotations

import csv
import hashlib
import math

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from inpaint.eval.metrics import (
    PSNR_CAP,
    detect_faces,
    face_metrics,
    face_region,
    pooled_face_psnr,
)
from inpaint.eval.restorer import EvalConfig, Setup, run
from tests.inpaint.eval.test_restorer import METHODS, SIZE, ground_truth, synthetic_photo, tiny_model

CATEGORIES = {"a/print.png": "people;old_print", "a/portrait.png": "people", "b/scene.png": "scene"}
PHOTOS = {"a/print.png": (80, 96), "a/portrait.png": (96, 72), "b/scene.png": (72, 72)}
# known face boxes (top, left, height, width) at SIZE px: two overlapping boxes, one box that runs
# past the right edge, none on the scene
BOXES = {"a/print.png": [(10, 12, 30, 28), (20, 20, 30, 30)], "a/portrait.png": [(0, 40, 40, 40)], "b/scene.png": []}


def direct_region(boxes, shape) -> np.ndarray:
    """The union of the boxes, pixel by pixel (independent of face_region)."""
    out = np.zeros(shape, bool)
    for y in range(shape[0]):
        for x in range(shape[1]):
            out[y, x] = any(t <= y < t + h and left <= x < left + w for t, left, h, w in boxes)
    return out


def direct_psnr(sq_error: float, values: int) -> float:
    return 10 * math.log10(255**2 * values / sq_error)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("categories")
    photos = root / "photos"
    rows = []
    for i, (name, (w, h)) in enumerate(PHOTOS.items()):
        path = photos / name
        path.parent.mkdir(parents=True, exist_ok=True)
        synthetic_photo(w, h, 10 + i).save(path)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        rows.append({"file": name, "role": "test", "sha256": sha, "license": "CC0-1.0", "categories": CATEGORIES[name]})
    with (photos / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    by_pixels = {ground_truth(photos, name, SIZE).tobytes(): name for name in PHOTOS}
    calls = []

    def known_faces(gt: np.ndarray):
        name = by_pixels[np.ascontiguousarray(gt).tobytes()]  # an unknown image fails the run
        calls.append(name)
        return BOXES[name]

    cfg = EvalConfig(
        images=str(photos),
        out=str(root / "out"),
        methods=METHODS,
        weights=str(tiny_model(root / "model")),
        sizes=(SIZE,),
        seed=5,
        severity_table=False,
        perceptual=False,
        allow_untrained=True,
        save_samples=True,
    )
    results = run(cfg, Setup.load(cfg), progress=False, face_detector=known_faces)
    return {"photos": photos, "out": root / "out", "results": results, "calls": calls}


def face_values(run_dir, row) -> tuple[int, float | None]:
    """(hole pixels in faces, summed squared error there) from the saved composite and mask."""
    gt = ground_truth(run_dir["photos"], row["image"], SIZE).astype(np.float64)
    hole = np.asarray(Image.open(run_dir["out"] / row["mask_file"])) > 0  # white = hole
    comp = np.asarray(Image.open(run_dir["out"] / row["composite_file"])).astype(np.float64)
    region = direct_region(BOXES[row["image"]], hole.shape) & hole
    if not region.any():
        return 0, None
    return int(region.sum()), float(((gt - comp)[region] ** 2).sum())


def test_rows_carry_their_photos_categories_and_faces_are_detected_once_per_photo(run_dir):
    rows = run_dir["results"]["samples"]
    assert rows and {r["image"] for r in rows} == set(PHOTOS)
    for r in rows:
        assert r["categories"] == CATEGORIES[r["image"]].split(";")
        assert r["faces"] == len(BOXES[r["image"]])
    assert sorted(run_dir["calls"]) == sorted(PHOTOS)  # once per photo at the one size
    meta = {i["file"]: i for i in run_dir["results"]["metadata"]["images"]}
    assert {f: i["faces"][str(SIZE)] for f, i in meta.items()} == {f: [list(b) for b in bs] for f, bs in BOXES.items()}


def test_face_psnr_equals_a_direct_computation_and_is_none_without_a_face_in_the_hole(run_dir):
    rows = run_dir["results"]["samples"]
    with_face = 0
    for r in rows:
        pixels, sq = face_values(run_dir, r)
        assert r["face_hole_pixels"] == pixels
        if sq is None:
            assert r["face_psnr"] is None and r["face_sq_error"] is None
        else:
            with_face += 1
            assert r["face_sq_error"] == pytest.approx(sq)
            assert r["face_psnr"] == pytest.approx(min(direct_psnr(sq, 3 * pixels), PSNR_CAP))
    assert all(r["face_psnr"] is None for r in rows if r["image"] == "b/scene.png")
    assert 0 < with_face < len(rows)


def _pooled_face(run_dir, rows) -> tuple[int, float | None]:
    found = [face_values(run_dir, r) for r in rows]
    pixels = sum(p for p, _ in found)
    sq = sum(s for _, s in found if s is not None)
    return sum(1 for p, _ in found if p), direct_psnr(sq, 3 * pixels) if pixels else None


def check_cell(run_dir, cell, rows) -> None:
    assert cell["n"] == len(rows) > 0
    for m in ("psnr", "ssim"):
        assert cell[m] == pytest.approx(np.mean([r[m] for r in rows]))
    for m in ("detail_fine", "detail_blurred"):
        num, den = (sum(r[f"{m}{k}"] for r in rows) for k in ("_energy", "_energy_gt"))
        assert cell[m] == pytest.approx(num / den)
    samples, psnr = _pooled_face(run_dir, rows)
    assert cell["face_samples"] == samples
    assert cell["face_psnr"] == (None if psnr is None else pytest.approx(psnr))


def test_category_cells_pool_their_rows(run_dir):
    agg = run_dir["results"]["aggregates"]
    rows = [r for r in run_dir["results"]["samples"] if r["table"] == "bins"]
    overall = agg["bins_overall_by_category"]
    assert {(c["category"], c["method"]) for c in overall} == {
        (c, m) for c in ("people", "old_print", "scene") for m in METHODS
    }
    for cell in overall:
        mine = [r for r in rows if cell["category"] in r["categories"] and r["method"] == cell["method"]]
        check_cell(run_dir, cell, mine)
    people = {c["method"]: c for c in overall if c["category"] == "people"}
    assert all(
        people[m]["n"] == 2 * len([r for r in rows if r["image"] == "b/scene.png" and r["method"] == m])
        for m in METHODS
    )
    assert all(c["face_psnr"] is None and c["face_samples"] == 0 for c in overall if c["category"] == "scene")
    for cell in agg["bins_pooled_by_category"]:
        mine = [
            r
            for r in rows
            if cell["category"] in r["categories"] and (r["bin"], r["method"]) == (cell["bin"], cell["method"])
        ]
        check_cell(run_dir, cell, mine)
    # all photos: the scene's rows (no face) are in n but not in the face PSNR
    for cell in agg["bins_overall"]:
        check_cell(run_dir, cell, [r for r in rows if r["method"] == cell["method"]])


def test_pconv_is_paired_against_each_classical_method_per_category(run_dir):
    rows = [r for r in run_dir["results"]["samples"] if r["table"] == "bins"]
    pairs = [c for c in run_dir["results"]["comparison"] if c["table"] == "bins_by_category"]
    rivals = [m for m in METHODS if m != "pconv"]
    assert sorted((c["metric"], c["category"], c["best_classical"]) for c in pairs) == sorted(
        (m, c, r) for m in ("psnr", "ssim") for c in ("people", "old_print", "scene") for r in rivals
    )
    for c in pairs:

        def values(method, c=c):
            return {
                (r["image"], r["bin"], r["border"]): r[c["metric"]]
                for r in rows
                if c["category"] in r["categories"] and r["method"] == method
            }

        mine, theirs = values("pconv"), values(c["best_classical"])
        diffs = np.array([mine[k] - theirs[k] for k in sorted(mine)])
        assert c["n"] == len(diffs) and c["delta"] == pytest.approx(diffs.mean())
        assert c["better"] == int((diffs > 0).sum())
    bins_pairs = [c for c in run_dir["results"]["comparison"] if c["table"] == "bins"]
    assert bins_pairs and all("category" not in c for c in bins_pairs)


def test_markdown_has_the_category_and_face_tables(run_dir):
    md = (run_dir["out"] / "results.md").read_text()
    agg = run_dir["results"]["aggregates"]
    assert f"## {SIZE} x {SIZE}: by photo category" in md
    assert f"## {SIZE} x {SIZE}: PSNR inside faces" in md
    cells = {(c["category"], c["method"]): c for c in agg["bins_overall_by_category"]}
    for cat, label in (("people", "people"), ("old_print", "old prints"), ("scene", "scenes")):
        n = cells[(cat, "pconv")]["n"]
        line = next(x for x in md.splitlines() if x.startswith(f"| {label} | {n} | psnr |"))
        assert f"{cells[(cat, 'telea')]['psnr']:.2f}" in line
        assert any(x.startswith(f"- {label}: PSNR vs telea") for x in md.splitlines())
    overall = {c["method"]: c for c in agg["bins_overall"]}
    face_line = next(x for x in md.splitlines() if x.startswith(f"| all photos | {overall['pconv']['face_samples']} |"))
    assert f"{overall['biharmonic']['face_psnr']:.2f}" in face_line
    assert not any(x.startswith("| scenes |") for x in md.split("PSNR inside faces")[1].splitlines())


# ----------------------------------------------------------------------------- the functions


def test_face_metrics_on_a_known_box_and_hole():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    out = gt.copy()
    known = np.ones((40, 50), bool)
    known[5:25, 10:45] = False  # the hole
    out[~known] = rng.integers(0, 256, (int((~known).sum()), 3), dtype=np.uint8)
    boxes = [(15, 30, 20, 30)]  # rows 15-34, columns 30-49: overlaps the hole in rows 15-24, columns 30-44
    got = face_metrics(gt, out, known, boxes)
    diff = gt[15:25, 30:45].astype(float) - out[15:25, 30:45].astype(float)
    assert got["face_hole_pixels"] == 10 * 15
    assert got["face_sq_error"] == pytest.approx((diff**2).sum())
    assert got["face_psnr"] == pytest.approx(10 * math.log10(255**2 / (diff**2).mean()))
    # a box that misses the hole, and one past the image's edge
    assert face_metrics(gt, out, known, [(26, 0, 10, 10)]) == {
        "face_hole_pixels": 0,
        "face_sq_error": None,
        "face_psnr": None,
    }
    assert face_metrics(gt, out, known, []) == face_metrics(gt, out, known, [(100, 100, 5, 5)])
    assert face_metrics(gt, gt, known, boxes)["face_psnr"] == PSNR_CAP
    region = face_region((40, 50), [(-5, 45, 10, 20), (30, 0, 4, 2)])
    assert np.array_equal(region, direct_region([(-5, 45, 10, 20), (30, 0, 4, 2)], (40, 50)))


def test_pooled_face_psnr_skips_rows_without_a_face():
    rows = [
        {"face_hole_pixels": 100, "face_sq_error": 3 * 100 * 25.0},  # MSE 25
        {"face_hole_pixels": 0, "face_sq_error": None, "face_psnr": None},
        {"psnr": 30.0},  # a row scored without faces
        {"face_hole_pixels": 300, "face_sq_error": 3 * 300 * 100.0},  # MSE 100
    ]
    mse = (3 * 100 * 25.0 + 3 * 300 * 100.0) / (3 * 400)
    assert pooled_face_psnr(rows) == pytest.approx(10 * math.log10(255**2 / mse))
    assert pooled_face_psnr(rows[1:3]) is None
    assert pooled_face_psnr([{"face_hole_pixels": 5, "face_sq_error": 0.0}]) == PSNR_CAP


def test_the_bundled_cascade_finds_the_astronauts_face():
    """scikit-image's astronaut photo (Eileen Collins, NASA, public domain) has one frontal face,
    centred near row 115, column 225 of the 512 px image."""
    photo = skdata.astronaut()
    for size in (512, 256):
        img = np.asarray(Image.fromarray(photo).resize((size, size), Image.Resampling.LANCZOS))
        boxes = detect_faces(img)
        assert len(boxes) == 1
        top, left, height, width = boxes[0]
        assert all(isinstance(v, int) for v in boxes[0])
        assert 0 <= top and top + height <= size and 0 <= left and left + width <= size
        assert height >= 0.1 * size
        cy, cx = 115 * size / 512, 225 * size / 512
        assert top <= cy < top + height and left <= cx < left + width


def test_the_cascade_finds_no_face_where_there_is_none():
    assert detect_faces(skdata.coffee()) == []
    assert detect_faces(np.full((64, 64, 3), 128, np.uint8)) == []
    assert detect_faces(np.zeros((20, 20, 3), np.uint8)) == []  # smaller than the cascade's window
