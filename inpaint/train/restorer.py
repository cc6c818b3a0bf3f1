"""PLACEHOLDER"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from torch.utils.data import DataLoader, Dataset
from typing import Any, Callable, Iterator
import argparse
import dataclasses
import json
import logging
import numpy as np
import os
import time
import torch
import torch.distributed as dist
from ..nn.unet import save_model
from ..nn.unet import PConvUNet, PConvUNetConfig, PRIORS, RENORMS
from .data import build_dataset, seed_worker
from .loop import batch_stream, checkpoint_if_due, head_param_groups, optimiser_step, save_atomic, stop_on_signals, update_ema
from .losses import InpaintingLoss, LossWeights, ssim_per_image
from .machine import autocast_for
from .surgery import load_weights_adding_head


log = logging.getLogger(__name__)


STAGES = {1: 2e-4, 2: 5e-5}


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


class MaskedDataset(Dataset):
    """Wraps an image dataset; adds a training mask (1 = known) drawn from ``mask_fn(h, w, rng)``
    with an rng that depends only on (seed, epoch, index), so runs are reproducible."""

    def __init__(self, images: Dataset, mask_fn: Callable[..., np.ndarray], seed: int = 0) -> None:
        self.images, self.mask_fn, self.seed, self.epoch = images, mask_fn, seed, 0

    def __len__(self) -> int:
        return len(self.images)  # type: ignore[arg-type]

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


# Model options a run may change when a new stage starts (see Trainer._maybe_resume), with the
# value a checkpoint written before the option existed implies. The refinement head's are shared
# with the damage detector's trainer.
HEAD_OPTIONS: dict[str, Any] = {"refine_channels": 0, "refine_kernel": 3}


RUN_OPTIONS: dict[str, Any] = {"decoder_renorm": "joint", "prior": "none", **HEAD_OPTIONS}


def resumed_options(cfg: Any, checkpoint_config: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """What a resumed run uses for each of ``options``: the flag's value when given, else the
    checkpoint's, else the value ``options`` says older checkpoints imply."""
    return {name: getattr(cfg, name) if getattr(cfg, name) is not None else checkpoint_config.get(name, before)
            for name, before in options.items()}


