"""The built wheel on its own: installed into a fresh virtual environment and run from an empty folder."""

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SWEEPS = {"agf_combos", "artist_labels", "artist_tags", "layer_combos"}


def test_every_subpackage_goes_into_the_wheel():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    # pyproject.toml lists the packages (raymir.sweeps lives outside raymir/), so a new subpackage
    # left out of the list would be missing from the wheel while the checkout still works.
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "raymir").rglob("__init__.py")}
    assert set(listed) == found | {"raymir.sweeps"}


def _run(cmd: list, *, cwd: Path, env: dict, timeout: float = 120) -> str:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.slow  # build and install: ~15 s; the artist_labels tiny sweep (the quickest tiny preset): ~2 min
def test_the_installed_wheel_lists_and_runs_the_default_sweeps_from_any_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing may point back at the checkout
    # The wheel is built from a copy of its sources: a build in the checkout would leave build/ there,
    # and setuptools puts the stale files of an earlier build/ into later wheels.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("raymir", "sweeps"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", src],
         cwd=tmp_path, env=env)
    (wheel,) = (tmp_path / "dist").glob("raymir-*.whl")
    with zipfile.ZipFile(wheel) as z:
        assert {f"raymir/sweeps/{name}.yaml" for name in DEFAULT_SWEEPS} <= set(z.namelist())

    # torch, Ray, MLflow, ... come from the system's site-packages, so nothing is downloaded. No pip
    # of its own: the system's pip (reached through the system site) installs into the venv.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv], cwd=tmp_path, env=env)
    python = venv / "bin" / "python"
    _run([python, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", wheel], cwd=tmp_path, env=env)

    empty = tmp_path / "empty"
    empty.mkdir()
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=empty,
                     env=env).strip()).resolve()
    assert site.is_relative_to(venv.resolve())
    # The venv's own site-packages comes before the system's, which may hold an editable install of
    # some checkout: the raymir that runs is the wheel's.
    imported = Path(_run([python, "-c", "import raymir; print(raymir.__file__)"], cwd=empty, env=env).strip())
    assert imported.resolve() == site / "raymir" / "__init__.py"

    listed = dict(line.split() for line in _run([python, "-m", "raymir.sweep", "--list"], cwd=empty, env=env)
                  .splitlines())
    assert set(listed) == DEFAULT_SWEEPS
    for name, path in listed.items():
        assert Path(path).resolve() == site / "raymir" / "sweeps" / f"{name}.yaml"
        assert not Path(path).resolve().is_relative_to(ROOT)
    assert "agf_combos: ok" in _run([python, "-m", "raymir.sweep", "agf_combos", "--check"], cwd=empty, env=env)

    ray_tmp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # Ray's socket paths must stay short
    try:
        out = tmp_path / "out"
        _run([python, "-m", "raymir.sweep", "artist_labels", "--preset", "tiny", "--output", out], cwd=empty,
             env=env | {"RAY_TMPDIR": ray_tmp, "RAY_ADDRESS": ""}, timeout=900)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    (summary,) = out.glob("reports/*/summary.md")
    assert "| basic | 10 |" in summary.read_text() and "| siamese | 20 |" in summary.read_text()
