"""House rules for neuralab.scratch: NumPy only, and every file short enough to read top to bottom."""

import subprocess
import sys
from pathlib import Path

import neuralab.scratch

SOURCES = sorted(Path(neuralab.scratch.__file__).parent.glob("*.py"))


def test_scratch_never_imports_torch():
    modules = ", ".join(f"neuralab.scratch.{p.stem}" for p in SOURCES if p.stem != "__init__")
    code = f"import sys, {modules}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_file_stays_under_300_lines():
    long = {p.name: n for p in SOURCES if (n := len(p.read_text().splitlines())) > 300}
    assert len(SOURCES) >= 9 and not long, long
