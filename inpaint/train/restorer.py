"""The restorer's training task (``python -m inpaint train``): photo crops with random training
masks, the paper's loss (valid and hole L1, perceptual, style, total variation, optionally SSIM
of the composite), its two stages (lr 2e-4, then 5e-5 with the encoder's BatchNorm frozen),
validation on fixed held-out crops and masks, and export as a model folder whose metadata
carries the run's record: one row per stage, or per segment of a stage whose options changed."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Dataset

from ..io.weights import save_overlay
from ..nn.discriminator import PatchDiscriminator
from ..nn.unet import PRIORS, RENORMS, PConvUNet, PConvUNetConfig, save_model
from .data import build_dataset
from .loop import Progress, Start, Task, TrainingLoop
from .losses import InpaintingLoss, LossWeights, adversarial_loss, discriminator_loss, ssim_per_image
from .recipe import add_recipe_arguments, flag_options, recipe_command
from .surgery import HEAD_OPTIONS, load_weights_adding_head, resumed_options

log = logging.getLogger(__name__)


STAGES = {1: 2e-4, 2: 5e-5}  # each stage's learning rate


@dataclass
class TrainConfig:
    data: str  # dataset spec, e.g. "folder:/data/photos:1,celeba:/data/celeba:1"
    out: str
    model: str = "compact"  # compact | paper256 | paper512 | path to a config.json
    width: int | None = None
    depth: int | None = None
    dropout: float | None = None
    crop: int = 256
    scale: tuple[float, float] = (0.1, 1.0)  # crop side as a fraction of the photo's shorter side
    batch_size: int = 16
    steps: int = 10_000  # total optimiser steps of this stage (resume continues the count)
    stage: int = 1
    lr: float | None = None  # default: the stage's rate
    init: str | None = None  # a model folder to start from (e.g. stage 2 from stage 1's export)
    resume: bool = True  # continue from RUN_DIR/checkpoint.pt if it exists
    features: str = "mobilenet_v2"  # mobilenet_v2 | vgg16:PATH | none (pixel losses only)
    loss_weights: dict[str, float] = field(default_factory=dict)
    amp: str = "auto"  # auto | bf16 | fp16 | off
    channels_last: bool = True
    workers: int = 1
    seed: int = 0
    checkpoint_minutes: float = 5.0
    val_every: int = 500
    val_data: str | None = None  # a folder of held-out photos for validation
    val_images: int = 16
    max_minutes: float | None = None  # stop (and checkpoint) after this wall time
    version: str | None = None  # model version label stored in the exported config
    decoder_renorm: str | None = None  # joint | per_group (see PConvUNetConfig); None = the preset's
    # channels of the full-resolution refinement head (see PConvUNetConfig); None = the preset's, or
    # a resumed run's own. A run without one may add one when it starts a new stage.
    refine_channels: int | None = None
    refine_kernel: int | None = None  # its window over the known image (default: the preset's, 3)
    refine_lr: float | None = None  # the refinement head's learning rate (default: the stage's)
    # what else the refinement head reads (see PConvUNetConfig.prior); None = the preset's or the
    # resumed run's. A run with a head may add the smooth prior when it resumes.
    prior: str | None = None
    # Only the parameters (and BatchNorm statistics) under these name prefixes train, e.g.
    # ["decoder.4", "decoder.5", "decoder.6", "refine"]; None = all. A run from --init that trains
    # only some layers also exports them alone as an overlay of its --init model (RUN/overlay).
    train_layers: list[str] | None = None
    # The adversarial term (loss_weights "adversarial" > 0) trains a patch discriminator beside the
    # restorer (nn.discriminator) with Adam at disc_lr, betas (0.5, 0.999).
    disc_width: int = 32
    disc_lr: float = 2e-4
    recipe: dict[str, Any] | None = None  # the recipe and phase this run is (set by the recipe runner)

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be 1 or 2, got {self.stage}")


class MaskedDataset(Dataset):
    """Wraps an image dataset; adds a training mask (1 = known) drawn from ``mask_fn(h, w, rng)``
    with an rng that depends only on (seed, epoch, index), so runs are reproducible."""

    def __init__(self, images: Dataset, mask_fn: Callable[..., np.ndarray], seed: int = 0) -> None:
        self.images, self.mask_fn, self.seed, self.epoch = images, mask_fn, seed, 0

    def __len__(self) -> int:
        return len(self.images)  # type: ignore[arg-type]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        img = self.images[i]  # (3, H, W) in [0, 1]
        rng = np.random.default_rng([self.seed, self.epoch, i])
        known = self.mask_fn(img.shape[1], img.shape[2], rng)
        return img, torch.from_numpy(np.ascontiguousarray(known, dtype=np.float32))[None]


def _training_masks(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    from ..synth.mix import random_training_mask

    return random_training_mask(h, w, rng)


def build_model_config(cfg: TrainConfig, resumed: dict[str, Any] | None = None) -> PConvUNetConfig:
    """The preset (or config file) with the run's flags applied, and ``resumed``: the options a
    resumed run takes from its checkpoint (see ``resumed_options``)."""
    if cfg.model == "compact":
        mc = PConvUNetConfig.compact()
    elif cfg.model in ("paper256", "paper512"):
        mc = PConvUNetConfig.paper(int(cfg.model[5:]))
    else:
        mc = PConvUNetConfig.from_dict(json.loads(Path(cfg.model).read_text()))
    changes: dict[str, Any] = {"working_size": cfg.crop}
    for name in ("width", "depth", "dropout", "decoder_renorm", "refine_channels", "refine_kernel", "prior"):
        if getattr(cfg, name) is not None:
            changes[name] = getattr(cfg, name)
    return dataclasses.replace(mc, **{**changes, **(resumed or {})})


# Model options a run may change when a new stage starts (see RestorerTask._resume), with the
# value a checkpoint written before the option existed implies.
RUN_OPTIONS: dict[str, Any] = {"decoder_renorm": "joint", "prior": "none", **HEAD_OPTIONS}


def _stage_summary(
    cfg: dict[str, Any], stage: int, steps: int, renorm: str, refine: int = 0, prior: str = "none"
) -> dict[str, Any]:
    """What a model card needs to know about one training stage (or segment of one)."""
    weights = dataclasses.asdict(LossWeights(**cfg.get("loss_weights") or {}))
    if cfg.get("features") == "none":
        weights.update(perceptual=0.0, style=0.0)
    lr = cfg.get("lr") or STAGES[stage]
    return {
        "stage": stage,
        "steps": steps,
        "lr": lr,
        "batch_size": cfg["batch_size"],
        "crop": cfg["crop"],
        "scale": list(cfg.get("scale", (0.5, 1.0))),
        "features": cfg.get("features"),
        "loss_weights": weights,
        "encoder_bn_frozen": stage == 2,
        "decoder_renorm": renorm,
        "refine_channels": refine,
        **({"refine_lr": cfg.get("refine_lr") or lr} if refine else {}),
        **({"prior": prior} if prior != "none" else {}),  # absent in rows of runs without the option
        **({"train_layers": list(cfg["train_layers"])} if cfg.get("train_layers") else {}),
    }


class RestorerTask(Task):
    """The restorer's part of a TrainingLoop: see the module docstring."""

    bar_terms = ("hole",)

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__(cfg)
        self.lr = cfg.lr if cfg.lr is not None else STAGES[cfg.stage]
        self.init: PConvUNet | None = None  # --init's model, when the run starts from one
        self.criterion: InpaintingLoss | None = None
        self.history: list[dict[str, Any]] = []  # one summary per finished earlier stage or segment
        self.segment_start = 0  # the stage's step at which its current options (crop, batch, lr...) began
        self.val: tuple[torch.Tensor, torch.Tensor] | None = None
        self.disc: PatchDiscriminator | None = None  # with an adversarial term
        self.init_version: str | None = None  # the version of --init's model (an overlay's base)
        self.disc_opt: torch.optim.Optimizer | None = None

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"stage {self.cfg.stage}"

    def dataset(self) -> Dataset:
        cfg = self.cfg
        images = build_dataset(cfg.data, crop=cfg.crop, seed=cfg.seed, scale=tuple(cfg.scale), length=10_000_000)
        return MaskedDataset(images, _training_masks, seed=cfg.seed)

    # -- the model
    def build(self, checkpoint: dict[str, Any] | None) -> PConvUNet:
        """A resumed run keeps the options it may change between stages (the decoder's
        renormalisation, its refinement head and prior) unless a flag says otherwise; checkpoints
        written before an option existed were trained without it. A new run from --init's model
        takes them from that model the same way."""
        cfg = self.cfg
        if cfg.init and checkpoint is not None:
            if self.rank == 0:
                log.info("%s exists: resuming from it, not from --init %s", self.checkpoint_path, cfg.init)
        elif cfg.init:
            from ..nn.unet import load_model

            self.init = load_model(cfg.init, device=self.device, allow_untrained=True)
            self.init_version = self.init.config.version
        init = self.init
        source = checkpoint["model_config"] if checkpoint is not None else init.config.to_dict() if init else None
        config = build_model_config(cfg, resumed_options(cfg, source, RUN_OPTIONS) if source is not None else None)
        model = PConvUNet(config).to(self.device)
        if init is not None:
            if init.config.channels != config.channels:
                raise ValueError(f"--init {cfg.init} has a different architecture than this run")
            self._load_weights(model, init.state_dict(), init.config.refine_channels, str(cfg.init), init.config.prior)
        if cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if cfg.stage == 2:
            model.freeze_encoder_bn()
        if cfg.train_layers:
            model.train_only(cfg.train_layers)
        self.criterion = InpaintingLoss(self._extractor(), LossWeights(**cfg.loss_weights)).to(self.device)
        if self.criterion.w.adversarial:
            self.disc = PatchDiscriminator(cfg.disc_width).to(self.device)
            self.disc_opt = torch.optim.Adam(self.disc.parameters(), lr=cfg.disc_lr, betas=(0.5, 0.999))
        return model

    def _extractor(self):
        spec = self.cfg.features
        if spec == "none":  # pixel terms only; other weights given still apply (e.g. {"valid": 0.1})
            self.cfg.loss_weights = {"perceptual": 0.0, "style": 0.0, **self.cfg.loss_weights}
            return None
        from .perceptual import FeatureExtractor

        name, _, path = spec.partition(":")
        return FeatureExtractor(name, path or None).to(self.device)

    def group_lr(self, name: str) -> float:
        if name == "refine" and self.cfg.refine_lr is not None:
            return self.cfg.refine_lr
        return self.lr

    def _load_weights(
        self, model: PConvUNet, state: dict[str, torch.Tensor], refine_channels: int, source: str, prior: str
    ) -> bool:
        added = load_weights_adding_head(model, state, refine_channels, source, prior)
        if added and self.rank == 0:
            what = (
                f"a refinement head of {model.config.refine_channels} channels"
                if not refine_channels
                else "the gate to its smooth prior"
                if prior == "smooth"
                else f"the {model.config.prior} prior"
            )
            log.info("added %s to the model from %s", what, source)
        return added

    # -- where the run starts
    def start(self, model: PConvUNet, checkpoint: dict[str, Any] | None) -> Start:
        progress = Progress()
        if self.init is not None:  # never with a checkpoint: that one's record wins
            self._continue_record(self.init.metadata, progress)
        if checkpoint is None:
            return Start(progress)
        start = self._resume(model, checkpoint, progress)
        self.init_version = self.init_version or checkpoint.get("init_version") or None
        if self.disc is not None and "discriminator" in checkpoint:
            self.disc.load_state_dict(checkpoint["discriminator"])
            if start.optimizer is not None:  # the same stage and options: the discriminator goes on too
                self.disc_opt.load_state_dict(checkpoint["disc_optimizer"])
        return start

    def _continue_record(self, meta: dict[str, Any], progress: Progress) -> None:
        """A run started from an exported model (``--init``, e.g. the bundled weights, whose
        checkpoint is not shipped) continues that model's training record: its steps, crops, time
        and stages come first in this run's export and model card."""
        if not meta.get("stages"):
            return
        self.history = list(meta["stages"])
        progress.earlier_steps = int(meta.get("steps", 0))
        progress.seconds = float(meta.get("train_seconds", 0.0))
        progress.images_seen = int(meta.get("images_seen", 0))
        if self.rank == 0:
            log.info(
                "continuing the training record of %s: %d steps in %d stage rows",
                self.cfg.init,
                progress.earlier_steps,
                len(self.history),
            )

    def _check_architecture(self, checkpoint_config: dict[str, Any], model: PConvUNet) -> None:
        def arch(d: dict[str, Any]) -> dict[str, Any]:
            # The version label changes at every export; the run options may differ (the
            # decoder's renormalisation has no parameters; a refinement head may be added at a new
            # stage, see _load_weights), and each stage's summary records which it used. The
            # working size is the crop of the run that wrote it: a run may go on at larger crops.
            return {k: v for k, v in d.items() if k not in ("version", "working_size") and k not in RUN_OPTIONS}

        if arch(checkpoint_config) != arch(model.config.to_dict()):
            raise ValueError(f"{self.checkpoint_path} was written for another model config; use a new --out")

    def _resume(self, model: PConvUNet, ck: dict[str, Any], progress: Progress) -> Start:
        self._check_architecture(ck["model_config"], model)
        self.history = json.loads(ck.get("history", "[]"))
        refine = ck["model_config"].get("refine_channels", 0)
        prior = ck["model_config"].get("prior", "none")
        renorm = ck["model_config"].get("decoder_renorm", "joint")
        source = str(self.checkpoint_path)
        # the checkpoint's current segment: the steps since its stage or its options last changed
        done = _stage_summary(
            json.loads(ck["train_config"]), ck["stage"], ck["step"] - ck.get("segment_start", 0), renorm, refine, prior
        )
        progress.seconds, progress.images_seen = ck["seconds"], ck["images_seen"]
        if ck.get("stage") != self.cfg.stage:  # a new stage starts from the last stage's model, with a fresh optimiser
            self._load_weights(model, ck["model"], refine, source, prior)
            progress.earlier_steps = ck.get("total_steps", ck["step"])
            self.history.append(done)
            return Start(progress)
        if refine != model.config.refine_channels:
            raise ValueError(
                f"a refinement head can only be added when a new stage starts ({source} is stage {ck.get('stage')})"
            )
        # a prior may join a trained head within a stage; the optimiser then starts afresh (it has
        # no state for the new weights)
        added = self._load_weights(model, ck["model"], refine, source, prior)
        progress.step = ck["step"]
        progress.earlier_steps = ck.get("total_steps", progress.step) - progress.step
        # Resumed with other options (e.g. larger crops, a lower lr, a prior): the steps so far
        # become a segment of their own, so the card's table says how each part was trained.
        self.segment_start = ck.get("segment_start", 0)
        now = _stage_summary(dataclasses.asdict(self.cfg), self.cfg.stage, done["steps"], renorm, refine, prior)
        if (added or done != now) and done["steps"] > 0:
            self.history.append(done)
            self.segment_start = progress.step
        return Start(progress, None if added else ck["optimizer"], ck["rng"])

    # -- the steps
    def to_device(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        mf = torch.channels_last if self.cfg.channels_last else torch.contiguous_format
        return tuple(t.to(self.device, non_blocking=True).contiguous(memory_format=mf) for t in batch)

    def forward(self, model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        imgs, masks = batch
        return model(imgs, masks)

    def loss(self, output: torch.Tensor, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        imgs, masks = batch
        total, parts = self.criterion(output, imgs, masks)
        if self.disc is not None:
            hole = 1.0 - masks.float()
            comp = masks * imgs + hole * output.float()
            self.disc.requires_grad_(False)  # the restorer's step moves only the restorer
            adv = adversarial_loss(self.disc(comp, hole), hole)
            self.disc.requires_grad_(True)
            total = total + self.criterion.w.adversarial * adv
            parts["adversarial"] = float(adv.detach())
        return total, parts

    def after_step(self, output: torch.Tensor, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
        """One discriminator step: the batch's photos against this step's composites."""
        if self.disc is None:
            return {}
        imgs, masks = batch
        hole = 1.0 - masks.float()
        comp = (masks * imgs + hole * output.detach().float()).clamp(0, 1)
        loss = discriminator_loss(self.disc(imgs.float(), hole), self.disc(comp, hole), hole)
        self.disc_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.disc_opt.step()
        return {"disc": float(loss.detach())}

    def log_fields(self) -> dict[str, Any]:
        return {"stage": self.cfg.stage}

    # -- validation
    def prepare_validation(self, progress: Progress) -> None:
        if not self.cfg.val_data:
            return
        from ..synth.holes import HOLE_BINS, random_irregular_mask
        from .data import ImageFolderDataset

        crop = self.cfg.crop
        ds = ImageFolderDataset(self.cfg.val_data, crop=crop, scale=(1.0, 1.0), hflip=False)
        torch.manual_seed(1234)
        n = min(self.cfg.val_images, len(ds))
        imgs, masks = [], []
        rng = np.random.default_rng(1234)
        for i in range(n):
            imgs.append(ds[i % len(ds)])
            lo, hi = HOLE_BINS[i % len(HOLE_BINS)]
            hole = random_irregular_mask(crop, crop, rng, hole_range=(lo, hi))
            masks.append(torch.from_numpy(hole.astype(np.float32))[None])
        torch.manual_seed(self.cfg.seed + progress.step)
        self.val = torch.stack(imgs), torch.stack(masks)

    def validate(self, model: torch.nn.Module, progress: Progress) -> dict[str, float]:
        if self.val is None:
            return {}
        imgs, masks = (t.to(self.device) for t in self.val)
        out = model(imgs, masks).clamp(0, 1)
        comp = masks * imgs + (1 - masks) * out
        mse = ((comp - imgs) ** 2).mean(dim=(1, 2, 3)).clamp(min=1e-10)
        hole_l1 = ((comp - imgs).abs().sum(dim=(1, 2, 3)) / ((1 - masks).sum(dim=(1, 2, 3)) * 3).clamp(min=1)).mean()
        metrics = {
            "val_psnr": float((10 * torch.log10(1 / mse)).mean()),
            "val_ssim": float(ssim_per_image(comp, imgs).mean()),
            "val_hole_l1": float(hole_l1),
            **_detail_ratios(imgs, masks, comp),
        }
        self._save_samples(imgs, masks, comp, progress.total_steps)
        return metrics

    def _save_samples(self, imgs: torch.Tensor, masks: torch.Tensor, comp: torch.Tensor, step: int) -> None:
        """A sheet of (masked input, composite, photo) rows in RUN/samples."""
        from PIL import Image

        white = torch.ones(3, 1, 1, device=imgs.device)
        rows = [
            torch.cat([imgs[i] * masks[i] + (1 - masks[i]) * white, comp[i], imgs[i]], dim=2)
            for i in range(min(6, imgs.shape[0]))
        ]
        grid = (torch.cat(rows, dim=1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
        folder = Path(self.cfg.out) / "samples"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grid).save(folder / f"step-{step:07d}.jpg", quality=90)

    # -- checkpoints and export
    def checkpoint_entries(self, model: PConvUNet, progress: Progress) -> dict[str, Any]:
        return {
            "model_config": model.config.to_dict(),
            "train_config": json.dumps(dataclasses.asdict(self.cfg)),
            "stage": self.cfg.stage,
            "history": json.dumps(self.history),
            "segment_start": self.segment_start,
            "init_version": self.init_version or "",
            **(
                {"discriminator": self.disc.state_dict(), "disc_optimizer": self.disc_opt.state_dict()}
                if self.disc is not None
                else {}
            ),
        }

    def export(self, model: PConvUNet, folder: Path, progress: Progress, provenance: dict[str, Any]) -> Path:
        cfg, config = self.cfg, model.config
        version = cfg.version or f"pconv-w{config.width}-d{config.depth}-s{progress.total_steps}"
        current = _stage_summary(
            dataclasses.asdict(cfg),
            cfg.stage,
            progress.step - self.segment_start,
            config.decoder_renorm,
            config.refine_channels,
            config.prior,
        )
        meta = {
            "steps": progress.total_steps,
            "images_seen": progress.images_seen,
            "train_seconds": round(progress.seconds, 1),
            "stage": cfg.stage,
            "data": cfg.data,
            "crop": cfg.crop,
            "stages": self.history + [current],
            **provenance,
        }
        keep_card = (folder / "README.md").read_text() if (folder / "README.md").exists() else None
        trained_version = config.version
        config.version = version  # only in the exported config, not the checkpoint's
        try:
            saved = save_model(model, folder, card=keep_card, metadata=meta)
            if cfg.train_layers and self.init_version:
                save_overlay(model, folder.parent / "overlay", cfg.train_layers, self.init_version, meta)
            return saved
        finally:
            config.version = trained_version


def _detail_ratios(imgs: torch.Tensor, masks: torch.Tensor, comp: torch.Tensor) -> dict[str, float]:
    """The evaluation's detail ratios (``eval.metrics``: gradient energy of the fill over the
    original's in the same pixels, as they are and after a sigma=2 blur) pooled over the
    validation crops, as ``val_detail_fine`` and ``val_detail_blurred``."""
    from ..eval.metrics import DETAIL_METRICS, detail_energies, pooled_detail_ratio

    def grey(t: torch.Tensor) -> np.ndarray:
        return (t.float().clamp(0, 1) * 255).permute(1, 2, 0).cpu().numpy()

    rows = [detail_energies(grey(g), grey(c), m[0].cpu().numpy() > 0.5) for g, c, m in zip(imgs, comp, masks)]
    ratios = {f"val_{name}": pooled_detail_ratio(rows, name) for name in DETAIL_METRICS}
    return {k: float(v) for k, v in ratios.items() if v is not None}


# ----------------------------------------------------------------------------- the command line


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = TrainConfig(data="", out="")
    p.add_argument(
        "--data",
        help="dataset spec: kind:path[:weight],... with kind folder|celeba|places2 (required without --recipe)",
    )
    p.add_argument("--out", required=True, help="run directory (checkpoints, logs, samples, exported model)")
    add_recipe_arguments(p)
    p.add_argument("--model", default=d.model, help="compact | paper256 | paper512 | a config.json")
    p.add_argument("--width", type=int)
    p.add_argument("--depth", type=int)
    p.add_argument("--dropout", type=float)
    p.add_argument("--crop", type=int, default=d.crop)
    p.add_argument(
        "--scale",
        type=float,
        nargs=2,
        default=d.scale,
        metavar=("MIN", "MAX"),
        help="crop side as a fraction of the photo's shorter side (multi-scale training)",
    )
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument(
        "--stage", type=int, choices=(1, 2), default=d.stage, help="1: lr 2e-4; 2: 5e-5, encoder BatchNorm frozen"
    )
    p.add_argument("--lr", type=float)
    p.add_argument("--init", help="start from this model folder")
    p.add_argument("--no-resume", dest="resume", action="store_false")
    p.add_argument("--features", default=d.features, help="mobilenet_v2 | vgg16:PATH | none")
    p.add_argument("--loss-weights", type=json.loads, default={}, help='JSON, e.g. {"style": 60}')
    p.add_argument("--amp", choices=("auto", "bf16", "fp16", "off"), default=d.amp)
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    p.add_argument("--workers", type=int, default=d.workers)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--checkpoint-minutes", type=float, default=d.checkpoint_minutes)
    p.add_argument("--val-every", type=int, default=d.val_every)
    p.add_argument("--val-data")
    p.add_argument("--max-minutes", type=float)
    p.add_argument("--version")
    p.add_argument(
        "--decoder-renorm",
        choices=RENORMS,
        help="joint (the paper's) or per_group: each decoder input renormalised by its own valid count "
        "(default: the preset's, per_group for compact; a resumed run keeps its own)",
    )
    p.add_argument(
        "--refine-kernel", type=int, help="the refinement head's window over the known image (odd; default 3)"
    )
    p.add_argument(
        "--prior",
        choices=PRIORS,
        help="what else the refinement head reads: 'smooth' = a fill of the hole between the harmonic and "
        "the biharmonic one (inpaint.fill); 'smooth_gated' = the same plus a per-pixel gate blending "
        "the output towards it; a run with a head may add either, or the gate to a smooth prior, "
        "when it resumes (default: the run's own, none)",
    )
    p.add_argument("--refine-lr", type=float, help="the refinement head's learning rate (default: the stage's)")
    p.add_argument(
        "--train-layers",
        type=lambda v: [x for x in v.split(",") if x],
        help="train only the parameters under these comma-separated name prefixes, e.g. "
        "decoder.4,decoder.5,decoder.6,refine; with --init they are also exported alone as an overlay "
        "of that model (RUN/overlay)",
    )
    p.add_argument(
        "--disc-width",
        type=int,
        default=d.disc_width,
        help='the patch discriminator\'s first width (with --loss-weights {"adversarial": W})',
    )
    p.add_argument("--disc-lr", type=float, default=d.disc_lr, help="the patch discriminator's learning rate")
    p.add_argument(
        "--refine-channels",
        type=int,
        help="channels of a full-resolution refinement head after the decoder (0: none, the paper's); "
        "a run without one can add one when a new stage starts "
        "(default: the preset's or the run's own)",
    )


def _loop(options: dict[str, Any]) -> TrainingLoop:
    return TrainingLoop(RestorerTask(TrainConfig(**options)))


def main(args: argparse.Namespace) -> int:
    folders = recipe_command(args, "restorer", TrainConfig, _loop, add_arguments)
    if folders is None:
        loop = _loop(flag_options(args, TrainConfig))
        folder = loop.fit()
        if folder is not None:
            p = loop.progress
            print(
                f"exported {folder} after {p.total_steps} steps, {p.images_seen} images, "
                f"{p.images_seen / max(p.seconds, 1e-9):.1f} images/s"
            )
    else:
        for folder in folders[-1:]:
            print(f"exported {folder}")
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0
