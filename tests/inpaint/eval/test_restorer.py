"""The paper-style evaluation on a tiny folder of synthetic photos and a tiny untrained network."""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from inpaint.eval.cases import CONTACT_SHEET_MAX_BYTES, Setting, find_images, masked_input, photo_set
from inpaint.eval.metrics import DETAIL_METRICS, METRICS
from inpaint.eval.report import CROP
from inpaint.eval.restorer import DEFAULT_PATCH, _patchmatch_patch, add_arguments, main
from inpaint.nn.unet import PConvUNet, PConvUNetConfig, save_model
from inpaint.synth.damage import SEVERITIES
from inpaint.synth.holes import HOLE_BINS
from tests.inpaint.eval.test_detail import reference_energy

METHODS = ("pconv", "telea", "biharmonic")
SIZE = 64
PHOTOS = {"a/gradient.png": (96, 72), "a/rings.png": (80, 80), "b/stripes.png": (64, 90)}


# ----------------------------------------------------------------------------- fixtures


def synthetic_photo(width: int, height: int, seed: int) -> Image.Image:
    """Smooth colour gradients plus a little texture: something inpainting can get wrong."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64) / max(width, height)
    f = rng.uniform(1.0, 3.0, 3)
    rgb = np.stack(
        [
            0.5 + 0.35 * np.sin(2 * np.pi * (f[0] * xx + 0.3 * yy)),
            0.5 + 0.35 * np.cos(2 * np.pi * f[1] * yy),
            0.4 + 0.3 * (xx + yy) / 2 + 0.1 * np.sin(2 * np.pi * f[2] * np.hypot(xx - 0.5, yy - 0.5)),
        ],
        -1,
    )
    rgb += rng.normal(0, 0.03, rgb.shape)  # grain
    return Image.fromarray(np.clip(rgb * 255, 0, 255).astype(np.uint8))


def write_folder(root: Path) -> Path:
    """Three evaluation photos and a demo photo, with a manifest naming their roles and hashes."""
    rows = []
    for i, (name, (w, h)) in enumerate({**PHOTOS, "demo/old.png": (70, 70)}.items()):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        synthetic_photo(w, h, i).save(path)
        rows.append(
            {
                "file": name,
                "role": "demo" if name.startswith("demo") else "eval",
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "license": "CC0-1.0",
            }
        )
    with (root / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["file", "role", "sha256", "license"])
        writer.writeheader()
        writer.writerows(rows)
    return root


def tiny_model(folder: Path, steps: int | None = 1) -> Path:
    torch.manual_seed(0)
    model = PConvUNet(PConvUNetConfig(width=4, depth=3, version="tiny-test"))
    return save_model(model, folder, metadata={"steps": steps} if steps is not None else None)


def cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def run_cli(images: Path, weights: Path, out: Path, *extra: str) -> int:
    return main(
        cli(
            "--images",
            str(images),
            "--out",
            str(out),
            "--weights",
            str(weights),
            "--methods",
            ",".join(METHODS),
            "--sizes",
            str(SIZE),
            "--masks-per-bin",
            "1",
            "--seed",
            "3",
            "--threads",
            "1",
            *extra,
        )
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("evaluation")
    images, weights = write_folder(root / "photos"), tiny_model(root / "model")
    out = root / "run1"
    assert run_cli(images, weights, out, "--allow-untrained", "--save-samples") == 0
    return {"images": images, "weights": weights, "out": out, "root": root}


@pytest.fixture(scope="module")
def results(data) -> dict:
    return json.loads((data["out"] / "results.json").read_text())


def ground_truth(images: Path, file: str, size: int) -> np.ndarray:
    """Centre square, Lanczos-resized: computed here independently of load_square."""
    im = Image.open(images / file).convert("RGB")
    side = min(im.size)
    left, top = (im.width - side) // 2, (im.height - side) // 2
    im = im.crop((left, top, left + side, top + side))
    if side != size:
        im = im.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(im)


# ----------------------------------------------------------------------------- results.json


def test_structure_and_sample_counts(results):
    meta = results["metadata"]
    assert set(results) == {"metadata", "aggregates", "comparison", "samples"}
    assert [i["file"] for i in meta["images"]] == sorted(PHOTOS)  # the demo photo is skipped
    assert all(len(i["sha256"]) == 64 for i in meta["images"])
    assert meta["methods"] == list(METHODS) and meta["sizes"] == [SIZE] and meta["seed"] == 3
    assert meta["model"]["steps"] == 1 and meta["model"]["version"] == "tiny-test"
    assert meta["model"]["config"]["width"] == 4 and meta["model"]["config"]["depth"] == 3
    assert meta["perceptual"] == {"backbone": "mobilenet_v2"} and meta["date"] and meta["command"]
    assert meta["roles"] == ["eval"] and meta["photo_set"] == "validation photos"

    per_method = len(PHOTOS) * (2 * len(HOLE_BINS) + len(SEVERITIES))
    assert len(results["samples"]) == per_method * len(METHODS)
    for row in results["samples"]:
        for m in METRICS:
            assert np.isfinite(row[m]), row
        assert row["seconds"] > 0 and 0 < row["l1"] < 1 and -1 <= row["ssim"] <= 1

    agg = results["aggregates"]
    cells = {(c["size"], c["bin"], c["border"], c["method"]): c["n"] for c in agg["bins"]}
    assert cells == {
        (SIZE, b, border, m): len(PHOTOS) for b in range(len(HOLE_BINS)) for border in (False, True) for m in METHODS
    }
    assert {(c["severity"], c["method"]): c["n"] for c in agg["severity"]} == {
        (s, m): len(PHOTOS) for s in SEVERITIES for m in METHODS
    }
    assert {(c["bin"], c["method"]): c["n"] for c in agg["bins_pooled"]} == {
        (b, m): 2 * len(PHOTOS) for b in range(len(HOLE_BINS)) for m in METHODS
    }
    assert {c["method"]: c["n"] for c in agg["seconds"]} == {m: per_method for m in METHODS}

    # an aggregate is the mean of its rows
    cell = next(c for c in agg["bins"] if c["bin"] == 3 and c["border"] and c["method"] == "telea")
    rows = [r for r in results["samples"] if r["bin"] == 3 and r["border"] and r["method"] == "telea"]
    assert cell["psnr"] == pytest.approx(np.mean([r["psnr"] for r in rows]))
    # pconv is compared with the best classical method in every bin and severity, on PSNR and SSIM
    comp = results["comparison"]
    assert len(comp) == 2 * (len(HOLE_BINS) + len(SEVERITIES))
    for c in comp:
        assert c["best_classical"] in ("telea", "biharmonic") and c["verdict"] in ("wins", "loses", "ties")
        assert c["n"] == (2 * len(PHOTOS) if c["table"] == "bins" else len(PHOTOS))


def test_metrics_equal_a_direct_computation(data, results):
    from inpaint.train.perceptual import FeatureExtractor, perceptual_distance

    row = next(r for r in results["samples"] if r["method"] == "pconv" and r["bin"] == 3 and r["border"])
    gt = ground_truth(data["images"], row["image"], SIZE)
    comp = np.asarray(Image.open(data["out"] / row["composite_file"]))
    assert comp.shape == gt.shape == (SIZE, SIZE, 3)
    assert row["psnr"] == pytest.approx(peak_signal_noise_ratio(gt, comp, data_range=255), abs=1e-9)
    assert row["ssim"] == pytest.approx(structural_similarity(gt, comp, data_range=255, channel_axis=-1), abs=1e-9)
    assert row["l1"] == pytest.approx(np.abs(gt / 255.0 - comp / 255.0).mean(), abs=1e-12)
    to_t = lambda a: torch.from_numpy(a.copy()).permute(2, 0, 1)[None].float() / 255.0  # noqa: E731
    with torch.inference_mode():
        d = float(perceptual_distance(FeatureExtractor(), to_t(comp), to_t(gt))[0])
    assert row["perceptual"] == pytest.approx(d, rel=1e-4, abs=1e-6)
    known = np.asarray(Image.open(data["out"] / row["mask_file"])) == 0
    for name, sigma in (("detail_fine", 0.0), ("detail_blurred", 2.0)):
        assert row[name] == pytest.approx(reference_energy(comp, known, sigma) / reference_energy(gt, known, sigma))


def test_detail_ratios_for_every_method_and_bin(results):
    """Every row carries its ratios and energies; every cell's ratio is its rows' summed energies'."""
    rows = results["samples"]
    for row in rows:
        for name in DETAIL_METRICS:
            e, e_gt = row[f"{name}_energy"], row[f"{name}_energy_gt"]
            assert e >= 0 and e_gt >= 0 and row["detail_pixels"] >= 0
            assert row[name] is None if e_gt == 0 else row[name] == pytest.approx(e / e_gt)
    bins = [r for r in rows if r["table"] == "bins"]
    assert all(r["detail_fine"] is not None and r["detail_blurred"] is not None for r in bins)
    for cell in results["aggregates"]["bins"]:
        mine = [
            r for r in bins if (r["bin"], r["border"], r["method"]) == (cell["bin"], cell["border"], cell["method"])
        ]
        for name in DETAIL_METRICS:
            num, den = (sum(r[f"{name}{k}"] for r in mine) for k in ("_energy", "_energy_gt"))
            assert cell[name] == pytest.approx(num / den) and np.isfinite(cell[name]) and cell[name] > 0
    for key in ("bins_pooled", "bins_overall"):
        assert all(c[name] is not None for c in results["aggregates"][key] for name in DETAIL_METRICS)


