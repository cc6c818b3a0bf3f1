"""Training: losses against direct computations, the shared loop (resume, stop signals, validation,
time budgets, precision) on a toy task, the restorer's checkpoints, stages and DDP (gloo), and recipes."""

import dataclasses
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inpaint.nn.unet import load_model
from inpaint.train.detector import DetectorTask, DetectTrainConfig
from inpaint.train.loop import Progress, Start, Task, TrainingLoop, save_atomic
from inpaint.train.losses import InpaintingLoss, LossWeights
from inpaint.train.restorer import RestorerTask, TrainConfig

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(6):
        y, x = np.mgrid[0:80, 0:96]
        img = np.stack([x * 2 + i * 20, y * 3, (x + y + 40 * i) % 255], -1) + rng.normal(0, 10, (80, 96, 3))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(root / f"p{i}.jpg")
    return root


def tiny_cfg(photos, out, **kw) -> TrainConfig:
    base = dict(
        data=f"folder:{photos}",
        out=str(out),
        width=4,
        depth=3,
        crop=32,
        batch_size=4,
        steps=3,
        features="none",
        workers=0,
        val_every=2,
        val_data=str(photos),
        val_images=4,
        checkpoint_minutes=60,
    )
    base.update(kw)
    return TrainConfig(**base)


def restorer_loop(cfg: TrainConfig) -> TrainingLoop:
    return TrainingLoop(RestorerTask(cfg))


def test_pixel_losses_match_direct_computation():
    torch.manual_seed(0)
    out, gt = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    mask = torch.ones(2, 1, 8, 8)
    mask[:, :, 2:5, 3:6] = 0
    loss = InpaintingLoss(None, LossWeights(perceptual=0, style=0))
    total, parts = loss(out, gt, mask)
    diff = (out - gt).abs()
    assert parts["valid"] == pytest.approx(float((diff * mask).mean()), rel=1e-6)
    assert parts["hole"] == pytest.approx(float((diff * (1 - mask)).mean()), rel=1e-6)
    comp = mask * gt + (1 - mask) * out
    # TV by a loop over neighbour pairs that both lie in the 1-pixel dilation of the hole
    region = np.zeros((8, 8), bool)
    region[1:6, 2:7] = True
    h = sum(
        abs(float(comp[b, c, i, j + 1] - comp[b, c, i, j]))
        for b in range(2)
        for c in range(3)
        for i in range(8)
        for j in range(7)
        if region[i, j] and region[i, j + 1]
    ) / (2 * 3 * 8 * 7)
    v = sum(
        abs(float(comp[b, c, i + 1, j] - comp[b, c, i, j]))
        for b in range(2)
        for c in range(3)
        for i in range(7)
        for j in range(8)
        if region[i, j] and region[i + 1, j]
    ) / (2 * 3 * 7 * 8)
    assert parts["tv"] == pytest.approx(h + v, rel=1e-5)
    assert float(total) == pytest.approx(parts["valid"] + 6 * parts["hole"] + 0.1 * parts["tv"], rel=1e-5)


def test_ssim_term_is_the_evaluation_ssim_of_the_composite_and_reaches_only_the_hole():
    from skimage import data
    from skimage.metrics import structural_similarity

    from inpaint.train.losses import ssim_per_image

    gt = data.astronaut()[100:196, 150:246]  # a face and a uniform: real structure
    rng = np.random.default_rng(0)
    out = np.clip(gt + rng.normal(0, 25, gt.shape), 0, 255).astype(np.uint8)
    t = lambda a: torch.from_numpy(a).permute(2, 0, 1).float()[None] / 255  # noqa: E731
    for a in (out, gt):
        ref = structural_similarity(gt, a, data_range=255, channel_axis=-1)
        assert float(ssim_per_image(t(a), t(gt))[0]) == pytest.approx(ref, abs=2e-3)
    mask = torch.ones(1, 1, 96, 96)
    mask[..., 30:60, 20:70] = 0
    output = t(out).requires_grad_()
    total, parts = InpaintingLoss(None, LossWeights(perceptual=0, style=0, ssim=2.0))(output, t(gt), mask)
    comp = (mask * t(gt) + (1 - mask) * t(out))[0].permute(1, 2, 0).numpy()
    ref = structural_similarity(gt.astype(np.float32) / 255, comp, data_range=1.0, channel_axis=-1)
    assert parts["ssim"] == pytest.approx(1 - ref, abs=2e-3) and parts["ssim"] > 0.05
    assert float(total.detach()) == pytest.approx(
        parts["valid"] + 6 * parts["hole"] + 0.1 * parts["tv"] + 2 * parts["ssim"], rel=1e-5
    )
    # the composite takes the known pixels from the target: only the hole gets a gradient from SSIM
    output.grad = None
    InpaintingLoss(None, LossWeights(valid=0, hole=0, perceptual=0, style=0, tv=0, ssim=1.0))(output, t(gt), mask)[
        0
    ].backward()
    g = output.grad[0].abs().sum(0)
    assert float(g[mask[0, 0] == 1].abs().max()) == 0 and float(g[mask[0, 0] == 0].abs().min()) > 0
    # weight 0 (the default): the paper's loss, without the term
    assert "ssim" not in InpaintingLoss(None, LossWeights(perceptual=0, style=0))(output, t(gt), mask)[1]


def test_mobilenet_weights_are_real_imagenet_weights():
    """The offline MobileNetV2 weights classify a real cat photo as a cat (ImageNet 281-285)."""
    import torchvision
    from skimage import data

    from inpaint.train.perceptual import FeatureExtractor, find_mobilenet_weights, gram

    net = torchvision.models.mobilenet_v2(weights=None)
    net.load_state_dict(torch.load(find_mobilenet_weights(), map_location="cpu", weights_only=True))
    img = torch.from_numpy(data.chelsea()).permute(2, 0, 1).float()[None] / 255
    img = torch.nn.functional.interpolate(img, size=(224, 224), mode="bilinear", antialias=True)
    mean, std = (
        torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1),
        torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1),
    )
    with torch.no_grad():
        cls = int(net.eval()((img - mean) / std).argmax())
    assert 281 <= cls <= 285
    feats = FeatureExtractor()(img)
    assert [f.shape[1] for f in feats] == [16, 24, 32] and [f.shape[-1] for f in feats] == [112, 56, 28]
    g = gram(feats[0])
    f = feats[0].reshape(16, -1)
    torch.testing.assert_close(g[0], f @ f.T / f.numel(), rtol=1e-4, atol=1e-6)


def test_full_loss_has_all_terms_and_gradients():
    from inpaint.train.perceptual import FeatureExtractor

    torch.manual_seed(1)
    out = torch.rand(1, 3, 32, 32, requires_grad=True)
    gt = torch.rand(1, 3, 32, 32)
    mask = torch.ones(1, 1, 32, 32)
    mask[..., 8:20, 8:20] = 0
    total, parts = InpaintingLoss(FeatureExtractor())(out, gt, mask)
    assert set(parts) == {"valid", "hole", "tv", "perceptual", "style"} and all(v > 0 for v in parts.values())
    total.backward()
    assert out.grad is not None and out.grad.abs().sum() > 0