class Trainer:
    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if self.distributed and not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        if torch.cuda.is_available():
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            self.device = torch.device("cuda", local)
        else:
            self.device = torch.device("cpu")
        self.out = Path(cfg.out)
        if self.rank == 0:
            (self.out / "samples").mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed + self.rank)

        # a long virtual epoch: workers (and their decoded-photo caches) live for the whole run
        images = build_dataset(cfg.data, crop=cfg.crop, seed=cfg.seed, scale=tuple(cfg.scale), length=10_000_000)
        self.dataset = MaskedDataset(images, _training_masks, seed=cfg.seed)
        if cfg.batch_size % self.world:
            raise ValueError(f"batch size {cfg.batch_size} is not divisible by {self.world} processes")
        self.local_batch = cfg.batch_size // self.world

        checkpoint = self._read_checkpoint()
        # A resumed run keeps the options it may change between stages (the decoder's
        # renormalisation, its refinement head and prior) unless a flag says otherwise; checkpoints
        # written before an option existed were trained without it. A new run from --init's model
        # takes them from that model the same way.
        init = None
        if cfg.init and checkpoint is not None:
            if self.rank == 0:
                log.info("%s exists: resuming from it, not from --init %s", self.ckpt_path, cfg.init)
        elif cfg.init:
            from ..nn.unet import load_model

            init = load_model(cfg.init, device=self.device, allow_untrained=True)
        source_config = checkpoint["model_config"] if checkpoint is not None else init.config.to_dict() if init else None
        self.model_config = build_model_config(
            cfg, resumed_options(cfg, source_config, RUN_OPTIONS) if source_config is not None else None)
        self.model = PConvUNet(self.model_config).to(self.device)
        if init is not None:
            if init.config.channels != self.model_config.channels:
                raise ValueError(f"--init {cfg.init} has a different architecture than this run")
            self._load_weights(init.state_dict(), init.config.refine_channels, str(cfg.init), init.config.prior)
        if cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        if cfg.stage == 2:
            self.model.freeze_encoder_bn()
        self.lr = cfg.lr if cfg.lr is not None else STAGES[cfg.stage]
        self.opt = torch.optim.Adam(self._param_groups(), lr=self.lr)
        self.loss = InpaintingLoss(self._extractor(), LossWeights(**cfg.loss_weights)).to(self.device)
        self.ddp = (
            torch.nn.parallel.DistributedDataParallel(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
            if self.distributed else self.model
        )
        self.step = 0
        self.seconds = 0.0  # training wall time accumulated over resumes
        self.images_seen = 0
        self.history: list[dict[str, Any]] = []  # one summary per finished earlier stage or segment
        self.segment_start = 0  # the stage's step at which its current options (crop, batch, lr...) began
        if init is not None:  # never with a checkpoint: that one's record wins
            self._continue_record(init.metadata)
        self._maybe_resume(checkpoint)
        self.val = self._validation_set()

    def _group_lr(self, name: str) -> float:
        if name == "refine" and self.cfg.refine_lr is not None:
            return self.cfg.refine_lr
        return self.lr

    def _param_groups(self) -> list[dict[str, Any]]:
        return head_param_groups(self.model, self._group_lr)

    def _extractor(self):
        spec = self.cfg.features
        if spec == "none":  # pixel terms only; other weights given still apply (e.g. {"valid": 0.1})
            self.cfg.loss_weights = {"perceptual": 0.0, "style": 0.0, **self.cfg.loss_weights}
            return None
        from .perceptual import FeatureExtractor

        name, _, path = spec.partition(":")
        return FeatureExtractor(name, path or None).to(self.device)

    # -- checkpoints
    @property
    def ckpt_path(self) -> Path:
        return self.out / "checkpoint.pt"

    def _read_checkpoint(self) -> dict[str, Any] | None:
        if not (self.cfg.resume and self.ckpt_path.is_file()):
            return None
        return torch.load(self.ckpt_path, map_location=self.device, weights_only=True)

    def _load_weights(self, state: dict[str, torch.Tensor], refine_channels: int, source: str, prior: str) -> bool:
        added = load_weights_adding_head(self.model, state, refine_channels, source, prior)
        if added and self.rank == 0:
            what = (f"a refinement head of {self.model_config.refine_channels} channels" if not refine_channels
                    else "the gate to its smooth prior" if prior == "smooth" else f"the {self.model_config.prior} prior")
            log.info("added %s to the model from %s", what, source)
        return added

    def _continue_record(self, meta: dict[str, Any]) -> None:
        """A run started from an exported model (``--init``, e.g. the bundled weights, whose
        checkpoint is not shipped) continues that model's training record: its steps, crops, time
        and stages come first in this run's export and model card."""
        if not meta.get("stages"):
            return
        self.history = list(meta["stages"])
        self.prior_steps = int(meta.get("steps", 0))
        self.seconds = float(meta.get("train_seconds", 0.0))
        self.images_seen = int(meta.get("images_seen", 0))
        if self.rank == 0:
            log.info("continuing the training record of %s: %d steps in %d stage rows", self.cfg.init,
                     self.prior_steps, len(self.history))

    def _maybe_resume(self, ck: dict[str, Any] | None) -> None:
        if ck is None:
            return
        def arch(d: dict[str, Any]) -> dict[str, Any]:
            # The version label changes at every export; the run options may differ (the
            # decoder's renormalisation has no parameters; a refinement head may be added at a new
            # stage, see _load_weights), and each stage's summary records which it used. The
            # working size is the crop of the run that wrote it: a run may go on at larger crops.
            return {k: v for k, v in d.items() if k not in ("version", "working_size") and k not in RUN_OPTIONS}

        if arch(ck["model_config"]) != arch(self.model_config.to_dict()):
            raise ValueError(f"{self.ckpt_path} was written for another model config; use a new --out")
        self.history = json.loads(ck.get("history", "[]"))
        ck_refine = ck["model_config"].get("refine_channels", 0)
        ck_prior = ck["model_config"].get("prior", "none")
        renorm = ck["model_config"].get("decoder_renorm", "joint")
        # the checkpoint's current segment: the steps since its stage or its options last changed
        done = _stage_summary(json.loads(ck["train_config"]), ck["stage"], ck["step"] - ck.get("segment_start", 0),
                              renorm, ck_refine, ck_prior)
        if ck.get("stage") == self.cfg.stage:
            if ck_refine != self.model_config.refine_channels:
                raise ValueError("a refinement head can only be added when a new stage starts "
                                 f"({self.ckpt_path} is stage {ck.get('stage')})")
            # a prior may join a trained head within a stage; the optimiser then starts afresh
            # (it has no state for the new weights)
            added = self._load_weights(ck["model"], ck_refine, str(self.ckpt_path), ck_prior)
            if not added:
                self.opt.load_state_dict(ck["optimizer"])
            for g in self.opt.param_groups:
                g["lr"] = self._group_lr(g.get("name", "net"))
            self.step, self.seconds, self.images_seen = ck["step"], ck["seconds"], ck["images_seen"]
            self.prior_steps = ck.get("total_steps", self.step) - self.step
            torch.set_rng_state(ck["rng"])
            # Resumed with other options (e.g. larger crops, a lower lr, a prior): the steps so far
            # become a segment of their own, so the card's table says how each part was trained.
            self.segment_start = ck.get("segment_start", 0)
            now = _stage_summary(dataclasses.asdict(self.cfg), self.cfg.stage, done["steps"], renorm, ck_refine, ck_prior)
            if (added or done != now) and done["steps"] > 0:
                self.history.append(done)
                self.segment_start = self.step
        else:  # a new stage starts from the previous stage's model, with a fresh optimiser
            self._load_weights(ck["model"], ck_refine, str(self.ckpt_path), ck_prior)
            self.seconds, self.images_seen = ck["seconds"], ck["images_seen"]
            self.prior_steps = ck.get("total_steps", ck["step"])
            self.history.append(done)
        if self.rank == 0:
            log.info("resumed from %s at step %d", self.ckpt_path, self.step)

    def save_checkpoint(self) -> None:
        if self.rank != 0:
            return
        ck = {
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "model_config": self.model_config.to_dict(),
            "train_config": json.dumps(dataclasses.asdict(self.cfg)),
            "stage": self.cfg.stage,
            "step": self.step,
            "total_steps": self.total_steps,
            "seconds": self.seconds,
            "images_seen": self.images_seen,
            "rng": torch.get_rng_state(),
            "history": json.dumps(self.history),
            "segment_start": self.segment_start,
        }
        save_atomic(ck, self.ckpt_path)

    @property
    def total_steps(self) -> int:
        return getattr(self, "prior_steps", 0) + self.step

    def export(self, folder: Path | None = None) -> Path:
        folder = folder or self.out / "model"
        version = self.cfg.version or f"pconv-w{self.model_config.width}-d{self.model_config.depth}-s{self.total_steps}"
        meta = {
            "steps": self.total_steps,
            "images_seen": self.images_seen,
            "train_seconds": round(self.seconds, 1),
            "stage": self.cfg.stage,
            "data": self.cfg.data,
            "crop": self.cfg.crop,
            "stages": self.history + [_stage_summary(dataclasses.asdict(self.cfg), self.cfg.stage, self.step - self.segment_start,
                                                     self.model_config.decoder_renorm, self.model_config.refine_channels,
                                                     self.model_config.prior)],
        }
        keep_card = (folder / "README.md").read_text() if (folder / "README.md").exists() else None
        previous = self.model.config.version
        self.model.config.version = version  # only in the exported config, not the checkpoint's
        try:
            return save_model(self.model, folder, card=keep_card, metadata=meta)
        finally:
            self.model.config.version = previous

    # -- validation
    def _validation_set(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        if not self.cfg.val_data or self.rank != 0:
            return None
        from .data import ImageFolderDataset
        from ..synth.holes import HOLE_BINS, random_irregular_mask

        ds = ImageFolderDataset(self.cfg.val_data, crop=self.cfg.crop, scale=(1.0, 1.0), hflip=False)
        torch.manual_seed(1234)
        n = min(self.cfg.val_images, len(ds))
        imgs, masks = [], []
        rng = np.random.default_rng(1234)
        for i in range(n):
            imgs.append(ds[i % len(ds)])
            lo, hi = HOLE_BINS[i % len(HOLE_BINS)]
            masks.append(torch.from_numpy(random_irregular_mask(self.cfg.crop, self.cfg.crop, rng, hole_range=(lo, hi)).astype(np.float32))[None])
        torch.manual_seed(self.cfg.seed + self.step)
        return torch.stack(imgs), torch.stack(masks)

    @torch.inference_mode()
    def validate(self) -> dict[str, float]:
        if self.val is None:
            return {}
        self.model.eval()
        imgs, masks = (t.to(self.device) for t in self.val)
        out = self.model(imgs, masks).clamp(0, 1)
        comp = masks * imgs + (1 - masks) * out
        mse = ((comp - imgs) ** 2).mean(dim=(1, 2, 3)).clamp(min=1e-10)
        hole_l1 = ((comp - imgs).abs().sum(dim=(1, 2, 3)) / ((1 - masks).sum(dim=(1, 2, 3)) * 3).clamp(min=1)).mean()
        metrics = {
            "val_psnr": float((10 * torch.log10(1 / mse)).mean()),
            "val_ssim": float(ssim_per_image(comp, imgs).mean()),
            "val_hole_l1": float(hole_l1),
        }
        self._save_samples(imgs, masks, comp)
        self.model.train()
        return metrics

    def _save_samples(self, imgs: torch.Tensor, masks: torch.Tensor, comp: torch.Tensor) -> None:
        from PIL import Image

        k = min(6, imgs.shape[0])
        rows = []
        for i in range(k):
            masked = imgs[i] * masks[i] + (1 - masks[i]) * torch.tensor([1.0, 1.0, 1.0], device=imgs.device).view(3, 1, 1)
            rows.append(torch.cat([masked, comp[i], imgs[i]], dim=2))
        grid = (torch.cat(rows, dim=1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
        Image.fromarray(grid).save(self.out / "samples" / f"step-{self.total_steps:07d}.jpg", quality=90)

    # -- the loop
    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        sampler = None
        if self.distributed:
            sampler = torch.utils.data.distributed.DistributedSampler(self.dataset, seed=self.cfg.seed)
        epoch = self.total_steps * self.cfg.batch_size // max(len(self.dataset), 1)
        gen = torch.Generator().manual_seed(self.cfg.seed)
        while True:
            self.dataset.epoch = epoch
            if sampler is not None:
                sampler.set_epoch(epoch)
            else:
                gen.manual_seed(self.cfg.seed * 1_000_003 + epoch)
            loader = DataLoader(
                self.dataset, batch_size=self.local_batch, sampler=sampler, shuffle=sampler is None,
                generator=None if sampler is not None else gen, num_workers=self.cfg.workers,
                drop_last=True, worker_init_fn=seed_worker,
                pin_memory=self.device.type == "cuda",
            )
            yield from loader
            epoch += 1

    def fit(self) -> Path | None:
        from tqdm import tqdm

        cfg = self.cfg
        self.model.train()
        mf = torch.channels_last if cfg.channels_last else torch.contiguous_format
        t_start = time.monotonic()
        last_ckpt = t_start
        with stop_on_signals() as stop:
            bar = tqdm(total=cfg.steps, initial=self.step, disable=self.rank != 0, dynamic_ncols=True, desc=f"stage {cfg.stage}")
            log_file = open(self.out / "log.jsonl", "a") if self.rank == 0 else None
            ema: dict[str, float] = {}
            try:
                with batch_stream(self.batches(), stop) as batches:
                    for imgs, masks in batches:
                        if self.step >= cfg.steps:
                            break
                        t0 = time.monotonic()
                        imgs = imgs.to(self.device, non_blocking=True).contiguous(memory_format=mf)
                        masks = masks.to(self.device, non_blocking=True).contiguous(memory_format=mf)
                        with autocast_for(self.device, cfg.amp):
                            out = self.ddp(imgs, masks)
                        total, parts = self.loss(out, imgs, masks)
                        optimiser_step(self.opt, total, self.step, "lower --lr or use --amp off")
                        self.step += 1
                        self.images_seen += cfg.batch_size
                        self.seconds += time.monotonic() - t0
                        update_ema(ema, {**parts, "total": float(total.detach())})
                        bar.set_postfix(loss=f"{ema['total']:.4f}", hole=f"{ema['hole']:.4f}",
                                        ips=f"{self.images_seen / max(self.seconds, 1e-9):.1f}")
                        bar.update(1)
                        record: dict[str, Any] = {}
                        if self.step % 50 == 0 or self.step == cfg.steps:
                            record = {f"loss_{k}": round(v, 5) for k, v in ema.items()}
                        if self.rank == 0 and cfg.val_every and self.step % cfg.val_every == 0:
                            record.update(self.validate())
                        if record and log_file:
                            record.update(step=self.total_steps, stage=cfg.stage, images_seen=self.images_seen,
                                          seconds=round(self.seconds, 1), time=time.time())
                            log_file.write(json.dumps(record) + "\n")
                            log_file.flush()
                        last_ckpt = checkpoint_if_due(self, last_ckpt, cfg.checkpoint_minutes)
                        now = time.monotonic()
                        if stop["requested"]:
                            log.info("stop requested at step %d: checkpointing", self.step)
                            break
                        if cfg.max_minutes is not None and (now - t_start) > cfg.max_minutes * 60:
                            if self.rank == 0:
                                log.info("time budget of %.0f min reached at step %d", cfg.max_minutes, self.step)
                            break
            finally:
                bar.close()
                if log_file:
                    log_file.close()
            self.save_checkpoint()
            if self.rank == 0:
                if self.val is not None:
                    with open(self.out / "log.jsonl", "a") as f:
                        f.write(json.dumps({"step": self.total_steps, **self.validate()}) + "\n")
                return self.export()
            return None


def _stage_summary(cfg: dict[str, Any], stage: int, steps: int, renorm: str, refine: int = 0,
                   prior: str = "none") -> dict[str, Any]:
    """What a model card needs to know about one training stage."""
    weights = dataclasses.asdict(LossWeights(**cfg.get("loss_weights") or {}))
    if cfg.get("features") == "none":
        weights.update(perceptual=0.0, style=0.0)
    return {
        "stage": stage, "steps": steps, "lr": cfg.get("lr") or STAGES[stage], "batch_size": cfg["batch_size"],
        "crop": cfg["crop"], "scale": list(cfg.get("scale", (0.5, 1.0))), "features": cfg.get("features"),
        "loss_weights": weights, "encoder_bn_frozen": stage == 2, "decoder_renorm": renorm,
        "refine_channels": refine, **({"refine_lr": cfg.get("refine_lr") or cfg.get("lr") or STAGES[stage]} if refine else {}),
        **({"prior": prior} if prior != "none" else {}),  # absent before the option existed
    }


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = TrainConfig(data="", out="")
    p.add_argument("--data", required=True, help="dataset spec: kind:path[:weight],... with kind folder|celeba|places2")
    p.add_argument("--out", required=True, help="run directory (checkpoints, logs, samples, exported model)")
    p.add_argument("--model", default=d.model, help="compact | paper256 | paper512 | a config.json")
    p.add_argument("--width", type=int)
    p.add_argument("--depth", type=int)
    p.add_argument("--dropout", type=float)
    p.add_argument("--crop", type=int, default=d.crop)
    p.add_argument("--scale", type=float, nargs=2, default=d.scale, metavar=("MIN", "MAX"),
                   help="crop side as a fraction of the photo's shorter side (multi-scale training)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--stage", type=int, choices=(1, 2), default=d.stage, help="1: lr 2e-4; 2: 5e-5, encoder BatchNorm frozen")
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
    p.add_argument("--decoder-renorm", choices=RENORMS,
                   help="joint (the paper's) or per_group: each decoder input renormalised by its own valid count "
                        "(default: the preset's, per_group for compact; a resumed run keeps its own)")
    p.add_argument("--refine-kernel", type=int, help="the refinement head's window over the known image (odd; default 3)")
    p.add_argument("--prior", choices=PRIORS,
                   help="what else the refinement head reads: 'smooth' = a fill of the hole between the harmonic and "
                        "the biharmonic one (inpaint.fill); 'smooth_gated' = the same plus a per-pixel gate blending "
                        "the output towards it; a run with a head may add either, or the gate to a smooth prior, "
                        "when it resumes (default: the run's own, none)")
    p.add_argument("--refine-lr", type=float, help="the refinement head's learning rate (default: the stage's)")
    p.add_argument("--refine-channels", type=int,
                   help="channels of a full-resolution refinement head after the decoder (0: none, the paper's); "
                        "a run without one can add one when a new stage starts (default: the preset's or the run's own)")


def main(args: argparse.Namespace) -> int:
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    trainer = Trainer(cfg)
    folder = trainer.fit()
    if folder is not None:
        print(f"exported {folder} after {trainer.total_steps} steps, {trainer.images_seen} images, "
              f"{trainer.images_seen / max(trainer.seconds, 1e-9):.1f} images/s")
    if trainer.distributed:
        dist.destroy_process_group()
    return 0
