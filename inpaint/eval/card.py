"""PLACEHOLDER"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
import argparse
import csv
import json
import re
from ..io.weights import CARD_NAME, CONFIG_NAME, read_metadata


def _data_table(manifest: Path) -> str:
    rows = list(csv.DictReader(manifest.open(newline="")))
    rows = [r for r in rows if r.get("role", "train") == "train"]
    by_pkg: dict[str, Counter] = {}
    for r in rows:
        by_pkg.setdefault(r["source_package"], Counter())[r["license"]] += 1
    lines = [f"{len(rows)} photos from Debian packages, extracted by `python -m inpaint.datasets.open_photos` "
             "(the manifest lists every file with its package, version and license):", "",
             "| package | photos | licenses (photos) |", "|---|---|---|"]
    for pkg, lic in sorted(by_pkg.items(), key=lambda kv: -sum(kv[1].values())):
        desc = ", ".join(f"{name} ({n})" for name, n in lic.most_common())
        lines.append(f"| {pkg} | {sum(lic.values())} | {desc} |")
    return "\n".join(lines)


def _data_and_evaluation(manifest: Path | None, eval_dirs: list[Path], intro: str) -> list[str]:
    """The card's training-data table and its evaluation runs' results.md (headings demoted)."""
    parts: list[str] = []
    if manifest is not None and manifest.is_file():
        parts += ["### Training data", "", _data_table(manifest), ""]
    evals = [d for d in eval_dirs if (d / "results.md").is_file()]
    if evals:
        parts += ["## Evaluation", "", intro, ""]
        for d in evals:
            parts += [re.sub(r"^(#+)", r"\1##", line) for line in (d / "results.md").read_text().strip().splitlines()] + [""]
    return parts


def _crops(meta: dict, rows: str = "stages") -> str:
    """The crop sizes a run trained on, e.g. "128 and 256" when it went on at larger crops (its
    ``rows``: the restorer's stages, the detector's phases)."""
    sizes = sorted({int(st["crop"]) for st in meta.get(rows) or []} or {int(meta.get("crop", 0))})
    return " and ".join(map(str, sizes)) if len(sizes) < 3 else ", ".join(map(str, sizes[:-1])) + f" and {sizes[-1]}"


def write_card(model: Path, manifest: Path | None, eval_dirs: list[Path], command: str, note: str = "") -> Path:
    cfg = json.loads((model / CONFIG_NAME).read_text())
    meta = read_metadata(model)
    if cfg.get("architecture") == "damage-unet":
        return write_detector_card(model, cfg, meta, manifest, eval_dirs, command, note)
    from ..nn.unet import load_model

    net = load_model(model, device="cpu")
    hours = float(meta.get("train_seconds", 0)) / 3600
    ips = float(meta.get("images_seen", 0)) / max(float(meta.get("train_seconds", 1)), 1e-9)
    parts = [
        "---",
        "license: other",
        "library_name: pytorch",
        "pipeline_tag: image-to-image",
        "tags: [image-inpainting, partial-convolution, photo-restoration]",
        "---",
        "",
        f"# Partial-convolution U-Net for old-photo restoration (`{cfg['version']}`)",
        "",
        "A U-Net of partial convolutions (Liu et al., ECCV 2018) that fills damaged regions of photos. "
        "It is the bundled restorer of this project's web app; load it with `inpaint.load_model(\"weights\")` "
        "and run it through `inpaint.restore`, which only ever replaces the damaged pixels.",
        "",
        "## Model",
        "",
        f"- width {cfg['width']}, depth {cfg['depth']} (channels {net.config.channels}), kernels {cfg['kernel_sizes'][:cfg['depth']]}",
        f"- {net.num_parameters():,} parameters; float32 safetensors",
        f"- Monte-Carlo dropout {cfg['dropout']} on the {cfg['dropout_layers']} coarsest decoder layers",
        f"- working size {cfg['working_size']} px (the training crop size)",
        "- decoder renormalisation: " + (
            "per group: each decoder layer renormalises its two inputs (the upsampled coarse features and the "
            "skip) by their own valid counts. In the paper's joint form the last layer averages a missing image "
            "pixel over all its input channels, so thin holes were pulled towards grey (measured on the earlier "
            "weights: a 2 px hole in a flat 20% grey filled at 34%)."
            if cfg.get("decoder_renorm") == "per_group" else "joint (the paper's: one sum(1)/sum(M) over all channels of the window)"),
        *([f"- a full-resolution refinement head of {cfg['refine_channels']} channels after the last decoder layer "
           f"(a {net.config.refine_kernel}x{net.config.refine_kernel} convolution over the known image and the hole indicator plus a 1x1 one over the decoder's output, "
           "LeakyReLU, a 1x1 convolution added to the output): the U-Net's only other full-resolution layer is linear"] if cfg.get("refine_channels") else []),
        *([f"- the head also reads a smooth fill of the hole ({net.config.refine_kernel}x{net.config.refine_kernel} convolution, "
           "`inpaint.fill.smooth_fill`: a multigrid fill between the harmonic and the biharmonic one, computed from the "
           "known pixels only); its weights started at zero on top of the trained head"]
          if cfg.get("prior", "none") != "none" else []),
        *(["- a per-pixel gate (a 1x1 convolution of the head's hidden layer, started at zero) adds "
           "gate x (smooth fill - decoder output): the head can blend its output towards the smooth fill directly"]
          if cfg.get("prior", "none") == "smooth_gated" else []),
        "",
        "## Training",
        "",
        f"- {int(meta.get('steps', 0)):,} optimiser steps (last stage: {meta.get('stage')}), "
        f"{int(meta.get('images_seen', 0)):,} training crops of {_crops(meta)} px, "
        f"{hours:.2f} h of training-step time ({ips:.1f} crops/s) on a 2-core x86-64 CPU (AVX2, no GPU), float32",
        "- masks: irregular strokes over all hole-to-image ratios (60%), thin scratches (20%), the "
        "old-photo damage synthesiser (20%); random flips",
        "",
        "| stage | steps | lr | batch | crop (fraction of the shorter side) | features | loss weights | encoder BatchNorm | decoder renorm | refinement head |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *[
            f"| {st['stage']} | {st['steps']:,} | {st['lr']:g} | {st['batch_size']} | {st['crop']} px "
            f"({st['scale'][0]:g}-{st['scale'][1]:g}) | {st['features']} | "
            + ", ".join(f"{k} {v:g}" for k, v in st["loss_weights"].items() if v)
            + f" | {'frozen' if st['encoder_bn_frozen'] else 'trained'} | {st.get('decoder_renorm', 'joint').replace('_', ' ')} | "
            + (f"{st['refine_channels']} channels" + (f", lr {st['refine_lr']:g}" if st.get("refine_lr") else "")
               + (f", {st['prior'].replace('_', ' ')} prior" if st.get("prior") else "")
               if st.get("refine_channels") else "none") + " |"
            for st in meta.get("stages", [])
        ],
        "",
        "A stage takes several rows when its run was resumed with other options (crop, batch, lr, prior): "
        "each row is the steps made with one set.",
        "",
        "Perceptual and style features: ImageNet MobileNetV2 (taps at strides 2, 4, 8), since VGG16 "
        "weights cannot be obtained offline. At the paper's style weight of 120 the style term was about "
        "30 times the hole L1 term at the start of training with these features, so 6 is used where they "
        "are on. Stages with features `none` use the pixel terms only (valid, hole, total variation): the "
        "feature terms halve the throughput on this CPU.",
        f"- exact command: `{command}`",
        *([f"- {note}"] if note else []),
        "",
    ]
    parts += _data_and_evaluation(manifest, eval_dirs, "Produced by `python -m inpaint evaluate` on the public "
                                  "evaluation photos (never trained on); each run's command is in its section.")
    parts += [
        "## Limitations",
        "",
        "- Trained for a short time on a CPU from about 220 photos, mostly scenes, animals and monuments; "
        "very few faces. Expect blurry fills in large holes and on faces.",
        "- The fill is a plausible guess, not a recovery of what was there: never use it where the "
        "missing content matters (documents, evidence, identities).",
        "- Works on RGB; grayscale photos are restored through RGB and converted back to luminance.",
        "",
        "## License",
        "",
        "The code is MIT. The weights were learned from photos under the licenses listed above, some "
        "share-alike (GPL, CC-BY-SA); whether such terms reach trained weights is unsettled, so treat "
        "the weights as carrying the training photos' attribution and share-alike terms.",
        "",
    ]
    path = model / CARD_NAME
    path.write_text("\n".join(parts))
    return path


# Where the phases that did not record their machine ran (all of them before the record existed):
# the sessions' machines had 2 cores and no GPU; which CPU each had was not written down.
UNRECORDED_MACHINE = "a 2-core x86-64 CPU, no GPU (its model not recorded)"


def _detector_machines(meta: dict) -> str:
    """Where the phases ran, for the card's training line: " on MACHINE", or ": phases 1-2 on
    MACHINE; phase 3 on OTHER" when they ran on several."""
    phases = meta.get("phases") or [{}]
    machines = [ph.get("machine") or UNRECORDED_MACHINE for ph in phases]

    def label(m: str) -> str:
        return m if m == UNRECORDED_MACHINE else f"a {m}"

    if len(set(machines)) == 1:
        return f" on {label(machines[0])}"
    spans: list[tuple[int, int, str]] = []  # (first phase, last phase, machine) of each run of phases
    for i, m in enumerate(machines, 1):
        if spans and spans[-1][2] == m:
            spans[-1] = (spans[-1][0], i, m)
        else:
            spans.append((i, i, m))
    return ": " + "; ".join(f"phase{'s' if a != b else ''} {a}{'-' + str(b) if a != b else ''} on {label(m)}"
                            for a, b, m in spans)


