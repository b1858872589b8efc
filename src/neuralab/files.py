"""Atomic file writes and strict JSON: the one way neuralab puts bytes on disk.

Every file is written to a temp file in the same folder, fsynced, then renamed over its target, so a killed
process never leaves a half-written file where a complete one used to be. JSON has no NaN or infinity: they are
stored as null, so every reader (browsers, jq, other languages) can parse what neuralab writes.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from neuralab.errors import NeuralabError

_UMASK = os.umask(0)
os.umask(_UMASK)
TEMP_SUFFIX = ".tmp"  # `.<name>.<random>.tmp`: what a killed write leaves behind (see `remove_stale_temp_files`)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write to a temp file in the same folder, fsync, then rename over `path`: readers see old or new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; results should be readable like any other
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Delete the temp files that killed writes left in `folder` (checkpoints can leave tens of MB each)."""
    stale = [p for p in Path(folder).glob(f".*{TEMP_SUFFIX}") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def _json_default(v: Any) -> Any:
    if hasattr(v, "item") and getattr(v, "ndim", 0) == 0:  # numpy / torch scalars
        return v.item()
    if hasattr(v, "tolist"):
        return v.tolist()
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, (set, frozenset)):
        return sorted(v)
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def finite(v: Any) -> Any:
    """The same structure with every NaN/inf float replaced by None (JSON has no such numbers)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [finite(x) for x in v]
    return v


def plain(obj: Any) -> Any:
    """JSON-ready builtins (dicts, lists, str, numbers, None) of `obj`: numpy/torch values, Paths, tuples converted."""
    return finite(json.loads(json.dumps(obj, default=_json_default)))


def dumps(obj: Any, indent: int | None = 2) -> str:
    return json.dumps(plain(obj), indent=indent)


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, dumps(obj) + "\n")


def read_json(path: str | Path, what: str = "file") -> Any:
    """Parsed JSON, or a NeuralabError naming the file (missing, unreadable, or not JSON)."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NeuralabError(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise NeuralabError(f"{what} {path} is not valid JSON ({e})") from None
