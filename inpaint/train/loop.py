"""The training loop both networks share. A ``Task`` says what one network's training is: its
samples, its model, its loss, its validation and its export. ``TrainingLoop`` runs a task:
optimiser steps with Adam, checkpoints written atomically, resume from the run folder, a
clean stop on SIGINT/SIGTERM, an optional moving average of the weights, mixed precision,
DistributedDataParallel under ``torchrun``, a progress bar and a JSONL log, validation every N
steps, a time budget and an export at the end.

    loop = TrainingLoop(RestorerTask(TrainConfig(data="folder:photos", out="runs/me")))
    folder = loop.fit()  # the exported model folder (None on ranks other than 0)
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import IO, Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset

from .data import seed_worker
from .machine import autocast_for, threading_main

log = logging.getLogger(__name__)


CHECKPOINT_NAME = "checkpoint.pt"  # in the run folder; a run with the same folder resumes from it


STOP_REASONS = (None, "time", "signal")  # why a loop may stop before its steps are done, in rising priority


# ----------------------------------------------------------------------------- the loop's parts


def head_param_groups(model: torch.nn.Module, lr_of: Any) -> list[dict[str, Any]]:
    """Optimiser groups "net" and "refine" (the refinement head, if any) of the trainable
    parameters, with ``lr_of(name)`` as each group's rate: a head added to a trained model starts
    from zero and may need a higher learning rate than the rest (--refine-lr)."""
    groups: dict[str, list[torch.nn.Parameter]] = {"net": [], "refine": []}
    for name, p in model.named_parameters():
        if p.requires_grad:
            groups["refine" if name.startswith("refine.") else "net"].append(p)
    return [{"params": ps, "name": k, "lr": lr_of(k)} for k, ps in groups.items() if ps]


def save_atomic(obj: Any, path: Path) -> None:
    """``torch.save`` through a temporary file: a kill mid-write leaves the file at ``path`` as it
    was."""
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


@contextmanager
def stop_on_signals() -> Iterator[dict[str, bool]]:
    """While the block runs, SIGTERM/SIGINT set ``["requested"]`` so the loop finishes its step,
    checkpoints and exports; the handlers from before come back when it ends (else a process whose
    loop ended, say on an error, would ignore SIGTERM for good). Installed only from the main
    thread, where Python allows it."""
    stop = {"requested": False}

    def request_stop(signum, frame):
        stop["requested"] = True

    outer = {}
    if threading_main():
        for sig in (signal.SIGTERM, signal.SIGINT):
            outer[sig] = signal.signal(sig, request_stop)
    try:
        yield stop
    finally:
        for sig, handler in outer.items():
            signal.signal(sig, handler)


@contextmanager
def batch_stream(batches: Iterator[Any], stop: dict[str, bool]) -> Iterator[Iterator[Any]]:
    """The training loop's batches: closed when the loop ends (the data workers shut down then,
    not at interpreter exit), and an error from them after a requested stop is the stop itself
    (a SIGTERM to the process group ends the workers before the loop sees the request)."""
    try:
        yield batches
    except RuntimeError:
        if not stop["requested"]:
            raise
        log.info("stop requested (the data workers ended first): checkpointing")
    finally:
        batches.close()  # type: ignore[attr-defined]


def checkpoint_if_due(trainer: Any, last: float, minutes: float) -> float:
    """Checkpoint and export ``trainer`` when ``minutes`` have passed since ``last`` (monotonic
    seconds); returns the time of the latest checkpoint."""
    now = time.monotonic()
    if now - last <= minutes * 60:
        return last
    trainer.save_checkpoint()
    trainer.export()
    return now


def optimiser_step(opt: torch.optim.Optimizer, total: torch.Tensor, step: int, hint: str) -> None:
    """Backpropagate ``total`` and step, refusing a non-finite loss with a message saying what to do."""
    if not torch.isfinite(total):
        raise FloatingPointError(f"loss became {float(total)} at step {step}; {hint}")
    opt.zero_grad(set_to_none=True)
    total.backward()
    opt.step()


def smooth_terms(smoothed: dict[str, float], parts: dict[str, float], decay: float = 0.95) -> None:
    """Smoothed loss terms for the progress bar and the log."""
    for k, v in parts.items():
        smoothed[k] = v if k not in smoothed else decay * smoothed[k] + (1 - decay) * v


def git_commit() -> str | None:
    """The commit of the git checkout this code runs from (None outside one, or without git)."""
    try:
        r = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = r.stdout.strip()
    return sha if r.returncode == 0 and sha else None


# ----------------------------------------------------------------------------- what a task is


@dataclass
class LoopSettings:
    """The loop's part of a task's configuration. A task's config dataclass has fields of these
    names (``out``, ``steps`` and ``batch_size`` at least); ``of`` picks them."""

    out: str  # the run folder: checkpoint, log.jsonl, the exported model in out/model
    steps: int  # the step count at which the loop stops (Progress.step; a resumed run goes on counting)
    batch_size: int  # over all processes
    workers: int = 1
    seed: int = 0
    amp: str = "auto"  # auto | bf16 | fp16 | off (see machine.autocast_dtype)
    resume: bool = True  # go on from out/checkpoint.pt when it exists
    checkpoint_minutes: float = 5.0
    val_every: int = 500  # 0: validate only at the end
    max_minutes: float | None = None  # wall time of one fit(); then checkpoint, export and stop
    # validate and export an exponential moving average of the weights (buffers included) with this
    # decay per step; None: the last step's weights
    ema_decay: float | None = None
    recipe: dict[str, Any] | None = None  # the recipe file and phase a run comes from (see recipe.py)

    @classmethod
    def of(cls, config: Any) -> LoopSettings:
        return cls(**{f.name: getattr(config, f.name) for f in fields(cls) if hasattr(config, f.name)})


@dataclass
class Progress:
    """How far a run is; checkpointed, and carried on by the exported model's record."""

    step: int = 0  # optimiser steps, counted against LoopSettings.steps
    earlier_steps: int = 0  # steps the run's record carries before those (the restorer's earlier stages)
    seconds: float = 0.0  # training-step time over every invocation
    images_seen: int = 0

    @property
    def total_steps(self) -> int:
        return self.earlier_steps + self.step


