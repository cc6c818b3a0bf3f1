"""Provenance records (inpaint/io/provenance.py) and `python -m inpaint verify`: a restoration
carries the mask of the pixels it replaced, and every other pixel is checked against the original
in the original's own representation."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from inpaint import open_photo, restore
from inpaint.cli import main
from inpaint.io.masks import dilate_damage, known_to_image
from inpaint.io.provenance import (
    PNG_KEY,
    ProvenanceError,
    make_record,
    pixels_sha256,
    read_provenance,
    save_restoration,
    sidecar_path,
    verify,
)
from inpaint.nn.unet import save_model
from tests.helpers import tiny_restorer

H, W = 40, 56


def smooth_rgb(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W]
    base = np.stack([x * 255 / W, y * 255 / H, (x + y) * 127 / (H + W)], -1)
    return np.clip(base + rng.normal(0, 8, (H, W, 3)), 0, 255).astype(np.uint8)


def crease() -> np.ndarray:
    """The known mask (True = keep) of a crease and a spot."""
    known = np.ones((H, W), bool)
    known[18:21, 6:50] = False
    known[5:10, 30:36] = False
    return known


def write_original(folder: Path, kind: str) -> Path:
    """A photo file in ``kind``'s representation, the way a person would upload it."""
    rgb = smooth_rgb()
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    if kind == "rgb16":
        path = folder / "scan16.png"
        wide = rgb.astype(np.uint16) * 256 + np.arange(W, dtype=np.uint16)[:, None]  # low bits in use
        assert cv2.imwrite(str(path), np.ascontiguousarray(wide[..., ::-1]))
        return path
    if kind == "gray16":
        path = folder / "scan16.tif"
        Image.fromarray(gray.astype(np.uint16) * 257 + 3).save(path)
        return path
    if kind == "cmyk":
        path = folder / "scan.tif"
        Image.fromarray(rgb).convert("CMYK").save(path)
        return path
    if kind == "rgba":
        alpha = np.full((H, W, 1), 200, np.uint8)
        image = Image.fromarray(np.concatenate([rgb, alpha], -1), "RGBA")
    elif kind == "la":
        image = Image.fromarray(np.stack([gray, np.full_like(gray, 90)], -1), "LA")
    elif kind == "gray":
        image = Image.fromarray(gray, "L")
    else:
        image = Image.fromarray(rgb, "RGB")
    path = folder / f"scan-{kind}.png"
    image.save(path)
    return path


def resave(src: Path, dest: Path, change=None, keep_record: bool = True) -> Path:
    """``src``'s pixels, optionally changed by ``change(array)``, written to the PNG ``dest``
    with (or without) ``src``'s provenance chunk."""
    im = Image.open(src)
    pixels = np.asarray(im).copy()
    if change is not None:
        change(pixels)
    info = None
    if keep_record:
        info = PngInfo()
        info.add_itxt(PNG_KEY, im.info[PNG_KEY])
    Image.fromarray(pixels, im.mode).save(dest, pnginfo=info)
    return dest


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


# --- the command line ------------------------------------------------------------------------


@pytest.fixture
def restored(tmp_path: Path) -> SimpleNamespace:
    """A damaged photo and its mask restored by `python -m inpaint restore` with a tiny model."""
    save_model(tiny_restorer(working_size=64, version="tiny-prov"), tmp_path / "w", metadata={"steps": 1})
    known = crease()
    photo = smooth_rgb()
    photo[~known] = (255, 0, 255)
    Image.fromarray(photo).save(tmp_path / "damaged.png")
    known_to_image(known).save(tmp_path / "mask.png")
    out = tmp_path / "out"
    argv = ["restore", str(tmp_path / "damaged.png"), "--mask", str(tmp_path / "mask.png"), "-n", "2"]
    assert main([*argv, "--weights", str(tmp_path / "w"), "--out", str(out)]) == 0
    return SimpleNamespace(folder=tmp_path, original=tmp_path / "damaged.png", out=out, known=known)