def test_train_checkpoint_resume_and_export(photos, tmp_path):
    out = tmp_path / "run"
    tr = restorer_loop(tiny_cfg(photos, out))
    folder = tr.fit()
    assert (out / "checkpoint.pt").is_file() and list((out / "samples").glob("*.jpg"))
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert any("val_psnr" in r and 0 < r["val_ssim"] <= 1 for r in log)
    assert any(r.get("val_detail_blurred", 0) > 0 and r.get("val_detail_fine", 0) > 0 for r in log)
    model = load_model(folder, device="cpu")  # steps > 0: accepted as trained
    assert model.metadata["steps"] == 3 and model.metadata["images_seen"] == 12
    # resume: same run directory, more steps, continues the count
    tr2 = restorer_loop(tiny_cfg(photos, out, steps=5))
    assert tr2.progress.step == 3
    for k, v in tr.model.state_dict().items():
        assert torch.equal(v, tr2.model.state_dict()[k])
    tr2.fit()
    assert load_model(out / "model", device="cpu").metadata["steps"] == 5
    # stage 2 starts from stage 1's weights with the encoder's BatchNorm frozen
    tr3 = restorer_loop(tiny_cfg(photos, out, stage=2, steps=2))
    assert tr3.progress.step == 0 and tr3.progress.total_steps == 5 and tr3.task.lr == 5e-5
    before = {k: v.clone() for k, v in tr3.model.encoder.state_dict().items() if "bn" in k}
    tr3.fit()
    after = tr3.model.encoder.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())
    assert load_model(out / "model", device="cpu").metadata["steps"] == 7


def test_a_run_continues_under_per_group_renormalisation_and_records_it(photos, tmp_path):
    out = tmp_path / "run"
    restorer_loop(tiny_cfg(photos, out, decoder_renorm="joint")).fit()
    # resumed without the flag, a run keeps its renormalisation (the compact preset's is per group)
    assert restorer_loop(tiny_cfg(photos, out, steps=4)).model.config.decoder_renorm == "joint"
    tr = restorer_loop(tiny_cfg(photos, out, stage=2, steps=2, decoder_renorm="per_group"))
    assert tr.progress.total_steps == 3 and tr.model.config.decoder_renorm == "per_group"
    assert all(b.renorm == "per_group" for b in tr.model.decoder)
    folder = tr.fit()
    model = load_model(folder, device="cpu")
    assert model.metadata["stages"][-1]["loss_weights"] == {
        "valid": 1.0,
        "hole": 6.0,
        "perceptual": 0.0,
        "style": 0.0,
        "tv": 0.1,
        "ssim": 0.0,
        "adversarial": 0.0,
    }
    assert model.config.decoder_renorm == "per_group" and all(b.renorm == "per_group" for b in model.decoder)
    assert [(s["stage"], s["steps"], s["decoder_renorm"]) for s in model.metadata["stages"]] == [
        (1, 3, "joint"),
        (2, 2, "per_group"),
    ]


def test_a_refinement_head_is_added_when_a_new_stage_starts(photos, tmp_path):
    out = tmp_path / "run"
    first = restorer_loop(tiny_cfg(photos, out))
    first.fit()
    with pytest.raises(ValueError, match="new stage"):  # not in the middle of stage 1
        restorer_loop(tiny_cfg(photos, out, steps=4, refine_channels=4))
    tr = restorer_loop(tiny_cfg(photos, out, stage=2, steps=2, refine_channels=4, refine_lr=1e-3))
    assert tr.model.refine is not None and tr.progress.total_steps == 3
    assert {g["name"]: g["lr"] for g in tr.opt.param_groups} == {"net": 5e-5, "refine": 1e-3}
    for k, v in first.model.state_dict().items():  # the rest of the model is the stage-1 model
        assert torch.equal(v, tr.model.state_dict()[k])
    assert any(p is tr.model.refine.out.weight for g in tr.opt.param_groups for p in g["params"])
    tr.fit()
    model = load_model(out / "model", device="cpu")
    assert model.config.refine_channels == 4 and float(model.refine.out.weight.abs().sum()) > 0  # it trained
    assert [(s["stage"], s["refine_channels"]) for s in model.metadata["stages"]] == [(1, 0), (2, 4)]
    # resumed without the flag, the run keeps its head; a different head is refused
    assert restorer_loop(tiny_cfg(photos, out, stage=2, steps=3)).model.config.refine_channels == 4
    with pytest.raises(ValueError, match="does not fit"):  # the same head with another window
        restorer_loop(tiny_cfg(photos, out, stage=2, steps=3, refine_channels=4, refine_kernel=5))
    with pytest.raises(ValueError, match="refinement head of 4"):
        restorer_loop(tiny_cfg(photos, tmp_path / "other", init=str(out / "model"), refine_channels=2))
    with pytest.raises(ValueError, match="does not fit"):  # a head with another window
        restorer_loop(
            tiny_cfg(photos, tmp_path / "other2", init=str(out / "model"), refine_channels=4, refine_kernel=5)
        )


def test_validation_detail_ratios_pool_the_evaluations_energies():
    from inpaint.eval.metrics import gradient_energy
    from inpaint.train.restorer import _detail_ratios

    g = torch.Generator().manual_seed(0)
    imgs = torch.rand(2, 3, 24, 24, generator=g)
    masks = torch.ones(2, 1, 24, 24)
    masks[:, :, 6:18, 6:18] = 0
    assert _detail_ratios(imgs, masks, imgs) == {"val_detail_fine": 1.0, "val_detail_blurred": 1.0}
    half = masks * imgs + (1 - masks) * (0.5 * imgs + 0.25)  # half the contrast in the hole
    got = _detail_ratios(imgs, masks, half)
    region = np.zeros((24, 24), bool)
    region[7:17, 7:17] = True  # the hole eroded by one pixel
    grey = [(t.permute(1, 2, 0).numpy() * 255).astype(np.float64) for t in (*imgs, *half)]
    want = sum(gradient_energy(x, region) for x in grey[2:]) / sum(gradient_energy(x, region) for x in grey[:2])
    assert got["val_detail_fine"] == pytest.approx(want, rel=1e-5) and want == pytest.approx(0.25, rel=1e-3)


def test_the_hinge_terms_match_a_direct_computation():
    from inpaint.train.losses import adversarial_loss, discriminator_loss

    real = torch.tensor([[[[0.5, 2.0], [-1.0, 1.5]]]])
    fake = torch.tensor([[[[-2.0, 0.0], [1.0, -0.5]]]])
    hole = torch.zeros(1, 1, 4, 4)
    hole[0, 0, :2, :2] = 1.0  # the top-left patch is all hole
    hole[0, 0, 2:, 2:] = 0.25 * 4 * torch.tensor([[1.0, 0.0], [0.0, 0.0]])  # the bottom-right: a quarter
    w = np.array([1.0, 0.0, 0.0, 0.25])
    f = np.array([-2.0, 0.0, 1.0, -0.5])
    r = np.array([0.5, 2.0, -1.0, 1.5])
    assert float(adversarial_loss(fake, hole)) == pytest.approx(-(w * f).sum() / w.sum())
    want = np.maximum(0, 1 - r).mean() + (w * np.maximum(0, 1 + f)).sum() / w.sum()
    assert float(discriminator_loss(real, fake, hole)) == pytest.approx(want)


