"""Mel front end (torch) vs librosa on 29-s clips, and feature extraction speed, in one run.

    python benchmarks/bench_frontend.py [--clips 64] [--batch 8]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from raymir.audio import MelParams, MelSpectrogram, mel_db_librosa, mfcc_stats
from raymir.extract import layer_features
from raymir.models.choi2017 import Choi2017


def rate(n: int, fn) -> float:
    t0 = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    p = MelParams()
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal((args.clips, p.n_samples))).astype(np.float32)
    front = MelSpectrogram(p)
    x = torch.from_numpy(audio)

    def torch_mel():
        with torch.no_grad():
            for i in range(0, args.clips, args.batch):
                front(x[i:i + args.batch])

    def librosa_mel():
        for y in audio:
            mel_db_librosa(y, p)

    torch_mel()  # warm-up: both libraries' first calls pay one-off costs (librosa's imports alone take seconds)
    mel_db_librosa(audio[0], p)
    r_torch, r_lib = rate(args.clips, torch_mel), rate(args.clips, librosa_mel)
    print(f"threads: {torch.get_num_threads()}, 29-s clips at {p.sr} Hz, 96 mel bins")
    print(f"{'stage':<34}{'clips/s':>10}")
    print(f"{'mel: raymir (torch, batch ' + str(args.batch) + ')':<34}{r_torch:>10.1f}")
    print(f"{'mel: librosa (one clip at a time)':<34}{r_lib:>10.1f}")
    print(f"{'  ratio raymir / librosa':<34}{r_torch / r_lib:>10.2f}x")
    net = Choi2017(50)
    n_feat = min(args.clips, 32)
    layer_features(net, audio[:2], n_samples=p.n_samples, batch_size=2)  # warm-up
    mfcc_stats(audio[0], p.sr)
    r_feat = rate(n_feat, lambda: layer_features(net, audio[:n_feat], n_samples=p.n_samples, batch_size=args.batch))
    print(f"{'features: convnet, 5 layers':<34}{r_feat:>10.1f}")
    r_mfcc = rate(n_feat, lambda: [mfcc_stats(y, p.sr) for y in audio[:n_feat]])
    print(f"{'features: MFCC baseline (120-d)':<34}{r_mfcc:>10.1f}")


if __name__ == "__main__":
    main()
