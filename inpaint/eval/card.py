"""Write a model folder's model card (README.md) and training record (training_record.json) from
the folder's own metadata, the training photos' manifest and the evaluations' results, so that no
number in a card is typed by hand.

    python -m inpaint card --model runs/bundled/model --manifest PHOTOS/manifest.csv \
        --eval eval256/ eval512/ --train-command "scripts/train_bundled.sh runs/bundled 85 15"

The card has the Hugging Face Hub's usual form: a YAML metadata header, what the model is, how to
use it, one results table (from the ``results.json`` of ``evaluate`` runs; a detector's from one
``evaluate-detection`` run), limitations, how it was trained and the license. The training section
names the recipe file and the training commit that the trainer wrote into the metadata, and says
"not recorded" where it wrote none. Everything else the metadata records (every stage or phase with
its settings, the run's configuration, validation), the training photos' packages and licenses and
the evaluations' commands go to ``training_record.json`` beside the card.

A damage detector's folder (config ``architecture: damage-unet``) gets the detector's card.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io.weights import CARD_NAME, CONFIG_NAME, PROJECT_ROOT, WEIGHTS_NAME, read_metadata
from .metrics import HIGHER_IS_BETTER
from .report import format_metric

RECORD_NAME = "training_record.json"

NOT_RECORDED = "not recorded"

# Where a stage or phase ran when the trainer did not record its machine.
UNRECORDED_MACHINE = "an unrecorded machine"

# How the restorer's results table names the evaluated methods.
METHOD_NAMES = {
    "pconv": "pconv (this model)",
    "telea": "Telea",
    "ns": "Navier-Stokes",
    "biharmonic": "biharmonic",
    "smooth": "smooth fill",
    "patchmatch": "PatchMatch",
}


RESTORER_INTRO = (
    "This model fills the damaged regions of photos (creases, scratches, tears, stains, missing corners), given a "
    "mask of the damage. It is a U-Net of partial convolutions (Liu et al., *Image Inpainting for Irregular Holes "
    "Using Partial Convolutions*, ECCV 2018). Used through `inpaint.restore`, it only ever replaces the damaged "
    "pixels: every other pixel of the result is bit-identical to the input, at full resolution."
)

DETECTOR_INTRO = (
    "This model suggests where an old photo is damaged (creases, scratches, tears, stains, spots, missing corners). "
    "It gives a damage probability per pixel and a mask at the photo's full resolution. The app's *Suggest damage* "
    "button puts the mask into the editor, where the person corrects it before restoring with the project's restorer."
)


# ----------------------------------------------------------------------------- the training record


def _data_summary(manifest: Path | None) -> dict[str, Any] | None:
    """The training photos of a manifest (its rows with role ``train``, or without a role): how
    many, and per source package how many under each license, most photos first."""
    if manifest is None or not manifest.is_file():
        return None
    with manifest.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if (r.get("role") or "train") == "train"]
    by_pkg: dict[str, Counter] = {}
    for r in rows:
        by_pkg.setdefault(r.get("source_package") or "(none)", Counter())[r.get("license") or "(none)"] += 1
    packages = [
        {"package": pkg, "photos": sum(lic.values()), "licenses": dict(lic.most_common())}
        for pkg, lic in sorted(by_pkg.items(), key=lambda kv: -sum(kv[1].values()))
    ]
    licenses = Counter(r.get("license") or "(none)" for r in rows)
    return {
        "photos": len(rows),
        "manifest": manifest.name,
        "licenses": dict(licenses.most_common()),
        "packages": packages,
    }


def _phases(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The recorded stages or phases, numbered from 1, each with its crops per second when its
    time was recorded."""
    out = []
    for i, row in enumerate(rows, 1):
        entry = {"phase": i, **row}
        if row.get("seconds"):
            entry["crops_per_second"] = round(float(row.get("images_seen", 0)) / float(row["seconds"]), 1)
        out.append(entry)
    return out