def test_every_composite_keeps_known_pixels_and_every_mask_is_in_its_bin(data, results):
    images, out = data["images"], data["out"]
    for row in results["samples"]:
        gt = ground_truth(images, row["image"], SIZE)
        known = np.asarray(Image.open(out / row["mask_file"])) == 0  # white = hole
        comp = np.asarray(Image.open(out / row["composite_file"]))
        assert np.array_equal(comp[known], gt[known]), row["composite_file"]
        assert not np.array_equal(comp, gt)
        ratio = 1 - known.mean()
        assert ratio == pytest.approx(row["hole_ratio"])
        touches = not (known[0].all() and known[-1].all() and known[:, 0].all() and known[:, -1].all())
        assert touches == row["touches_border"]
        if row["table"] == "bins":
            lo, hi = HOLE_BINS[row["bin"]]
            assert lo < ratio <= hi, row
            assert touches == row["border"], row
        else:
            assert row["severity"] in SEVERITIES and 0 < ratio < 0.3


def test_markdown_and_images(data, results):
    out = data["out"]
    md = (out / "results.md").read_text()
    assert f"- validation photos ({len(PHOTOS)}): " in md
    assert f"## {SIZE} x {SIZE}" in md and "### PSNR" in md and "### SSIM" in md and "### L1" in md
    assert "| holes | border | n | pconv | telea | biharmonic |" in md
    assert "| (0.01, 0.1] | no | 3 |" in md and f"| all | both | {len(PHOTOS) * 12} |" in md
    assert "| severity | mean hole | n | pconv | telea | biharmonic |" in md
    assert "**pconv vs the best classical method per row**" in md and "Seconds per image" in md
    assert md.count("**") >= 2 * 13  # a best value per row
    for title in ("### Detail ratio, fine", "### Detail ratio after a Gaussian blur of sigma 2 px"):
        table = md.split(title, 1)[1].split("\n\n", 2)[1].splitlines()  # the table after the heading
        assert table[0] == "| holes | border | n | pconv | telea | biharmonic |"
        assert len(table) == 2 + 2 * len(HOLE_BINS) + 1
        for line in table[2:]:
            values = [c.strip().strip("*") for c in line.split("|")[4:-1]]
            assert len(values) == len(METHODS) and all(float(v) > 0 for v in values), line
    with Image.open(out / "chart.png") as im:
        assert im.format == "PNG" and im.width > 300
    with Image.open(out / "contact_sheet.png") as im:
        im.load()
        assert im.format == "PNG" and im.width > 5 * SIZE
        # 3 hole bins and the severities; each example a row of cells and a row of 100% crops (the whole 64 px)
        cell, crop, examples = 192, min(CROP, SIZE), 3 + len(SEVERITIES)  # 64 px photos shown enlarged
        assert im.size == (6 + (len(METHODS) + 3) * (cell + 6), 24 + examples * (20 + cell + 18 + crop + 18 + 6))
    assert (out / "contact_sheet.png").stat().st_size < CONTACT_SHEET_MAX_BYTES
    assert not (out / "samples.partial.jsonl").exists()


