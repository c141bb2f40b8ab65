"""Feature extraction clips/s: a converted released Keras model vs raymir's own net of the same architecture.

    python benchmarks/bench_release.py [--clips 32] [--rounds 3] [--batch 8]

The released files are not shipped (raymir downloads nothing), so each is stood in for by a file written
here in the release's exact layout (random weights, the release's front end): what is timed is the
converted net, which is the same whatever its weight values. Choi 2017: ``layer_features`` of 29-s clips
(five pooled 32-d layers), the release (per-clip standardisation, Keras BatchNorm epsilon, kapre framing)
vs raymir's default Choi2017. Park 2017: the 256-d track feature of 30-s log-mel spectrograms, the
Siamese release (fixed input standardisation) vs raymir's Park2017. Both nets are warmed up, then timed
in alternating rounds; the median of the rounds is printed with the ratio release / own.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch

from raymir.extract import layer_features
from raymir.models.choi2017 import Choi2017
from raymir.models.keras_release import (
    CHOI_MEL,
    CHOI_TAGS,
    choi_layout,
    kapre_frontend,
    load_choi2017,
    load_park2017,
    park_layout,
)
from raymir.models.park2017 import Park2017, track_feature

PARK_FRAMES = 1291  # 30 s at 22.05 kHz, hop 512: the release's longest input


def write_release(path: Path, layout: dict, *, fixed: dict | None = None, seed: int = 0) -> Path:
    """A Keras 2 HDF5 file in ``layout`` (layer → weight → shape) with random weights; ``fixed`` overrides a layer's
    weights (the Choi front end). Variances are positive so BatchNorm stays finite."""
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights")
        for layer, weights in layout.items():
            group = root.create_group(layer)
            for name, shape in weights.items():
                value = (fixed or {}).get(layer, {}).get(name)
                if value is None:
                    value = rng.uniform(0.5, 1.5, shape) if name == "moving_variance" else 0.1 * rng.standard_normal(shape)
                group.create_dataset(f"{layer}/{name}:0", data=np.asarray(value, dtype=np.float32))
    return path


def timed_rounds(fns: dict[str, callable], n: int, rounds: int) -> dict[str, float]:
    """Median clips/s of each function over ``rounds`` alternating rounds (after one warm-up call each)."""
    for fn in fns.values():
        fn()
    rates: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            rates[name].append(n / (time.perf_counter() - t0))
    return {name: statistics.median(r) for name, r in rates.items()}


def print_pair(title: str, rates: dict[str, float]) -> None:
    (a, ra), (b, rb) = rates.items()
    print(title)
    print(f"  {a:<40}{ra:>10.1f} clips/s")
    print(f"  {b:<40}{rb:>10.1f} clips/s")
    print(f"  {'ratio release / own':<40}{ra / rb:>10.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.clips} clips, {args.rounds} rounds")

    with tempfile.TemporaryDirectory() as tmp:
        choi_file = write_release(Path(tmp) / "model_best.hdf5", choi_layout(), fixed={"melgram": kapre_frontend()})
        park_file = write_release(Path(tmp) / "model_siamese.h5", park_layout({}))
        release, _ = load_choi2017(choi_file)
        park_release, _ = load_park2017(park_file)
    torch.manual_seed(0)
    own = Choi2017(len(CHOI_TAGS), mel=CHOI_MEL).eval()
    own_park = Park2017(None, n_mels=128).eval()

    audio = (0.1 * rng.standard_normal((args.clips, CHOI_MEL.n_samples))).astype(np.float32)
    choi = timed_rounds({
        "Choi 2017 release (converted)": lambda: layer_features(release, audio, n_samples=CHOI_MEL.n_samples,
                                                                batch_size=args.batch),
        "raymir Choi2017": lambda: layer_features(own, audio, n_samples=CHOI_MEL.n_samples, batch_size=args.batch),
    }, args.clips, args.rounds)
    print_pair(f"layer features of 29-s clips at {CHOI_MEL.sr} Hz (5 layers × 32)", choi)

    spec = torch.from_numpy(np.log10(1 + 10 * rng.gamma(1.0, 0.1, (args.clips, 128, PARK_FRAMES))).astype(np.float32))

    def park(net: Park2017):
        return lambda: [track_feature(net, spec[i:i + args.batch]) for i in range(0, args.clips, args.batch)]

    print_pair("track features of 30-s log-mel spectrograms (128 × 1291 → 256)",
               timed_rounds({"Park 2017 Siamese release (converted)": park(park_release),
                             "raymir Park2017": park(own_park)}, args.clips, args.rounds))


if __name__ == "__main__":
    main()