def test_an_adversarial_fine_tune_trains_only_its_layers_and_exports_them_as_an_overlay(photos, tmp_path):
    from inpaint.io.weights import WeightsError

    base = restorer_loop(tiny_cfg(photos, tmp_path / "base", steps=2, refine_channels=4)).fit()
    layers = ["decoder.2", "refine"]
    weights = {"valid": 0.1, "hole": 6.0, "tv": 0.1, "adversarial": 0.5}
    cfg = dict(init=str(base), stage=2, steps=3, train_layers=layers, loss_weights=weights, disc_width=4, crop=48)
    tr = restorer_loop(tiny_cfg(photos, tmp_path / "ft", **cfg))
    assert tr.task.disc is not None
    trainable = {n for n, p in tr.model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(tuple(layers)) for n in trainable)
    assert {
        n for g in tr.opt.param_groups for n, p in tr.model.named_parameters() if any(p is q for q in g["params"])
    } == trainable
    disc_before = {k: v.clone() for k, v in tr.task.disc.state_dict().items()}
    folder = tr.fit()
    start = load_model(base, device="cpu").state_dict()
    tuned = load_model(folder, device="cpu")
    changed = {k for k, v in tuned.state_dict().items() if not torch.equal(v, start[k])}
    assert changed and all(k.startswith(tuple(layers)) for k in changed)  # BatchNorm statistics included
    assert any(not torch.equal(v, tr.task.disc.state_dict()[k]) for k, v in disc_before.items())  # D trained
    log = [json.loads(line) for line in (tmp_path / "ft" / "log.jsonl").read_text().splitlines()]
    assert any("loss_adversarial" in r and "loss_disc" in r for r in log)
    assert tuned.metadata["stages"][-1]["train_layers"] == layers
    assert tuned.metadata["stages"][-1]["loss_weights"]["adversarial"] == 0.5
    # the overlay holds the trained layers alone and, over its base, is the tuned model exactly
    from safetensors.torch import load_file

    overlay = tmp_path / "ft" / "overlay"
    assert set(load_file(str(overlay / "model.safetensors"))) == {k for k in start if k.startswith(tuple(layers))}
    shipped = tmp_path / "weights"
    shutil.copytree(base, shipped)
    shutil.copytree(overlay, shipped / "sharp")
    sharp = load_model(shipped / "sharp", device="cpu")
    assert all(torch.equal(v, tuned.state_dict()[k]) for k, v in sharp.state_dict().items())
    assert sharp.config.version == tuned.config.version != load_model(shipped, device="cpu").config.version
    assert tuned.config.working_size == 48 and sharp.config.working_size == 32  # run as its model is run
    other = restorer_loop(tiny_cfg(photos, tmp_path / "other", steps=1, refine_channels=4, version="pconv-other")).fit()
    shutil.copytree(other, tmp_path / "elsewhere")
    shutil.copytree(overlay, tmp_path / "elsewhere" / "sharp")
    with pytest.raises(WeightsError, match="overlay of pconv-w4-d3-s2, but .* holds pconv-other"):
        load_model(tmp_path / "elsewhere" / "sharp", device="cpu")
    # resumed, the discriminator and its optimiser go on from the checkpoint
    again = restorer_loop(tiny_cfg(photos, tmp_path / "ft", **{**cfg, "steps": 4}))
    assert again.progress.step == 3
    assert all(torch.equal(v, tr.task.disc.state_dict()[k]) for k, v in again.task.disc.state_dict().items())
    assert again.task.disc_opt.state_dict()["state"]
    with pytest.raises(ValueError, match="no parameters under decoder.9"):
        restorer_loop(tiny_cfg(photos, tmp_path / "bad", train_layers=["decoder.9"]))


def assert_starts_as(tr: TrainingLoop, model) -> None:
    """The trainer's model, with its new parts at their initialisation, computes what ``model``
    (the one it continues) computes."""
    x = torch.rand(2, 3, 32, 32)
    m = (torch.rand(2, 1, 32, 32) > 0.3).float()
    with torch.no_grad():
        torch.testing.assert_close(tr.model.eval()(x, m), model(x, m), rtol=0, atol=1e-6)
    tr.model.train()


def test_the_smooth_prior_joins_a_trained_head_within_a_stage(photos, tmp_path):
    out = tmp_path / "run"
    restorer_loop(tiny_cfg(photos, out, steps=2, refine_channels=4)).fit()
    headed = load_model(out / "model", device="cpu")
    tr = restorer_loop(tiny_cfg(photos, out, steps=4, prior="smooth", refine_lr=1e-3))
    assert tr.progress.step == 2 and tr.model.config.prior == "smooth" and tr.task.segment_start == 2
    assert not tr.opt.state  # a fresh optimiser: the old one has no state for the prior's weights
    assert_starts_as(tr, headed)
    tr.fit()
    model = load_model(out / "model", device="cpu")
    assert model.config.prior == "smooth" and float(model.refine.prior.weight.abs().sum()) > 0  # it trained
    assert [(s["stage"], s["steps"], s.get("prior", "none")) for s in model.metadata["stages"]] == [
        (1, 2, "none"),
        (1, 2, "smooth"),
    ]
    from inpaint.eval.card import write_card

    card = write_card(out / "model", None, [], "train ...").read_text()
    record = json.loads((out / "model" / "training_record.json").read_text())  # the card's stage rows
    assert [(p["phase"], p["stage"], p["refine_channels"], p.get("prior")) for p in record["phases"]] == [
        (1, 1, 4, None),
        (2, 1, 4, "smooth"),
    ]
    assert record["phases"][1]["refine_lr"] == 1e-3 and "in 2 stage segment(s)" in card
    assert "reads a smooth fill of the hole" in card
    # resumed without the flag the run keeps its prior; weights with a prior fit no model without one
    assert restorer_loop(tiny_cfg(photos, out, steps=5)).model.config.prior == "smooth"
    with pytest.raises(ValueError, match="reads the smooth prior"):
        restorer_loop(tiny_cfg(photos, tmp_path / "other", init=str(out / "model"), refine_channels=4, prior="none"))