def test_same_seed_same_metrics(data, results):
    out2 = data["root"] / "run2"
    assert run_cli(data["images"], data["weights"], out2, "--allow-untrained") == 0
    again = json.loads((out2 / "results.json").read_text())["samples"]
    keys = ("image", "size", "bin", "border", "severity", "k", "method", "mask_sha256", "hole_ratio", *METRICS)
    assert [tuple(r[k] for k in keys) for r in again] == [tuple(r[k] for k in keys) for r in results["samples"]]
    # another seed draws other masks
    image = find_images(data["images"])[0]
    setting = Setting("bins", SIZE, 0, 2, False)
    a, b = (masked_input(image, setting, s)[2] for s in (3, 4))
    assert not np.array_equal(a, b)


def test_untrained_or_missing_weights_fail_with_one_line(data, capsys):
    untrained = tiny_model(data["root"] / "untrained", steps=None)
    assert run_cli(data["images"], untrained, data["root"] / "bad") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "never trained" in err and "\n" not in err
    assert not (data["root"] / "bad" / "results.json").exists()
    assert run_cli(data["images"], data["root"] / "nowhere", data["root"] / "bad") == 2
    assert "not found" in capsys.readouterr().err


def test_photo_folder_rules(tmp_path):
    train = tmp_path / "train"
    train.mkdir()
    synthetic_photo(64, 64, 0).save(train / "x.png")
    (train / "manifest.csv").write_text("file,role\nx.png,train\n")
    with pytest.raises(ValueError, match="no photo with role eval or test"):
        find_images(train)
    (train / "manifest.csv").write_text("file,role,sha256\nx.png,eval," + "0" * 64 + "\n")
    with pytest.raises(ValueError, match="sha256"):
        find_images(train)
    (train / "manifest.csv").unlink()  # no manifest: every image file, sorted
    synthetic_photo(64, 64, 1).save(train / "a.png")
    assert [i.file for i in find_images(train)] == ["a.png", "x.png"]
    assert [i.file for i in find_images(train, limit=1)] == ["a.png"]


