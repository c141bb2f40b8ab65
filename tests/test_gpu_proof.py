"""The GPU proof's rehearsal on a CPU: what the GPU machine lacks (Ray, MLflow, librosa and its audio I/O)
made unimportable, the modules the proof uses import, and ``benchmarks/gpu_proof.py --cpu-smoke`` runs
end to end and writes its tables."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Not on the GPU machine's image (nothing can be installed there but carried wheels).
ABSENT = ("ray", "mlflow", "librosa", "soundfile", "soxr", "audioread", "pooch")
GPU_PATH = ("raymir.models", "raymir.models.kim2018", "raymir.models.park2017", "raymir.audio", "raymir.train.crops",
            "raymir.train.job", "raymir.train.choi", "raymir.train.kim", "raymir.train.park", "raymir.train.siamese",
            "raymir.extract", "raymir.probes.kernels", "raymir.probes.lssvm", "raymir.probes.svm",
            "raymir.probes.folds", "raymir.probes.transfer", "raymir.config")

BLOCKER = f'''import sys

ABSENT = {ABSENT!r}


class _Absent:
    """Refuses the packages the GPU machine does not have, as if they were not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ABSENT:
            raise ModuleNotFoundError(f"No module named {{name!r}} (absent on the GPU machine)", name=name)
        return None


sys.meta_path.insert(0, _Absent())
'''


def _env(tmp_path: Path) -> dict:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT)])
    env.pop("OUT", None)
    return env


def test_gpu_path_imports_without_ray_mlflow_or_librosa(tmp_path):
    code = ("import importlib, sys\n"
            f"for m in {GPU_PATH!r}:\n    importlib.import_module(m)\n"
            "from raymir.audio import MelSpectrogram\nfrom raymir.models.park2017 import ParkFrontend\n"
            "MelSpectrogram(); ParkFrontend()\n"
            "import raymir; assert raymir.__file__.startswith(sys.argv[1]), raymir.__file__\n"
            f"print(sorted(m for m in sys.modules if m.partition('.')[0] in {ABSENT!r}))\n"
            "try:\n    import ray\nexcept ModuleNotFoundError:\n    print('blocked')\n")
    res = subprocess.run([sys.executable, "-c", code, str(ROOT)], cwd=tmp_path, env=_env(tmp_path),
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["[]", "blocked"]


@pytest.mark.slow  # ~35-90 s; CI runs it with the slow checks
def test_gpu_proof_cpu_smoke_runs_end_to_end_and_writes_its_tables(tmp_path):
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_proof.py"), "--cpu-smoke", "--out", str(out)],
                         cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert {p.name for p in out.iterdir()} == {"proof.log", "tests.log", "env.json", "training.csv", "lssvm.csv",
                                               "extraction.csv", "summary.txt"}
    training = list(csv.DictReader((out / "training.csv").open()))
    assert [(r["net"].split(",")[0][:9], r["variant"]) for r in training] == [
        (net, v) for net in ("Choi 2017", "Kim 2018 ", "Park 2017", "Park 2017") for v in ("eager", "compile")]
    assert all(float(r["end_to_end_per_s"]) > 0 and r["limit"] for r in training)
    lssvm = list(csv.DictReader((out / "lssvm.csv").open()))
    assert {(int(r["clips"]), r["precision"]) for r in lssvm} == {(n, p) for n in (40, 60, 80) for p in ("fp64", "mixed")}
    assert any(r["how"] == "measured" for r in lssvm) and any(r["how"].startswith("extrapolated") for r in lssvm)
    assert all(r["vs_cpu_fp64_share_differing"] == "0.0" for r in lssvm if int(r["clips"]) == 40)
    summary = (out / "summary.txt").read_text()
    assert "failures: none" in summary and "skipped" in summary  # the GPU tests ran, and skipped without CUDA
    assert summary.splitlines()[-1] in res.stdout  # the summary is the end of the output


def test_gpu_proof_without_a_gpu_says_so(tmp_path):
    script = str(ROOT / "benchmarks" / "gpu_proof.py")
    code = ("import runpy, sys, torch\ntorch.cuda.is_available = lambda: False\n"
            "sys.argv = sys.argv[1:]\nrunpy.run_path(sys.argv[0], run_name='__main__')\n")
    res = subprocess.run([sys.executable, "-c", code, script], cwd=tmp_path, env=_env(tmp_path), capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2 and "no CUDA device" in res.stderr and "--cpu-smoke" in res.stderr
