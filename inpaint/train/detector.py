"""PLACEHOLDER"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from torch.utils.data import DataLoader, Dataset
from typing import Any
import argparse
import dataclasses
import json
import logging
import numpy as np
import time
import torch
import torch.nn.functional as F
from ..eval.metrics import f1_counts, scores
from ..nn.damagenet import save_detector
from ..nn.damagenet import DamageNet, DamageNetConfig
from ..synth.prints import damaged_sample, parse_kind_weights, sample_kinds
from ..synth.truth import dark_damage
from .data import build_dataset, seed_worker
from .loop import batch_stream, checkpoint_if_due, head_param_groups, optimiser_step, save_atomic, stop_on_signals, update_ema
from .machine import autocast_dtype, autocast_for, machine_summary
from .restorer import HEAD_OPTIONS, resumed_options
from .surgery import load_weights_adding_head, load_weights_adding_inputs, widen_detector


log = logging.getLogger(__name__)


THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.1, 0.96, 0.05))


def pick_threshold(f1_by_t: dict[float, float], clean_fpr_by_t: dict[float, float] | None, max_clean_fpr: float) -> float:
    """The threshold with the best F1 among those that flag at most ``max_clean_fpr`` of the pixels
    of undamaged crops (people erase every false suggestion by hand); if none does, the one that
    flags the fewest. Without clean crops, simply the best F1."""
    allowed = [t for t in f1_by_t if clean_fpr_by_t is None or clean_fpr_by_t[t] <= max_clean_fpr]
    if not allowed:
        return min(f1_by_t, key=lambda t: (clean_fpr_by_t[t], -t))  # type: ignore[index]
    return max(allowed, key=lambda t: (f1_by_t[t], t))


class DamageDataset(Dataset):
    """(image (3, H, W) float in [0, 1], target (1, H, W) float, 1 = damage) from photo crops. With
    ``dark``, the target has a second channel: ``dark_damage`` (for the loss's ``dark_weight``)."""

    def __init__(self, images: Dataset, clean_fraction: float = 0.15, seed: int = 0,
                 single_kind_fraction: float = 0.0, kind_weights: dict[str, float] | None = None,
                 dark: bool = False) -> None:
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
        image, damage, *reference = damaged_sample(photo, rng, self.clean_fraction, reference=self.dark,
                                                   kinds=sample_kinds(rng, self.single_kind_fraction, self.kind_weights))
        target = np.stack([damage, dark_damage(image, reference[0], damage)]) if self.dark else damage[None]
        return torch.from_numpy(image).permute(2, 0, 1).float() / 255.0, torch.from_numpy(target).float()


def thin_damage(target: torch.Tensor) -> torch.Tensor:
    """The damage pixels a 3x3 erosion removes: all of a 1-2 px scratch, only the rim of a stain."""
    eroded = -F.max_pool2d(-target, 3, stride=1, padding=1)
    return target - eroded


def detection_loss(logits: torch.Tensor, target: torch.Tensor, pos_weight: float = 3.0,
                   thin_weight: float = 0.0, dark: torch.Tensor | None = None,
                   dark_weight: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
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
    bce = F.binary_cross_entropy_with_logits(logits, target, weight=weight,
                                             pos_weight=torch.tensor(pos_weight, device=logits.device))
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
    single_kind_fraction: float = 0.0
    kind_weights: dict[str, float] | None = None  # how single-kind samples pick their kind (None: uniformly)
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
    # Lower-precision training steps: auto = bf16 on CPUs with native bf16 (1.3-1.7x faster steps
    # there), bf16 or fp16 on CUDA, float32 elsewhere; validation always runs in float32, as the
    # detector does on a CPU.
    amp: str = "auto"


class DetectorTrainer:
    def __init__(self, cfg: DetectTrainConfig) -> None:
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        torch.manual_seed(cfg.seed)
        images = build_dataset(cfg.data, crop=cfg.crop, seed=cfg.seed, scale=tuple(cfg.scale), length=10_000_000)
        self.dataset = DamageDataset(images, cfg.clean_fraction, cfg.seed, cfg.single_kind_fraction, cfg.kind_weights,
                                     dark=cfg.dark_weight > 0)
        ck = torch.load(self.ckpt_path, map_location=self.device, weights_only=True) \
            if cfg.resume and self.ckpt_path.is_file() else None
        init = None
        if cfg.init and ck is not None:
            log.info("%s exists: resuming from it, not from --init %s", self.ckpt_path, cfg.init)
        elif cfg.init:
            from ..nn.damagenet import load_detector

            init = load_detector(cfg.init, device=self.device, allow_untrained=True)
        source = ck["model_config"] if ck is not None else init.config.to_dict() if init is not None else {}
        head = resumed_options(cfg, source, HEAD_OPTIONS)
        lines = tuple(cfg.line_sizes) if cfg.line_sizes is not None else tuple(source.get("line_sizes", ()))
        self.model = DamageNet(DamageNetConfig(width=cfg.width, depth=cfg.depth, max_width_mult=cfg.max_width_mult,
                                               working_size=cfg.crop, line_sizes=lines, **head)).to(self.device)
        self.opt = torch.optim.Adam(self._param_groups(), lr=cfg.lr)
        self.step, self.seconds, self.images_seen = 0, 0.0, 0
        self.last_val: dict[str, Any] = {}
        # One row per invocation of fit() (a phase: its steps, crops and options), for the card.
        self.phases: list[dict[str, Any]] = []
        self.widened_from: int | None = None  # set when this invocation widened its --init detector
        if ck is not None:
            self._resume(ck)
        elif init is not None:
            self._start_from(init)
        self.phase_start = (self.step, self.images_seen, self.seconds)
        self.ema = None
        if cfg.ema_decay is not None:
            if not 0.0 < cfg.ema_decay < 1.0:
                raise ValueError(f"--ema-decay must be in (0, 1), got {cfg.ema_decay}")
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            # starts as the model at its first update; a resumed phase goes on with its average
            self.ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
            if ck is not None and ck.get("ema") is not None and ck.get("ema_decay") == cfg.ema_decay:
                self.ema.load_state_dict(ck["ema"])
        self.val = self._validation_set()

    @property
    def precision(self) -> str:
        """What the training steps compute in: "bfloat16", "float16" or "float32"."""
        dtype = autocast_dtype(self.device, self.cfg.amp)
        return str(dtype or torch.float32).removeprefix("torch.")

    @property
    def exported_model(self) -> DamageNet:
        """What validation scores and export writes: the weight average when there is one."""
        return self.ema.module if self.ema is not None else self.model

    def _param_groups(self) -> list[dict[str, Any]]:
        return head_param_groups(self.model, self._group_lr)

    def _group_lr(self, name: str) -> float:
        return self.cfg.refine_lr if name == "refine" and self.cfg.refine_lr is not None else self.cfg.lr

    @property
    def ckpt_path(self) -> Path:
        return self.out / "checkpoint.pt"

    def _check_architecture(self, config: dict[str, Any], source: str) -> None:
        """A run goes on from weights of the same network; the head may be added (see
        load_weights_adding_head), and the crop, threshold and version label may differ."""
        def arch(d: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in d.items()
                    if k not in HEAD_OPTIONS and k not in ("working_size", "threshold", "version", "line_sizes")}

        if arch(config) != arch(self.model.config.to_dict()):
            raise ValueError(f"{source} was written for another detector config (width, depth, kernels); "
                             "use a new --out or the same architecture flags")

    def _resume(self, ck: dict[str, Any]) -> None:
        self._check_architecture(ck["model_config"], str(self.ckpt_path))
        old_lines = tuple(ck["model_config"].get("line_sizes", ()))
        state = load_weights_adding_inputs(self.model, ck["model"], old_lines, str(self.ckpt_path))
        if load_weights_adding_head(self.model, state, ck["model_config"].get("refine_channels", 0), str(self.ckpt_path)) \
                or old_lines != self.model.config.line_sizes:
            log.info("added a refinement head or line features; the optimiser starts afresh")
        else:
            self.opt.load_state_dict(ck["optimizer"])
            for g in self.opt.param_groups:
                g["lr"] = self._group_lr(g.get("name", "net"))
        self.step, self.seconds, self.images_seen = ck["step"], ck["seconds"], ck["images_seen"]
        self.last_val = json.loads(ck.get("best", "{}"))
        self.phases = json.loads(ck.get("phases", "[]"))
        torch.set_rng_state(ck["rng"])
        log.info("resumed from %s at step %d", self.ckpt_path, self.step)

    def _start_from(self, init: DamageNet) -> None:
        """``--init``: the exported model's weights (the optimiser starts afresh) and its training
        record (steps, crops, time, phases), which this run's export continues. A model exported
        before phases were recorded gets one row for all its training."""
        if init.config.width > self.model.config.width:
            raise ValueError(f"--init {self.cfg.init} has width {init.config.width}: a detector can only be widened "
                             f"(--width {init.config.width} or more)")
        if init.config.width < self.model.config.width:  # a wider run: the detector widened, starting as itself
            log.info("widening %s from %d to %d channels", init.config.version, init.config.width, self.model.config.width)
            self.widened_from = init.config.width
            init = widen_detector(init, self.model.config.width, seed=self.cfg.seed)
        self._check_architecture(init.config.to_dict(), f"--init {self.cfg.init}")
        state = load_weights_adding_inputs(self.model, init.state_dict(), init.config.line_sizes, f"--init {self.cfg.init}")
        load_weights_adding_head(self.model, state, init.config.refine_channels, f"--init {self.cfg.init}")
        meta = getattr(init, "metadata", {})
        self.step = int(meta.get("steps", 0))
        self.images_seen = int(meta.get("images_seen", 0))
        self.seconds = float(meta.get("train_seconds", 0.0))
        self.last_val = dict(meta.get("validation") or {})
        self.phases = list(meta.get("phases") or [])
        if not self.phases and self.step:
            tc = meta.get("train_config") or {}
            self.phases = [{"steps": self.step, "images_seen": self.images_seen, "seconds": round(self.seconds, 1),
                            "crop": int(meta.get("crop", tc.get("crop", 0))), "batch_size": tc.get("batch_size"),
                            "lr": None, "model": init.config.version, "note": "phases not recorded"}]
        log.info("starting from %s (%s) at step %d", self.cfg.init, init.config.version, self.step)

    def _phase_row(self) -> dict[str, Any]:
        """This invocation's row: what it trained and with which options."""
        step0, seen0, seconds0 = self.phase_start
        c = self.cfg
        return {"steps": self.step - step0, "images_seen": self.images_seen - seen0,
                "seconds": round(self.seconds - seconds0, 1), "crop": c.crop, "scale": list(c.scale),
                "batch_size": c.batch_size, "lr": c.lr, "refine_lr": c.refine_lr,
                "refine_channels": self.model.config.refine_channels, "pos_weight": c.pos_weight,
                "thin_weight": c.thin_weight, "dark_weight": c.dark_weight, "single_kind_fraction": c.single_kind_fraction,
                "kind_weights": c.kind_weights, "clean_fraction": c.clean_fraction, "ema_decay": c.ema_decay,
                "line_sizes": list(self.model.config.line_sizes), "precision": self.precision,
                "machine": machine_summary(),
                **({"widened": [self.widened_from, self.model.config.width]} if self.widened_from else {})}

    def _all_phases(self) -> list[dict[str, Any]]:
        row = self._phase_row()
        return self.phases + ([row] if row["steps"] else [])

    def save_checkpoint(self) -> None:
        ck = {
            "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
            "model_config": self.model.config.to_dict(), "train_config": json.dumps(dataclasses.asdict(self.cfg)),
            "step": self.step, "seconds": self.seconds, "images_seen": self.images_seen,
            "rng": torch.get_rng_state(), "best": json.dumps(self.last_val),
            "phases": json.dumps(self._all_phases()),
            "ema": self.ema.state_dict() if self.ema is not None else None, "ema_decay": self.cfg.ema_decay,
        }
        save_atomic(ck, self.ckpt_path)

    def _validation_set(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        if not self.cfg.val_data:
            return None
        from .data import ImageFolderDataset

        ds = ImageFolderDataset(self.cfg.val_data, crop=self.cfg.crop, scale=(0.5, 1.0), hflip=False)
        state = torch.get_rng_state()
        torch.manual_seed(4321)
        rng = np.random.default_rng(4321)
        imgs, targets, clean = [], [], []
        clean_rng = np.random.default_rng(8765)
        for i in range(min(self.cfg.val_images, 3 * len(ds))):
            photo = (ds[i % len(ds)].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            image, damage = damaged_sample(photo, rng, clean_fraction=0.15)
            imgs.append(torch.from_numpy(image).permute(2, 0, 1).float() / 255.0)
            targets.append(torch.from_numpy(damage)[None].float())
            # the same crop printed and scanned without damage (its own seed: the damaged set is
            # the same as before this was added)
            undamaged, _ = damaged_sample(photo, clean_rng, clean_fraction=1.0)
            clean.append(torch.from_numpy(undamaged).permute(2, 0, 1).float() / 255.0)
        torch.set_rng_state(state)
        return torch.stack(imgs), torch.stack(targets), torch.stack(clean)

    @torch.inference_mode()
    def validate(self) -> dict[str, Any]:
        if self.val is None:
            return {}
        net = self.exported_model
        net.eval()
        imgs, targets, clean = self.val

        def probabilities(batch: torch.Tensor) -> np.ndarray:
            return torch.cat([torch.sigmoid(net(batch[i : i + 8].to(self.device))).cpu()
                              for i in range(0, len(batch), 8)]).numpy()

        p, p_clean = probabilities(imgs), probabilities(clean)
        self.model.train()
        truth = targets.numpy() > 0.5
        by_t = {t: scores(*f1_counts(p >= t, truth))["f1"] or 0.0 for t in THRESHOLDS}
        fpr_t = {t: float((p_clean >= t).mean()) for t in THRESHOLDS}
        best_t = pick_threshold(by_t, fpr_t, self.cfg.max_clean_fpr)
        return {"val_f1": round(by_t[0.5], 4), "val_best_f1": round(by_t[best_t], 4), "val_best_threshold": best_t,
                "val_clean_fpr": round(fpr_t[best_t], 5)}

    def batches(self):
        epoch = 0
        while True:
            gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + self.step + epoch)
            loader = DataLoader(self.dataset, batch_size=self.cfg.batch_size, shuffle=True, generator=gen,
                                num_workers=self.cfg.workers, drop_last=True, worker_init_fn=seed_worker,
                                persistent_workers=False)
            yield from loader
            epoch += 1

    def export(self, folder: Path | None = None) -> Path:
        folder = folder or self.out / "model"
        net = self.exported_model
        cfg = net.config
        threshold = self.last_val.get("val_best_threshold", 0.5)
        cfg_export = dataclasses.replace(cfg, threshold=float(threshold),
                                         version=self.cfg.version or f"damage-w{cfg.width}-d{cfg.depth}-s{self.step}")
        net.config = cfg_export
        try:
            meta = {"steps": self.step, "images_seen": self.images_seen, "train_seconds": round(self.seconds, 1),
                    "data": self.cfg.data, "crop": self.cfg.crop, "validation": self.last_val,
                    "train_config": dataclasses.asdict(self.cfg), "phases": self._all_phases()}
            keep_card = (folder / "README.md").read_text() if (folder / "README.md").exists() else None
            return save_detector(net, folder, card=keep_card, metadata=meta)
        finally:
            net.config = cfg

    def fit(self) -> Path:
        from tqdm import tqdm

        cfg = self.cfg
        self.model.train()
        with stop_on_signals() as stop:
            t_start = last_ckpt = time.monotonic()
            bar = tqdm(total=cfg.steps, initial=self.step, dynamic_ncols=True, desc="detector")
            running: dict[str, float] = {}  # smoothed losses for the bar and the log
            with open(self.out / "log.jsonl", "a") as log_file:
                try:
                    with batch_stream(self.batches(), stop) as batches:
                        for imgs, targets in batches:
                            if self.step >= cfg.steps:
                                break
                            t0 = time.monotonic()
                            with autocast_for(self.device, cfg.amp):
                                logits = self.model(imgs.to(self.device), None)
                            logits = logits.float()
                            targets = targets.to(self.device)
                            total, parts = detection_loss(logits, targets[:, :1], cfg.pos_weight, cfg.thin_weight,
                                                          targets[:, 1:] if cfg.dark_weight else None, cfg.dark_weight)
                            optimiser_step(self.opt, total, self.step, "lower --lr")
                            if self.ema is not None:
                                self.ema.update_parameters(self.model)
                            self.step += 1
                            self.images_seen += cfg.batch_size
                            self.seconds += time.monotonic() - t0
                            update_ema(running, {**parts, "total": float(total.detach())})
                            _, seen0, seconds0 = self.phase_start  # this phase's rate: crops differ between phases
                            bar.set_postfix(loss=f"{running['total']:.4f}",
                                            ips=f"{(self.images_seen - seen0) / max(self.seconds - seconds0, 1e-9):.1f}")
                            bar.update(1)
                            record: dict[str, Any] = {}
                            if self.step % 50 == 0:
                                record = {f"loss_{k}": round(v, 5) for k, v in running.items()}
                            if cfg.val_every and self.step % cfg.val_every == 0:
                                metrics = self.validate()
                                record.update(metrics)
                                if metrics:
                                    self.last_val = metrics | {"step": self.step}
                            if record:
                                record.update(step=self.step, images_seen=self.images_seen, seconds=round(self.seconds, 1))
                                log_file.write(json.dumps(record) + "\n")
                                log_file.flush()
                            last_ckpt = checkpoint_if_due(self, last_ckpt, cfg.checkpoint_minutes)
                            now = time.monotonic()
                            if stop["requested"] or (cfg.max_minutes is not None and now - t_start > cfg.max_minutes * 60):
                                break
                finally:
                    bar.close()
                metrics = self.validate()
                if metrics:
                    self.last_val = metrics | {"step": self.step}
                    log_file.write(json.dumps({"step": self.step, **metrics}) + "\n")
            self.save_checkpoint()
            return self.export()


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = DetectTrainConfig(data="", out="")
    p.add_argument("--data", required=True, help="dataset spec: kind:path[:weight],... with kind folder|celeba|places2")
    p.add_argument("--out", required=True, help="run directory (checkpoint, log, exported model in RUN/model)")
    p.add_argument("--val-data", help="folder of validation photos (fixed synthetic damage; picks the default threshold)")
    p.add_argument("--width", type=int, default=d.width)
    p.add_argument("--depth", type=int, default=d.depth)
    p.add_argument("--max-width-mult", type=int, default=d.max_width_mult,
                   help="levels have width * 1, 2, 4... channels up to width * this (e.g. 16 with --depth 7: "
                        "more capacity at coarse levels, where it costs little time)")
    p.add_argument("--crop", type=int, default=d.crop)
    p.add_argument("--scale", type=float, nargs=2, default=d.scale, metavar=("MIN", "MAX"))
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--max-minutes", type=float, help="stop (checkpoint and export) after this much wall time")
    p.add_argument("--clean-fraction", type=float, default=d.clean_fraction, help="share of undamaged samples")
    p.add_argument("--pos-weight", type=float, default=d.pos_weight)
    p.add_argument("--thin-weight", type=float, default=d.thin_weight,
                   help="extra loss weight on thin damage (pixels a 3x3 erosion removes), e.g. 4")
    p.add_argument("--dark-weight", type=float, default=d.dark_weight,
                   help="extra loss weight on damage that made pixels visibly darker (dark scratches), e.g. 4")
    p.add_argument("--single-kind-fraction", type=float, default=d.single_kind_fraction,
                   help="share of damaged samples with one damage kind only, e.g. 0.3")
    def kind_weights(text: str) -> dict[str, float]:
        try:
            return parse_kind_weights(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("--kind-weights: ")) from None

    p.add_argument("--kind-weights", type=kind_weights,
                   help="how single-kind samples pick their kind, e.g. scratch=3,crease=2 (other kinds weigh 1; "
                        "default: uniformly)")
    p.add_argument("--workers", type=int, default=d.workers)
    p.add_argument("--checkpoint-minutes", type=float, default=d.checkpoint_minutes)
    p.add_argument("--val-every", type=int, default=d.val_every)
    p.add_argument("--val-images", type=int, default=d.val_images)
    p.add_argument("--max-clean-fpr", type=float, default=d.max_clean_fpr,
                   help="the default threshold flags at most this share of undamaged validation pixels")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--refine-channels", type=int,
                   help="channels of a full-resolution refinement head (0: none; default: the checkpoint's, none "
                        "for a new run); a resumed run may add one")
    p.add_argument("--refine-kernel", type=int, help="the head's window over the photo (odd; default 3)")
    p.add_argument("--refine-lr", type=float, help="the head's learning rate (default: --lr)")
    p.add_argument("--init", help="start from this exported detector folder (e.g. weights/damage-detector): its weights "
                                  "and training record; ignored when --out has a checkpoint. With a larger --width "
                                  "it is widened first, starting as the same function (see inpaint.detect.widen_detector)")
    p.add_argument("--line-sizes", type=int, nargs="+", metavar="K",
                   help="line features as extra inputs: top-hat and black-hat of the luminance with K x K squares, "
                        "e.g. 3 7 (default: the checkpoint's or --init model's; none for a new run); a run from "
                        "weights without them may add them")
    p.add_argument("--ema-decay", type=float,
                   help="validate and export an exponential moving average of the weights with this decay per "
                        "step (e.g. 0.998); default: the last step's weights")
    p.add_argument("--amp", choices=("auto", "bf16", "fp16", "off"), default=d.amp,
                   help="lower-precision training steps (auto: bf16 on CPUs with native bf16 and on CUDA)")
    p.add_argument("--version")
    p.add_argument("--no-resume", dest="resume", action="store_false")


def main(args: argparse.Namespace) -> int:
    cfg = DetectTrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(DetectTrainConfig)})
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    folder = DetectorTrainer(cfg).fit()
    print(f"exported {folder}")
    return 0
