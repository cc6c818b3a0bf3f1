"""``python -m inpaint``: restore, verify, damage, detect, train, train-detector, evaluate, evaluate-detection, card.

Bad input ends with exit code 2 and a one-line message on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import time
from pathlib import Path

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"}


class UsageError(ValueError):
    """Bad input from the command line; printed as one line, exit code 2."""


# Commands whose arguments and code live in a room of their own: (module, help). Each is imported
# only when it runs (or is asked for its --help), so `restore` and `detect` load neither the
# training nor the evaluation code.
ROOM_COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("inpaint.train.restorer", "train the restorer (the paper's two stages)"),
    "train-detector": ("inpaint.train.detector", "train the damage detector on synthetic damage"),
    "evaluate": ("inpaint.eval.restorer", "the paper-style evaluation against classical methods"),
    "evaluate-detection": (
        "inpaint.eval.detector",
        "damage detection: learned vs classical per damage kind and severity",
    ),
    "card": ("inpaint.eval.card", "write a model folder's model card from its metadata and evaluation"),
}
MASK_CONVENTIONS = ("auto", "white-is-damage", "black-is-damage", "alpha")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    from .restoration import METHODS

    p = argparse.ArgumentParser(
        prog="python -m inpaint", description="Restore damaged photos with partial convolutions."
    )
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("restore", help="restore a photo (or a folder of photos) given damage masks")
    r.add_argument("photo", help="a photo file, or a folder of photos (then use --masks)")
    g = r.add_mutually_exclusive_group(required=True)
    g.add_argument("--mask", help="the damage mask image for one photo")
    g.add_argument("--masks", help="a folder of masks matched to the photos by file stem")
    r.add_argument(
        "--mask-convention",
        default="auto",
        choices=MASK_CONVENTIONS,
        help="which colour marks damage (auto: the colour covering less of the mask; alpha: painted RGBA layer)",
    )
    r.add_argument(
        "--resize-mask", action="store_true", help="resize a mask of another size to the photo (nearest neighbour)"
    )
    r.add_argument("-n", type=int, default=4, help="number of restorations (1-8)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument(
        "--variation", type=float, default=0.5, help="0 = candidates differ only by dilation, 1 = strongly varied"
    )
    r.add_argument("--method", default="pconv", choices=METHODS)
    r.add_argument("--weights", help="model folder or Hugging Face Hub repo id (default: $INPAINT_WEIGHTS or weights/)")
    r.add_argument(
        "--sharp-weights",
        help="the sharpened restorer of the sharp candidates (default: $INPAINT_SHARP_WEIGHTS or weights/sharp "
        "when it exists; 'none' for plain and grain-matched candidates only)",
    )
    r.add_argument("--out", required=True, help="output folder")

    v = sub.add_parser(
        "verify", help="check that a restoration differs from its original only where its provenance says it replaced"
    )
    v.add_argument("original", help="the photo that was restored")
    v.add_argument("restored", help="the restoration (a PNG or TIFF written by restore or the app)")
    v.add_argument(
        "--provenance",
        help="the record to use (default: the one the file carries, else NAME.provenance.json beside it)",
    )

    d = sub.add_parser("damage", help="synthesise old-photo damage on a clean photo (writes damaged.png, mask.png)")
    d.add_argument("photo")
    d.add_argument("--severity", default="moderate", choices=("minor", "moderate", "severe"))
    d.add_argument("--kinds", help="comma-separated subset of damage kinds (default: a mix)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--out", required=True)

    sf = sub.add_parser(
        "study-folder", help="precompute candidates for a controlled study (python -m study create reads the folder)"
    )
    sf.add_argument("--photos", required=True, help="a folder of (damaged) photos")
    sf.add_argument("--masks", required=True, help="their damage masks, matched by file stem")
    sf.add_argument(
        "--conditions", required=True, help="method[:dilation[:dropout]],... e.g. pconv:2:0,pconv:4:0.25,telea:2"
    )
    sf.add_argument("--mask-convention", default="auto", choices=MASK_CONVENTIONS)
    sf.add_argument("--resize-mask", action="store_true")
    sf.add_argument("--seed", type=int, default=0)
    sf.add_argument("--weights")
    sf.add_argument("--out", required=True)

    dt = sub.add_parser("detect", help="suggest a damage mask (white = damage) for a photo or a folder of photos")
    dt.add_argument("photo", help="a photo file, or a folder of photos")
    dt.add_argument("--sensitivity", type=float, default=0.5, help="0-1: higher flags more (default 0.5)")
    dt.add_argument("--method", default="learned", choices=("learned", "classical"))
    dt.add_argument(
        "--weights",
        help="detector folder or Hub repo id (default: $INPAINT_DETECTOR_WEIGHTS or weights/damage-detector)",
    )
    dt.add_argument("--probability", action="store_true", help="also write the probability map (STEM-probability.png)")
    dt.add_argument("--out", required=True, help="the mask file for one photo (MASK.png), a folder for a folder")

    for name, (module, text) in ROOM_COMMANDS.items():
        room = sub.add_parser(name, help=text, add_help=False)
        if command == name:
            room.add_argument("-h", "--help", action="help")
            importlib.import_module(module).add_arguments(room)
    return p


LOCAL_COMMANDS = {
    "restore": "cmd_restore",
    "verify": "cmd_verify",
    "damage": "cmd_damage",
    "detect": "cmd_detect",
    "study-folder": "cmd_study_folder",
}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    try:
        if args.command in ROOM_COMMANDS:
            return importlib.import_module(ROOM_COMMANDS[args.command][0]).main(args)
        return globals()[LOCAL_COMMANDS[args.command]](args)
    except (ValueError, FileNotFoundError) as e:  # WeightsError, bad images and masks are ValueErrors
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _pairs(photo: Path, mask: str | None, masks: str | None) -> list[tuple[Path, Path]]:
    if photo.is_dir():
        if not masks:
            raise UsageError(f"{photo} is a folder: give the masks folder with --masks")
        mdir = Path(masks)
        if not mdir.is_dir():
            raise UsageError(f"--masks {mdir} is not a folder")
        by_stem = {p.stem: p for p in sorted(mdir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
        photos = sorted(p for p in photo.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not photos:
            raise UsageError(f"no photos in {photo}")
        missing = [p.name for p in photos if p.stem not in by_stem]
        if missing:
            raise UsageError(
                f"no mask in {mdir} for {', '.join(missing[:3])}{'...' if len(missing) > 3 else ''} (masks are matched by file stem)"
            )
        return [(p, by_stem[p.stem]) for p in photos]
    if not photo.is_file():
        raise UsageError(f"{photo} does not exist")
    if masks:
        raise UsageError("--masks is for a folder of photos; for one photo use --mask")
    if not mask or not Path(mask).is_file():
        raise UsageError(f"mask {mask} does not exist")
    return [(photo, Path(mask))]


def _sharp_model(source: str | None, model):
    """The sharp candidates' network: ``source`` (which must load), else the default folder when
    it is an overlay of ``model``; None for 'none'."""
    from .nn.unet import load_sharp_model, sharp_model_for

    if source == "none":
        return None
    return sharp_model_for(model) if source is None else load_sharp_model(source)


def cmd_restore(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .io.masks import load_mask
    from .io.photos import open_photo
    from .io.provenance import describe_original, make_record, save_restoration
    from .nn.unet import load_model
    from .restoration import plan_candidates, restore

    plan_candidates(args.n, args.seed, args.variation, args.method)  # validates -n and --variation early
    pairs = _pairs(Path(args.photo), args.mask, args.masks)
    model = load_model(args.weights) if args.method == "pconv" else None
    sharp = _sharp_model(args.sharp_weights, model) if model is not None else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    batch = len(pairs) > 1
    summary = []
    for photo_path, mask_path in tqdm(pairs, disable=not batch, desc="restoring", unit="photo"):
        try:
            photo = open_photo(photo_path)
            known = load_mask(mask_path, args.mask_convention, size=photo.size, resize=args.resize_mask)
        except ValueError as e:
            if not batch:
                raise
            tqdm.write(f"skipped {photo_path.name}: {e}")
            summary.append({"photo": str(photo_path), "error": str(e)})
            continue
        t0 = time.perf_counter()
        candidates = restore(
            photo,
            known,
            args.n,
            seed=args.seed,
            method=args.method,
            model=model,
            variation=args.variation,
            sharp_model=sharp,
        )
        elapsed = time.perf_counter() - t0
        dest = out / photo_path.stem if batch else out
        dest.mkdir(parents=True, exist_ok=True)
        records = []
        original = describe_original(photo)
        for k, cand in enumerate(candidates):
            saved = save_restoration(cand.image, dest / f"restoration-{k}", make_record(original, cand), sidecar=True)
            assert saved.sidecar is not None
            records.append({"file": saved.path.name, "provenance": saved.sidecar.name, **cand.params})
        meta = {
            "photo": str(photo_path),
            "mask": str(mask_path),
            "mask_convention": args.mask_convention,
            "seconds_total": round(elapsed, 3),
            "candidates": records,
        }
        (dest / "restorations.json").write_text(json.dumps(meta, indent=2) + "\n")
        summary.append(meta)
        if not batch:
            print(f"wrote {len(records)} restorations of {photo_path.name} to {dest} in {elapsed:.2f} s")
    if batch:
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        ok = sum("error" not in s for s in summary)
        print(f"restored {ok}/{len(summary)} photos into {out}")
        return 0 if ok else 2
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Exit 0 when every pixel outside the recorded mask is the original's, 1 when not; a file
    that cannot be read or a missing record is bad input (exit 2)."""
    from .io.provenance import ProvenanceError, verify

    try:
        verdict = verify(args.original, args.restored, args.provenance)
    except OSError as e:  # unreadable files (permissions, a folder): one line, like bad images
        raise ProvenanceError(f"cannot read {e.filename or 'a file'}: {e.strerror or e}") from None
    print(verdict.message)
    return 0 if verdict.ok else 1


