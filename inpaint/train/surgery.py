"""Model surgery for runs that go on from trained weights: weights loaded into a model with a
new refinement head, prior or line-feature inputs (the new parts start at zero, so the model
starts as the one it continues), a detector widened by Net2Net, and which model options a
resumed run takes from its checkpoint."""

from __future__ import annotations

from typing import Any

import torch

from ..nn.damagenet import DamageNet, DamageNetConfig

# Model options of the refinement head, which a run may add when it resumes, with the value a
# checkpoint written before the option existed implies (both networks have them).
HEAD_OPTIONS: dict[str, Any] = {"refine_channels": 0, "refine_kernel": 3}


def resumed_options(cfg: Any, checkpoint_config: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """What a resumed run uses for each of ``options``: the flag's value when given, else the
    checkpoint's, else the value ``options`` says older checkpoints imply."""
    return {
        name: getattr(cfg, name) if getattr(cfg, name) is not None else checkpoint_config.get(name, before)
        for name, before in options.items()
    }


def load_weights_adding_inputs(
    model: DamageNet, state: dict[str, torch.Tensor], line_sizes: tuple[int, ...], source: str
) -> dict[str, torch.Tensor]:
    """``state`` (from a detector with ``line_sizes``) for ``model``: weights without line features
    may go into a model with them, the new inputs' weights of the first layer and the full-resolution
    line convolution starting at zero, so the model starts out as the one it continues (the first
    layer's mask has one channel, so its renormalisation does not depend on the number of inputs).
    Other changes: a one-line ValueError."""
    wanted = tuple(model.config.line_sizes)
    if tuple(line_sizes) == wanted:
        return state
    if line_sizes:
        raise ValueError(
            f"{source} has line features {list(line_sizes)}; this run wants {list(wanted)}: use a new --out"
        )
    key = "encoder.0.conv.weight"
    old = state[key]
    grown = old.new_zeros(old.shape[0], model.config.encoder_inputs, *old.shape[2:])
    grown[:, : old.shape[1]] = old
    return {**state, key: grown, "line_skip.weight": torch.zeros_like(model.line_skip.weight)}


def widen_detector(model: DamageNet, width: int, *, seed: int = 0, noise: float = 0.01) -> DamageNet:
    """A copy of ``model`` with ``width`` channels in its first layer (every level widened alike)
    that computes the same function, so a run can add capacity without losing what the narrower
    detector learned (the function-preserving widening of Chen, Goodfellow and Shlens, "Net2Net",
    ICLR 2016). Each new channel of a level repeats a randomly chosen old one (its convolution
    weights, bias and BatchNorm), and every layer that reads the level divides the weights of a
    repeated channel by its number of copies. ``noise`` (times each weight tensor's standard
    deviation) is added to the copies' incoming weights so they can grow apart in training; with
    ``noise=0`` the wider detector's logits equal the narrow one's (up to rounding) wherever the
    decoder's two inputs are equally valid (the partial convolution weighs them by their channel
    counts where their masks differ: the padding around a photo whose size is not a multiple of
    ``2**depth``). The model is returned in evaluation mode on the CPU."""
    cfg = model.config
    if width < cfg.width:
        raise ValueError(f"a detector can only be widened: {cfg.width} channels -> {width}")
    if cfg.refine_channels:
        raise ValueError("widening a detector with a refinement head is not supported")
    new_cfg = DamageNetConfig.from_dict({**cfg.to_dict(), "width": int(width)})
    old_ch, new_ch = cfg.channels, new_cfg.channels
    gen = torch.Generator().manual_seed(seed)
    state = {
        k: v.detach().float().cpu().clone() if v.is_floating_point() else v.clone()
        for k, v in model.state_dict().items()
    }

    def copies(n_old: int, n_new: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.cat([torch.arange(n_old), torch.randint(0, n_old, (n_new - n_old,), generator=gen)])
        return idx, torch.bincount(idx, minlength=n_old)[idx].float()

    def widen_out(prefix: str, idx: torch.Tensor) -> None:
        n_old = state[prefix + ".conv.weight"].shape[0]
        grown = [k for k in state if k.startswith(prefix + ".") and state[k].dim() >= 1 and state[k].shape[0] == n_old]
        for key in grown:
            state[key] = state[key][idx]
        w = state[prefix + ".conv.weight"]
        if noise and len(idx) > n_old:
            w[n_old:] += noise * float(w.std()) * torch.randn(w[n_old:].shape, generator=gen)

    def widen_in(prefix: str, start: int, n_old: int, idx: torch.Tensor, count: torch.Tensor) -> None:
        w = state[prefix + ".conv.weight"]
        part = w[:, start : start + n_old][:, idx] / count.view(1, -1, 1, 1)
        state[prefix + ".conv.weight"] = torch.cat([w[:, :start], part, w[:, start + n_old :]], 1)

    depth = cfg.depth
    enc_maps = [copies(old_ch[i], new_ch[i]) for i in range(depth)]
    for i in range(depth):
        widen_out(f"encoder.{i}", enc_maps[i][0])
        if i + 1 < depth:
            widen_in(f"encoder.{i + 1}", 0, old_ch[i], *enc_maps[i])
    coarse = enc_maps[depth - 1]  # what the next decoder block reads as its coarse input
    for j in range(depth):
        i = depth - 1 - j  # decoder block j upsamples level i into level i - 1
        prefix = f"decoder.{j}"
        if i > 0:  # its skip input (encoder level i - 1) follows the coarse one; level 0's is the photo
            widen_in(prefix, old_ch[i], old_ch[i - 1], *enc_maps[i - 1])
        widen_in(prefix, 0, old_ch[i], *coarse)
        if i > 0:
            coarse = copies(old_ch[i - 1], new_ch[i - 1])
            widen_out(prefix, coarse[0])
    wide = DamageNet(new_cfg)
    wide.load_state_dict(state)
    wide.metadata = dict(getattr(model, "metadata", {}) or {})
    return wide.eval()


def load_weights_adding_head(
    model: torch.nn.Module, state: dict[str, torch.Tensor], refine_channels: int, source: str, prior: str = "none"
) -> bool:
    """Load ``state`` (from a model whose refinement head has ``refine_channels``, 0 = none, and
    reads ``prior``) into ``model`` (a restorer or a damage detector). Weights without a head may go
    into a model with one, a head without a prior into one with a prior, and a smooth prior into a
    gated one: the new parts keep their initialisation, under which they add nothing. Returns True
    when it did that; a one-line ValueError when the weights do not fit."""
    wanted, wanted_prior = model.config.refine_channels, getattr(model.config, "prior", "none")
    if refine_channels == wanted and prior == wanted_prior:
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:  # e.g. a head with another window
            raise ValueError(f"{source} does not fit this model: {str(exc).splitlines()[0]}") from exc
        return False
    if refine_channels and refine_channels != wanted:
        raise ValueError(f"{source} has a refinement head of {refine_channels} channels; this run asks for {wanted}")
    if prior == "smooth" and wanted_prior == "smooth_gated":
        new: tuple[str, ...] = ("refine.gate.",)
    elif prior != "none":
        raise ValueError(f"{source} reads the {prior} prior; this run asks for {wanted_prior}")
    else:
        new = ("refine.prior.", "refine.gate.") if refine_channels else ("refine.",)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith(new) for k in missing):
        raise ValueError(f"{source} does not fit this model")
    return True
