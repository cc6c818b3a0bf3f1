"""What the training code needs to know about the computer it runs on: whether bf16 autocast
pays off on its CPU, the lower precision ``--amp`` asks for, and a one-line summary for a run's
record."""

from __future__ import annotations

import functools
import os
from contextlib import nullcontext
from pathlib import Path

import torch


@functools.lru_cache(maxsize=1)
def _cpu_info() -> tuple[str, frozenset[str]]:
    """(model name, feature flags) of the CPU from /proc/cpuinfo, read once (the training loops
    ask for every step)."""
    import platform

    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []

    def field_of(key: str) -> str | None:
        return next((line.split(":", 1)[1].strip() for line in lines if line.startswith(key)), None)

    name = field_of("model name") or platform.processor() or "unknown model"
    return name, frozenset((field_of("flags") or "").split())


def cpu_has_fast_bf16() -> bool:
    """Whether bf16 autocast pays off: on CPUs with native bf16 arithmetic (AVX512-BF16 or AMX)."""
    # Not on others: on a plain AVX2 CPU, training steps in bf16 were measured 10-20x slower than in
    # float32.
    flags = _cpu_info()[1]
    return "avx512_bf16" in flags or "amx_bf16" in flags


def machine_summary() -> str:
    """The computer in a few words, for a run's record: cores, CPU model and its widest vector
    arithmetic, and the GPU if there is one."""
    import platform

    name, flags = _cpu_info()
    isa = next(
        (
            label
            for flag, label in (
                ("amx_bf16", "AMX"),
                ("avx512_bf16", "AVX-512 BF16"),
                ("avx512f", "AVX-512"),
                ("avx2", "AVX2"),
            )
            if flag in flags
        ),
        "",
    )
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return f"{os.cpu_count()}-core {platform.machine()} CPU ({name}{', ' + isa if isa else ''}){gpu}"


def autocast_dtype(device: torch.device, amp: str) -> torch.dtype | None:
    """The lower precision ``--amp`` asks for on ``device`` (None: float32 throughout)."""
    if amp == "off":
        return None
    if device.type == "cuda":
        if amp == "auto":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float16 if amp == "fp16" else torch.bfloat16
    if amp == "bf16" or (amp == "auto" and cpu_has_fast_bf16()):
        return torch.bfloat16
    return None


def autocast_for(device: torch.device, amp: str):
    dtype = autocast_dtype(device, amp)
    return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