@dataclass
class Start:
    """Where a task starts its run: the progress so far, and the optimiser state and the torch RNG
    state to restore (None: a fresh optimiser; the RNG as seeded)."""

    progress: Progress
    optimizer: dict[str, Any] | None = None
    rng: torch.Tensor | None = None


class Task(ABC):
    """One network's training, as ``TrainingLoop`` asks for it. A subclass implements every
    abstract method: one that misses any cannot be instantiated (TypeError). The loop sets
    ``device`` and ``rank`` before it calls ``build``.

    The loop calls, in order: ``dataset``; ``build`` (the model, from the checkpoint if any);
    ``start`` (weights and record from the checkpoint or an exported model); ``prepare_validation``
    on rank 0; then per step ``to_device``, ``forward`` (under autocast), ``loss``, the optimiser step
    and ``after_step``; every
    ``val_every`` steps and at the end ``validate`` (on rank 0, the model in eval mode, without
    gradients) and ``validated``; ``checkpoint_entries`` whenever it checkpoints and ``export``
    whenever it exports."""

    label = "training"  # the progress bar's
    bar_terms: tuple[str, ...] = ()  # loss terms the bar shows beside the total

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg
        self.settings = LoopSettings.of(cfg)
        self.device = torch.device("cpu")
        self.rank = 0

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.settings.out) / CHECKPOINT_NAME

    @abstractmethod
    def dataset(self) -> Dataset:
        """The training samples: one long virtual epoch, so data workers live for the whole run."""

    @abstractmethod
    def build(self, checkpoint: dict[str, Any] | None) -> torch.nn.Module:
        """The network on ``self.device``, configured as the run goes on (from ``checkpoint``, an
        exported model or the flags), and anything else its steps need (built here, so the random
        initialisation happens in the same order in every run)."""

    @abstractmethod
    def group_lr(self, name: str) -> float:
        """The learning rate of the optimiser group ``name`` ("net" or "refine")."""

    @abstractmethod
    def start(self, model: torch.nn.Module, checkpoint: dict[str, Any] | None) -> Start:
        """Load the weights and the training record the run goes on from into ``model``."""

    @abstractmethod
    def forward(self, model: torch.nn.Module, batch: Any) -> Any:
        """The model's output for a batch (run under autocast)."""

    @abstractmethod
    def loss(self, output: Any, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        """(total loss, its terms as floats) of an output."""

    @abstractmethod
    def prepare_validation(self, progress: Progress) -> None:
        """Draw the fixed validation samples (or none)."""

    @abstractmethod
    def validate(self, model: torch.nn.Module, progress: Progress) -> dict[str, Any]:
        """Validation scores of ``model`` (``{}`` without validation samples)."""

    @abstractmethod
    def checkpoint_entries(self, model: torch.nn.Module, progress: Progress) -> dict[str, Any]:
        """The task's part of a checkpoint (its model config and record), besides the loop's."""

    @abstractmethod
    def export(self, model: torch.nn.Module, folder: Path, progress: Progress, provenance: dict[str, Any]) -> Path:
        """Write ``model`` as a model folder whose metadata carries ``provenance``."""

    def to_device(self, batch: Any) -> Any:
        return tuple(t.to(self.device, non_blocking=True) for t in batch)

    def loader_seeds(self, progress: Progress, length: int) -> Iterator[tuple[int, int]]:
        """(epoch, shuffling seed) of each pass of the data loader, from where the run is: here the
        epoch that the images seen so far reach, shuffled by a seed of the epoch alone."""
        epoch = progress.total_steps * self.settings.batch_size // max(length, 1)
        while True:
            yield epoch, self.settings.seed * 1_000_003 + epoch
            epoch += 1

    def after_step(self, output: Any, batch: Any) -> dict[str, float]:
        """Called after each optimiser step with its output and batch, for a second network the
        task trains beside the model (the restorer's discriminator); returns loss terms to log."""
        return {}

    def log_fields(self) -> dict[str, Any]:
        """Fields the task adds to each line of log.jsonl."""
        return {}

    def validated(self, metrics: dict[str, Any], progress: Progress) -> None:
        """Called with each validation's scores (when there are any)."""
        return None


# ----------------------------------------------------------------------------- the loop


class TrainingLoop:
    """Runs a ``Task`` (see the module docstring). After ``fit``, ``stop_reason`` says why it
    stopped ("steps", "time" or "signal") and ``minutes`` how long ``fit`` took."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.settings = s = task.settings
        if s.ema_decay is not None and not 0.0 < s.ema_decay < 1.0:
            raise ValueError(f"--ema-decay must be in (0, 1), got {s.ema_decay}")
        self._init_processes()
        self.out = Path(s.out)
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(s.seed + self.rank)
        self.dataset = task.dataset()
        if s.batch_size % self.world:
            raise ValueError(f"batch size {s.batch_size} is not divisible by {self.world} processes")
        self.local_batch = s.batch_size // self.world
        task.device, task.rank = self.device, self.rank
        checkpoint = self._read_checkpoint()
        self.model = task.build(checkpoint)
        self.opt = torch.optim.Adam(head_param_groups(self.model, task.group_lr), lr=task.group_lr("net"))
        self.progress, resumed_optimizer = self._start(checkpoint)
        self.ema = self._weight_average(checkpoint if resumed_optimizer else None)
        self.ddp = self._wrap_distributed()
        self.start_progress = replace(self.progress)  # this invocation's first step, for its rate
        self.provenance = {"recipe": s.recipe, "commit": git_commit()}
        self.stop_reason: str | None = None
        self.minutes = 0.0
        if self.rank == 0:
            task.prepare_validation(self.progress)

    @property
    def ckpt_path(self) -> Path:
        return self.task.checkpoint_path

    @property
    def exported_model(self) -> torch.nn.Module:
        """What validation scores and export writes: the weight average when there is one."""
        return self.ema.module if self.ema is not None else self.model

    # -- setting up
    def _init_processes(self) -> None:
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

    def _read_checkpoint(self) -> dict[str, Any] | None:
        if not (self.settings.resume and self.ckpt_path.is_file()):
            return None
        return torch.load(self.ckpt_path, map_location=self.device, weights_only=True)

    def _start(self, checkpoint: dict[str, Any] | None) -> tuple[Progress, bool]:
        """The task's start, then the optimiser's state (each group at the rate the task gives it
        now) and the RNG's; returns the progress and whether the optimiser state was resumed."""
        start = self.task.start(self.model, checkpoint)
        if start.optimizer is not None:
            self.opt.load_state_dict(start.optimizer)
        for g in self.opt.param_groups:
            g["lr"] = self.task.group_lr(g.get("name", "net"))
        if start.rng is not None:
            torch.set_rng_state(start.rng)
        if checkpoint is not None and self.rank == 0:
            log.info("resumed from %s at step %d", self.ckpt_path, start.progress.step)
        return start.progress, start.optimizer is not None

    def _weight_average(self, checkpoint: dict[str, Any] | None) -> Any:
        """The moving average of the weights, if asked for; it starts as the model at its first
        update, and a resumed run with the same decay (and the same parameters) goes on with its
        average."""
        decay = self.settings.ema_decay
        if decay is None:
            return None
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        if checkpoint is not None and checkpoint.get("ema") is not None and checkpoint.get("ema_decay") == decay:
            ema.load_state_dict(checkpoint["ema"])
        return ema

    def _wrap_distributed(self) -> torch.nn.Module:
        if not self.distributed:
            return self.model
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(self.model, device_ids=device_ids)

    # -- the steps
    def batches(self) -> Iterator[Any]:
        """Batches without end: a DataLoader per pass, each seeded by the task's ``loader_seeds``."""
        s = self.settings
        sampler = None
        if self.distributed:
            sampler = torch.utils.data.distributed.DistributedSampler(self.dataset, seed=s.seed)
        set_epoch = getattr(self.dataset, "set_epoch", None)  # samples that depend on the epoch
        for epoch, seed in self.task.loader_seeds(self.progress, len(self.dataset)):
            if set_epoch is not None:
                set_epoch(epoch)
            if sampler is not None:
                sampler.set_epoch(epoch)
            gen = None if sampler is not None else torch.Generator().manual_seed(seed)
            yield from DataLoader(
                self.dataset,
                batch_size=self.local_batch,
                sampler=sampler,
                shuffle=sampler is None,
                generator=gen,
                num_workers=s.workers,
                drop_last=True,
                worker_init_fn=seed_worker,
                pin_memory=self.device.type == "cuda",
            )

    def fit(self) -> Path | None:
        """Train until ``steps``, the time budget or a stop signal; validate, checkpoint, and
        export (on rank 0). Returns the exported model folder."""
        self.model.train()
        started = time.monotonic()
        self.last_checkpoint = started
        folder = None
        with stop_on_signals() as stop:
            with self._log_file() as log_file:
                with self._progress_bar() as bar:
                    self.stop_reason = self._train(stop, bar, log_file, started)
                self._final_validation(log_file)
            self.save_checkpoint()
            if self.rank == 0:
                folder = self.export()
        self.minutes = (time.monotonic() - started) / 60
        return folder

    def _train(self, stop: dict[str, bool], bar: Any, log_file: IO[str] | None, started: float) -> str:
        running: dict[str, float] = {}  # smoothed loss terms
        with batch_stream(self.batches(), stop) as batches:
            for batch in batches:
                if self.progress.step >= self.settings.steps:
                    return "steps"
                self._step(batch, running)
                self._after_step(running, bar, log_file)
                reason = self._stop_reason(stop, started)
                if reason is not None:
                    return reason
        return "signal"  # the batches end only when a stop ended the data workers

    def _step(self, batch: Any, running: dict[str, float]) -> None:
        t0 = time.monotonic()
        batch = self.task.to_device(batch)
        with autocast_for(self.device, self.settings.amp):
            output = self.task.forward(self.ddp, batch)
        total, parts = self.task.loss(output, batch)
        optimiser_step(self.opt, total, self.progress.step, "lower --lr or use --amp off")
        parts = {**parts, **self.task.after_step(output, batch)}
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        p = self.progress
        p.step += 1
        p.images_seen += self.settings.batch_size
        p.seconds += time.monotonic() - t0
        smooth_terms(running, {**parts, "total": float(total.detach())})

    def _after_step(self, running: dict[str, float], bar: Any, log_file: IO[str] | None) -> None:
        """The progress bar, the log every 50 steps and at the last, validation and checkpoints."""
        p, s = self.progress, self.settings
        shown = {"loss": f"{running['total']:.4f}", **{k: f"{running[k]:.4f}" for k in self.task.bar_terms}}
        bar.set_postfix(shown, ips=f"{self.images_per_second():.1f}")
        bar.update(1)
        record: dict[str, Any] = {}
        if p.step % 50 == 0 or p.step == s.steps:
            record = {f"loss_{k}": round(v, 5) for k, v in running.items()}
        if self.rank == 0 and s.val_every and p.step % s.val_every == 0:
            record.update(self.validate())
        if record and log_file is not None:
            record.update(
                step=p.total_steps,
                **self.task.log_fields(),
                images_seen=p.images_seen,
                seconds=round(p.seconds, 1),
                time=time.time(),
            )
            self._write(log_file, record)
        if self.rank == 0:
            self.last_checkpoint = checkpoint_if_due(self, self.last_checkpoint, s.checkpoint_minutes)

    def images_per_second(self) -> float:
        """This invocation's rate (crops differ between phases)."""
        seen = self.progress.images_seen - self.start_progress.images_seen
        return seen / max(self.progress.seconds - self.start_progress.seconds, 1e-9)

    def _stop_reason(self, stop: dict[str, bool], started: float) -> str | None:
        budget = self.settings.max_minutes
        reason = None
        if stop["requested"]:
            reason = "signal"
        elif budget is not None and time.monotonic() - started > budget * 60:
            reason = "time"
        reason = self._agreed(reason)
        if reason == "signal" and self.rank == 0:
            log.info("stop requested at step %d: checkpointing", self.progress.step)
        elif reason == "time" and self.rank == 0:
            log.info("time budget of %.0f min reached at step %d", budget, self.progress.step)
        return reason

    def _agreed(self, reason: str | None) -> str | None:
        """The strongest reason to stop any process has, so that all stop at the same step."""
        if not self.distributed:
            return reason
        code = torch.tensor([STOP_REASONS.index(reason)], device=self.device)
        dist.all_reduce(code, op=dist.ReduceOp.MAX)
        return STOP_REASONS[int(code.item())]

    # -- validation, checkpoints, export
    def validate(self) -> dict[str, Any]:
        net = self.exported_model
        net.eval()
        try:
            with torch.inference_mode():
                metrics = self.task.validate(net, self.progress)
        finally:
            self.model.train()
        if metrics:
            self.task.validated(metrics, self.progress)
        return metrics

    def _final_validation(self, log_file: IO[str] | None) -> None:
        if self.rank != 0:
            return
        metrics = self.validate()
        if metrics and log_file is not None:
            self._write(log_file, {"step": self.progress.total_steps, **metrics})

    def save_checkpoint(self) -> None:
        if self.rank != 0:
            return
        p = self.progress
        ck = {
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "step": p.step,
            "total_steps": p.total_steps,
            "seconds": p.seconds,
            "images_seen": p.images_seen,
            "rng": torch.get_rng_state(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "ema_decay": self.settings.ema_decay,
            **self.task.checkpoint_entries(self.model, p),
        }
        save_atomic(ck, self.ckpt_path)

    def export(self, folder: Path | None = None) -> Path:
        return self.task.export(self.exported_model, folder or self.out / "model", self.progress, self.provenance)

    # -- output
    @contextmanager
    def _log_file(self) -> Iterator[IO[str] | None]:
        if self.rank != 0:
            yield None
            return
        with open(self.out / "log.jsonl", "a") as f:
            yield f

    def _progress_bar(self) -> Any:
        from tqdm import tqdm

        return tqdm(
            total=self.settings.steps,
            initial=self.progress.step,
            disable=self.rank != 0,
            dynamic_ncols=True,
            desc=self.task.label,
        )

    @staticmethod
    def _write(log_file: IO[str], record: dict[str, Any]) -> None:
        log_file.write(json.dumps(record) + "\n")
        log_file.flush()