def _totals(meta: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = float(meta.get("train_seconds", 0))
    return {
        "steps": int(meta.get("steps", 0)),
        "images_seen": int(meta.get("images_seen", 0)),
        "train_seconds": seconds,
        "train_hours": round(seconds / 3600, 2),
        "crops_per_second": round(float(meta.get("images_seen", 0)) / max(seconds, 1e-9), 1) if seconds else None,
        "crops": _crop_sizes(meta, rows),
    }


def _recipe(meta: dict[str, Any]) -> dict[str, Any] | None:
    """The recipe the trainer recorded, as ``{"path", "sha256"}`` (None when it recorded none)."""
    recipe = meta.get("recipe")
    if not recipe:
        return None
    return {"path": recipe} if isinstance(recipe, str) else dict(recipe)


def _record(
    kind: str,
    cfg: dict[str, Any],
    meta: dict[str, Any],
    rows: list[dict[str, Any]],
    data: dict[str, Any] | None,
    command: str,
    note: str,
    evaluation: list[dict[str, Any]],
) -> dict[str, Any]:
    """The training record: provenance, totals, data, every stage or phase, the run's other
    metadata (as recorded) and the evaluations."""
    placed = {
        "stages",
        "phases",
        "recipe",
        "commit",
        "steps",
        "images_seen",
        "train_seconds",
        "data",
        "validation",
        "train_config",
    }
    return {
        "model": cfg["version"],
        "kind": kind,
        "written_by": "python -m inpaint card",
        "recipe": _recipe(meta),
        "commit": meta.get("commit"),
        "command": command,
        **({"note": note} if note else {}),
        "totals": _totals(meta, rows),
        "data": {"spec": meta.get("data"), **(data or {})},
        "phases": _phases(rows),
        **({"validation": meta["validation"]} if "validation" in meta else {}),
        **({"last_phase_config": meta["train_config"]} if "train_config" in meta else {}),
        "other_metadata": {k: v for k, v in meta.items() if k not in placed},
        "evaluation": evaluation,
    }


# ----------------------------------------------------------------------------- shared card text


def _crop_sizes(meta: dict[str, Any], rows: list[dict[str, Any]]) -> list[int]:
    return sorted({int(r["crop"]) for r in rows if r.get("crop")} or {int(meta.get("crop", 0))})


def _crops(meta: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """The crop sizes a run trained on, e.g. "128 and 256" when it went on at larger crops."""
    sizes = _crop_sizes(meta, rows)
    return " and ".join(map(str, sizes)) if len(sizes) < 3 else ", ".join(map(str, sizes[:-1])) + f" and {sizes[-1]}"


def _where_trained(rows: list[dict[str, Any]]) -> str:
    """Where the stages or phases ran, for the card's training line: " on MACHINE", or ": phases
    1-2 on MACHINE; phase 3 on OTHER" when they ran on several."""
    machines = [r.get("machine") or UNRECORDED_MACHINE for r in rows or [{}]]

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
    return ": " + "; ".join(
        f"phase{'s' if a != b else ''} {a}{'-' + str(b) if a != b else ''} on {label(m)}" for a, b, m in spans
    )


def _lower_precision(rows: list[dict[str, Any]]) -> str:
    """ "; phase 2 in bfloat16 steps" for the stages or phases that did not train in float32 (an
    unrecorded precision is float32, the trainers' default)."""
    low = [
        f"phase {i} in {r['precision']} steps"
        for i, r in enumerate(rows, 1)
        if r.get("precision", "float32") != "float32"
    ]
    return "; " + ", ".join(low) if low else ""


def _yaml_header(pipeline_tag: str, tags: list[str], metrics: list[str]) -> list[str]:
    return [
        "---",
        "license: other",
        "library_name: pytorch",
        f"pipeline_tag: {pipeline_tag}",
        f"tags: [{', '.join(tags)}]",
        f"metrics: [{', '.join(metrics)}]",
        "---",
        "",
    ]


def _in_project(model: Path) -> str | None:
    """The model folder relative to the project (POSIX), or None for a folder elsewhere."""
    try:
        return model.resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return None


def _docs_link(model: Path, page: str, anchor: str = "") -> str | None:
    """A relative Markdown link from the card to ``docs/PAGE`` when the folder is in the project."""
    if _in_project(model) is None:
        return None
    target = Path(os.path.relpath(PROJECT_ROOT / "docs" / page, model.resolve())).as_posix()
    return f"[docs/{page}]({target}{anchor})"


def _size_mb(model: Path) -> str:
    return f"{(model / WEIGHTS_NAME).stat().st_size / 1e6:.1f} MB"


def _provenance_lines(meta: dict[str, Any], data: dict[str, Any] | None, command: str, note: str) -> list[str]:
    """The training section's closing bullets: data, recipe, training commit, command, note and
    the training record."""
    recipe = _recipe(meta)
    if recipe is None:
        recipe_text = NOT_RECORDED
    else:
        recipe_text = f"`{recipe['path']}`" + (f" (sha256 `{recipe['sha256']}`)" if recipe.get("sha256") else "")
    if data is None:
        data_text = "the training photos' manifest was not given to the card command, so they are not described here"
    else:
        data_text = f"{data['photos']} photos; every source package with its photos' licenses is in the training record"
    return [
        f"- data: {data_text}",
        f"- recipe: {recipe_text}",
        f"- training commit: {'`' + meta['commit'] + '`' if meta.get('commit') else NOT_RECORDED}",
        f"- exact command: `{command}`",
        *([f"- {note}"] if note else []),
        f"- training record: [{RECORD_NAME}]({RECORD_NAME}) (every stage or phase with its settings, steps and "
        "time, the run's configuration, the data's packages and licenses, the evaluations' commands)",
        "",
    ]


def _license_lines(data: dict[str, Any] | None) -> list[str]:
    terms = (
        f"under {', '.join(data['licenses'])} terms"
        if data
        else "under the licenses of its training photos (not described here)"
    )
    return [
        "## License",
        "",
        f"The code is MIT. The weights were learned from photos {terms}, some possibly share-alike. "
        "Whether such terms reach trained weights is unsettled, so treat the weights as carrying the "
        "training photos' attribution and share-alike terms.",
        "",
    ]


def _card(header: list[str], title: str, intro: str, sections: list[list[str]]) -> str:
    """The card: metadata header, title, what the model is, then its sections in order."""
    return "\n".join([*header, f"# {title}", "", intro, "", *(line for section in sections for line in section)])


def _usage(code: str, command_line: str) -> list[str]:
    """The how-to-use section: Python after ``import inpaint``, then the same from the command line."""
    return [
        "## How to use",
        "",
        "```python",
        "import inpaint",
        "",
        code,
        "```",
        "",
        f"From the command line: `{command_line}`.",
        "",
    ]


def _read_results(folder: Path, key: str, command: str) -> dict[str, Any]:
    """The ``results.json`` of an evaluation folder, which must hold ``key`` (what ``command``
    writes)."""
    path = folder / "results.json"
    if not path.is_file():
        raise ValueError(f"--eval {folder} has no results.json: give the --out folder of `python -m inpaint {command}`")
    results = json.loads(path.read_text())
    if key not in results:
        raise ValueError(f"--eval {folder} is not the output of `python -m inpaint {command}`")
    return results


# ----------------------------------------------------------------------------- the restorer's card


def _restorer_runs(eval_dirs: list[Path], version: str) -> list[tuple[Path, dict[str, Any]]]:
    runs = []
    for d in eval_dirs:
        res = _read_results(d, "aggregates", "evaluate")
        model = res["metadata"].get("model")
        if model and model.get("version") != version:
            raise ValueError(f"--eval {d} evaluated `{model.get('version')}`, not this model (`{version}`)")
        runs.append((d, res))
    return runs


def _restorer_table(runs: list[tuple[Path, dict[str, Any]]], smooth_name: str) -> list[str]:
    """One table: a row per run, size and metric (PSNR, SSIM) with every method's mean over all the
    run's samples at that size; the best of a row in bold."""
    methods = list(dict.fromkeys(m for _, res in runs for m in res["metadata"]["methods"]))
    photos = {len(res["metadata"]["images"]) for _, res in runs}
    lead = ["size", *(["photos"] if len(photos) > 1 else []), "metric"]
    names = [smooth_name if m == "smooth" else METHOD_NAMES.get(m, m) for m in methods]
    lines = ["| " + " | ".join([*lead, *names]) + " |", "|---" * len(lead) + "|" + "---:|" * len(methods)]
    for _, res in runs:
        meta = res["metadata"]
        for size in meta["sizes"]:
            cells = {c["method"]: c for c in res["aggregates"]["bins_overall"] if c["size"] == size}
            for metric, label in (("psnr", "PSNR (dB)"), ("ssim", "SSIM")):
                values = {m: cells[m][metric] for m in methods if m in cells and cells[m].get(metric) is not None}
                shown = {m: format_metric(metric, values[m]) if m in values else "-" for m in methods}
                if len(values) > 1:
                    best = format_metric(metric, (max if HIGHER_IS_BETTER[metric] else min)(values.values()))
                    shown = {m: f"**{s}**" if s == best else s for m, s in shown.items()}
                row = [str(size), *([str(len(meta["images"]))] if len(photos) > 1 else []), label]
                lines.append("| " + " | ".join([*row, *(shown[m] for m in methods)]) + " |")
    return lines


def _restorer_results(runs: list[tuple[Path, dict[str, Any]]], smooth_name: str) -> list[str]:
    if not runs:
        return [
            "## Results",
            "",
            "Not evaluated: run `python -m inpaint evaluate --images EVAL_PHOTOS --out DIR` and "
            "give the card command `--eval DIR`.",
            "",
        ]
    first = runs[0][1]["metadata"]
    photos = sorted({len(res["metadata"]["images"]) for _, res in runs})
    sizes = sorted({s for _, res in runs for s in res["metadata"]["sizes"]})
    return [
        "## Results",
        "",
        f"`python -m inpaint evaluate` on {' and '.join(map(str, photos))} evaluation photos (never trained on), "
        f"centre-cropped to {' and '.join(map(str, sizes))} px. Irregular masks come in six hole-to-image bins from "
        f"(0.01, 0.1] to (0.5, 0.6], with and without holes touching the border ({first['masks_per_bin']} mask(s) per "
        f"bin, border setting and photo; seed {first['seed']}). Every method fills exactly the hole, and PSNR/SSIM "
        "compare the composite with the original. The means over all samples of each size:",
        "",
        *_restorer_table(runs, smooth_name),
        "",
        "The per-bin tables, the damage synthesiser's table and the seconds per image are in each run's "
        "`results.md`, made by " + "; ".join(f"`{res['metadata']['command']}`" for _, res in runs) + ".",
        "",
    ]


def _restorer_evaluation(runs: list[tuple[Path, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [
        {
            "folder": d.name,
            "command": res["metadata"]["command"],
            "date": res["metadata"].get("date"),
            "photos": len(res["metadata"]["images"]),
            "sizes": res["metadata"]["sizes"],
            "methods": res["metadata"]["methods"],
            "overall": [
                {k: c.get(k) for k in ("size", "method", "n", "psnr", "ssim", "l1", "perceptual")}
                for c in res["aggregates"]["bins_overall"]
            ],
        }
        for d, res in runs
    ]


def _restorer_model_lines(model: Path, cfg: dict[str, Any], net: Any) -> list[str]:
    c = net.config
    prior = cfg.get("prior", "none")
    head = ""
    if cfg.get("refine_channels"):
        head = (
            f"- a {cfg['refine_channels']}-channel full-resolution refinement head after the last decoder layer "
            f"(a {c.refine_kernel}x{c.refine_kernel} convolution over the known image and the hole indicator plus "
            "a 1x1 one over the decoder's output, LeakyReLU, a 1x1 convolution added to the output; not in the paper)"
        )
        if prior != "none":
            head += (
                "; it also reads a smooth fill of the hole (`inpaint.nn.smooth.smooth_fill`: a multigrid fill "
                "between the harmonic and the biharmonic one, computed from the known pixels only)"
            )
        if prior == "smooth_gated":
            head += ", and a per-pixel gate lets it blend its output towards that fill"
    details = _docs_link(model, "model.md")
    return [
        f"- {cfg['depth']} stride-2 partial-convolution layers, channels {c.channels[0]} to {max(c.channels)}, kernels "
        f"{', '.join(map(str, cfg['kernel_sizes'][: cfg['depth']]))}; "
        + ("per-group" if cfg.get("decoder_renorm") == "per_group" else "joint (the paper's)")
        + f" decoder renormalisation; Monte-Carlo dropout {cfg['dropout']:g} on the {cfg['dropout_layers']} coarsest "
        "decoder layers",
        *([head] if head else []),
        f"- {net.num_parameters():,} parameters, float32 safetensors ({_size_mb(model)}); working size "
        f"{cfg['working_size']} px",
        *([f"- details: {details}"] if details else []),
        "",
    ]


RESTORER_USAGE = """\
model = inpaint.load_model("{folder}")        # a folder, or a Hugging Face Hub repo id
known = inpaint.load_mask("mask.png")        # white (or black) = damage, auto-detected; True = known pixel
candidates = inpaint.restore("scan.jpg", known, n=4, seed=0, model=model)
for k, c in enumerate(candidates):
    inpaint.save_image(c.image, f"restoration-{{k}}")   # the input's size and mode
    print(c.params)                                   # method, dilation, dropout, seed, model_version, seconds"""


def _restorer_usage(model: Path) -> list[str]:
    folder = _in_project(model) or model.name
    return _usage(
        RESTORER_USAGE.format(folder=folder),
        f"python -m inpaint restore scan.jpg --mask mask.png -n 4 --weights {folder} --out restored/",
    )


def _restorer_training(
    meta: dict[str, Any], stages: list[dict[str, Any]], data: dict[str, Any] | None, command: str, note: str
) -> list[str]:
    t = _totals(meta, stages)
    terms = list(dict.fromkeys(k for st in stages for k, v in (st.get("loss_weights") or {}).items() if v))
    features = sorted({st["features"] for st in stages if st.get("features") not in (None, "none")})
    return [
        "## Training",
        "",
        f"- {t['steps']:,} optimiser steps (last stage: {meta.get('stage')}) in {len(stages)} stage segment(s), "
        f"{t['images_seen']:,} training crops of {_crops(meta, stages)} px, {t['train_hours']:.2f} h of "
        f"training-step time ({t['crops_per_second'] or 0:.1f} crops/s){_where_trained(stages)}{_lower_precision(stages)}",
        "- the paper's two stages: stage 1 trains everything, stage 2 fine-tunes with the encoder's BatchNorm frozen",
        "- masks: irregular strokes over all hole-to-image ratios (60%), thin scratches (20%), the old-photo damage "
        "synthesiser (20%); random flips",
        f"- loss terms: {', '.join(terms) or NOT_RECORDED} (each stage's weights in the training record)"
        + (f"; perceptual and style features: {', '.join(features)}" if features else ""),
        *(
            [
                "- MobileNetV2 features (taps at strides 2, 4, 8) stand in for VGG16, whose weights cannot be obtained "
                "offline; with them the paper's style weight of 120 made the style term about 30 times the hole L1 term "
                "at the start of training, so stages with features use 6"
            ]
            if "mobilenet_v2" in features
            else []
        ),
        *_provenance_lines(meta, data, command, note),
    ]


def _restorer_limitations(data: dict[str, Any] | None) -> list[str]:
    return [
        "## Limitations",
        "",
        f"- The training set{' of ' + str(data['photos']) + ' photos' if data else ''} is small; expect weak fills on "
        "content it rarely shows, such as faces.",
        "- Its fills are smooth: large holes come out blurred, without the photo's grain and fine texture.",
        "- A fill is a plausible guess, not a recovery of what was there. Never use it where the missing content "
        "matters (documents, evidence, identities).",
        "- It works on RGB. Grayscale photos are restored through RGB and converted back to luminance; "
        "black-and-white and sepia scans keep their own tones.",
        "- It is scored only on synthetic holes and damage on clean photos.",
        "",
    ]


def _restorer_sections(
    model: Path,
    cfg: dict[str, Any],
    meta: dict[str, Any],
    net: Any,
    stages: list[dict[str, Any]],
    runs: list[tuple[Path, dict[str, Any]]],
    data: dict[str, Any] | None,
    command: str,
    note: str,
) -> list[list[str]]:
    smooth_name = "smooth fill (its prior)" if cfg.get("prior", "none") != "none" else "smooth fill"
    return [
        _restorer_model_lines(model, cfg, net),
        _restorer_usage(model),
        _restorer_results(runs, smooth_name),
        _restorer_limitations(data),
        _restorer_training(meta, stages, data, command, note),
        _license_lines(data),
    ]


# ----------------------------------------------------------------------------- the detector's card


def _detector_runs(eval_dirs: list[Path], version: str) -> list[tuple[Path, dict[str, Any]]]:
    runs = []
    for d in eval_dirs:
        res = _read_results(d, "table", "evaluate-detection")
        if res.get("model_version") and res["model_version"] != version:
            raise ValueError(f"--eval {d} evaluated `{res['model_version']}`, not this detector (`{version}`)")
        runs.append((d, res))
    return runs


def _scratch_polarity(res: dict[str, Any]) -> str:
    """How much of the plainly visible moderate-scratch damage the learned detector finds, made
    brighter and made darker (empty when the run has no such split)."""
    row = next(
        (r for r in res["table"] if (r["method"], r["severity"], r["kind"]) == ("learned", "moderate", "scratch")), None
    )
    if not row or not all(row.get("plain_truth_brighter_darker") or [0]):
        return ""
    (tb, td), (fb, fd) = row["plain_truth_brighter_darker"], row["plain_found_brighter_darker"]
    return (
        f" Of the plainly visible moderate-scratch pixels it finds {fb / tb:.0%} of those the damage made brighter "
        f"and {fd / td:.0%} of those it made darker."
    )


def _detector_results(runs: list[tuple[Path, dict[str, Any]]]) -> list[str]:
    from .detector import f1_table

    if not runs:
        return [
            "## Results",
            "",
            "Not evaluated: run `python -m inpaint evaluate-detection --images EVAL_PHOTOS --out "
            "DIR` and give the card command `--eval DIR`.",
            "",
        ]
    d, res = runs[0]
    methods = res["methods"]
    idx = {(r["method"], r["severity"], r["kind"]): r for r in res["table"]}
    fpr = res["false_positive_rate"]
    others = [m for m in methods if m != "learned"]
    flagged = ""
    if "learned" in fpr:
        flagged = f"On the same photos without damage, it flags {_percent(fpr['learned'])} of the pixels" + (
            " (" + "; ".join(f"the {m} detector {_percent(fpr[m])}" for m in others) + "). " if others else ". "
        )
    return [
        "## Results",
        "",
        f"`python -m inpaint evaluate-detection` on {len(res['images'])} evaluation photos (never trained on), at "
        f"{res['size']} px. Each damage kind is synthesised alone at each severity (`mixed`: the synthesiser's own "
        f"mix), with {res['repeats']} seed(s) per cell. Every input goes through the same print-and-scan variations "
        f"as in training, and the sensitivity is {res['sensitivity']:g}. The table gives F1 with pixels pooled over "
        "photos and seeds"
        + (
            ", against the classical detector (top-hat/black-hat lines, colour-cast stains, flat border regions)"
            if "classical" in methods
            else ""
        )
        + ":",
        *f1_table(idx, methods, lambda r: r.get("f1")),
        "",
        flagged + "Precision and recall, recall by visibility and by brighter or darker damage are in the run's "
        "`results.md`.",
        "",
    ]


def _percent(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2%}"


def _detector_evaluation(runs: list[tuple[Path, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [
        {
            "folder": d.name,
            "command": res.get("command"),
            "photos": len(res["images"]),
            "size": res["size"],
            "repeats": res["repeats"],
            "sensitivity": res["sensitivity"],
            "methods": res["methods"],
            "f1": [{k: r.get(k) for k in ("method", "severity", "kind", "f1")} for r in res["table"]],
            "false_positive_rate": res["false_positive_rate"],
        }
        for d, res in runs
    ]


def _detector_model_lines(model: Path, cfg: dict[str, Any], net: Any) -> list[str]:
    from ..detect.pipeline import DetectSettings

    c, tiles = net.config, DetectSettings()
    details = _docs_link(model, "detection.md")
    return [
        f"- a U-Net of the restorer's partial-convolution blocks with one output channel: width {cfg['width']}, "
        f"depth {cfg['depth']} (channels {c.channels[0]} to {max(c.channels)}), kernels "
        f"{', '.join(map(str, cfg['kernel_sizes'][: cfg['depth']]))}",
        *(
            [
                f"- a full-resolution refinement head of {c.refine_channels} channels after the last decoder layer "
                f"(a {c.refine_kernel}x{c.refine_kernel} convolution over the photo and its footprint plus the decoder's "
                "logit, LeakyReLU, a 1x1 convolution added to the logit)"
            ]
            if c.refine_channels
            else []
        ),
        *(
            [
                f"- line features as extra inputs of the first layer: the white top-hat and the black-hat of the luminance "
                f"with {', '.join(f'{k}x{k}' for k in c.line_sizes)} squares (thin bright and dark structures narrower than "
                "the square), computed over the photo's pixels only; they also reach the logit at full resolution through "
                "one 3x3 convolution"
            ]
            if c.line_sizes
            else []
        ),
        f"- {net.num_parameters():,} parameters, float32 safetensors ({_size_mb(model)})",
        "- the validity mask is 1 on the photo and 0 on padding at every scale, so tiles of any shape give the same "
        f"prediction for the same pixels' context; large scans run in {tiles.tile} px tiles with {tiles.margin} px of "
        f"context, and photos of {2 * tiles.coarse_side} px and more also get a pass at the power-of-two downscale "
        f"whose long side is {tiles.coarse_side}-{2 * tiles.coarse_side - 1} px (each pixel takes the larger "
        "probability)",
        f"- default probability threshold {cfg['threshold']:g} at sensitivity 0.5, picked on the validation set; "
        "sensitivity s moves it linearly to 0.98 (s = 0) and 0.02 (s = 1)",
        *([f"- details: {details}"] if details else []),
        "",
    ]


DETECTOR_USAGE = """\
detector = inpaint.load_detector("{folder}")   # a folder, or a Hugging Face Hub repo id
found = inpaint.detect_damage("scan.jpg", sensitivity=0.5, model=detector)
found.probability            # float32 (H, W) in [0, 1]
found.damage                 # bool (H, W), True = damage
found.mask_image().save("mask.png")                                              # white = damage
candidates = inpaint.restore("scan.jpg", found.known, n=4, model=inpaint.load_model())"""


def _detector_usage(model: Path) -> list[str]:
    folder = _in_project(model) or model.name
    return _usage(
        DETECTOR_USAGE.format(folder=folder),
        f"python -m inpaint detect scan.jpg --sensitivity 0.5 --weights {folder} --out mask.png",
    )


def _detector_loss(tc: dict[str, Any]) -> str:
    from ..synth.truth import DARK_MIN_CHANGE

    return (
        f"- loss: binary cross-entropy (damage weighted {tc.get('pos_weight', 0):g}"
        + (
            f"; thin damage, the pixels a 3x3 erosion removes, {1 + tc['thin_weight']:g} times more"
            if tc.get("thin_weight")
            else ""
        )
        + (
            f"; damage that made a pixel visibly darker (by {DARK_MIN_CHANGE} grey levels or more) {tc['dark_weight']:g} more"
            if tc.get("dark_weight")
            else ""
        )
        + ") + soft Dice"
        + (
            f"; {tc['single_kind_fraction']:.0%} of the damaged samples have one damage kind only"
            + (
                " (drawn by weight: " + ", ".join(f"{k} {v:g}" for k, v in tc["kind_weights"].items()) + ", others 1)"
                if tc.get("kind_weights")
                else ""
            )
            if tc.get("single_kind_fraction")
            else ""
        )
    )


def _detector_training(
    meta: dict[str, Any], phases: list[dict[str, Any]], data: dict[str, Any] | None, command: str, note: str
) -> list[str]:
    tc, val, t = meta.get("train_config", {}), meta.get("validation", {}), _totals(meta, phases)
    scale = tc.get("scale", [0, 0])
    return [
        "## Training",
        "",
        f"- {t['steps']:,} Adam steps (the last run at lr {tc.get('lr', 0):g}), batch {tc.get('batch_size')}, "
        f"{t['images_seen']:,} crops of {_crops(meta, phases)} px (crop = {scale[0]:g}-{scale[1]:g} of the photo's "
        f"shorter side{' in the last phase' if len(phases) > 1 else ''}), {t['train_hours']:.2f} h of training-step "
        f"time ({t['crops_per_second'] or 0:.1f} crops/s){_where_trained(phases)}{_lower_precision(phases)}",
        f"- {len(phases or [{}])} phase(s) (`train-detector` runs, each going on from the last); each one's settings "
        "are in the training record",
        "- every sample: the print (kept in colour 30%, black-and-white 30%, sepia 25%, faded 15%), then the damage "
        f"synthesiser at a random severity (or no damage for {tc.get('clean_fraction', 0):.0%} of the samples), then "
        "the scan (paper shading and grain 60%, blur 30%, noise 50%, exposure 40%, JPEG quality 40-95 50%)",
        _detector_loss(tc),
        f"- validation ({tc.get('val_images')} damaged crops of the validation photos, fixed seeds): F1 "
        f"{val.get('val_best_f1', 'n/a')} at threshold {val.get('val_best_threshold', 'n/a')}, step {val.get('step', 'n/a')}"
        + (
            f"; the same crops undamaged: {val['val_clean_fpr']:.2%} of their pixels flagged (the threshold is the best "
            f"F1 among those flagging at most {tc.get('max_clean_fpr', 0):.1%})"
            if "val_clean_fpr" in val
            else ""
        ),
        *_provenance_lines(meta, data, command, note),
    ]


def _detector_limitations(data: dict[str, Any] | None, runs: list[tuple[Path, dict[str, Any]]]) -> list[str]:
    return [
        "## Limitations",
        "",
        "- It is trained only on synthetic damage. Real prints have damage the synthesiser does not draw (silvering, "
        "mould, handwriting, tape), and this card scores none of it.",
        "- Thin structures that belong to the photo (hair, wires, text, grass) can be flagged."
        + (_scratch_polarity(runs[0][1]) if runs else "")
        + " The suggestion is meant to be corrected by a person before restoring.",
        f"- The training set{' of ' + str(data['photos']) + ' photos' if data else ''} is small; expect more misses on "
        "photos unlike it.",
        "",
    ]


def _detector_sections(
    model: Path,
    cfg: dict[str, Any],
    meta: dict[str, Any],
    net: Any,
    phases: list[dict[str, Any]],
    runs: list[tuple[Path, dict[str, Any]]],
    data: dict[str, Any] | None,
    command: str,
    note: str,
) -> list[list[str]]:
    return [
        _detector_model_lines(model, cfg, net),
        _detector_usage(model),
        _detector_results(runs),
        _detector_limitations(data, runs),
        _detector_training(meta, phases, data, command, note),
        _license_lines(data),
    ]


# ----------------------------------------------------------------------------- the command


@dataclass(frozen=True)
class CardKind:
    """What differs between the restorer's card and the detector's."""

    kind: str  # the training record's description of the model
    title: str
    intro: str
    pipeline_tag: str
    tags: tuple[str, ...]
    metrics: tuple[str, ...]
    rows: str  # the metadata key of its stages or phases
    runs: Callable[[list[Path], str], list[tuple[Path, dict[str, Any]]]]  # the evaluations' results, checked
    sections: Callable[..., list[list[str]]]  # the card's sections after the intro
    evaluation: Callable[[list[tuple[Path, dict[str, Any]]]], list[dict[str, Any]]]  # the record's evaluations


RESTORER = CardKind(
    "restorer (partial-convolution U-Net)",
    "Partial-convolution U-Net for old-photo restoration",
    RESTORER_INTRO,
    "image-to-image",
    ("image-inpainting", "partial-convolution", "photo-restoration"),
    ("psnr", "ssim"),
    "stages",
    _restorer_runs,
    _restorer_sections,
    _restorer_evaluation,
)
DETECTOR = CardKind(
    "damage detector (partial-convolution U-Net, one output channel)",
    "Damage detector for old photos",
    DETECTOR_INTRO,
    "image-segmentation",
    ("damage-detection", "photo-restoration", "partial-convolution"),
    ("f1",),
    "phases",
    _detector_runs,
    _detector_sections,
    _detector_evaluation,
)


def _load_net(folder: Path, detector: bool) -> Any:
    """The folder's network, on the CPU (imported here: only the card's model lines need torch)."""
    if detector:
        from ..nn.damagenet import load_detector

        return load_detector(folder, device="cpu")
    from ..nn.unet import load_model

    return load_model(folder, device="cpu")


def card_and_record(
    model: Path, manifest: Path | None, eval_dirs: list[Path], command: str, note: str = ""
) -> tuple[str, dict[str, Any]]:
    """The model card's text and the training record of ``model``."""
    cfg = json.loads((model / CONFIG_NAME).read_text())
    meta = read_metadata(model)
    data = _data_summary(manifest)
    kind = DETECTOR if cfg.get("architecture") == "damage-unet" else RESTORER
    net = _load_net(model, detector=kind is DETECTOR)
    rows = list(meta.get(kind.rows) or [])
    runs = kind.runs(eval_dirs, cfg["version"])
    text = _card(
        _yaml_header(kind.pipeline_tag, list(kind.tags), list(kind.metrics)),
        f"{kind.title} (`{cfg['version']}`)",
        kind.intro,
        kind.sections(model, cfg, meta, net, rows, runs, data, command, note),
    )
    return text, _record(kind.kind, cfg, meta, rows, data, command, note, kind.evaluation(runs))


def write_card(model: Path, manifest: Path | None, eval_dirs: list[Path], command: str, note: str = "") -> Path:
    """Write ``model``'s README.md and, beside it, training_record.json; returns the card's path."""
    text, record = card_and_record(model, manifest, eval_dirs, command, note)
    (model / RECORD_NAME).write_text(json.dumps(record, indent=1) + "\n")
    path = model / CARD_NAME
    path.write_text(text)
    return path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="the model folder to write README.md and training_record.json into")
    p.add_argument("--manifest", help="the training photos' manifest.csv")
    p.add_argument(
        "--eval",
        nargs="*",
        default=[],
        help="evaluate (or, for a detector, evaluate-detection) --out folders (their results.json)",
    )
    p.add_argument("--train-command", required=True, help="the exact training command, quoted in the card")
    p.add_argument("--note", default="", help="a sentence about the run (e.g. what else shared the machine)")


def main(args: argparse.Namespace) -> int:
    path = write_card(
        Path(args.model),
        Path(args.manifest) if args.manifest else None,
        [Path(e) for e in args.eval],
        args.train_command,
        args.note,
    )
    print(f"wrote {path} and {path.with_name(RECORD_NAME)}")
    return 0
