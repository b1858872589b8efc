"""House rules that keep the code readable: small files, one-way imports, torch-free NumPy parts."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "neuralab"
FILES = sorted(SRC.rglob("*.py"))
# Data flows one way: a package may not import from a package later in this list.
ORDER = ["data", "scratch", "models", "train", "frameworks", "experiments", "report", "serve"]
ALLOWED_UP = {("train", "report"), ("experiments", "report")}  # the engine and experiments draw their plots


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_file_is_small_enough_to_read_in_one_sitting(path):
    n = len(path.read_text().splitlines())
    assert n <= 500, f"{path.relative_to(SRC)} has {n} lines; split it (budget 500)"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_flow_one_way(path):
    rel = path.relative_to(SRC).parts
    if len(rel) < 2 or rel[0] not in ORDER:
        return
    here = ORDER.index(rel[0])
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("neuralab."):
            target = node.module.split(".")[1]
            if target in ORDER and ORDER.index(target) > here:
                assert (rel[0], target) in ALLOWED_UP, f"{'/'.join(rel)} imports neuralab.{target} (flows backwards)"


def test_data_package_does_not_load_torch():
    code = "import sys, neuralab.data as d; d.load_dataset('moons'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_keras_is_imported_only_when_asked_for():
    """`neuralab --help` lists every experiment; Keras (seconds to import) must wait for --framework keras."""
    code = "import sys, neuralab.cli, neuralab.experiments; print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"