def test_test_rows_are_scored_and_named_with_their_role(tmp_path):
    rows = [("a.png", "train"), ("b.png", "test"), ("c.png", "demo"), ("d.png", "eval"), ("e.png", "test")]
    with (tmp_path / "manifest.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "role", "categories"])
        for i, (name, role) in enumerate(rows):
            synthetic_photo(40, 40, i).save(tmp_path / name)
            writer.writerow([name, role, "people;old_print" if name == "b.png" else "scene"])
    images = find_images(tmp_path)
    assert [(i.file, i.source["role"]) for i in images] == [("b.png", "test"), ("d.png", "eval"), ("e.png", "test")]
    assert images[0].source["categories"] == "people;old_print"
    assert photo_set(images) == "validation photos and test photos"
    assert photo_set([i for i in images if i.source["role"] == "test"]) == "test photos"
    assert photo_set([i for i in images if i.source["role"] == "eval"]) == "validation photos"
    (tmp_path / "manifest.csv").unlink()
    assert photo_set(find_images(tmp_path)) == "photos"  # a plain folder: no role known


def test_command_line_checks():
    with pytest.raises(SystemExit):
        cli("--images", "x", "--out", "y", "--methods", "pconv,magic")
    args = cli("--images", "x", "--out", "y", "--methods", "telea,ns,telea", "--no-severity-table")
    assert args.methods == ("telea", "ns") and args.severity_table is False and args.sizes == (256, 512)


def test_patchmatch_patch_size_is_restored_after_the_run():
    from inpaint.restoration import classical

    original = classical.CLASSICAL_METHODS["patchmatch"]
    with _patchmatch_patch(5):
        assert classical.CLASSICAL_METHODS["patchmatch"].keywords == {"patch_size": 5}
    assert classical.CLASSICAL_METHODS["patchmatch"] is original
    with _patchmatch_patch(DEFAULT_PATCH):
        assert classical.CLASSICAL_METHODS["patchmatch"] is original


# ----------------------------------------------------------------------------- model cards


STAGE = {
    "stage": 1,
    "steps": 2,
    "lr": 2e-4,
    "batch_size": 4,
    "crop": 32,
    "scale": [0.5, 1.0],
    "features": "none",
    "loss_weights": {"valid": 1.0, "hole": 6.0, "perceptual": 0.0, "style": 0.0, "tv": 0.1},
    "encoder_bn_frozen": False,
    "decoder_renorm": "joint",
    "refine_channels": 0,
}


def write_manifest(path: Path) -> Path:
    """Three training photos from two packages and one evaluation photo, which the card leaves out."""
    rows = [
        ("a.png", "train", "pkg-one", "CC0-1.0"),
        ("b.png", "train", "pkg-one", "CC-BY-SA-4.0"),
        ("c.png", "", "pkg-two", "CC0-1.0"),
        ("d.png", "eval", "pkg-three", "GPL-2+"),
    ]
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "role", "source_package", "license"])
        writer.writerows(rows)
    return path


