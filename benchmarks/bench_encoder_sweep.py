"""Wall time of a ``layer_combos`` sweep probing a given 12-layer torch encoder on the embedded corpus.

    python benchmarks/bench_encoder_sweep.py [--preset tiny] [--output DIR] [--layers cumulative]

The encoder (written to a temporary file with its weights) is a log-mel front end at 16 kHz and twelve
1-D convolutions of 64 channels, each layer's output [batch, 64, frames] pooled by raymir (mean over time).
Its weights are a seeded draw saved as a state_dict, so the sweep also has the random-weights baseline (the
factory's module without the weights). The sweep runs ``features.layers`` (default ``cumulative``: 1,
1+2, …, 1+…+12) and the learned layer weighting over all twelve layers, with the MFCC and convnet + MFCC
baselines, on every probe task. It prints the stage times from the sweep's log and the total wall time.
"""

from __future__ import annotations

import argparse
import tempfile
import textwrap
import time
from pathlib import Path

ENCODER = textwrap.dedent('''
    import torch
    from torch import nn


    class TwelveLayers(nn.Module):
        """log-mel at 16 kHz → 12 × (Conv1d 64, k 3, ReLU); every layer's output is one layer of features."""

        sample_rate = 16000

        def __init__(self):
            super().__init__()
            self.register_buffer("window", torch.hann_window(512))
            self.register_buffer("fb", torch.rand(257, 64) / 257)  # a fixed random filterbank stands in for mel
            self.convs = nn.ModuleList(nn.Conv1d(64, 64, 3, padding=1) for _ in range(12))

        def layer_outputs(self, y):
            spec = torch.stft(y, 512, 256, window=self.window, return_complex=True).abs() ** 2  # [b, 257, t]
            x = torch.log1p(torch.einsum("bft,fm->bmt", spec, self.fb))
            outs = []
            for conv in self.convs:
                x = torch.relu(conv(x))
                outs.append(x)
            return outs


    def make():
        return TwelveLayers()
''')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default=None, help="a preset of sweeps/layer_combos.yaml (default: the default size)")
    ap.add_argument("--output", default=None, help="output folder (default: a temporary one)")
    ap.add_argument("--layers", default="cumulative", help="features.layers (default: cumulative)")
    args = ap.parse_args()

    import torch

    from raymir.config import load_sweep
    from raymir.sweep import run

    with tempfile.TemporaryDirectory() as tmp:
        module = Path(tmp) / "twelve_layers.py"
        module.write_text(ENCODER)
        import importlib.util

        spec = importlib.util.spec_from_file_location("twelve_layers", module)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        torch.manual_seed(0)
        weights = Path(tmp) / "weights.pt"
        torch.save(mod.make().state_dict(), weights)
        cfg = load_sweep("layer_combos", preset=args.preset, overrides=(
            "encoder.kind=torch", f"encoder.path={module}:make", f"encoder.weights={weights}",
            f"features.layers=[{args.layers}]", "weighting.enabled=true"))
        t0 = time.time()
        result = run(cfg, output=args.output or str(Path(tmp) / "out"), fresh=True)
        wall = time.time() - t0
    rows = result["rows"]
    weighted = [r for r in rows if r["layers"] == "weighted"]
    print(f"\nlayer_combos, torch encoder of 12 layers, features.layers=[{args.layers}] + learned weighting, "
          f"preset {args.preset or 'default'}, torch {torch.__version__}")
    print(f"  probe grids: {len(rows)} ({len(weighted)} weighted), failed: {len(result['errors'])}")
    print(f"  wall time: {wall:.0f} s")


if __name__ == "__main__":
    main()