def test_a_gate_joins_a_smooth_prior_from_exported_weights_and_the_record_goes_on(photos, tmp_path, caplog):
    """The bundled weights ship without their checkpoint: a run started from the exported model
    (--init) with the gate added starts as that model, and its export carries the whole training
    record (steps, crops, time and the earlier stage rows) followed by its own segment."""
    first = tmp_path / "first"
    restorer_loop(tiny_cfg(photos, first, steps=2, refine_channels=4, prior="smooth")).fit()
    smooth = load_model(first / "model", device="cpu")
    out = tmp_path / "gated"
    tr = restorer_loop(
        tiny_cfg(
            photos, out, steps=3, init=str(first / "model"), refine_channels=4, prior="smooth_gated", refine_lr=1e-3
        )
    )
    assert (
        tr.progress.step == 0
        and tr.progress.total_steps == 2
        and tr.progress.images_seen == smooth.metadata["images_seen"]
    )
    assert tr.progress.seconds == pytest.approx(smooth.metadata["train_seconds"])
    assert_starts_as(tr, smooth)
    tr.fit()
    model = load_model(out / "model", device="cpu")
    assert model.config.prior == "smooth_gated" and float(model.refine.gate.weight.abs().sum()) > 0  # it trained
    assert model.metadata["steps"] == 5 and model.config.version.endswith("-s5")
    assert model.metadata["images_seen"] == smooth.metadata["images_seen"] + 3 * tr.task.cfg.batch_size
    assert [(s["stage"], s["steps"], s.get("prior")) for s in model.metadata["stages"]] == [
        (1, 2, "smooth"),
        (1, 3, "smooth_gated"),
    ]
    from inpaint.eval.card import write_card

    card = write_card(out / "model", None, [], "train ...").read_text()
    record = json.loads((out / "model" / "training_record.json").read_text())
    assert [(p["stage"], p["steps"], p.get("prior")) for p in record["phases"]] == [
        (1, 2, "smooth"),
        (1, 3, "smooth_gated"),
    ]
    assert "a per-pixel gate" in card
    # without flags a run from a model keeps that model's head and prior
    plain = restorer_loop(tiny_cfg(photos, tmp_path / "plain", init=str(first / "model"))).model.config
    assert (plain.refine_channels, plain.prior) == (4, "smooth")
    # resumed from its own checkpoint the record is the checkpoint's, not counted twice, and the
    # --init model is not loaded at all
    with caplog.at_level("INFO", logger="inpaint.train.restorer"):
        assert restorer_loop(tiny_cfg(photos, out, steps=4, init=str(first / "model"))).progress.total_steps == 5
    assert "resuming from it, not from --init" in caplog.text and "added" not in caplog.text
    # a gated head's weights do not go back into a plain smooth prior
    with pytest.raises(ValueError, match="reads the smooth_gated prior"):
        restorer_loop(tiny_cfg(photos, tmp_path / "back", init=str(out / "model"), refine_channels=4, prior="smooth"))


def test_a_run_goes_on_at_larger_crops_and_its_working_size_follows(photos, tmp_path):
    out = tmp_path / "run"
    restorer_loop(tiny_cfg(photos, out)).fit()
    assert load_model(out / "model", device="cpu").config.working_size == 32
    tr = restorer_loop(tiny_cfg(photos, out, crop=48, steps=5))
    assert tr.progress.step == 3 and tr.model.config.working_size == 48  # resumed mid-stage, at the new crop
    tr.fit()
    model = load_model(out / "model", device="cpu")
    assert model.config.working_size == 48 and model.metadata["steps"] == 5
    # the card's stage table shows both parts of stage 1, and the next stage starts a row of its own
    assert [(s["stage"], s["steps"], s["crop"]) for s in model.metadata["stages"]] == [(1, 3, 32), (1, 2, 48)]
    restorer_loop(tiny_cfg(photos, out, crop=48, steps=6)).fit()  # same options: the same segment goes on
    restorer_loop(tiny_cfg(photos, out, crop=48, stage=2, steps=1, lr=1e-5)).fit()
    stages = load_model(out / "model", device="cpu").metadata["stages"]
    assert [(s["stage"], s["steps"], s["crop"], s["lr"]) for s in stages] == [
        (1, 3, 32, 2e-4),
        (1, 3, 48, 2e-4),
        (2, 1, 48, 1e-5),
    ]
    from inpaint.eval.card import write_card

    card = write_card(out / "model", None, [], "train ...").read_text()
    assert "training crops of 32 and 48 px" in card
    record = json.loads((out / "model" / "training_record.json").read_text())  # one row per stage segment
    assert [(p["stage"], p["steps"], p["lr"]) for p in record["phases"]] == [(1, 3, 2e-4), (1, 3, 2e-4), (2, 1, 1e-5)]
    with pytest.raises(ValueError, match="another model config"):  # the architecture still has to match
        restorer_loop(tiny_cfg(photos, out, width=8, steps=6))


def test_pixel_only_training_takes_other_loss_weights(photos, tmp_path):
    """features none with a weight given ({"valid": 0.1}): the feature terms are off, the weight is
    used; asking for a feature term without features is an error."""
    tr = restorer_loop(tiny_cfg(photos, tmp_path / "run", loss_weights={"valid": 0.1}))
    w = tr.task.criterion.w
    assert (w.valid, w.hole, w.perceptual, w.style) == (0.1, 6.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="feature extractor"):
        restorer_loop(tiny_cfg(photos, tmp_path / "run2", loss_weights={"style": 6.0}))


def test_card_command_writes_the_restorer_card_from_its_run_and_evaluation(photos, tmp_path):
    folder = restorer_loop(tiny_cfg(photos, tmp_path / "run")).fit()
    ev = tmp_path / "ev"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "inpaint",
            "evaluate",
            "--images",
            str(photos),
            "--out",
            str(ev),
            "--weights",
            str(folder),
            "--methods",
            "pconv,telea",
            "--sizes",
            "32",
            "--masks-per-bin",
            "1",
            "--limit",
            "2",
            "--threads",
            "1",
            "--no-perceptual",
            "--no-severity-table",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "inpaint",
            "card",
            "--model",
            str(folder),
            "--eval",
            str(ev),
            "--train-command",
            "scripts/train_bundled.sh run",
            "--note",
            "a test run",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    card = (folder / "README.md").read_text()
    version = load_model(folder, device="cpu").config.version
    assert f"(`{version}`)" in card and "3 optimiser steps" in card and "12 training crops of 32 px" in card
    assert "`scripts/train_bundled.sh run`" in card and "- a test run" in card
    # one results table: each method's mean PSNR over the run's samples (as results.md's "all" row has it)
    table_row = next(line for line in (ev / "results.md").read_text().splitlines() if line.startswith("| all |"))
    psnr_row = next(line for line in card.splitlines() if line.startswith("| 32 | PSNR (dB) |"))
    assert psnr_row.split(" | ")[2:] == table_row.split(" | ")[3:] and "## Results" in card
    assert card.startswith("---\nlicense: other\n") and (folder / "training_record.json").is_file()


@pytest.mark.timeout(600)
def test_distributed_training_with_gloo_on_two_processes(photos, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "inpaint",
        "train",
        "--data",
        f"folder:{photos}",
        "--out",
        str(out),
        "--width",
        "4",
        "--depth",
        "3",
        "--crop",
        "32",
        "--batch-size",
        "4",
        "--steps",
        "2",
        "--features",
        "none",
        "--workers",
        "0",
        "--val-every",
        "0",
    ]
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=540)
    assert proc.returncode == 0, proc.stderr[-2000:]
    model = load_model(out / "model", device="cpu")
    assert model.metadata["steps"] == 2 and model.metadata["images_seen"] == 8


_RUN_WITH_WORKER = """
import sys
import inpaint.train.restorer as T
from inpaint.train.loop import TrainingLoop
fail_after = int(sys.argv[3])
calls = {"n": 0}
real = T._training_masks
def masks(h, w, rng):  # runs in the data worker
    calls["n"] += 1
    if fail_after and calls["n"] > fail_after:
        raise RuntimeError("mask generator failed")
    return real(h, w, rng)
T._training_masks = masks
cfg = T.TrainConfig(data="folder:" + sys.argv[1], out=sys.argv[2], width=4, depth=3, crop=32, batch_size=2,
                    steps=100000, features="none", workers=1, val_every=0, checkpoint_minutes=60)
print("exported", TrainingLoop(T.RestorerTask(cfg)).fit(), flush=True)
"""