def test_the_card_renders_the_recipe_and_commit_the_trainer_recorded(tmp_path):
    from inpaint.eval.card import write_card

    torch.manual_seed(0)
    model = PConvUNet(PConvUNetConfig(width=4, depth=3, version="tiny-card"))
    recipe = {"path": "recipes/restorer.toml", "sha256": "ab" * 32}
    commit = "0123456789abcdef0123456789abcdef01234567"
    meta = {
        "steps": 2,
        "images_seen": 8,
        "train_seconds": 4.0,
        "crop": 32,
        "stage": 1,
        "data": "folder:PHOTOS",
        "stages": [STAGE],
        "recipe": recipe,
        "commit": commit,
    }
    folder = save_model(model, tmp_path / "model", metadata=meta)
    card = write_card(folder, write_manifest(tmp_path / "manifest.csv"), [], "train it", "a note").read_text()
    assert card.startswith("---\nlicense: other\nlibrary_name: pytorch\npipeline_tag: image-to-image\n")
    assert (
        "\nmetrics: [psnr, ssim]\n---\n\n# Partial-convolution U-Net for old-photo restoration (`tiny-card`)\n" in card
    )
    assert f"- recipe: `recipes/restorer.toml` (sha256 `{'ab' * 32}`)\n" in card
    assert (
        f"- training commit: `{commit}`\n" in card and "- exact command: `train it`\n" in card and "- a note\n" in card
    )
    assert "2 optimiser steps (last stage: 1) in 1 stage segment(s), 8 training crops of 32 px" in card
    assert "Not evaluated" in card and "| size |" not in card  # no evaluation given: no table
    assert "under CC0-1.0, CC-BY-SA-4.0 terms" in card and "- data: 3 photos;" in card
    record = json.loads((folder / "training_record.json").read_text())
    assert (record["model"], record["recipe"], record["commit"], record["command"], record["note"]) == (
        "tiny-card",
        recipe,
        commit,
        "train it",
        "a note",
    )
    assert record["phases"] == [{"phase": 1, **STAGE}]
    assert record["totals"] == {
        "steps": 2,
        "images_seen": 8,
        "train_seconds": 4.0,
        "train_hours": 0.0,
        "crops_per_second": 2.0,
        "crops": [32],
    }
    assert record["data"] == {
        "spec": "folder:PHOTOS",
        "photos": 3,
        "manifest": "manifest.csv",
        "licenses": {"CC0-1.0": 2, "CC-BY-SA-4.0": 1},
        "packages": [
            {"package": "pkg-one", "photos": 2, "licenses": {"CC0-1.0": 1, "CC-BY-SA-4.0": 1}},
            {"package": "pkg-two", "photos": 1, "licenses": {"CC0-1.0": 1}},
        ],
    }
    assert record["other_metadata"] == {"crop": 32, "stage": 1} and record["evaluation"] == []


def test_the_detector_card_renders_a_recipe_path_and_says_what_was_not_recorded(tmp_path):
    from inpaint.eval.card import write_card
    from inpaint.nn.damagenet import DamageNet, DamageNetConfig, save_detector

    torch.manual_seed(0)
    phase = {
        "steps": 3,
        "images_seen": 6,
        "seconds": 2.0,
        "crop": 48,
        "scale": [0.15, 1.0],
        "batch_size": 2,
        "lr": 1e-3,
    }
    meta = {
        "steps": 3,
        "images_seen": 6,
        "train_seconds": 2.0,
        "crop": 48,
        "phases": [phase],
        "train_config": {"lr": 1e-3, "batch_size": 2, "scale": [0.15, 1.0], "pos_weight": 3.0},
        "validation": {"val_best_f1": 0.5, "val_best_threshold": 0.6, "step": 3},
        "recipe": "recipes/detector.toml",
    }
    folder = save_detector(
        DamageNet(DamageNetConfig(width=4, depth=3, version="tiny-detector")), tmp_path / "d", metadata=meta
    )
    card = write_card(folder, None, [], "train-detector ...").read_text()
    assert card.startswith("---\nlicense: other\nlibrary_name: pytorch\npipeline_tag: image-segmentation\n")
    assert "- recipe: `recipes/detector.toml`\n" in card and "- training commit: not recorded\n" in card
    assert "3 Adam steps (the last run at lr 0.001), batch 2, 6 crops of 48 px" in card
    assert "(3.0 crops/s) on an unrecorded machine\n" in card and "- 1 phase(s)" in card
    assert "manifest was not given" in card and "Not evaluated" in card
    record = json.loads((folder / "training_record.json").read_text())
    assert record["recipe"] == {"path": "recipes/detector.toml"} and record["commit"] is None
    assert record["phases"] == [{"phase": 1, **phase, "crops_per_second": 3.0}]
    assert record["validation"] == meta["validation"] and record["last_phase_config"] == meta["train_config"]


