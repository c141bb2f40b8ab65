"""Where a given encoder's code comes from: a module imported by name or a .py file, and the content hash
of the files that define the encoder (its code and its weights)."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType

from raymir.errors import ModelFileError


def import_code(name: str, *, key: str = "encoder.path") -> ModuleType:
    """The module ``name`` (dotted, importable from sys.path) or the file ``name`` (ends in .py).

    A file is loaded under a private module name derived from its resolved path, so two encoders' files
    both called ``model.py`` do not replace each other in ``sys.modules``. Any failure → ModelFileError
    naming ``key``, the module or file, and the error raised while importing it.
    """
    if name.endswith(".py"):
        path = Path(name).expanduser().resolve()
        if not path.is_file():
            raise ModelFileError(f"{key}: {name!r} is not a file")
        private = "raymir_encoder_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
        spec = importlib.util.spec_from_file_location(private, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[private] = module  # dataclasses and pickling look classes up by module name
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            del sys.modules[private]
            raise ModelFileError(f"{key}: importing the file {path} failed: {type(e).__name__}: {e}") from e
        return module
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        raise ModelFileError(f"{key}: cannot import the module {name!r} ({e}); is it installed, or on sys.path?") from e
    except Exception as e:
        raise ModelFileError(f"{key}: importing the module {name!r} failed: {type(e).__name__}: {e}") from e


def source_files(*objects) -> list[Path]:
    """The .py files defining ``objects`` (modules, functions, classes), each once, in order; objects
    without a source file (built-ins, C extensions) are left out."""
    files = []
    for obj in objects:
        try:
            f = inspect.getsourcefile(obj)
        except TypeError:
            f = None
        if f and Path(f).resolve() not in files:
            files.append(Path(f).resolve())
    return files


def content_sha256(files: list[Path]) -> str:
    """sha256 of the files' bytes, in order, each prefixed by its length (so a byte moving from one file to the
    next changes the digest); the encoder's identity in cache keys and the MLflow parent run."""
    h = hashlib.sha256()
    for f in files:
        data = Path(f).read_bytes()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()
