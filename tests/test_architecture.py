"""The house's boundaries, checked on the code itself.

- The runtime rooms of ``inpaint`` (nn, io, restoration, detect) and the package's ``__init__``
  never import synthesis, training, evaluation or the dataset scripts, and a restore plus a
  detection through the public API loads none of them.
- ``inpaint`` imports neither gradio nor sqlalchemy; ``study`` never imports torch; ``webapp``
  imports neither sqlalchemy nor ``study.models``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_ROOMS = ("nn", "io", "restoration", "detect")
OFFLINE_ROOMS = ("inpaint.train", "inpaint.eval", "inpaint.synth", "inpaint.datasets")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside functions, relative ones resolved."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def violations(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{p.relative_to(ROOT)} imports {m}"
        for p in paths
        for m in sorted(imported_modules(p))
        if any(m == f or m.startswith(f + ".") for f in forbidden)
    ]


def test_the_checker_sees_relative_and_nested_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "inpaint" / "detect"
    pkg.mkdir(parents=True)
    (pkg / "x.py").write_text("def f():\n    from ..synth.damage import synthesize_damage\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert "inpaint.synth.damage" in imported_modules(pkg / "x.py")
    assert violations([pkg / "x.py"], OFFLINE_ROOMS) == [
        "inpaint/detect/x.py imports inpaint.synth.damage",
        "inpaint/detect/x.py imports inpaint.synth.damage.synthesize_damage",
    ]
    assert violations([pkg / "x.py"], ("inpaint.train",)) == []


def test_runtime_rooms_never_import_synthesis_training_or_evaluation():
    runtime = files(*(f"inpaint/{room}" for room in RUNTIME_ROOMS)) + [ROOT / "inpaint" / "__init__.py"]
    assert len(runtime) > 10
    assert violations(runtime, OFFLINE_ROOMS) == []


def test_packages_keep_their_boundaries():
    assert violations(files("inpaint"), ("gradio", "sqlalchemy", "study", "webapp")) == []
    assert violations(files("study"), ("torch", "torchvision", "inpaint", "gradio", "webapp")) == []
    assert violations(files("webapp") + [ROOT / "app.py"], ("sqlalchemy", "study.models")) == []


_RESTORE_AND_DETECT = """
import json, sys
import numpy as np
import inpaint
photo = (np.random.default_rng(0).random((96, 128, 3)) * 255).astype(np.uint8)
known = np.ones((96, 128), bool)
known[40:50, 20:100] = False
model = inpaint.load_model()
cands = inpaint.restore(photo, known, n=2, model=model)
cands += inpaint.restore(photo, known, n=1, method="telea")
found = inpaint.detect_damage(photo)
loaded = sorted(m for m in sys.modules if m.startswith("inpaint"))
print(json.dumps({"loaded": loaded, "candidates": len(cands), "shape": list(found.probability.shape)}))
"""


def test_a_restore_and_a_detection_load_no_offline_room():
    proc = subprocess.run(
        [sys.executable, "-c", _RESTORE_AND_DETECT], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["candidates"] == 3 and out["shape"] == [96, 128]
    assert "inpaint.restoration.tiles" in out["loaded"] and "inpaint.detect.pipeline" in out["loaded"]
    assert [m for m in out["loaded"] if m.startswith(OFFLINE_ROOMS)] == []
