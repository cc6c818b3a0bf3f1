"""The damage detector's training task (``python -m inpaint train-detector``): photo crops
printed, damaged and scanned by the damage synthesiser, a pixel BCE plus soft Dice loss with
extra weight on thin and on darkening damage, validation that picks the exported threshold
(the best F1 among thresholds that flag few pixels of undamaged crops), and export as a
detector folder whose metadata carries one row per phase (each invocation of the command)."""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..eval.metrics import f1_counts, scores
from ..nn.damagenet import DamageNet, DamageNetConfig, save_detector
from ..synth.content import maybe_thin_content
from ..synth.physical import physical_damage
from ..synth.prints import damaged_sample, parse_kind_weights, sample_kinds
from ..synth.strokes import stroke_damage
from ..synth.truth import dark_damage
from .data import build_dataset
from .loop import Progress, Start, Task, TrainingLoop
from .machine import autocast_dtype, machine_summary
from .recipe import add_recipe_arguments, flag_options, recipe_command
from .surgery import HEAD_OPTIONS, load_weights_adding_head, load_weights_adding_inputs, resumed_options, widen_detector

log = logging.getLogger(__name__)


THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.1, 0.96, 0.05))


def pick_threshold(
    f1_by_t: dict[float, float], clean_fpr_by_t: dict[float, float] | None, max_clean_fpr: float
) -> float:
    """The threshold with the best F1 among those that flag at most ``max_clean_fpr`` of the pixels
    of undamaged crops (people erase every false suggestion by hand); if none does, the one that
    flags the fewest. Without clean crops, simply the best F1."""
    allowed = [t for t in f1_by_t if clean_fpr_by_t is None or clean_fpr_by_t[t] <= max_clean_fpr]
    if not allowed:
        return min(f1_by_t, key=lambda t: (clean_fpr_by_t[t], -t))  # type: ignore[index]
    return max(allowed, key=lambda t: (f1_by_t[t], t))


# Where the training samples' damage comes from: "synth" (synth.damage through synth.prints),
# "physical" (synth.physical: thirteen kinds over printed, scanned photos) or "strokes"
# (synth.strokes: vector strokes and blobs over the photo, the test generator of the physical one).
GENERATORS = ("synth", "physical", "strokes")


def _physical_sample(
    photo: np.ndarray, rng: np.random.Generator, clean_fraction: float, content: float = 0.0, unprinted: float = 0.0
) -> tuple[np.ndarray, ...]:
    """(what the detector sees, the damage, the same print scanned undamaged) from ``synth.physical``;
    with probability ``clean_fraction`` the undamaged scan itself, with no damage; with probability
    ``content`` the photo first gets thin content that is not damage (the hard negatives). With
    probability ``unprinted``, a clean sample is the photo itself (with the content), not printed
    or scanned: clean digital photos are sharper than any scan."""
    if unprinted and rng.random() < clean_fraction * unprinted:
        plain = maybe_thin_content(photo, rng, content)
        return plain, np.zeros(photo.shape[:2], bool), plain
    sample = physical_damage(photo, rng, content=content)
    if rng.random() < clean_fraction:
        return sample.reference, np.zeros(photo.shape[:2], bool), sample.reference
    return sample.image, sample.footprint, sample.reference


def _strokes_sample(
    photo: np.ndarray, rng: np.random.Generator, clean_fraction: float, content: float = 0.0
) -> tuple[np.ndarray, ...]:
    """(what the detector sees, the damage, the photo) from ``synth.strokes``; with probability
    ``clean_fraction`` the photo itself, with no damage. With probability ``content`` the photo
    first gets thin content that is not damage (the hard negatives), in the sample and its truth."""
    photo = maybe_thin_content(photo, rng, content)
    if rng.random() < clean_fraction:
        return photo, np.zeros(photo.shape[:2], bool), photo
    drawn = stroke_damage(photo, rng)
    return drawn.damaged, drawn.footprint, photo


def _generated_sample(
    generator: str,
    photo: np.ndarray,
    rng: np.random.Generator,
    clean_fraction: float,
    content: float,
    unprinted: float = 0.0,
) -> tuple[np.ndarray, ...]:
    """A sample of the physical or the strokes generator: (image, damage, undamaged)."""
    if generator == "strokes":
        return _strokes_sample(photo, rng, clean_fraction, content)
    return _physical_sample(photo, rng, clean_fraction, content, unprinted)


