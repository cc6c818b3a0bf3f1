import json

import pytest
import torch

from inpaint.io.weights import WeightsError
from inpaint.nn.unet import PConvUNet, PConvUNetConfig, load_model, save_model


def test_round_trip(tmp_path):
    net = PConvUNet(PConvUNetConfig(width=4, depth=3, version="t1"))
    save_model(net, tmp_path, metadata={"steps": 10})
    assert {p.name for p in tmp_path.iterdir()} == {"config.json", "model.safetensors", "README.md"}
    loaded = load_model(tmp_path, device="cpu")
    assert not loaded.training and loaded.config == net.config and loaded.metadata["steps"] == 10
    for k, v in net.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])


def test_untrained_weights_are_refused(tmp_path):
    save_model(PConvUNet(PConvUNetConfig(width=4, depth=3)), tmp_path)
    with pytest.raises(WeightsError, match="never trained"):
        load_model(tmp_path)
    assert load_model(tmp_path, allow_untrained=True, device="cpu").config.width == 4


def test_missing_folder_and_files(tmp_path, monkeypatch):
    with pytest.raises(WeightsError, match="not found"):
        load_model(tmp_path / "nope")
    with pytest.raises(WeightsError, match="no trained weights"):
        load_model(tmp_path)
    monkeypatch.setenv("INPAINT_WEIGHTS", str(tmp_path))
    with pytest.raises(WeightsError, match=str(tmp_path)):
        load_model()


def test_corrupt_and_mismatched(tmp_path):
    save_model(PConvUNet(PConvUNetConfig(width=4, depth=3)), tmp_path, metadata={"steps": 1})
    cfg = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "width": 8}))
    with pytest.raises(WeightsError, match="does not match"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="corrupt"):
        load_model(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x80\x04pickle-ish garbage")
    with pytest.raises(WeightsError, match="corrupt"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(WeightsError, match="not a valid model config"):
        load_model(tmp_path)


def test_hub_repo_id_goes_through_huggingface_hub(tmp_path, monkeypatch):
    """A repo id is fetched with snapshot_download (faked here: no network)."""
    save_model(PConvUNet(PConvUNetConfig(width=4, depth=3)), tmp_path, metadata={"steps": 3})
    calls = []

    def fake_snapshot_download(repo_id, allow_patterns=None, **kw):
        calls.append((repo_id, allow_patterns))
        return str(tmp_path)

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    model = load_model("someone/old-photo-pconv", device="cpu")
    assert calls[0][0] == "someone/old-photo-pconv" and "model.safetensors" in calls[0][1]
    assert model.config.width == 4
