"""PLACEHOLDER"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator
import os
import time
import torch
from .machine import threading_main
import logging

log = logging.getLogger(__name__)


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
    """``torch.save`` through a temporary file: a kill mid-write leaves the previous file intact."""
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


@contextmanager
def stop_on_signals() -> Iterator[dict[str, bool]]:
    """While the block runs, SIGTERM/SIGINT set ``["requested"]`` so the loop finishes its step,
    checkpoints and exports; the previous handlers come back when it ends (else a process whose
    loop ended, say on an error, would ignore SIGTERM for good). Installed only from the main
    thread, where Python allows it."""
    import signal

    stop = {"requested": False}

    def request_stop(signum, frame):
        stop["requested"] = True

    previous = {}
    if threading_main():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, request_stop)
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
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


def update_ema(ema: dict[str, float], parts: dict[str, float], decay: float = 0.95) -> None:
    """Smoothed loss terms for the progress bar and the log."""
    for k, v in parts.items():
        ema[k] = v if k not in ema else decay * ema[k] + (1 - decay) * v
