"""House rules that keep the code readable: small files and functions, one-way imports, torch-free NumPy parts.

The layers, bottom to top. A module may import from its own layer and the layers below it, never above — and that
holds for imports inside functions too (a lazy import is still a dependency). Every module of the package must be
in a layer, so a new package has to say where it belongs.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "neuralab"
FILES = sorted(SRC.rglob("*.py"))
LAYERS = [
    ("core", {"__init__", "errors", "registry", "files", "config", "seed", "device", "heap"}),
    ("data", {"data"}),
    ("records", {"records"}),
    ("artifacts", {"runs", "report"}),  # run folders and what is drawn from them: they only read runs
    ("scratch", {"scratch"}),
    ("models", {"models"}),
    ("train", {"train"}),
    ("frameworks", {"frameworks"}),
    ("tasks", {"tasks"}),
    ("experiments", {"experiments"}),
    ("serve", {"serve"}),
    ("commands", {"commands", "cli", "__main__"}),
]
LAYER = {unit: i for i, (_, units) in enumerate(LAYERS) for unit in units}
MAX_FILE_LINES, MAX_FUNCTION_LINES = 400, 60


def unit_of(path: Path) -> str:
    """The package (first folder) or top-level module a file belongs to."""
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, imported unit, inside a function?) for every neuralab import of a file."""
    tree = ast.parse(path.read_text())
    inner = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f) if n is not f}
    out = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "neuralab":
            parts = node.module.split(".")
            names = [parts[1]] if len(parts) > 1 else [a.name if a.name in LAYER else "__init__" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".")[1] for a in node.names if a.name.startswith("neuralab.")]
        out += [(node.lineno, n, id(node) in inner) for n in names]
    return out


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_file_is_small_enough_to_read_in_one_sitting(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_FILE_LINES, f"{path.relative_to(SRC)} has {n} lines; split it (budget {MAX_FILE_LINES})"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_functions_fit_on_a_screen(path):
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)" for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{path.relative_to(SRC)}: {', '.join(long)} over {MAX_FUNCTION_LINES} lines; split them"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_every_module_is_in_a_layer_and_imports_flow_down(path):
    here = unit_of(path)
    assert here in LAYER, f"{path.relative_to(SRC)}: {here!r} is in no layer; add it to LAYERS in this test"
    for line, target, _ in imports(path):
        assert target in LAYER, f"{path.relative_to(SRC)}:{line} imports unknown neuralab.{target}"
        assert LAYER[target] <= LAYER[here], (
            f"{path.relative_to(SRC)}:{line} imports neuralab.{target} ({LAYERS[LAYER[target]][0]} layer) from the "
            f"{LAYERS[LAYER[here]][0]} layer: imports flow down only")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_lazy_imports_only_in_commands(path):
    """Library code imports at the top, so its dependencies are visible; the commands import lazily to keep
    `neuralab --help` fast. The one exception is the frameworks package, whose import loads Keras (seconds)."""
    if unit_of(path) in LAYERS[LAYER["commands"]][1]:
        return
    lazy = [f"line {line}: neuralab.{t}" for line, t, inside in imports(path) if inside and t != "frameworks"]
    assert not lazy, f"{path.relative_to(SRC)} imports inside functions: {', '.join(lazy)}"


def test_no_import_cycles_between_units_of_a_layer():
    edges: dict[str, set[str]] = {}
    for path in FILES:
        for _, target, _ in imports(path):
            if target != unit_of(path):
                edges.setdefault(unit_of(path), set()).add(target)

    def reaches(a: str, b: str, seen: set[str]) -> bool:
        return a == b or any(n not in seen and reaches(n, b, seen | {n}) for n in edges.get(a, ()))

    cycles = sorted({tuple(sorted((a, b))) for a in edges for b in edges[a] if reaches(b, a, {b})})
    assert not cycles, f"import cycles between units: {cycles}"


def test_data_package_does_not_load_torch():
    code = "import sys, neuralab.data as d; d.load_dataset('moons'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_scratch_package_does_not_load_torch():
    code = "import sys, neuralab.scratch, neuralab.scratch.fast; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_keras_is_imported_only_when_asked_for():
    """`neuralab --help` lists every experiment; Keras (seconds to import) must wait for --framework keras."""
    code = "import sys, neuralab.cli, neuralab.experiments; print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"