def run_verify(capsys, *args: Path | str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["verify", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_cli_restoration_carries_its_record_and_verifies(restored, capsys):
    meta = json.loads((restored.out / "restorations.json").read_text())
    for entry in meta["candidates"]:
        path = restored.out / entry["file"]
        assert path.suffix == ".png" and entry["provenance"] == sidecar_path(path).name
        embedded = json.loads(Image.open(path).info[PNG_KEY])
        assert embedded == json.loads((restored.out / entry["provenance"]).read_text())  # the same record twice
        assert embedded["candidate"] == {k: v for k, v in entry.items() if k not in ("file", "provenance", "seconds")}
        assert embedded["candidate"]["model_version"] == "tiny-prov" and embedded["candidate"]["method"] == "pconv"
        record = read_provenance(path)
        assert np.array_equal(record.replaced, ~dilate_damage(restored.known, entry["dilation"]))
        assert embedded["replaced"]["pixels"] == record.replaced.sum() > 0
        assert (
            embedded["original"]["pixels_sha256"]
            == hashlib.sha256(np.asarray(Image.open(restored.original)).tobytes()).hexdigest()
        )

        code, out, err = run_verify(capsys, restored.original, path)
        assert code == 0 and err == ""
        line = one_line(out)
        assert line.startswith("OK: ") and f"{record.replaced.sum()} replaced pixels" in line and "pconv" in line


def test_one_pixel_changed_outside_the_mask_fails_with_the_count(restored, capsys):
    path = restored.out / "restoration-0.png"
    mask = read_provenance(path).replaced
    assert not mask[3, 5] and not mask[30, 40:43].any()

    def touch_one(a):
        a[3, 5, 1] ^= 1  # one bit of one channel

    one = resave(path, restored.folder / "one.png", touch_one)
    code, out, _ = run_verify(capsys, restored.original, one)
    assert code == 1
    assert one_line(out).startswith("FAILED: 1 pixel outside the") and "x 5-5, y 3-3" in out

    def touch_three(a):
        a[30, 40:43] = 255 - a[30, 40:43]

    three = resave(path, restored.folder / "three.png", touch_three)
    code, out, _ = run_verify(capsys, restored.original, three)
    assert code == 1 and "3 pixels outside" in out and "x 40-42, y 30-30" in one_line(out)


def test_a_pixel_changed_inside_the_mask_still_verifies(restored, capsys):
    path = restored.out / "restoration-1.png"
    mask = read_provenance(path).replaced
    ys, xs = np.nonzero(mask)

    def repaint(a):
        a[ys, xs] = (0, 128, 0)  # the whole replaced region, painted over

    inside = resave(path, restored.folder / "inside.png", repaint)
    code, out, _ = run_verify(capsys, restored.original, inside)
    assert code == 0 and one_line(out).startswith("OK: ")


def test_stripped_provenance_fails_cleanly_and_a_sidecar_alone_verifies(restored, capsys):
    path = restored.out / "restoration-0.png"
    bare = resave(path, restored.folder / "bare.png", keep_record=False)
    assert PNG_KEY not in Image.open(bare).info
    code, out, err = run_verify(capsys, restored.original, bare)
    assert code == 2 and out == ""
    assert "bare.png carries no provenance record" in one_line(err) and "--provenance" in err

    # the sidecar beside it is found by name...
    sidecar_path(bare).write_bytes(sidecar_path(path).read_bytes())
    code, out, _ = run_verify(capsys, restored.original, bare)
    assert code == 0 and "record: bare.provenance.json" in one_line(out)
    # ...and one elsewhere is given with --provenance
    elsewhere = restored.folder / "records" / "r0.json"
    elsewhere.parent.mkdir()
    sidecar_path(bare).rename(elsewhere)
    code, out, _ = run_verify(capsys, restored.original, bare, "--provenance", elsewhere)
    assert code == 0 and "record: r0.json" in one_line(out)

    # a sidecar does not make tampering pass
    def touch(a):
        a[0, 0] = 255 - a[0, 0]

    tampered = resave(path, restored.folder / "tampered.png", touch, keep_record=False)
    code, out, _ = run_verify(capsys, restored.original, tampered, "--provenance", elsewhere)
    assert code == 1 and "1 pixel outside" in one_line(out)


def test_the_wrong_original_or_another_size_fails(restored, capsys):
    path = restored.out / "restoration-0.png"
    other = restored.folder / "other.png"
    Image.fromarray(smooth_rgb(seed=1)).save(other)
    code, out, _ = run_verify(capsys, other, path)
    assert code == 1 and one_line(out).startswith("FAILED: other.png is not the original restoration-0.png")

    cropped = restored.folder / "cropped.png"
    im = Image.open(path)
    info = PngInfo()
    info.add_itxt(PNG_KEY, im.info[PNG_KEY])
    im.crop((0, 0, W - 1, H)).save(cropped, pnginfo=info)
    code, out, _ = run_verify(capsys, restored.original, cropped)
    assert code == 1 and f"sizes differ: cropped.png is {W - 1}x{H}, damaged.png {W}x{H}" in one_line(out)

    grey = restored.folder / "grey.png"
    Image.fromarray(np.asarray(im)).convert("L").save(grey, pnginfo=info)
    code, out, _ = run_verify(capsys, restored.original, grey)
    assert code == 1 and "grey.png holds grey 8-bit pixels, damaged.png RGB 8-bit" in one_line(out)


def test_bad_input_is_one_line_never_a_traceback(restored, capsys):
    path = restored.out / "restoration-0.png"
    folder = restored.folder
    (folder / "notes.png").write_text("not an image")
    (folder / "cut.png").write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    corrupt = folder / "corrupt.png"
    info = PngInfo()
    info.add_itxt(PNG_KEY, '{"format": "inpaint-provenance", "version": 1, "orig')
    Image.open(path).save(corrupt, pnginfo=info)
    record = json.loads(Image.open(path).info[PNG_KEY])
    record["replaced"]["mask_png_base64"] = "!!not base64!!"
    bad_mask = folder / "bad-mask.png"
    info = PngInfo()
    info.add_itxt(PNG_KEY, json.dumps(record))
    Image.open(path).save(bad_mask, pnginfo=info)
    cases = [
        ((folder / "missing.png", path), "the original"),
        ((restored.original, folder / "missing.png"), "missing.png does not exist"),
        ((restored.original, folder / "notes.png"), "notes.png carries no provenance record"),
        ((folder / "notes.png", path), "not an image that can be read"),
        ((restored.original, folder / "cut.png"), "truncated or corrupt"),
        ((restored.original, corrupt), "is corrupt (not JSON"),
        ((restored.original, bad_mask), "its mask cannot be read"),
        ((restored.original, path, "--provenance", folder / "none.json"), "none.json does not exist"),
    ]
    for args, expected in cases:
        code, out, err = run_verify(capsys, *args)
        assert code == 2 and out == "", (args, out)
        line = one_line(err)
        assert line.startswith("error: ") and expected in line, (args, line)


# --- every representation restore writes ------------------------------------------------------


@pytest.mark.parametrize("kind", ["rgb", "gray", "rgba", "la", "gray16", "rgb16", "cmyk"])
def test_every_representation_restore_writes_verifies(tmp_path, kind):
    original = write_original(tmp_path, kind)
    photo = open_photo(original)
    assert photo.kind == kind
    (cand,) = restore(photo, crease(), n=1, method="telea")
    saved = save_restoration(cand.image, tmp_path / "restored", make_record(photo, cand))
    assert saved.embedded == (kind != "rgb16")  # a 16-bit RGB PNG (OpenCV's) has its record beside it
    assert (saved.sidecar is None) == saved.embedded
    assert saved.path.suffix == (".tiff" if kind == "cmyk" else ".png")
    record = read_provenance(saved.path)
    assert np.array_equal(record.replaced, cand.replaced) and record.candidate == cand.spec.as_dict()
    assert record.original["kind"] == kind and record.original["pixels_sha256"] == pixels_sha256(photo.data)
    verdict = verify(original, saved.path)
    assert verdict.ok and verdict.replaced == cand.replaced.sum() > 0, verdict.message

    # the lowest bit of one value outside the mask, in the file's own representation, is caught
    back = open_photo(saved.path).data.copy()
    back[0, 0] ^= 1
    tampered = tmp_path / ("tampered.tiff" if kind == "cmyk" else "tampered.png")
    if kind == "rgb16":
        assert cv2.imwrite(str(tampered), np.ascontiguousarray(back[..., ::-1]))
    elif kind == "gray16":
        Image.fromarray(back).save(tampered)
    else:
        Image.fromarray(back, Image.open(saved.path).mode).save(tampered)
    verdict = verify(original, tampered, record_file(tmp_path, saved))
    assert not verdict.ok and verdict.differing == 1 and verdict.bbox == [0, 0, 1, 1], verdict.message


def record_file(folder: Path, saved) -> Path:
    """The record of ``saved`` as a file of its own."""
    if saved.sidecar is not None:
        return saved.sidecar
    text = json.dumps(json.loads(Image.open(saved.path).info.get(PNG_KEY) or Image.open(saved.path).tag_v2[270]))
    path = folder / "record.json"
    path.write_text(text)
    return path


def test_the_record_takes_every_field_of_the_spec_and_checks_sizes():
    photo = open_photo(smooth_rgb())
    replaced = ~crease()
    spec = SimpleNamespace(as_dict=lambda: {"method": "pconv", "seed": 3, "a_new_field": "x"})
    record = make_record(photo, SimpleNamespace(spec=spec, replaced=replaced))
    assert record["candidate"] == {"method": "pconv", "seed": 3, "a_new_field": "x"}
    rows, cols = np.nonzero(replaced)
    assert record["replaced"]["bbox"] == [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
    assert record["replaced"]["pixels"] == replaced.sum()
    with pytest.raises(ValueError, match="replaced mask"):
        make_record(photo, SimpleNamespace(spec=spec, replaced=replaced[1:]))


def test_pixels_hash_is_of_the_decoded_values_little_endian():
    wide = np.arange(12, dtype=">u2").reshape(3, 4)
    assert pixels_sha256(wide) == hashlib.sha256(wide.astype("<u2").tobytes()).hexdigest()
    assert pixels_sha256(wide) == pixels_sha256(wide.astype("<u2"))


def test_verify_raises_a_provenance_error_for_a_file_without_a_record(tmp_path):
    path = tmp_path / "plain.png"
    Image.fromarray(smooth_rgb()).save(path)
    with pytest.raises(ProvenanceError, match="carries no provenance record"):
        verify(path, path)


def test_cli_sharp_candidates_come_from_an_overlay_of_the_restorer_and_verify(restored, tmp_path, capsys):
    """restore --sharp-weights: the sharp candidates are the overlay network's, recorded as such;
    the default weights/sharp is used only for the restorer it is an overlay of."""
    import torch

    from inpaint.io.weights import save_overlay
    from inpaint.nn.unet import load_model

    tuned = load_model(restored.folder / "w", device="cpu")
    with torch.no_grad():
        tuned.decoder[-1].conv.weight.mul_(1.5)
    tuned.config.version = "tiny-prov-sharp"
    save_overlay(tuned, restored.folder / "w" / "sharp", ["decoder.2"], "tiny-prov", {"steps": 1})
    out = tmp_path / "sharp-out"
    argv = ["restore", str(restored.original), "--mask", str(tmp_path / "mask.png"), "-n", "4"]
    assert (
        main(
            [
                *argv,
                "--weights",
                str(restored.folder / "w"),
                "--sharp-weights",
                str(restored.folder / "w" / "sharp"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    entries = json.loads((out / "restorations.json").read_text())["candidates"]
    assert [(e["finish"], e["model_version"]) for e in entries] == [
        ("plain", "tiny-prov"),
        ("grain", "tiny-prov"),
        ("grain", "tiny-prov"),
        ("sharp", "tiny-prov-sharp"),
    ]
    path = out / entries[3]["file"]
    assert json.loads(Image.open(path).info[PNG_KEY])["candidate"]["finish"] == "sharp"
    code, line, _ = run_verify(capsys, restored.original, path)
    assert code == 0 and line.startswith("OK: ")
    # the restorations written without the flag (the fixture's) have no sharp candidate: the bundled
    # weights/sharp, if any, is an overlay of another restorer
    assert "sharp" not in {
        e["finish"] for e in json.loads((restored.out / "restorations.json").read_text())["candidates"]
    }
    assert (
        main(
            [
                *argv,
                "--weights",
                str(restored.folder / "w"),
                "--sharp-weights",
                str(tmp_path / "none-here"),
                "--out",
                str(out),
            ]
        )
        == 2
    )