class DamageDataset(Dataset):
    """(image (3, H, W) float in [0, 1], target (1, H, W) float, 1 = damage) from photo crops. With
    ``dark``, the target has a second channel: ``dark_damage`` (for the loss's ``dark_weight``)."""

    def __init__(
        self,
        images: Dataset,
        clean_fraction: float = 0.15,
        seed: int = 0,
        single_kind_fraction: float = 0.0,
        kind_weights: dict[str, float] | None = None,
        dark: bool = False,
        generator: str = "synth",
        content_fraction: float = 0.0,
        unprinted_fraction: float = 0.0,
    ) -> None:
        if generator not in GENERATORS:
            raise ValueError(f"generator must be one of {', '.join(GENERATORS)}, got {generator!r}")
        self.generator = generator
        self.content_fraction = content_fraction
        self.unprinted_fraction = unprinted_fraction
        self.images = images
        self.clean_fraction = clean_fraction
        self.seed = seed
        self.single_kind_fraction = single_kind_fraction
        self.kind_weights = kind_weights
        self.dark = dark

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        photo = (self.images[index].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        if self.generator != "synth":
            image, damage, *reference = _generated_sample(
                self.generator, photo, rng, self.clean_fraction, self.content_fraction, self.unprinted_fraction
            )
        else:
            kinds = sample_kinds(rng, self.single_kind_fraction, self.kind_weights)
            image, damage, *reference = damaged_sample(
                photo, rng, self.clean_fraction, reference=self.dark, kinds=kinds
            )
        target = np.stack([damage, dark_damage(image, reference[0], damage)]) if self.dark else damage[None]
        return torch.from_numpy(image).permute(2, 0, 1).float() / 255.0, torch.from_numpy(target).float()


def thin_damage(target: torch.Tensor) -> torch.Tensor:
    """The damage pixels a 3x3 erosion removes: all of a 1-2 px scratch, only the rim of a stain."""
    eroded = -F.max_pool2d(-target, 3, stride=1, padding=1)
    return target - eroded


def detection_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    pos_weight: float = 3.0,
    thin_weight: float = 0.0,
    dark: torch.Tensor | None = None,
    dark_weight: float = 0.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Pixel BCE (damage pixels weighted ``pos_weight``; ``thin_damage`` pixels ``thin_weight``
    more: thin lines carry few pixels, so without it the loss is ruled by stains and missing
    corners; ``dark`` pixels (``dark_damage``, 0/1) ``dark_weight`` more, the weights adding up)
    plus a soft Dice term over the batch."""
    weight = None
    if thin_weight:
        weight = 1.0 + thin_weight * thin_damage(target)
    if dark_weight:
        if dark is None:
            raise ValueError("dark_weight needs the dark damage map (DamageDataset(dark=True))")
        weight = (1.0 if weight is None else weight) + dark_weight * dark
    bce = F.binary_cross_entropy_with_logits(
        logits, target, weight=weight, pos_weight=torch.tensor(pos_weight, device=logits.device)
    )
    p = torch.sigmoid(logits)
    inter = (p * target).sum()
    dice = 1.0 - (2.0 * inter + 1.0) / (p.sum() + target.sum() + 1.0)
    total = bce + dice
    return total, {"bce": float(bce.detach()), "dice": float(dice.detach())}


@dataclass
class DetectTrainConfig:
    data: str
    out: str
    val_data: str | None = None
    width: int = 12
    depth: int = 5
    max_width_mult: int = 8  # the widest level has width * this many channels (coarse levels are cheap)
    crop: int = 256
    scale: list[float] = field(default_factory=lambda: [0.15, 1.0])
    batch_size: int = 8
    lr: float = 1e-3
    steps: int = 100_000
    max_minutes: float | None = None
    clean_fraction: float = 0.15
    pos_weight: float = 3.0
    thin_weight: float = 0.0
    # Extra loss weight on the damage pixels made visibly darker (dark_damage): dark scratches are
    # found half as often as bright ones, being confused with the photo's own dark lines.
    dark_weight: float = 0.0
    single_kind_fraction: float = 0.0  # synth generator only
    kind_weights: dict[str, float] | None = None  # how single-kind samples pick their kind (None: uniformly)
    generator: str = "synth"  # where the samples' damage comes from: one of GENERATORS
    # physical generator: the share of samples whose photo first gets thin content that is not
    # damage (synth.content: hair, wires, lettering, borders...), labelled undamaged
    content_fraction: float = 0.0
    # physical generator: the share of the clean samples that are the photo itself, not printed
    unprinted_fraction: float = 0.0
    workers: int = 1
    checkpoint_minutes: float = 4.0
    val_every: int = 250
    val_images: int = 48
    max_clean_fpr: float = 0.005
    seed: int = 0
    version: str | None = None
    resume: bool = True
    # A full-resolution refinement head (see DamageNet): None = what the checkpoint has (none for
    # a new run). A run may add one when it is resumed; the head then gets a fresh optimiser.
    refine_channels: int | None = None
    refine_kernel: int | None = None
    refine_lr: float | None = None  # the head's learning rate (default: --lr)
    # An exported detector folder to start from (e.g. the bundled weights, whose checkpoint is not
    # shipped): its weights, head and training record; ignored when the run has a checkpoint.
    init: str | None = None
    # Export (and validate) an exponential moving average of the weights, buffers included, with
    # this decay per step (e.g. 0.998: about the last 500 steps), instead of the last step's weights.
    ema_decay: float | None = None
    # Line features as extra inputs (see DamageNetConfig.line_sizes): None = what the checkpoint or
    # --init model has (none for a new run). A run from weights without them may add them.
    line_sizes: list[int] | None = None
    # Lower-precision training steps: auto = bf16 on CPUs with native bf16, bf16 or fp16 on CUDA,
    # float32 elsewhere (see machine.cpu_has_fast_bf16); validation always runs in float32, as the
    # detector does on a CPU.
    amp: str = "auto"
    recipe: dict[str, Any] | None = None  # the recipe and phase this run is (set by the recipe runner)


class DetectorTask(Task):
    """The detector's part of a TrainingLoop: see the module docstring."""

    label = "detector"

    def __init__(self, cfg: DetectTrainConfig) -> None:
        super().__init__(cfg)
        self.init: DamageNet | None = None  # --init's detector, when the run starts from one
        self.last_val: dict[str, Any] = {}  # the latest validation scores, with their step
        # One row per invocation (a phase: its steps, crops and options), for the card.
        self.phases: list[dict[str, Any]] = []
        self.phase_start = Progress()  # where this invocation started
        self.widened_from: int | None = None  # set when this invocation widened its --init detector
        self.val: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    @property
    def precision(self) -> str:
        """What the training steps compute in: "bfloat16", "float16" or "float32"."""
        dtype = autocast_dtype(self.device, self.cfg.amp)
        return str(dtype or torch.float32).removeprefix("torch.")

    def dataset(self) -> Dataset:
        cfg = self.cfg
        images = build_dataset(cfg.data, crop=cfg.crop, seed=cfg.seed, scale=tuple(cfg.scale), length=10_000_000)
        return DamageDataset(
            images,
            cfg.clean_fraction,
            cfg.seed,
            cfg.single_kind_fraction,
            cfg.kind_weights,
            dark=cfg.dark_weight > 0,
            generator=cfg.generator,
            content_fraction=cfg.content_fraction,
            unprinted_fraction=cfg.unprinted_fraction,
        )

    # -- the model
    def build(self, checkpoint: dict[str, Any] | None) -> DamageNet:
        cfg = self.cfg
        if cfg.init and checkpoint is not None:
            log.info("%s exists: resuming from it, not from --init %s", self.checkpoint_path, cfg.init)
        elif cfg.init:
            from ..nn.damagenet import load_detector

            self.init = load_detector(cfg.init, device=self.device, allow_untrained=True)
        init = self.init
        source = checkpoint["model_config"] if checkpoint is not None else init.config.to_dict() if init else {}
        head = resumed_options(cfg, source, HEAD_OPTIONS)
        lines = tuple(cfg.line_sizes) if cfg.line_sizes is not None else tuple(source.get("line_sizes", ()))
        config = DamageNetConfig(
            width=cfg.width,
            depth=cfg.depth,
            max_width_mult=cfg.max_width_mult,
            working_size=cfg.crop,
            line_sizes=lines,
            **head,
        )
        return DamageNet(config).to(self.device)

    def group_lr(self, name: str) -> float:
        return self.cfg.refine_lr if name == "refine" and self.cfg.refine_lr is not None else self.cfg.lr

    def _check_architecture(self, model: DamageNet, config: dict[str, Any], source: str) -> None:
        """A run goes on from weights of the same network; the head may be added (see
        load_weights_adding_head), and the crop, threshold and version label may differ."""

        def arch(d: dict[str, Any]) -> dict[str, Any]:
            return {
                k: v
                for k, v in d.items()
                if k not in HEAD_OPTIONS and k not in ("working_size", "threshold", "version", "line_sizes")
            }

        if arch(config) != arch(model.config.to_dict()):
            raise ValueError(
                f"{source} was written for another detector config (width, depth, kernels); "
                "use a new --out or the same architecture flags"
            )

    # -- where the run starts
    def start(self, model: DamageNet, checkpoint: dict[str, Any] | None) -> Start:
        if checkpoint is not None:
            start = self._resume(model, checkpoint)
        elif self.init is not None:
            start = Start(self._start_from(model, self.init))
        else:
            start = Start(Progress())
        self.phase_start = replace(start.progress)
        return start

    def _resume(self, model: DamageNet, ck: dict[str, Any]) -> Start:
        source = str(self.checkpoint_path)
        self._check_architecture(model, ck["model_config"], source)
        old_lines = tuple(ck["model_config"].get("line_sizes", ()))
        state = load_weights_adding_inputs(model, ck["model"], old_lines, source)
        added = (
            load_weights_adding_head(model, state, ck["model_config"].get("refine_channels", 0), source)
            or old_lines != model.config.line_sizes
        )
        if added:
            log.info("added a refinement head or line features; the optimiser starts afresh")
        self.last_val = json.loads(ck.get("best", "{}"))
        self.phases = json.loads(ck.get("phases", "[]"))
        progress = Progress(step=ck["step"], seconds=ck["seconds"], images_seen=ck["images_seen"])
        return Start(progress, None if added else ck["optimizer"], ck["rng"])

    def _start_from(self, model: DamageNet, init: DamageNet) -> Progress:
        """``--init``: the exported model's weights (the optimiser starts afresh) and its training
        record (steps, crops, time, phases), which this run's export continues. A model exported
        before phases were recorded gets one row for all its training."""
        source = f"--init {self.cfg.init}"
        if init.config.width > model.config.width:
            raise ValueError(
                f"{source} has width {init.config.width}: a detector can only be widened "
                f"(--width {init.config.width} or more)"
            )
        if init.config.width < model.config.width:  # a wider run: the detector widened, starting as itself
            log.info("widening %s from %d to %d channels", init.config.version, init.config.width, model.config.width)
            self.widened_from = init.config.width
            init = widen_detector(init, model.config.width, seed=self.cfg.seed)
        self._check_architecture(model, init.config.to_dict(), source)
        state = load_weights_adding_inputs(model, init.state_dict(), init.config.line_sizes, source)
        load_weights_adding_head(model, state, init.config.refine_channels, source)
        meta = getattr(init, "metadata", {})
        progress = Progress(
            step=int(meta.get("steps", 0)),
            seconds=float(meta.get("train_seconds", 0.0)),
            images_seen=int(meta.get("images_seen", 0)),
        )
        self.last_val = dict(meta.get("validation") or {})
        self.phases = list(meta.get("phases") or [])
        if not self.phases and progress.step:
            tc = meta.get("train_config") or {}
            self.phases = [
                {
                    "steps": progress.step,
                    "images_seen": progress.images_seen,
                    "seconds": round(progress.seconds, 1),
                    "crop": int(meta.get("crop", tc.get("crop", 0))),
                    "batch_size": tc.get("batch_size"),
                    "lr": None,
                    "model": init.config.version,
                    "note": "phases not recorded",
                }
            ]
        log.info("starting from %s (%s) at step %d", self.cfg.init, init.config.version, progress.step)
        return progress

    # -- the steps
    def loader_seeds(self, progress: Progress, length: int) -> Iterator[tuple[int, int]]:
        """Each pass shuffles by a seed of the step it starts at, so a resumed run draws other
        batches than the run before it did from the same step."""
        for epoch in itertools.count():
            yield epoch, self.cfg.seed * 1_000_003 + progress.step + epoch

    def forward(self, model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        imgs, _ = batch
        return model(imgs, None)

    def loss(self, output: torch.Tensor, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        _, targets = batch
        cfg = self.cfg
        dark = targets[:, 1:] if cfg.dark_weight else None
        return detection_loss(output.float(), targets[:, :1], cfg.pos_weight, cfg.thin_weight, dark, cfg.dark_weight)

    # -- validation
    def prepare_validation(self, progress: Progress) -> None:
        """Damaged crops of the validation photos with fixed seeds, and the same crops printed and
        scanned without damage (their own seed, so the damaged set does not depend on them); the
        torch RNG is left as it was."""
        if not self.cfg.val_data:
            return
        from .data import ImageFolderDataset

        ds = ImageFolderDataset(self.cfg.val_data, crop=self.cfg.crop, scale=(0.5, 1.0), hflip=False)
        state = torch.get_rng_state()
        torch.manual_seed(4321)
        rng, clean_rng = np.random.default_rng(4321), np.random.default_rng(8765)
        imgs, targets, clean = [], [], []
        for i in range(min(self.cfg.val_images, 3 * len(ds))):
            photo = (ds[i % len(ds)].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            if self.cfg.generator != "synth":  # validate on the damage it trains on
                gen, content = self.cfg.generator, self.cfg.content_fraction
                image, damage, _ = _generated_sample(gen, photo, rng, 0.15, content)
                undamaged, _, _ = _generated_sample(gen, photo, clean_rng, 1.0, content, self.cfg.unprinted_fraction)
            else:
                image, damage = damaged_sample(photo, rng, clean_fraction=0.15)
                undamaged, _ = damaged_sample(photo, clean_rng, clean_fraction=1.0)
            imgs.append(torch.from_numpy(image).permute(2, 0, 1).float() / 255.0)
            targets.append(torch.from_numpy(damage)[None].float())
            clean.append(torch.from_numpy(undamaged).permute(2, 0, 1).float() / 255.0)
        torch.set_rng_state(state)
        self.val = torch.stack(imgs), torch.stack(targets), torch.stack(clean)

    def validate(self, model: torch.nn.Module, progress: Progress) -> dict[str, Any]:
        if self.val is None:
            return {}
        imgs, targets, clean = self.val

        def probabilities(batch: torch.Tensor) -> np.ndarray:
            return torch.cat(
                [torch.sigmoid(model(batch[i : i + 8].to(self.device))).cpu() for i in range(0, len(batch), 8)]
            ).numpy()

        p, p_clean = probabilities(imgs), probabilities(clean)
        truth = targets.numpy() > 0.5
        by_t = {t: scores(*f1_counts(p >= t, truth))["f1"] or 0.0 for t in THRESHOLDS}
        fpr_t = {t: float((p_clean >= t).mean()) for t in THRESHOLDS}
        best_t = pick_threshold(by_t, fpr_t, self.cfg.max_clean_fpr)
        return {
            "val_f1": round(by_t[0.5], 4),
            "val_best_f1": round(by_t[best_t], 4),
            "val_best_threshold": best_t,
            "val_clean_fpr": round(fpr_t[best_t], 5),
        }

    def validated(self, metrics: dict[str, Any], progress: Progress) -> None:
        self.last_val = metrics | {"step": progress.step}

    # -- the record, checkpoints and export
    def _phase_row(self, model: DamageNet, progress: Progress) -> dict[str, Any]:
        """This invocation's row: what it trained and with which options."""
        start, c, config = self.phase_start, self.cfg, model.config
        return {
            "steps": progress.step - start.step,
            "images_seen": progress.images_seen - start.images_seen,
            "seconds": round(progress.seconds - start.seconds, 1),
            "crop": c.crop,
            "scale": list(c.scale),
            "batch_size": c.batch_size,
            "lr": c.lr,
            "refine_lr": c.refine_lr,
            "refine_channels": config.refine_channels,
            "pos_weight": c.pos_weight,
            "thin_weight": c.thin_weight,
            "dark_weight": c.dark_weight,
            "single_kind_fraction": c.single_kind_fraction,
            "kind_weights": c.kind_weights,
            "clean_fraction": c.clean_fraction,
            "generator": c.generator,
            "content_fraction": c.content_fraction,
            "unprinted_fraction": c.unprinted_fraction,
            "ema_decay": c.ema_decay,
            "line_sizes": list(config.line_sizes),
            "precision": self.precision,
            "machine": machine_summary(),
            **({"widened": [self.widened_from, config.width]} if self.widened_from else {}),
        }

    def _all_phases(self, model: DamageNet, progress: Progress) -> list[dict[str, Any]]:
        row = self._phase_row(model, progress)
        return self.phases + ([row] if row["steps"] else [])

    def checkpoint_entries(self, model: DamageNet, progress: Progress) -> dict[str, Any]:
        return {
            "model_config": model.config.to_dict(),
            "train_config": json.dumps(dataclasses.asdict(self.cfg)),
            "best": json.dumps(self.last_val),
            "phases": json.dumps(self._all_phases(model, progress)),
        }

    def export(self, model: DamageNet, folder: Path, progress: Progress, provenance: dict[str, Any]) -> Path:
        cfg = model.config
        threshold = self.last_val.get("val_best_threshold", 0.5)
        version = self.cfg.version or f"damage-w{cfg.width}-d{cfg.depth}-s{progress.step}"
        meta = {
            "steps": progress.step,
            "images_seen": progress.images_seen,
            "train_seconds": round(progress.seconds, 1),
            "data": self.cfg.data,
            "crop": self.cfg.crop,
            "validation": self.last_val,
            "train_config": dataclasses.asdict(self.cfg),
            "phases": self._all_phases(model, progress),
            **provenance,
        }
        keep_card = (folder / "README.md").read_text() if (folder / "README.md").exists() else None
        model.config = dataclasses.replace(cfg, threshold=float(threshold), version=version)
        try:
            return save_detector(model, folder, card=keep_card, metadata=meta)
        finally:
            model.config = cfg


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = DetectTrainConfig(data="", out="")
    _run_arguments(p, d)
    _sample_arguments(p, d)
    _loop_arguments(p, d)
    _model_arguments(p, d)


def _run_arguments(p: argparse.ArgumentParser, d: DetectTrainConfig) -> None:
    """Data, output, network size and optimisation."""
    p.add_argument(
        "--data",
        help="dataset spec: kind:path[:weight],... with kind folder|celeba|places2 (required without --recipe)",
    )
    p.add_argument("--out", required=True, help="run directory (checkpoint, log, exported model in RUN/model)")
    add_recipe_arguments(p)
    p.add_argument(
        "--val-data", help="folder of validation photos (fixed synthetic damage; picks the default threshold)"
    )
    p.add_argument("--width", type=int, default=d.width)
    p.add_argument("--depth", type=int, default=d.depth)
    p.add_argument(
        "--max-width-mult",
        type=int,
        default=d.max_width_mult,
        help="levels have width * 1, 2, 4... channels up to width * this (e.g. 16 with --depth 7: "
        "more capacity at coarse levels, where it costs little time)",
    )
    p.add_argument("--crop", type=int, default=d.crop)
    p.add_argument("--scale", type=float, nargs=2, default=d.scale, metavar=("MIN", "MAX"))
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--max-minutes", type=float, help="stop (checkpoint and export) after this much wall time")


def _sample_arguments(p: argparse.ArgumentParser, d: DetectTrainConfig) -> None:
    """What the synthetic samples hold and how the loss weighs them."""
    p.add_argument(
        "--generator",
        choices=GENERATORS,
        default=d.generator,
        help="where the samples' damage comes from: synth (inpaint.synth.damage), physical "
        "(inpaint.synth.physical: thirteen kinds over printed, scanned photos) or strokes "
        "(inpaint.synth.strokes: vector strokes and blobs, for the cross table of evaluate-detection)",
    )
    p.add_argument("--clean-fraction", type=float, default=d.clean_fraction, help="share of undamaged samples")
    p.add_argument(
        "--content-fraction",
        type=float,
        default=d.content_fraction,
        help="with --generator physical: share of samples whose photo first gets thin content that is not "
        "damage (hair, wires, lettering, borders: inpaint.synth.content), the hard negatives",
    )
    p.add_argument(
        "--unprinted-fraction",
        type=float,
        default=d.unprinted_fraction,
        help="with --generator physical: share of the clean samples that are the photo itself, not printed "
        "or scanned (clean digital photos are sharper than any scan)",
    )
    p.add_argument("--pos-weight", type=float, default=d.pos_weight)
    p.add_argument(
        "--thin-weight",
        type=float,
        default=d.thin_weight,
        help="extra loss weight on thin damage (pixels a 3x3 erosion removes), e.g. 4",
    )
    p.add_argument(
        "--dark-weight",
        type=float,
        default=d.dark_weight,
        help="extra loss weight on damage that made pixels visibly darker (dark scratches), e.g. 4",
    )
    p.add_argument(
        "--single-kind-fraction",
        type=float,
        default=d.single_kind_fraction,
        help="share of damaged samples with one damage kind only, e.g. 0.3",
    )

    def kind_weights(text: str) -> dict[str, float]:
        try:
            return parse_kind_weights(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("--kind-weights: ")) from None

    p.add_argument(
        "--kind-weights",
        type=kind_weights,
        help="how single-kind samples pick their kind, e.g. scratch=3,crease=2 (other kinds weigh 1; "
        "default: uniformly)",
    )


def _loop_arguments(p: argparse.ArgumentParser, d: DetectTrainConfig) -> None:
    """Data loading, checkpoints and validation."""
    p.add_argument("--workers", type=int, default=d.workers)
    p.add_argument("--checkpoint-minutes", type=float, default=d.checkpoint_minutes)
    p.add_argument("--val-every", type=int, default=d.val_every)
    p.add_argument("--val-images", type=int, default=d.val_images)
    p.add_argument(
        "--max-clean-fpr",
        type=float,
        default=d.max_clean_fpr,
        help="the default threshold flags at most this share of undamaged validation pixels",
    )
    p.add_argument("--seed", type=int, default=d.seed)


def _model_arguments(p: argparse.ArgumentParser, d: DetectTrainConfig) -> None:
    """What the network gains or starts from, and the training precision."""
    p.add_argument(
        "--refine-channels",
        type=int,
        help="channels of a full-resolution refinement head (0: none; default: the checkpoint's, none "
        "for a new run); a resumed run may add one",
    )
    p.add_argument("--refine-kernel", type=int, help="the head's window over the photo (odd; default 3)")
    p.add_argument("--refine-lr", type=float, help="the head's learning rate (default: --lr)")
    p.add_argument(
        "--init",
        help="start from this exported detector folder (e.g. weights/damage-detector): its "
        "weights and training record; ignored when --out has a checkpoint. With a larger "
        "--width it is widened first, starting as the same function "
        "(see inpaint.train.surgery.widen_detector)",
    )
    p.add_argument(
        "--line-sizes",
        type=int,
        nargs="+",
        metavar="K",
        help="line features as extra inputs: top-hat and black-hat of the luminance with K x K squares, "
        "e.g. 3 7 (default: the checkpoint's or --init model's; none for a new run); a run from "
        "weights without them may add them",
    )
    p.add_argument(
        "--ema-decay",
        type=float,
        help="validate and export an exponential moving average of the weights with this decay per "
        "step (e.g. 0.998); default: the last step's weights",
    )
    p.add_argument(
        "--amp",
        choices=("auto", "bf16", "fp16", "off"),
        default=d.amp,
        help="lower-precision training steps (auto: bf16 on CPUs with native bf16 and on CUDA)",
    )
    p.add_argument("--version")
    p.add_argument("--no-resume", dest="resume", action="store_false")


def _loop(options: dict[str, Any]) -> TrainingLoop:
    return TrainingLoop(DetectorTask(DetectTrainConfig(**options)))


def main(args: argparse.Namespace) -> int:
    folders = recipe_command(args, "detector", DetectTrainConfig, _loop, add_arguments)
    if folders is None:
        folders = [_loop(flag_options(args, DetectTrainConfig)).fit()]
    for folder in folders[-1:]:
        print(f"exported {folder}")
    return 0