def test_the_card_shows_one_results_table_from_the_evaluation(data, results, tmp_path):
    """The restorer's card from the fixture's evaluate run: one table, a row per size and metric,
    each method's mean over all the run's samples, the best in bold; the run in the record."""
    import shutil

    from inpaint.eval.card import write_card

    folder = Path(shutil.copytree(data["weights"], tmp_path / "model"))
    card = write_card(folder, None, [data["out"]], "train ...").read_text()
    lines = card.splitlines()
    tables = [i for i, line in enumerate(lines) if line.startswith("|")]
    assert tables == list(range(tables[0], tables[0] + 2 + 2 * len(results["metadata"]["sizes"])))  # one table
    assert lines[tables[0]] == "| size | metric | pconv (this model) | Telea | biharmonic |"
    overall = {(c["size"], c["method"]): c for c in results["aggregates"]["bins_overall"]}
    for metric, label, digits in (("psnr", "PSNR (dB)", 2), ("ssim", "SSIM", 4)):
        row = next(line for line in lines if line.startswith(f"| {SIZE} | {label} |"))
        cells = [c.strip() for c in row.split("|")[3:-1]]
        values = [overall[(SIZE, m)][metric] for m in METHODS]
        assert [c.strip("*") for c in cells] == [f"{v:.{digits}f}" for v in values]
        assert [c.startswith("**") for c in cells] == [f"{v:.{digits}f}" == f"{max(values):.{digits}f}" for v in values]
    assert f"made by `{results['metadata']['command']}`" in card
    record = json.loads((folder / "training_record.json").read_text())
    run = record["evaluation"][0]
    assert (run["folder"], run["command"], run["photos"], run["sizes"], run["methods"]) == (
        data["out"].name,
        results["metadata"]["command"],
        len(PHOTOS),
        [SIZE],
        list(METHODS),
    )
    assert {(c["size"], c["method"]): c["psnr"] for c in run["overall"]} == {k: c["psnr"] for k, c in overall.items()}


def test_the_card_refuses_an_evaluation_of_another_model_or_kind(data, tmp_path):
    from inpaint.eval.card import write_card

    torch.manual_seed(1)
    other = save_model(
        PConvUNet(PConvUNetConfig(width=4, depth=3, version="another")), tmp_path / "other", metadata={"steps": 1}
    )
    with pytest.raises(ValueError, match="evaluated `tiny-test`, not this model"):
        write_card(other, None, [data["out"]], "t")
    (tmp_path / "detection").mkdir()
    (tmp_path / "detection" / "results.json").write_text(json.dumps({"table": []}))
    with pytest.raises(ValueError, match="not the output of `python -m inpaint evaluate`"):
        write_card(other, None, [tmp_path / "detection"], "t")
    with pytest.raises(ValueError, match="has no results.json"):
        write_card(other, None, [tmp_path], "t")


def test_a_folder_without_categories_has_no_split_and_faces_do_not_break_pooling(data, results):
    """The fixture's manifest has no categories column: rows name none, nothing is aggregated or
    paired per category and results.md has no category table; the real detector finds no face in
    the synthetic photos, so every face PSNR is None and the cells still pool."""
    assert all(r["categories"] == [] for r in results["samples"])
    assert results["aggregates"]["bins_overall_by_category"] == []
    assert results["aggregates"]["bins_pooled_by_category"] == []
    assert not any(c["table"] == "bins_by_category" for c in results["comparison"])
    md = (data["out"] / "results.md").read_text()
    assert "by photo category" not in md
    assert all(r["faces"] == 0 and r["face_psnr"] is None and r["face_hole_pixels"] == 0 for r in results["samples"])
    for cell in results["aggregates"]["bins_overall"]:
        assert cell["face_psnr"] is None and cell["face_samples"] == 0 and cell["psnr"] is not None
    assert "No detected face overlaps a hole" in md