def _detector_phases(meta: dict) -> list[str]:
    """A table of the runs (``train-detector`` invocations) the weights went through, when there
    were several; a model continued with ``--init`` from one that did not record its phases has
    one row for all of that model's training."""
    phases = meta.get("phases") or []
    if len(phases) < 2:
        return []
    rows = ["", "| phase | steps | crops | crop px (fraction of the shorter side) | batch | lr | loss and samples |",
            "|---|---:|---:|---|---:|---|---|"]
    for i, ph in enumerate(phases, 1):
        crop = f"{ph['crop']}" + (f" ({ph['scale'][0]:g}-{ph['scale'][1]:g})" if ph.get("scale") else "")
        if ph.get("note"):
            lr, what = "see below", f"{ph['note']}: model `{ph.get('model')}`"
        else:
            lr = f"{ph['lr']:g}" + (f" (head {ph['refine_lr']:g})" if ph.get("refine_lr") is not None else "")
            what = "; ".join(filter(None, [
                "widened from {} to {} channels (Net2Net)".format(*ph["widened"]) if ph.get("widened") else "",
                f"thin damage x{1 + ph['thin_weight']:g}" if ph.get("thin_weight") else "",
                f"visibly darker damage +{ph['dark_weight']:g}" if ph.get("dark_weight") else "",
                f"{ph['single_kind_fraction']:.0%} single-kind" if ph.get("single_kind_fraction") else "",
                "kind weights " + ", ".join(f"{k} {v:g}" for k, v in ph["kind_weights"].items()) if ph.get("kind_weights") else "",
                f"head {ph['refine_channels']} ch" if ph.get("refine_channels") else "",
                f"weights averaged (EMA {ph['ema_decay']:g} per step)" if ph.get("ema_decay") else "",
                "line features " + ", ".join(map(str, ph["line_sizes"])) if ph.get("line_sizes") else "",
                f"{ph['precision']} steps" if ph.get("precision", "float32") != "float32" else "",
            ])) or "-"
        rows.append(f"| {i} | {int(ph['steps']):,} | {int(ph['images_seen']):,} | {crop} | {ph.get('batch_size')} | {lr} | {what} |")
    return rows + [""]