def _run_with_worker(photos, out, fail_after):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", _RUN_WITH_WORKER, str(photos), str(out), str(fail_after)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_an_error_in_a_data_worker_ends_the_run(photos, tmp_path):
    """A worker's exception must end the process with an error. (A worker that ignores SIGTERM,
    which is how multiprocessing ends workers at exit, would leave the failed run hanging.)"""
    proc = _run_with_worker(photos, tmp_path / "run", fail_after=6)
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
    assert proc.returncode not in (0, None) and "mask generator failed" in err


def test_sigterm_to_the_process_group_stops_with_a_checkpoint(photos, tmp_path):
    """A scheduler's SIGTERM reaches the workers too: they end, and the trainer checkpoints and
    exports as for any requested stop."""
    import signal

    proc = _run_with_worker(photos, tmp_path / "run", fail_after=0)
    try:
        seen = ""
        while "it/s" not in seen and proc.poll() is None:  # tqdm's rate appears once steps are running
            seen += proc.stderr.read(1)
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
    assert proc.returncode == 0 and "exported" in out
    model = load_model(tmp_path / "run" / "model", device="cpu")
    assert model.metadata["steps"] >= 1


def test_checkpoint_if_due_checkpoints_and_exports_only_when_due():
    import time

    from inpaint.train.loop import checkpoint_if_due

    calls = []

    class Run:
        def save_checkpoint(self):
            calls.append("checkpoint")

        def export(self):
            calls.append("export")

    recent = time.monotonic()
    assert checkpoint_if_due(Run(), recent, minutes=5) == recent and calls == []
    old = time.monotonic() - 301
    assert checkpoint_if_due(Run(), old, minutes=5) > old and calls == ["checkpoint", "export"]


def run_bundled_recipe(run, args: list[str], env: dict[str, str]):
    """scripts/train_bundled.sh RUN ARGS... -> the exported model and its stage rows
    (stage, crop, batch, lr, head channels, head lr, prior)."""
    r = subprocess.run(
        ["bash", "scripts/train_bundled.sh", str(run), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    model = load_model(run / "model", device="cpu")
    rows = [
        (s["stage"], s["crop"], s["batch_size"], s["lr"], s["refine_channels"], s.get("refine_lr"), s.get("prior"))
        for s in model.metadata["stages"]
    ]
    assert sum(s["steps"] for s in model.metadata["stages"]) == model.metadata["steps"]
    return model, rows


def test_the_bundled_recipe_runs_its_phases_and_the_card_table_shows_each(photos, tmp_path):
    """scripts/train_bundled.sh (recipes/restorer.toml) with a few seconds per phase: stage 1, stage 2 (the
    head added), stage 2
    at 256 px crops, the anneal, the smooth prior joining the head, its anneal; each phase resumes
    the last and is a row of the stage table. Then, from that run's export, the gate and its anneal."""
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "TRAIN_PHOTOS": str(photos),
        "VAL_PHOTOS": str(photos),
        "OMP_NUM_THREADS": "1",
    }
    model, rows = run_bundled_recipe(tmp_path / "run", ["--set", "max_minutes=0.01"], env)
    assert rows == [
        (1, 128, 16, 2e-4, 0, None, None),
        (2, 128, 16, 5e-5, 16, 1e-3, None),
        (2, 256, 8, 5e-5, 16, 1e-3, None),
        (2, 256, 8, 1e-5, 16, 2e-4, None),
        (2, 256, 8, 3e-5, 16, 1e-3, "smooth"),
        (2, 256, 8, 1e-5, 16, 2e-4, "smooth"),
    ]
    assert model.config.prior == "smooth"
    assert all(s["steps"] >= 1 for s in model.metadata["stages"]) and model.config.working_size == 256

    # going on from the exported model (as the bundled weights were: their checkpoint is not
    # shipped), the gate joining the smooth prior, then its anneal: the record carries on
    gated, more = run_bundled_recipe(
        tmp_path / "more",
        [
            "--set",
            f"init={tmp_path / 'run' / 'model'}",
            "--set",
            "prior.prior=smooth_gated",
            "--set",
            "max_minutes=0.01",
            "--phase",
            "prior",
            "--phase",
            "prior_anneal",
        ],
        env,
    )
    assert more == rows + [(2, 256, 8, 3e-5, 16, 1e-3, "smooth_gated"), (2, 256, 8, 1e-5, 16, 2e-4, "smooth_gated")]
    assert gated.config.prior == "smooth_gated" and gated.metadata["steps"] > model.metadata["steps"]


# ----------------------------------------------------------------------------- the shared loop


@dataclasses.dataclass
class ToyConfig:
    out: str
    steps: int = 6
    batch_size: int = 4
    workers: int = 0
    seed: int = 0
    amp: str = "off"
    checkpoint_minutes: float = 60.0
    val_every: int = 0
    max_minutes: float | None = None
    ema_decay: float | None = None
    stop_at: int | None = None  # the toy's loss sends SIGINT to its own process at this call


class SameSample(torch.utils.data.Dataset):
    """The same (x, y) at every index: the batches do not depend on the order the loader draws in."""

    def __len__(self) -> int:
        return 16

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.tensor([1.0, -2.0, 0.5]), torch.tensor([3.0])


class ToyTask(Task):
    """A linear regression: the smallest task, to watch the loop itself."""

    def __init__(self, cfg: ToyConfig) -> None:
        super().__init__(cfg)
        self.calls, self.validations, self.autocast = 0, [], []

    def dataset(self):
        return SameSample()

    def build(self, checkpoint):
        return torch.nn.Linear(3, 1).to(self.device)

    def group_lr(self, name):
        return 0.05

    def start(self, model, checkpoint):
        if checkpoint is None:
            return Start(Progress())
        model.load_state_dict(checkpoint["model"])
        progress = Progress(
            step=checkpoint["step"], seconds=checkpoint["seconds"], images_seen=checkpoint["images_seen"]
        )
        return Start(progress, checkpoint["optimizer"], checkpoint["rng"])

    def forward(self, model, batch):
        self.autocast.append(torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None)
        return model(batch[0])

    def loss(self, output, batch):
        self.calls += 1
        if self.calls == self.cfg.stop_at:
            os.kill(os.getpid(), signal.SIGINT)
        mse = ((output.float() - batch[1]) ** 2).mean()
        return mse, {"mse": float(mse.detach())}

    def prepare_validation(self, progress):
        self.prepared_at = progress.step

    def validate(self, model, progress):
        self.validations.append((progress.step, model.training, torch.is_grad_enabled()))
        return {"val_step": progress.step}

    def checkpoint_entries(self, model, progress):
        return {"toy": True}

    def export(self, model, folder, progress, provenance):
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), folder / "weights.pt")
        (folder / "meta.json").write_text(json.dumps({"steps": progress.step, **provenance}))
        return folder


def toy_loop(out, **kw) -> TrainingLoop:
    return TrainingLoop(ToyTask(ToyConfig(out=str(out), **kw)))