def test_finishes_are_methods_of_their_own_and_never_rivals_of_pconv(data, tmp_path):
    """--methods pconv,pconv+grain,pconv+sharp,telea: each finish is scored as a method (the sharp
    one by the overlay network in --sharp-weights); pconv is compared with telea alone."""
    import shutil

    from inpaint.io.weights import save_overlay
    from inpaint.nn.unet import load_model

    base = tmp_path / "weights"
    shutil.copytree(data["weights"], base)
    sharp = load_model(base, device="cpu", allow_untrained=True)
    with torch.no_grad():
        sharp.decoder[-1].conv.weight.mul_(1.5)
    sharp.config.version = "tiny-sharp"
    save_overlay(sharp, base / "sharp", ["decoder.2"], "tiny-test", {"steps": 1})
    out = tmp_path / "run"
    methods = "pconv,pconv+grain,pconv+sharp,telea"
    argv = ("--images", str(data["images"]), "--out", str(out), "--weights", str(base), "--methods", methods)
    extra = ("--sizes", str(SIZE), "--seed", "3", "--no-severity-table", "--no-perceptual", "--allow-untrained")
    assert main(cli(*argv, "--sharp-weights", str(base / "sharp"), *extra)) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["metadata"]["model"]["sharp"]["version"] == "tiny-sharp"
    by = {m: [r for r in res["samples"] if r["method"] == m] for m in methods.split(",")}
    assert len({len(rs) for rs in by.values()}) == 1 and by["pconv"]
    assert any(a["psnr"] != b["psnr"] for a, b in zip(by["pconv"], by["pconv+sharp"]))  # another network
    assert {c["best_classical"] for c in res["comparison"]} == {"telea"}
    assert "| pconv+sharp |" in (out / "results.md").read_text()
    with pytest.raises(SystemExit):
        cli("--images", "x", "--out", "y", "--methods", "telea+sharp")


def test_physical_damage_is_scored_against_the_undamaged_scan_of_the_same_print(data, tmp_path):
    """--damage physical: the severity table's inputs come from synth.physical (print, damage, scan):
    the mask is the damage's footprint, the ground truth the undamaged scan drawn with the same seed."""
    from inpaint.synth.physical import physical_damage

    out = tmp_path / "run"
    argv = ("--images", str(data["images"]), "--out", str(out), "--methods", "telea,biharmonic")
    extra = ("--sizes", str(SIZE), "--seed", "3", "--no-perceptual", "--save-samples", "--damage", "physical")
    assert main(cli(*argv, *extra)) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["metadata"]["protocol"]["damage"] == "physical"
    rows = [r for r in res["samples"] if r["table"] == "severity"]
    assert rows and {r["damage"] for r in rows} == {"physical"}
    assert {r["damage"] for r in res["samples"] if r["table"] == "bins"} == {None}
    assert "## Physical print damage" in (out / "results.md").read_text()
    for row in rows[:4]:
        clean = ground_truth(data["images"], row["image"], SIZE)
        scanned = physical_damage(clean, np.random.default_rng(row["mask_seed"]), severity=row["severity"])
        assert row["mask_seed"][3] == 2  # the physical generator's word; the synthesiser's is 1
        known = np.asarray(Image.open(out / row["mask_file"])) == 0
        assert np.array_equal(known, ~scanned.footprint)
        comp = np.asarray(Image.open(out / row["composite_file"]))
        assert np.array_equal(comp[known], scanned.reference[known])  # the undamaged scan, not the photo
        assert row["psnr"] == pytest.approx(peak_signal_noise_ratio(scanned.reference, comp, data_range=255), abs=1e-9)
    setting = Setting("severity", SIZE, 0, severity="moderate", damage="physical")
    image = find_images(data["images"])[0]
    gt, seen, known = masked_input(image, setting, 3)
    assert not np.array_equal(gt, ground_truth(data["images"], image.file, SIZE))  # printed and scanned
    assert np.array_equal(seen[known], gt[known]) and not np.array_equal(seen, gt)
    with pytest.raises(SystemExit):
        cli("--images", "x", "--out", "y", "--damage", "vector")