def write_detector_card(model: Path, cfg: dict, meta: dict, manifest: Path | None, eval_dirs: list[Path],
                        command: str, note: str = "") -> Path:
    from ..detect.pipeline import DetectSettings
    from ..nn.damagenet import load_detector
    from ..synth.truth import DARK_MIN_CHANGE

    net = load_detector(model, device="cpu")
    tiles = DetectSettings()
    tc = meta.get("train_config", {})
    hours = float(meta.get("train_seconds", 0)) / 3600
    ips = float(meta.get("images_seen", 0)) / max(float(meta.get("train_seconds", 1)), 1e-9)
    val = meta.get("validation", {})
    parts = [
        "---",
        "license: other",
        "library_name: pytorch",
        "pipeline_tag: image-segmentation",
        "tags: [damage-detection, photo-restoration, partial-convolution]",
        "---",
        "",
        f"# Damage detector for old photos (`{cfg['version']}`)",
        "",
        "Suggests where an old photo is damaged (creases, scratches, tears, stains, spots, missing corners): "
        "a damage probability per pixel and a mask at the photo's full resolution. The app's \"Suggest damage\" "
        "button puts it in the editor for the person to correct before restoring. Load it with "
        "`inpaint.detect.load_detector(\"weights/damage-detector\")` and run `inpaint.detect.detect_damage`.",
        "",
        "## Model",
        "",
        f"- a U-Net of the restorer's partial-convolution blocks with one output channel: width {cfg['width']}, "
        f"depth {cfg['depth']} (channels {net.config.channels}), kernels {cfg['kernel_sizes'][:cfg['depth']]}",
        *([f"- a full-resolution refinement head of {net.config.refine_channels} channels after the last decoder layer "
           f"(a {net.config.refine_kernel}x{net.config.refine_kernel} convolution over the photo and its footprint plus "
           "the decoder's logit, LeakyReLU, a 1x1 convolution added to the logit), added when training resumed "
           "(the network's first layer has stride 2, so its only other full-resolution layer is the linear last one)"]
          if net.config.refine_channels else []),
        *([f"- line features as extra inputs of the first layer: the white top-hat and the black-hat of the luminance "
           f"with {', '.join(f'{k}x{k}' for k in net.config.line_sizes)} squares (thin bright and dark structures narrower "
           "than the square, in any direction), computed over the photo's pixels only; they also reach the logit at full "
           "resolution through one 3x3 convolution"]
          if net.config.line_sizes else []),
        f"- {net.num_parameters():,} parameters; float32 safetensors",
        "- the validity mask is 1 on the photo and 0 on padding at every scale, so tiles of any shape give the "
        "same prediction for the same pixels' context; large scans run in "
        f"{tiles.tile} px tiles on the network's grid with {tiles.margin} px of context, and photos of "
        f"{2 * tiles.coarse_side} px and more also get a pass at the power-of-two downscale whose long side is "
        f"{tiles.coarse_side}-{2 * tiles.coarse_side - 1} px (each pixel takes the larger probability)",
        f"- default probability threshold {cfg['threshold']:g} (sensitivity 0.5), picked on the validation set "
        "below; sensitivity s moves it linearly to 0.98 (s = 0) and 0.02 (s = 1)",
        "",
        "## Training",
        "",
        f"- {int(meta.get('steps', 0)):,} Adam steps (the last run at lr {tc.get('lr', 0):g}), batch {tc.get('batch_size')}, "
        f"{int(meta.get('images_seen', 0)):,} crops of {_crops(meta, 'phases')} px "
        f"(crop = {tc.get('scale', [0, 0])[0]:g}-{tc.get('scale', [0, 0])[1]:g} of the photo's shorter side"
        + (" in the last phase" if len(meta.get("phases") or []) > 1 else "")
        + f"), {hours:.2f} h of training-step time ({ips:.1f} crops/s){_detector_machines(meta)}",
        *_detector_phases(meta),
        "- every sample: the print (kept in colour 30%, black-and-white 30%, sepia 25%, faded 15%), then the "
        "damage synthesiser at a random severity (or no damage for "
        f"{tc.get('clean_fraction', 0):.0%} of the samples), then the scan (paper shading and grain 60%, "
        "blur 30%, noise 50%, exposure 40%, JPEG quality 40-95 50%)",
        f"- loss: binary cross-entropy (damage weighted {tc.get('pos_weight', 0):g}"
        + (f"; thin damage, the pixels a 3x3 erosion removes, {1 + tc['thin_weight']:g} times more" if tc.get("thin_weight") else "")
        + (f"; damage that made a pixel visibly darker (by {DARK_MIN_CHANGE} grey levels or more) {tc['dark_weight']:g} more"
           if tc.get("dark_weight") else "")
        + ") + soft Dice"
        + (f"; {tc['single_kind_fraction']:.0%} of the damaged samples have one damage kind only"
           + (" (drawn by weight: " + ", ".join(f"{k} {v:g}" for k, v in tc["kind_weights"].items()) + ", others 1)"
              if tc.get("kind_weights") else "")
           if tc.get("single_kind_fraction") else ""),
        f"- validation ({tc.get('val_images')} damaged crops of the training photos, fixed seeds; not the "
        f"evaluation photos): F1 {val.get('val_best_f1', 'n/a')} at threshold {val.get('val_best_threshold', 'n/a')}, "
        f"step {val.get('step', 'n/a')}"
        + (f"; the same crops undamaged: {val['val_clean_fpr']:.2%} of their pixels flagged (the threshold is the best "
           f"F1 among those flagging at most {tc.get('max_clean_fpr', 0):.1%})" if "val_clean_fpr" in val else ""),
        f"- exact command: `{command}`",
        *([f"- {note}"] if note else []),
        "",
    ]
    parts += _data_and_evaluation(manifest, eval_dirs, "Produced by `python -m inpaint evaluate-detection` on the "
                                  "public evaluation photos (never trained on) with synthetic damage, against the "
                                  "classical detector (top-hat/black-hat lines, colour-cast stains, flat border regions).")
    parts += [
        "## Limitations",
        "",
        "- Trained only on synthetic damage. Real prints have damage the synthesiser does not draw (silvering, "
        "mould, handwriting, tape); check the suggestion on the 1927 Solvay photo in the project README.",
        "- Dark or bright thin structures that belong to the photo (hair, wires, text, grass) can be flagged; "
        "the suggestion is meant to be corrected by a person before restoring.",
        "",
        "## License",
        "",
        "The code is MIT. The weights were learned from photos under the licenses listed above, some "
        "share-alike (GPL, CC-BY-SA); treat the weights as carrying the training photos' attribution and "
        "share-alike terms.",
        "",
    ]
    path = model / CARD_NAME
    path.write_text("\n".join(parts))
    return path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="the model folder to write README.md into")
    p.add_argument("--manifest", help="the training photos' manifest.csv")
    p.add_argument("--eval", nargs="*", default=[], help="evaluate --out folders (their results.md)")
    p.add_argument("--train-command", required=True, help="the exact training command, quoted in the card")
    p.add_argument("--note", default="", help="a sentence about the run (e.g. what else shared the machine)")


def main(args: argparse.Namespace) -> int:
    path = write_card(Path(args.model), Path(args.manifest) if args.manifest else None,
                      [Path(e) for e in args.eval], args.train_command, args.note)
    print(f"wrote {path}")
    return 0