def cmd_detect(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image
    from tqdm import tqdm

    from .detect.pipeline import check_sensitivity, detect_damage
    from .nn.damagenet import load_detector

    check_sensitivity(args.sensitivity)
    src, out = Path(args.photo), Path(args.out)
    if src.is_dir():
        photos = sorted(p for p in src.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not photos:
            raise UsageError(f"no photos in {src}")
        if out.suffix.lower() in IMAGE_SUFFIXES:
            raise UsageError(f"{src} is a folder: --out must be a folder too, not {out.name}")
        targets = [(p, out / f"{p.stem}.png") for p in photos]
    else:
        if not src.is_file():
            raise UsageError(f"{src} does not exist")
        if out.is_dir() or out.suffix.lower() != ".png":
            raise UsageError(f"--out must name a .png file for one photo, got {out}")
        targets = [(src, out)]
    model = load_detector(args.weights) if args.method == "learned" else None
    failures = 0
    for photo, target in tqdm(targets, disable=len(targets) == 1, unit="photo"):
        try:
            det = detect_damage(photo, args.sensitivity, method=args.method, model=model)
        except ValueError as e:
            if len(targets) == 1:
                raise
            failures += 1
            tqdm.write(f"skipped {photo.name}: {str(e).splitlines()[0]}", file=sys.stderr)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        det.mask_image().save(target)
        if args.probability:
            prob8 = np.clip(np.rint(det.probability * 255), 0, 255).astype(np.uint8)
            Image.fromarray(prob8, "L").save(target.with_name(f"{target.stem}-probability.png"))
        if len(targets) == 1:
            print(
                f"{target}: {det.fraction:.2%} of the pixels suggested as damage ({det.method}, "
                f"sensitivity {det.sensitivity:g}, {det.seconds:.2f} s)"
            )
    if failures:
        print(f"{failures} of {len(targets)} photos could not be read", file=sys.stderr)
        return 1
    return 0


def cmd_damage(args: argparse.Namespace) -> int:
    from PIL import Image

    from .io.masks import known_to_image
    from .io.photos import open_photo
    from .synth.damage import synthesize_damage

    photo = open_photo(args.photo)
    kinds = [k.strip() for k in args.kinds.split(",")] if args.kinds else None
    damaged, known = synthesize_damage(photo.rgb8, args.severity, seed=args.seed, kinds=kinds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    Image.fromarray(damaged).save(out / "damaged.png")
    known_to_image(known).save(out / "mask.png")
    print(
        f"wrote {out / 'damaged.png'} and {out / 'mask.png'} (white = damage, {100 * (1 - known.mean()):.1f}% of the photo)"
    )
    return 0


def parse_conditions(text: str) -> list[tuple[str, int, float]]:
    """``pconv:2:0,pconv:4:0.25,telea:2`` -> [(method, dilation, dropout), ...]."""
    from .restoration import METHODS

    out = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        parts = item.split(":")
        if parts[0] not in METHODS or len(parts) > 3:
            raise UsageError(
                f"bad condition {item!r}: use method[:dilation[:dropout]] with method one of {', '.join(METHODS)}"
            )
        try:
            dil = int(parts[1]) if len(parts) > 1 else 2
            drop = float(parts[2]) if len(parts) > 2 else 0.0
        except ValueError:
            raise UsageError(f"bad condition {item!r}: dilation is whole pixels, dropout a rate in [0, 1)") from None
        if parts[0] != "pconv" and drop:
            raise UsageError(f"bad condition {item!r}: only pconv has dropout")
        out.append((parts[0], dil, drop))
    if not out:
        raise UsageError("give at least one condition")
    return out


def cmd_study_folder(args: argparse.Namespace) -> int:
    """Precompute every condition's candidate for every photo + mask, in the folder layout that
    ``python -m study create`` reads (photos/, masks/, candidates/, candidates.csv)."""
    import csv

    from tqdm import tqdm

    from .io.masks import hole_ratio, known_to_image, load_mask
    from .io.photos import open_photo, save_image
    from .io.provenance import describe_original, make_record, save_restoration
    from .nn.unet import load_model
    from .restoration import CandidateSpec, restore

    conditions = parse_conditions(args.conditions)
    pairs = _pairs(Path(args.photos), None, args.masks)
    model = load_model(args.weights) if any(c[0] == "pconv" for c in conditions) else None
    out = Path(args.out)
    for sub in ("photos", "masks", "candidates"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    rows = []
    for photo_path, mask_path in tqdm(pairs, desc="precomputing", unit="photo"):
        photo = open_photo(photo_path)
        known = load_mask(mask_path, args.mask_convention, size=photo.size, resize=args.resize_mask)
        ph = save_image(
            photo.rgb8 if photo.kind not in ("gray", "gray16") else photo.data, out / "photos" / photo_path.stem
        )
        mk = out / "masks" / f"{photo_path.stem}.png"
        known_to_image(known).save(mk)
        original = describe_original(photo)
        for method, dil, drop in conditions:
            spec = CandidateSpec(method, dil, drop, args.seed)
            cand = restore(photo, known, method=method, model=model, specs=[spec])[0]
            name = f"{photo_path.stem}-{method}-d{dil}-p{drop:g}-s{args.seed}"
            img = save_restoration(cand.image, out / "candidates" / name, make_record(original, cand)).path
            rows.append(
                {
                    "photo": ph.relative_to(out).as_posix(),
                    "mask": mk.relative_to(out).as_posix(),
                    "image": img.relative_to(out).as_posix(),
                    "method": method,
                    "dilation": dil,
                    "dropout": drop,
                    "seed": args.seed,
                    "model_version": cand.spec.model_version or "",
                    "hole_ratio": round(hole_ratio(known), 6),
                }
            )
    with open(out / "candidates.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(
        f"wrote {len(rows)} candidates for {len(pairs)} photos to {out}; next: python -m study create --folder {out} --name NAME"
    )
    return 0