def test_a_task_implements_every_abstract_method_or_cannot_be_made(tmp_path):
    class Partial(Task):
        def dataset(self):
            return SameSample()

    with pytest.raises(TypeError, match="abstract"):
        Partial(ToyConfig(out=str(tmp_path)))
    assert set(Task.__abstractmethods__) == {
        "dataset",
        "build",
        "group_lr",
        "start",
        "forward",
        "loss",
        "prepare_validation",
        "validate",
        "checkpoint_entries",
        "export",
    }
    assert all(name in vars(RestorerTask) and name in vars(DetectorTask) for name in Task.__abstractmethods__)
    settings = ToyTask(ToyConfig(out=str(tmp_path), steps=9)).settings  # the loop's fields of the task's config
    assert (settings.steps, settings.batch_size, settings.resume, settings.recipe) == (9, 4, True, None)


def test_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    """Three steps, a checkpoint, three more in a new loop: the weights, Adam's moments and the
    weight average are those of six steps in one go, bit for bit."""
    straight = toy_loop(tmp_path / "straight", steps=6, ema_decay=0.8)
    straight.fit()
    toy_loop(tmp_path / "resumed", steps=3, ema_decay=0.8).fit()
    resumed = toy_loop(tmp_path / "resumed", steps=6, ema_decay=0.8)
    assert resumed.progress.step == 3 and resumed.ema.n_averaged.item() == 3
    resumed.fit()
    a, b = (torch.load(tmp_path / run / "checkpoint.pt", weights_only=True) for run in ("straight", "resumed"))
    for key in ("model", "ema"):
        assert a[key].keys() == b[key].keys() and all(torch.equal(a[key][k], b[key][k]) for k in a[key])
    moments_a, moments_b = a["optimizer"]["state"], b["optimizer"]["state"]
    assert all(torch.equal(moments_a[i][k], moments_b[i][k]) for i in moments_a for k in moments_a[i])
    assert (b["step"], b["images_seen"], b["toy"]) == (6, 24, True)
    exported = [
        torch.load(tmp_path / run / "model" / "weights.pt", weights_only=True) for run in ("straight", "resumed")
    ]
    assert all(torch.equal(exported[0][k], exported[1][k]) for k in exported[0])
    assert not torch.equal(exported[1]["weight"], b["model"]["weight"])  # the export is the average


def test_a_stop_signal_checkpoints_and_exports_and_the_run_goes_on_from_there(tmp_path):
    handler = signal.getsignal(signal.SIGINT)
    loop = toy_loop(tmp_path / "run", steps=1000, stop_at=3)
    folder = loop.fit()
    assert loop.stop_reason == "signal" and signal.getsignal(signal.SIGINT) is handler
    ck = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 3 and ck["toy"] is True and json.loads((folder / "meta.json").read_text())["steps"] == 3
    again = toy_loop(tmp_path / "run", steps=5)
    assert again.progress.step == 3
    again.fit()
    assert again.stop_reason == "steps" and again.progress.step == 5


def test_validation_every_n_steps_in_eval_mode_and_a_time_budget(tmp_path):
    loop = toy_loop(tmp_path / "run", steps=5, val_every=2)
    loop.fit()
    assert loop.task.prepared_at == 0 and loop.model.training
    assert loop.task.validations == [(2, False, False), (4, False, False), (5, False, False)]  # and at the end
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [(r["step"], "val_step" in r, "loss_total" in r) for r in log] == [
        (2, True, False),
        (4, True, False),
        (5, False, True),
        (5, True, False),
    ]
    timed = toy_loop(tmp_path / "timed", steps=10**9, max_minutes=0.002)
    timed.fit()
    assert timed.stop_reason == "time" and 0 < timed.progress.step < 10**9 and timed.minutes > 0.002


def test_amp_runs_the_forward_pass_under_bf16_autocast(tmp_path):
    half = toy_loop(tmp_path / "half", steps=2, amp="bf16")
    half.fit()
    full = toy_loop(tmp_path / "full", steps=2, amp="off")
    full.fit()
    assert half.task.autocast == [torch.bfloat16] * 2 and full.task.autocast == [None] * 2
    assert all(v.dtype == torch.float32 for v in half.model.state_dict().values())


