"""The detector's training task (inpaint.train.detector) in the shared loop: data, loss weights,
checkpoints, resume, heads, widening, the moving average, the threshold pick."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from inpaint.nn.damagenet import DamageNet, DamageNetConfig, load_detector
from inpaint.train.detector import DamageDataset, DetectTrainConfig, detection_loss, pick_threshold, thin_damage
from inpaint.train.machine import machine_summary
from inpaint.train.surgery import widen_detector
from tests.inpaint.detect_helpers import _cli, detector_loop, smooth_photo, tiny_net


def test_widening_keeps_the_detector_s_function_and_lets_the_copies_grow_apart():
    torch.manual_seed(5)
    net = DamageNet(DamageNetConfig(width=4, depth=3, line_sizes=(3, 5)))
    for m in net.modules():  # trained-looking BatchNorm statistics and affine terms
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            torch.nn.init.normal_(m.weight)
            torch.nn.init.normal_(m.bias)
    torch.nn.init.normal_(net.line_skip.weight, std=0.5)
    net.eval()
    wide = widen_detector(net, 6, noise=0.0)
    assert wide.config.channels == [6, 12, 24] and wide.config.line_sizes == (3, 5)
    assert wide.encoder[1].conv.weight.shape == (12, 6, 3, 3) and wide.decoder[2].conv.weight.shape == (1, 6 + 3, 3, 3)
    x = torch.rand(2, 3, 32, 40)  # a multiple of 2**depth: no padding, the same function
    with torch.no_grad():
        narrow_out = net(x)
        torch.testing.assert_close(wide(x), narrow_out, atol=1e-5, rtol=1e-5)
        assert narrow_out.abs().max() > 0.5  # not a trivially small output
    # the first new channel of level 0 repeats an old one, so its incoming weights equal that one's
    rows = wide.encoder[0].conv.weight[4:]
    assert any(torch.equal(rows[0], net.encoder[0].conv.weight[k]) for k in range(4))
    noisy = widen_detector(net, 6, noise=0.01)
    assert not any(torch.equal(noisy.encoder[0].conv.weight[4], net.encoder[0].conv.weight[k]) for k in range(4))
    with torch.no_grad():
        diff = (noisy(x) - narrow_out).abs().max()
    assert 0 < diff < 0.1
    with pytest.raises(ValueError, match="only be widened"):
        widen_detector(net, 3)


def test_dataset_gives_images_and_binary_targets(photo_folder):
    from inpaint.train.data import build_dataset

    torch.manual_seed(0)
    ds = DamageDataset(build_dataset(f"folder:{photo_folder}", crop=48, length=6), clean_fraction=0.0)
    x, y = ds[0]
    assert x.shape == (3, 48, 48) and y.shape == (1, 48, 48)
    assert 0 <= x.min() and x.max() <= 1 and set(torch.unique(y).tolist()) <= {0.0, 1.0} and y.sum() > 0


def test_training_checkpoints_resumes_and_exports_a_loadable_detector(photo_folder, tmp_path):
    out = tmp_path / "run"
    cfg = DetectTrainConfig(
        data=f"folder:{photo_folder}",
        out=str(out),
        val_data=str(photo_folder),
        width=4,
        depth=3,
        max_width_mult=2,
        crop=48,
        batch_size=2,
        steps=2,
        workers=0,
        val_every=1,
        val_images=3,
        thin_weight=4.0,
        dark_weight=2.0,
        single_kind_fraction=0.5,
    )
    folder = detector_loop(cfg).fit()
    first = torch.load(out / "checkpoint.pt", weights_only=True)
    assert first["step"] == 2
    det = load_detector(folder, device="cpu")
    assert det.config.channels == [4, 8, 8]  # the widest level is width * max_width_mult
    assert [v.shape[0] for k, v in det.state_dict().items() if k.startswith("encoder.") and v.ndim == 4] == [4, 8, 8]
    with pytest.raises(ValueError, match="another detector config"):
        detector_loop(dataclasses.replace(cfg, max_width_mult=4))
    assert det.metadata["steps"] == 2 and 0 < det.config.threshold < 1 and det.config.version == "damage-w4-d3-s2"
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert any("val_best_f1" in r for r in log)
    last = [r for r in log if "val_clean_fpr" in r][-1]
    assert 0 <= last["val_clean_fpr"] <= 1 and det.config.threshold == last["val_best_threshold"]

    cfg.steps = 3
    trainer = detector_loop(cfg)
    assert trainer.progress.step == 2  # resumed
    trainer.fit()
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 3
    assert load_detector(out / "model", device="cpu").metadata["steps"] == 3


def test_a_resumed_run_adds_a_refinement_head_and_keeps_it(photo_folder, tmp_path):
    out = tmp_path / "run"
    cfg = DetectTrainConfig(
        data=f"folder:{photo_folder}",
        out=str(out),
        width=4,
        depth=3,
        crop=48,
        batch_size=2,
        steps=2,
        workers=0,
        val_every=0,
    )
    detector_loop(cfg).fit()
    before = load_detector(out / "model", device="cpu")
    headed = dataclasses.replace(cfg, steps=4, refine_channels=3, refine_lr=1e-2)
    trainer = detector_loop(headed)
    assert trainer.progress.step == 2 and trainer.model.config.refine_channels == 3
    assert {g["name"]: g["lr"] for g in trainer.opt.param_groups} == {"net": cfg.lr, "refine": 1e-2}
    x = torch.rand(1, 3, 40, 40)
    with torch.no_grad():  # the head starts as nothing: the resumed model is the one it continues
        # (not bit-equal: the loaded detector computes in channels-last order)
        torch.testing.assert_close(trainer.model.eval()(x), before(x), atol=1e-6, rtol=1e-6)
    trainer.fit()
    after = load_detector(out / "model", device="cpu")
    assert after.config.refine_channels == 3 and after.metadata["steps"] == 4
    assert float(after.refine.out.weight.abs().sum()) > 0  # it trained
    # resumed without the flag, the run keeps its head; another head does not fit
    assert detector_loop(dataclasses.replace(cfg, steps=5)).model.config.refine_channels == 3
    with pytest.raises(ValueError, match="refinement head of 3"):
        detector_loop(dataclasses.replace(cfg, steps=5, refine_channels=5))
    with pytest.raises(ValueError, match="does not fit"):
        detector_loop(dataclasses.replace(cfg, steps=5, refine_kernel=5))


def test_init_goes_on_from_an_exported_detector_and_continues_its_record(photo_folder, tmp_path):
    base = DetectTrainConfig(
        data=f"folder:{photo_folder}",
        out=str(tmp_path / "first"),
        width=4,
        depth=3,
        crop=48,
        batch_size=2,
        steps=2,
        workers=0,
        val_every=0,
        amp="off",
    )
    first = load_detector(detector_loop(base).fit(), device="cpu")
    assert [(p["steps"], p["crop"], p["batch_size"]) for p in first.metadata["phases"]] == [(2, 48, 2)]

    more = dataclasses.replace(
        base,
        out=str(tmp_path / "more"),
        init=str(tmp_path / "first" / "model"),
        crop=40,
        batch_size=3,
        steps=5,
        lr=3e-4,
        thin_weight=4.0,
    )
    trainer = detector_loop(more)
    assert (trainer.progress.step, trainer.progress.images_seen) == (2, 4)
    x = torch.rand(1, 3, 40, 40)
    with torch.no_grad():  # it starts as the exported model (which computes in channels-last order)
        torch.testing.assert_close(trainer.model.eval()(x), first(x), atol=1e-6, rtol=1e-6)
    after = load_detector(trainer.fit(), device="cpu")
    assert after.metadata["steps"] == 5 and after.metadata["images_seen"] == 4 + 3 * 3
    assert after.config.version == "damage-w4-d3-s5" and after.config.working_size == 40
    r = _cli(
        "card",
        "--model",
        str(tmp_path / "more" / "model"),
        "--train-command",
        "INIT=first scripts/train_detector.sh more",
    )
    assert r.returncode == 0, r.stderr
    card = (tmp_path / "more" / "model" / "README.md").read_text()
    assert "5 Adam steps (the last run at lr 0.0003), batch 3, 13 crops of 40 and 48 px" in card
    assert f"crops/s) on a {machine_summary()}\n" in card and "- 2 phase(s)" in card  # both phases ran here
    # every phase is in the training record beside the card, numbered, as the weights recorded it
    record = json.loads((tmp_path / "more" / "model" / "training_record.json").read_text())
    assert [
        (p["phase"], p["steps"], p["images_seen"], p["crop"], p["scale"], p["batch_size"], p["lr"], p["thin_weight"])
        for p in record["phases"]
    ] == [(1, 2, 4, 48, [0.15, 1.0], 2, 0.001, 0.0), (2, 3, 9, 40, [0.15, 1.0], 3, 0.0003, 4.0)]
    assert [
        {k: v for k, v in p.items() if k not in ("phase", "crops_per_second")} for p in record["phases"]
    ] == after.metadata["phases"]
    phases = after.metadata["phases"]
    assert [(p["steps"], p["images_seen"], p["crop"], p["batch_size"], p["lr"]) for p in phases] == [
        (2, 4, 48, 2, base.lr),
        (3, 9, 40, 3, 3e-4),
    ]
    assert phases[1]["thin_weight"] == 4.0 and after.metadata["train_seconds"] >= first.metadata["train_seconds"]
    # with a checkpoint in the run, --init is ignored: the run resumes
    assert detector_loop(dataclasses.replace(more, steps=6)).progress.step == 5
    # another architecture does not fit; a refinement head may be added, starting as nothing
    with pytest.raises(ValueError, match="another detector config"):
        detector_loop(dataclasses.replace(more, out=str(tmp_path / "deep"), depth=4))
    # a wider run widens the detector (Net2Net), starting close to it: its copies carry 1% noise
    wide = detector_loop(dataclasses.replace(more, out=str(tmp_path / "wide"), width=6, dark_weight=1.5))
    assert wide.model.encoder[0].conv.weight.shape[0] == 6 and wide.progress.step == 2
    with torch.no_grad():
        torch.testing.assert_close(wide.model.eval()(x), first(x), atol=0.05, rtol=0)
    wide_after = load_detector(wide.fit(), device="cpu")
    assert wide_after.config.width == 6 and wide_after.metadata["phases"][-1]["widened"] == [4, 6]
    assert wide_after.metadata["phases"][-1]["dark_weight"] == 1.5
    assert _cli("card", "--model", str(tmp_path / "wide" / "model"), "--train-command", "t").returncode == 0
    assert (
        "thin damage, the pixels a 3x3 erosion removes, 5 times more; damage that made a pixel visibly darker (by 8 grey levels or more) 1.5 more"
        in (tmp_path / "wide" / "model" / "README.md").read_text()
    )
    last = json.loads((tmp_path / "wide" / "model" / "training_record.json").read_text())["phases"][-1]
    assert (last["widened"], last["thin_weight"], last["dark_weight"]) == ([4, 6], 4.0, 1.5)
    # bf16 steps (on any CPU: slow without native bf16, but a tiny model) are recorded as such
    half = detector_loop(dataclasses.replace(more, out=str(tmp_path / "half"), amp="bf16"))
    assert half.task.precision == "bfloat16" and more.amp == "off"
    half_after = load_detector(half.fit(), device="cpu")
    assert half_after.metadata["phases"][-1]["precision"] == "bfloat16" and half_after.metadata["steps"] == 5
    assert all(v.dtype == torch.float32 for v in half_after.state_dict().values() if v.is_floating_point())
    assert _cli("card", "--model", str(tmp_path / "half" / "model"), "--train-command", "t").returncode == 0
    assert (
        f"crops/s) on a {machine_summary()}; phase 2 in bfloat16 steps\n"
        in (tmp_path / "half" / "model" / "README.md").read_text()
    )
    last = json.loads((tmp_path / "half" / "model" / "training_record.json").read_text())["phases"][-1]
    assert (
        last["steps"],
        last["images_seen"],
        last["crop"],
        last["batch_size"],
        last["lr"],
        last["thin_weight"],
        last["precision"],
    ) == (3, 9, 40, 3, 0.0003, 4.0, "bfloat16")
    with pytest.raises(ValueError, match="only be widened"):
        detector_loop(dataclasses.replace(more, out=str(tmp_path / "narrow"), width=3))
    headed = detector_loop(dataclasses.replace(more, out=str(tmp_path / "headed"), refine_channels=3))
    assert headed.model.config.refine_channels == 3 and headed.progress.step == 2
    with torch.no_grad():
        torch.testing.assert_close(headed.model.eval()(x), first(x), atol=1e-6, rtol=1e-6)
    # line features may join too: the first layer's new inputs start at zero
    lined = detector_loop(dataclasses.replace(more, out=str(tmp_path / "lined"), line_sizes=[3, 5]))
    assert lined.model.config.line_sizes == (3, 5) and lined.model.encoder[0].conv.weight.shape[1] == 3 + 4
    with torch.no_grad():
        torch.testing.assert_close(lined.model.eval()(x), first(x), atol=1e-6, rtol=1e-6)
    after_lines = load_detector(lined.fit(), device="cpu")
    assert after_lines.config.line_sizes == (3, 5) and float(after_lines.encoder[0].conv.weight[:, 3:].abs().sum()) > 0
    assert float(after_lines.line_skip.weight.abs().sum()) > 0  # the full-resolution line term trained too
    assert _cli("card", "--model", str(tmp_path / "lined" / "model"), "--train-command", "t").returncode == 0
    card = (tmp_path / "lined" / "model" / "README.md").read_text()
    assert "with 3x3, 5x5 squares" in card
    last = json.loads((tmp_path / "lined" / "model" / "training_record.json").read_text())["phases"][-1]
    assert (last["steps"], last["crop"], last["lr"], last["thin_weight"], last["line_sizes"]) == (
        3,
        40,
        0.0003,
        4.0,
        [3, 5],
    )
    with pytest.raises(ValueError, match="line features"):  # other line sizes do not fit
        detector_loop(dataclasses.replace(more, out=str(tmp_path / "lined"), line_sizes=[3]))


def test_ema_exports_the_average_of_the_weights_and_buffers(photo_folder, tmp_path):
    cfg = DetectTrainConfig(
        data=f"folder:{photo_folder}",
        out=str(tmp_path / "run"),
        val_data=str(photo_folder),
        width=4,
        depth=3,
        crop=48,
        batch_size=2,
        steps=2,
        workers=0,
        val_every=0,
        val_images=2,
        ema_decay=0.75,
    )
    trainer = detector_loop(cfg)
    seen = []  # the live weights after each step, as the average sees them
    update = trainer.ema.update_parameters
    trainer.ema.update_parameters = lambda m: (
        seen.append({k: v.clone() for k, v in m.state_dict().items()}),
        update(m),
    )
    exported = load_detector(trainer.fit(), device="cpu").state_dict()
    assert len(seen) == 2
    floats = [k for k, v in seen[1].items() if v.is_floating_point()]
    assert any("running_mean" in k for k in floats)  # BatchNorm statistics are averaged too
    for k in floats:  # the first update copies, the second moves a quarter of the way
        torch.testing.assert_close(exported[k], 0.75 * seen[0][k] + 0.25 * seen[1][k])
    assert not torch.equal(exported[floats[0]], seen[1][floats[0]])
    ck = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert torch.equal(ck["model"][floats[0]], seen[1][floats[0]])  # training goes on from the live weights
    assert detector_loop(dataclasses.replace(cfg, steps=3)).ema.n_averaged.item() == 2  # and so does the average
    with pytest.raises(ValueError, match="ema-decay"):
        detector_loop(dataclasses.replace(cfg, out=str(tmp_path / "bad"), ema_decay=1.0))


def test_init_from_a_detector_exported_before_phases_were_recorded(photo_folder, tmp_path):
    from inpaint.nn.damagenet import save_detector

    old = tiny_net()
    save_detector(
        old,
        tmp_path / "old",
        metadata={"steps": 7, "images_seen": 56, "train_seconds": 12.5, "crop": 64, "train_config": {"batch_size": 8}},
    )
    cfg = DetectTrainConfig(
        data=f"folder:{photo_folder}",
        out=str(tmp_path / "run"),
        init=str(tmp_path / "old"),
        width=old.config.width,
        depth=old.config.depth,
        max_width_mult=old.config.max_width_mult,
        crop=48,
        batch_size=2,
        steps=8,
        workers=0,
        val_every=0,
    )
    assert [
        (r["steps"], r["crop"], r["batch_size"])
        for r in load_detector(detector_loop(cfg).fit(), device="cpu").metadata["phases"]
    ] == [(7, 64, 8), (1, 48, 2)]


def test_thin_damage_weighting_of_the_loss():
    target = torch.zeros(1, 1, 12, 12)
    target[0, 0, 5, 1:11] = 1  # a 1 px scratch
    target[0, 0, 0:5, 0:5] = 1  # a block: only its rim is thin
    thin = thin_damage(target)
    assert thin[0, 0, 5, 1:11].eq(1).all()
    assert thin[0, 0, 2, 2] == 0 and thin[0, 0, 0, 4] == 1 and thin.sum() < target.sum()
    logits = torch.randn(1, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    plain, _ = detection_loss(logits, target, pos_weight=3.0)
    weighted, _ = detection_loss(logits, target, pos_weight=3.0, thin_weight=4.0)
    # direct computation of the weighted BCE
    p = torch.sigmoid(logits)
    w = 1 + 4.0 * thin
    bce = -(3.0 * target * torch.log(p) + (1 - target) * torch.log(1 - p)) * w
    dice = 1 - (2 * (p * target).sum() + 1) / (p.sum() + target.sum() + 1)
    torch.testing.assert_close(weighted, bce.mean() + dice, atol=1e-5, rtol=1e-5)
    assert weighted > plain


def test_dark_damage_weighting_of_the_loss():
    target = torch.zeros(1, 1, 12, 12)
    target[0, 0, 5, 1:11] = 1  # a 1 px scratch
    target[0, 0, 0:5, 0:5] = 1  # a block: only its rim is thin
    dark = torch.zeros_like(target)
    dark[0, 0, 5, 1:6] = 1  # half the scratch made the photo darker
    logits = torch.randn(1, 1, 12, 12, generator=torch.Generator().manual_seed(1))
    weighted, _ = detection_loss(logits, target, pos_weight=3.0, thin_weight=4.0, dark=dark, dark_weight=2.0)
    p = torch.sigmoid(logits)
    w = 1 + 4.0 * thin_damage(target) + 2.0 * dark  # the weights add up
    bce = -(3.0 * target * torch.log(p) + (1 - target) * torch.log(1 - p)) * w
    dice = 1 - (2 * (p * target).sum() + 1) / (p.sum() + target.sum() + 1)
    torch.testing.assert_close(weighted, bce.mean() + dice, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="dark damage map"):
        detection_loss(logits, target, dark_weight=2.0)


def test_dataset_with_the_dark_damage_channel(photo_folder):
    from inpaint.train.data import build_dataset

    torch.manual_seed(3)
    ds = DamageDataset(build_dataset(f"folder:{photo_folder}", crop=48, length=8), clean_fraction=0.0, dark=True)
    targets = torch.stack([ds[i][1] for i in range(8)])
    assert targets.shape == (8, 2, 48, 48) and set(torch.unique(targets).tolist()) <= {0.0, 1.0}
    assert (targets[:, 1] <= targets[:, 0]).all()  # dark damage is damage
    assert targets[:, 1].sum() > 0 and targets[:, 1].sum() < targets[:, 0].sum()


def test_threshold_pick_respects_the_undamaged_budget():
    f1 = {0.3: 0.70, 0.5: 0.72, 0.7: 0.69, 0.9: 0.50}
    fpr = {0.3: 0.03, 0.5: 0.012, 0.7: 0.004, 0.9: 0.001}
    assert pick_threshold(f1, None, 0.005) == 0.5  # no undamaged crops: best F1
    assert pick_threshold(f1, fpr, 0.005) == 0.7  # best F1 within the budget
    assert pick_threshold(f1, fpr, 0.02) == 0.5
    assert pick_threshold(f1, fpr, 0.0001) == 0.9  # nothing within: the one that flags least


def test_the_physical_generator_gives_its_footprint_as_the_target_and_clean_scans(photo_folder):
    """generator="physical": the target is synth.physical's footprint for the same draws (checked
    by replaying them), clean samples are the undamaged scan with an empty target, and the dark
    channel is the visibly darker part of the footprint."""
    from inpaint.synth.physical import physical_damage
    from inpaint.train.data import build_dataset
    from inpaint.train.detector import GENERATORS, _physical_sample

    assert GENERATORS == ("synth", "physical", "strokes")
    photo = smooth_photo(64, 64, seed=3)
    image, damage, reference = _physical_sample(photo, np.random.default_rng(5), clean_fraction=0.0)
    replay = physical_damage(photo, np.random.default_rng(5))
    assert np.array_equal(image, replay.image) and np.array_equal(damage, replay.footprint) and damage.any()
    clean, none, ref = _physical_sample(photo, np.random.default_rng(5), clean_fraction=1.0)
    assert np.array_equal(clean, replay.reference) and np.array_equal(ref, replay.reference) and not none.any()
    # content_fraction: the hard negatives go through to physical_damage's content
    hard, truth, _ = _physical_sample(photo, np.random.default_rng(5), clean_fraction=0.0, content=1.0)
    replay = physical_damage(photo, np.random.default_rng(5), content=1.0)
    assert np.array_equal(hard, replay.image) and np.array_equal(truth, replay.footprint)
    # unprinted: a clean sample may be the photo itself, not printed or scanned (with content)
    seen = set()
    for seed in range(12):
        image, target, undamaged = _physical_sample(
            photo, np.random.default_rng(seed), clean_fraction=1.0, content=0.0, unprinted=0.5
        )
        assert not target.any() and np.array_equal(image, undamaged)
        seen.add("photo" if np.array_equal(image, photo) else "scan")
    assert seen == {"photo", "scan"}

    images = build_dataset(f"folder:{photo_folder}", crop=48, length=4)
    torch.manual_seed(0)
    x, y = DamageDataset(images, clean_fraction=0.0, dark=True, generator="physical")[0]
    assert x.shape == (3, 48, 48) and y.shape == (2, 48, 48) and y[0].sum() > 0
    assert bool((y[1] <= y[0]).all())  # dark damage is part of the damage
    with pytest.raises(ValueError, match="generator must be one of synth, physical, strokes"):
        DamageDataset(images, generator="pencil")


def test_the_strokes_generator_gives_its_footprint_over_the_photo_itself(photo_folder):
    """generator="strokes": the target is synth.strokes' footprint for the same draws, and a clean
    sample is the photo untouched."""
    from inpaint.synth.strokes import stroke_damage
    from inpaint.train.data import build_dataset
    from inpaint.train.detector import _strokes_sample

    photo = smooth_photo(64, 64, seed=4)
    image, damage, undamaged = _strokes_sample(photo, np.random.default_rng(7), clean_fraction=0.0)
    replay_rng = np.random.default_rng(7)
    replay_rng.random()
    replay = stroke_damage(photo, replay_rng)
    assert np.array_equal(image, replay.damaged) and np.array_equal(damage, replay.footprint) and damage.any()
    assert undamaged is photo
    clean, none, _ = _strokes_sample(photo, np.random.default_rng(7), clean_fraction=1.0)
    assert clean is photo and not none.any()
    images = build_dataset(f"folder:{photo_folder}", crop=48, length=4)
    torch.manual_seed(0)
    x, y = DamageDataset(images, clean_fraction=0.0, generator="strokes")[0]
    assert x.shape == (3, 48, 48) and y.shape == (1, 48, 48) and y.sum() > 0


def test_thin_content_in_a_strokes_sample_is_in_the_photo_and_never_in_the_damage():
    """content=1: the strokes are drawn over the photo with thin content (the same draws as
    synth.content), and the truth is the strokes' footprint alone."""
    from inpaint.synth.content import thin_content
    from inpaint.synth.strokes import stroke_damage
    from inpaint.train.detector import _strokes_sample

    photo = smooth_photo(96, 96, seed=5)
    image, damage, undamaged = _strokes_sample(photo, np.random.default_rng(3), clean_fraction=0.0, content=1.0)
    replay_rng = np.random.default_rng(3)
    replay_rng.random()
    drawn = thin_content(photo, replay_rng)
    replay_rng.random()
    strokes = stroke_damage(drawn.image, replay_rng)
    assert not np.array_equal(drawn.image, photo)
    assert np.array_equal(undamaged, drawn.image) and np.array_equal(image, strokes.damaged)
    assert np.array_equal(damage, strokes.footprint)
    clean, none, truth = _strokes_sample(photo, np.random.default_rng(3), clean_fraction=1.0, content=1.0)
    assert np.array_equal(clean, drawn.image) and clean is truth and not none.any()


def test_a_run_on_the_physical_generator_records_it(photo_folder, tmp_path):
    cfg = DetectTrainConfig(
        data=f"folder:{photo_folder}",
        out=str(tmp_path / "run"),
        width=4,
        depth=3,
        crop=48,
        batch_size=2,
        steps=2,
        workers=0,
        val_data=str(photo_folder),
        val_every=1,
        val_images=3,
        generator="physical",
        content_fraction=0.5,
    )
    loop = detector_loop(cfg)
    folder = loop.fit()
    phases = load_detector(folder, device="cpu").metadata["phases"]
    assert [p["generator"] for p in phases] == ["physical"] and phases[0]["steps"] == 2
    assert phases[0]["content_fraction"] == 0.5
    # the validation crops are damaged by the same generator: the same crops under the default
    # generator get other damage, and their undamaged twins are other scans too
    synth = detector_loop(dataclasses.replace(cfg, out=str(tmp_path / "synth"), generator="synth"))
    synth.task.prepare_validation(synth.progress)
    (_, targets, clean), (_, s_targets, s_clean) = loop.task.val, synth.task.val
    assert targets.shape == s_targets.shape == (3, 1, 48, 48)
    assert not torch.equal(targets, s_targets) and not torch.equal(clean, s_clean)
