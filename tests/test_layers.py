"""Imports run one way: the layer order the README's "How it fits together" states.

Every `alignadapt` import in src/ (at the top of a module or inside a function: a lazy import
is still a dependency) must name the same subpackage or one on a lower layer. A lower layer
that imports a higher one fails here with the file and the import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "alignadapt"

# top to bottom; a subpackage (or top-level module) may import only its own layer and those below
LAYERS = (
    "cli",  # `alignadapt COMMAND`
    "demo",  # tiny model, synthetic and espeak-ng corpora: builds training modules
    "training",  # LightningModule, callbacks (long validation aligns, metrics score)
    "evaluation",  # evaluate.py: runs the aligner, scores, reports (and its static review page)
    "review_web",  # the review page: session, server, peaks; reads other tools via data
    "inference",  # the alignment service, long recordings, output formats, pseudo-labels
    "data",  # audio, manifests, the DataModule: loads the model's processor
    "model",  # loading, LoRA, prompt, decoding, model references and the checkpoint format
    "tasks",  # the Hydra task runner: imports nothing of alignadapt
)


def imports_of(path: Path) -> list[tuple[str, int]]:
    """(subpackage, line) of every alignadapt import in a module."""
    rel = path.relative_to(SRC)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            here = list(rel.parts[:-1])
            base = here[: len(here) - (node.level - 1)]
            parts = base + (node.module.split(".") if node.module else [])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("alignadapt."):
            parts = node.module.split(".")[1:]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("alignadapt.")]
            parts = names[0].split(".")[1:] if names else []
        else:
            continue
        if parts:
            found.append((Path(parts[0]).stem, node.lineno))
    return found


def layer(name: str) -> int:
    return LAYERS.index(name)


def test_every_subpackage_has_a_layer():
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in SRC.glob("*.py") if p.stem != "__init__"}
    assert packages | modules == set(LAYERS)


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_imports_a_higher_layer(path: Path):
    rel = path.relative_to(SRC)
    own = rel.parts[0] if len(rel.parts) > 1 else rel.stem
    if own == "__init__":
        return
    upward = [
        f"{rel}:{line} imports alignadapt.{target} ({target} is above {own})"
        for target, line in imports_of(path)
        if target in LAYERS and layer(target) < layer(own)
    ]
    assert upward == []


def test_the_check_finds_an_upward_import(tmp_path, monkeypatch):
    """The checker itself: a data module importing training is caught."""
    fake = tmp_path / "alignadapt"
    (fake / "data").mkdir(parents=True)
    bad = fake / "data" / "bad.py"
    bad.write_text("def f():\n    from ..training.module import AlignerModule\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["SRC"]), "SRC", fake)
    assert imports_of(bad) == [("training", 2)]
    with pytest.raises(AssertionError, match="data/bad.py:2 imports alignadapt.training"):
        test_no_module_imports_a_higher_layer(bad)