def test_a_checkpoint_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_atomic({"step": 1}, path)

    def full_disk(obj, f):
        Path(f).write_bytes(b"half a checkpoint")
        raise OSError("no space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError):
        save_atomic({"step": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"step": 1}


# ----------------------------------------------------------------------------- recipes


# What scripts/train_bundled.sh and scripts/train_detector.sh passed to each invocation, with their
# defaults (all phases given minutes; P = TRAIN_PHOTOS, V = VAL_PHOTOS): the recipes must say the same.
RESTORER_FLAGS = (
    "--data folder:P --out RUN --model compact --width 32 --depth 7 --crop 128 --scale 0.1 1.0 "
    "--batch-size 16 --workers 1 --checkpoint-minutes 4 --val-every 250 --val-data V "
    "--decoder-renorm per_group --steps 1000000"
)
RESTORER_LARGE = (
    '--crop 256 --scale 0.2 1.0 --batch-size 8 --stage 2 --features none --loss-weights \'{"valid": 0.1, "ssim": 2.0}\''
)
RESTORER_PHASES = {
    "stage1": "--stage 1 --features none --max-minutes 90",
    "stage2": '--stage 2 --features none --loss-weights \'{"valid": 0.1, "ssim": 2.0}\' --refine-channels 16 '
    "--refine-kernel 5 --refine-lr 1e-3 --max-minutes 20",
    "large_crops": RESTORER_LARGE + " --refine-lr 1e-3 --max-minutes 0",
    "anneal": RESTORER_LARGE + " --lr 1e-5 --refine-lr 2e-4 --max-minutes 0",
    "prior": RESTORER_LARGE + " --prior smooth --lr 3e-5 --refine-lr 1e-3 --max-minutes 0",
    "prior_anneal": RESTORER_LARGE + " --lr 1e-5 --refine-lr 2e-4 --max-minutes 0",
}
DETECTOR_FLAGS = (
    "--data folder:P --val-data P --out RUN --width 12 --depth 5 --crop 256 --scale 0.15 1.0 "
    "--batch-size 8 --workers 1 --checkpoint-minutes 4 --val-every 250 --val-images 48 --steps 1000000 "
    "--amp auto"
)
DETECTOR_THIN = "--thin-weight 4 --single-kind-fraction 0.3"
DETECTOR_PHASES = {
    "start": "--lr 1e-3 --max-minutes 50",
    "lower_lr": "--lr 2e-4 --max-minutes 23",
    "low_lr": "--lr 1e-4 --max-minutes 4",
    "thin": DETECTOR_THIN + " --lr 2e-4 --max-minutes 60",
    "thin_anneal": DETECTOR_THIN + " --lr 5e-5 --max-minutes 45",
    "lines": DETECTOR_THIN + " --line-sizes 3 7 --lr 1e-4 --ema-decay 0.999 --max-minutes 0",
    "lines_anneal": DETECTOR_THIN + " --line-sizes 3 7 --lr 3e-5 --ema-decay 0.998 --max-minutes 0",
}


def effective(cfg) -> dict:
    """A config's fields as training uses them (the stage's lr when none is given, the loss weights
    in full, sequences as lists)."""
    d = dataclasses.asdict(cfg)
    d.pop("recipe")
    if isinstance(cfg, TrainConfig):
        d["lr"] = RestorerTask(cfg).lr
        d["loss_weights"] = dataclasses.asdict(LossWeights(**cfg.loss_weights))
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


@pytest.mark.parametrize("task", ["restorer", "detector"])
def test_the_bundled_recipes_say_what_the_training_scripts_did(task):
    import argparse
    import shlex

    from inpaint.train import detector, restorer
    from inpaint.train.recipe import load_recipe

    module, config_type = (restorer, TrainConfig) if task == "restorer" else (detector, DetectTrainConfig)
    common, phases = (RESTORER_FLAGS, RESTORER_PHASES) if task == "restorer" else (DETECTOR_FLAGS, DETECTOR_PHASES)
    recipe = load_recipe(
        ROOT / "recipes" / f"{task}.toml", task, config_type, environ={"TRAIN_PHOTOS": "P", "VAL_PHOTOS": "V"}
    )
    assert [p.name for p in recipe.phases] == list(phases)
    assert recipe.threads == (1 if task == "detector" else None)  # the detector's script set OMP_NUM_THREADS=1
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    names = {f.name for f in dataclasses.fields(config_type)}
    for phase in recipe.phases:
        args = vars(parser.parse_args(shlex.split(common + " " + phases[phase.name])))
        expected = config_type(**{k: v for k, v in args.items() if k in names})
        assert effective(config_type(**phase.options, out="RUN")) == effective(expected), phase.name


def write_tiny_recipe(path: Path, photos: Path, task: str = "restorer") -> Path:
    tiny = "width = 4\ndepth = 3\ncrop = 32\nbatch_size = 4\nworkers = 0\nval_every = 0\ncheckpoint_minutes = 60\n"
    if task == "restorer":
        tiny += 'features = "none"\n'
    path.write_text(
        f'task = "{task}"\n[paths]\nPHOTOS = "{photos}"\n[defaults]\ndata = "folder:${{PHOTOS}}"\n{tiny}'
        '[[phase]]\nname = "one"\nsteps = 2\n'
        f'[[phase]]\nname = "two"\n{"stage = 2" if task == "restorer" else "lr = 1e-4"}\nsteps = 3\n'
        '[[phase]]\nname = "later"\nmax_minutes = 0\n'
    )
    return path


def test_recipe_overrides_paths_and_mistakes(photos, tmp_path):
    from inpaint.train.recipe import load_recipe

    path = write_tiny_recipe(tmp_path / "tiny.toml", Path("~/photos"))
    sets = ["crop=48", "two.lr=2e-4", "loss_weights={ valid = 0.1 }", "init=weights", "threads=2"]
    recipe = load_recipe(path, "restorer", TrainConfig, [*sets, "paths.PHOTOS=/given"], environ={"PHOTOS": "/env"})
    one, two, _ = recipe.phases
    assert (one.options["data"], one.options["crop"], one.options["loss_weights"], one.options["init"]) == (
        "folder:/given",
        48,
        {"valid": 0.1},
        "weights",
    )
    assert (two.options["lr"], two.options["stage"], "lr" in one.options, recipe.threads) == (2e-4, 2, False, 2)
    assert recipe.provenance(two) == {
        "path": str(path.resolve()),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "phase": "two",
        "overrides": [*sets, "paths.PHOTOS=/given"],
    }
    assert (
        load_recipe(path, "restorer", TrainConfig, environ={"PHOTOS": "/env"}).phases[0].options["data"]
        == "folder:/env"
    )
    assert load_recipe(path, "restorer", TrainConfig, environ={}).phases[0].options["data"] == (
        "folder:" + os.path.expanduser("~/photos")
    )
    for sets, message in [
        (["crops=48"], "unknown option crops"),
        (["crop=big"], "crop = 'big' is not"),
        (["three.lr=1"], "no phase three"),
        (["lr"], "NAME=VALUE"),
        (["out=x"], "unknown option out"),
    ]:
        with pytest.raises(ValueError, match=message):
            load_recipe(path, "restorer", TrainConfig, sets, environ={})
    with pytest.raises(ValueError, match="recipe for 'restorer', not 'detector': use train$"):
        load_recipe(path, "detector", DetectTrainConfig, environ={})
    path.write_text(path.read_text().replace("${PHOTOS}", "${NOWHERE}"))
    with pytest.raises(ValueError, match="NOWHERE"):
        load_recipe(path, "restorer", TrainConfig, environ={})


def test_a_recipe_runs_each_phase_once_and_its_models_cite_it_and_the_commit(photos, tmp_path, capsys):
    from inpaint.cli import main as cli
    from inpaint.nn.damagenet import load_detector

    commit = (
        subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip() or None
    )
    recipe, out = write_tiny_recipe(tmp_path / "tiny.toml", photos), tmp_path / "run"
    sha = hashlib.sha256(recipe.read_bytes()).hexdigest()
    assert cli(["train", "--recipe", str(recipe), "--out", str(out)]) == 0
    model = load_model(out / "model", device="cpu")
    assert model.metadata["recipe"] == {"path": str(recipe.resolve()), "sha256": sha, "phase": "two", "overrides": []}
    assert model.metadata["commit"] == commit
    assert [(s["stage"], s["steps"]) for s in model.metadata["stages"]] == [(1, 2), (2, 3)]
    state = json.loads((out / "recipe.json").read_text())
    assert state["recipe"]["sha256"] == sha and {k: v["status"] for k, v in state["phases"].items()} == {
        "one": "done",
        "two": "done",
    }
    # the same command again: both phases are done, nothing trains
    written = (out / "checkpoint.pt").stat().st_mtime_ns
    assert cli(["train", "--recipe", str(recipe), "--out", str(out)]) == 0
    assert (out / "checkpoint.pt").stat().st_mtime_ns == written
    # --phase runs a phase again, --set changes its options
    assert cli(["train", "--recipe", str(recipe), "--out", str(out), "--phase", "two", "--set", "two.steps=4"]) == 0
    model = load_model(out / "model", device="cpu")
    assert model.metadata["steps"] == 6 and model.metadata["recipe"]["overrides"] == ["two.steps=4"]
    capsys.readouterr()
    for argv, message in [
        (["--lr", "1e-3"], "instead of --lr use --set"),
        (["--phase", "later"], "later.max_minutes=M"),
        (["--phase", "three"], "has phases one, two, later"),
    ]:
        assert cli(["train", "--recipe", str(recipe), "--out", str(out), *argv]) == 2
        assert message in capsys.readouterr().err
    assert cli(["train", "--data", f"folder:{photos}", "--out", str(out), "--set", "crop=8"]) == 2
    assert "--set go with --recipe" in capsys.readouterr().err
    # the detector's command runs detector recipes, and its export cites them the same way
    detector_recipe = write_tiny_recipe(tmp_path / "detector.toml", photos, task="detector")
    assert cli(["train-detector", "--recipe", str(recipe), "--out", str(tmp_path / "det")]) == 2
    assert cli(["train-detector", "--recipe", str(detector_recipe), "--out", str(tmp_path / "det")]) == 0
    detector = load_detector(tmp_path / "det" / "model", device="cpu")
    assert detector.metadata["recipe"]["phase"] == "two" and detector.metadata["commit"] == commit
    assert [(p["steps"], p["lr"]) for p in detector.metadata["phases"]] == [(2, 1e-3), (1, 1e-4)]


def test_a_stopped_phase_goes_on_for_the_rest_of_its_minutes(tmp_path):
    from inpaint.train.recipe import load_recipe, run_recipe

    path = tmp_path / "r.toml"
    path.write_text(
        'task = "restorer"\n[defaults]\ndata = "folder:x"\n'
        '[[phase]]\nname = "a"\nmax_minutes = 10\n[[phase]]\nname = "b"\nmax_minutes = 5\n'
    )
    recipe = load_recipe(path, "restorer", TrainConfig, environ={})
    runs, endings = [], [("signal", 4.0), ("time", 6.0), ("time", 5.0)]

    class Loop:
        rank, progress = 0, Progress(step=1)

        def __init__(self, options):
            runs.append((options["recipe"]["phase"], options["max_minutes"]))
            self.stop_reason, self.minutes = endings.pop(0)

        def fit(self):
            return None

    out = tmp_path / "run"
    out.mkdir()
    run_recipe(recipe, out, Loop)  # a stops on a signal after 4 of its 10 minutes: b waits
    assert runs == [("a", 10)]
    run_recipe(recipe, out, Loop)
    assert runs == [("a", 10), ("a", 6), ("b", 5)]
    run_recipe(recipe, out, Loop)  # all done
    assert len(runs) == 3 and json.loads((out / "recipe.json").read_text())["phases"]["a"] == {
        "status": "done",
        "minutes": 10.0,
        "step": 1,
    }


def test_the_training_scripts_refuse_the_knobs_they_no_longer_read(tmp_path):
    for script, knob in [("train_bundled.sh", "PRIOR"), ("train_detector.sh", "M6")]:
        r = subprocess.run(
            ["bash", f"scripts/{script}", str(tmp_path / "run")],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, knob: "1"},
            timeout=60,
        )
        assert r.returncode == 2 and f"{knob}: set recipe options with --set" in r.stderr


def test_the_physical_detector_recipe_loads_and_each_phase_is_a_valid_run():
    """recipes/detector-physical.toml (the cross table's detectors): every phase's options are
    fields of the detector's config, and each phase draws from the generator its name says."""
    from inpaint.train.recipe import load_recipe

    recipe = load_recipe(
        ROOT / "recipes" / "detector-physical.toml", "detector", DetectTrainConfig, environ={"TRAIN_PHOTOS": "P"}
    )
    assert [p.name for p in recipe.phases] == ["physical", "physical_anneal", "strokes", "unprinted"]
    configs = {p.name: DetectTrainConfig(**p.options, out="RUN") for p in recipe.phases}
    assert {n: c.generator for n, c in configs.items()} == {
        "physical": "physical",
        "physical_anneal": "physical",
        "unprinted": "physical",
        "strokes": "strokes",
    }
    assert configs["physical"].content_fraction == 0.5 and configs["unprinted"].unprinted_fraction == 0.5
    assert all(c.data == "folder:P" and c.val_data == "P" and c.width == 16 for c in configs.values())


def test_the_sharp_restorer_recipe_fine_tunes_the_high_resolution_layers_adversarially():
    """recipes/restorer-sharp.toml: a valid restorer run that trains only the layers its overlay
    ships, with the adversarial term on, validated on the validation photos."""
    from inpaint.train.recipe import load_recipe

    recipe = load_recipe(
        ROOT / "recipes" / "restorer-sharp.toml",
        "restorer",
        TrainConfig,
        environ={"TRAIN_PHOTOS": "P", "VAL_PHOTOS": "V"},
    )
    assert [p.name for p in recipe.phases] == ["adversarial"]
    cfg = TrainConfig(**recipe.phases[0].options, out="RUN")
    assert cfg.stage == 2 and cfg.data == "folder:P" and cfg.val_data == "V"
    assert LossWeights(**cfg.loss_weights).adversarial > 0 and cfg.features == "mobilenet_v2"
    assert cfg.train_layers == ["decoder.4", "decoder.5", "decoder.6", "refine"]
    net = load_model(ROOT / "weights", device="cpu")
    assert net.config.depth == cfg.depth and net.config.width == cfg.width
    net.train_only(cfg.train_layers)  # every prefix names layers of the bundled model
    shipped = sum(
        v.numel() * v.element_size() for k, v in net.state_dict().items() if k.startswith(tuple(cfg.train_layers))
    )
    assert shipped < 1_000_000  # the overlay fits beside the bundled weights


def test_the_faces_recipe_arms_differ_only_in_their_photos(tmp_path):
    """recipes/restorer-faces.toml: three arms with one set of options and one number of steps;
    scenes, people and both as data specs, which CelebA and Places2 replace through the paths; the
    mixed arm draws half of its crops from each source."""
    from inpaint.train.data import MixedDataset, build_dataset, parse_data_spec
    from inpaint.train.recipe import load_recipe

    path = ROOT / "recipes" / "restorer-faces.toml"
    recipe = load_recipe(path, "restorer", TrainConfig, environ={})
    arms = {p.name: p.options for p in recipe.phases}
    assert list(arms) == ["scenes", "people", "mixed"]
    assert all(
        {k: v for k, v in o.items() if k != "data"} == {k: v for k, v in arms["scenes"].items() if k != "data"}
        for o in arms.values()
    )
    cfg = TrainConfig(**arms["mixed"], out="RUN")
    assert cfg.stage == 2 and cfg.steps == 1000 and cfg.val_data.endswith("inpaint-photos/eval")
    home = str(Path.home())
    assert parse_data_spec(arms["scenes"]["data"]) == [("folder", f"{home}/.cache/inpaint-photos/train", 1.0)]
    assert parse_data_spec(arms["people"]["data"]) == [("folder", f"{home}/.cache/inpaint-photos/people", 1.0)]
    assert [k for k, _, _ in parse_data_spec(arms["mixed"]["data"])] == ["folder", "folder"]
    public = load_recipe(
        path, "restorer", TrainConfig, ["paths.SCENES=places2:/d/places", "paths.PEOPLE=celeba:/d/celeba"], environ={}
    )
    assert parse_data_spec(public.phases[2].options["data"]) == [
        ("places2", "/d/places", 1.0),
        ("celeba", "/d/celeba", 1.0),
    ]
    for name, colour in (("scenes", (10, 200, 30)), ("people", (200, 20, 90))):
        (tmp_path / name).mkdir()
        Image.fromarray(np.full((40, 40, 3), colour, np.uint8)).save(tmp_path / name / "a.png")
    mixed = build_dataset(f"folder:{tmp_path / 'scenes'},folder:{tmp_path / 'people'}", crop=8, length=2000)
    assert isinstance(mixed, MixedDataset) and mixed.probabilities.tolist() == [0.5, 0.5]
    drawn = [mixed.locate(i)[0] for i in range(2000)]
    assert 900 < drawn.count(1) < 1100  # half of the crops are of people
