"""Decode + spectrogram throughput per core for wav and mp3 clips, through the dataset cache
(cold: decode everything; warm: the cached subset is memory-mapped back, every file re-hashed, or
with the (path, size, mtime) hash index), and cache size per clip.

    python benchmarks/bench_decode.py [--clips 40] [--seconds 30]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from raymir.audio import MelParams, MelSpectrogram, spectrograms
from raymir.data.clips import Clip, ingest
from raymir.data.decode import decode

MEL = MelParams()  # the Choi front end: 12 kHz, 96 mels, 29 s


def _write(root: Path, fmt: str, n: int, seconds: float) -> list[Clip]:
    rng = np.random.default_rng(0)
    clips = []
    for i in range(n):
        sr = 44100
        t = np.arange(int(seconds * sr)) / sr
        y = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 1000) * t) + 0.01 * rng.normal(size=t.size)
        stereo = np.stack([y, y[::-1]], axis=1).astype(np.float32)  # stereo 44.1 kHz, as most collections
        name = f"{i:04d}.{fmt}"
        sf.write(str(root / name), stereo, sr, format=fmt.upper())
        clips.append(Clip(name, {"label": str(i % 2)}))
    return clips


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"{args.clips} stereo 44.1 kHz clips of {args.seconds:.0f} s → mono {MEL.sr} Hz, {MEL.duration:.0f} s, "
          f"1 process, 1 thread")
    print(f"{'format':<8}{'cold decode':>14}{'warm, re-hash':>16}{'warm, index':>15}{'+ mel':>12}{'cache/clip':>12}")
    for fmt in ("wav", "mp3"):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            clips = _write(root, fmt, args.clips, args.seconds)
            decode(root / clips[0].path, sr=MEL.sr, duration=1.0)  # librosa's lazy imports: a one-off ~2.6 s
            kw = {"root": root, "name": fmt, "sr": MEL.sr, "duration": MEL.duration, "cache_root": root / "cache",
                  "workers": 1}
            t0 = time.perf_counter()
            subset, _ = ingest(clips, **kw)
            cold = args.clips / (time.perf_counter() - t0)
            shutil.rmtree(root / "cache" / "hashes")  # forget the hashes: every file is read again
            t0 = time.perf_counter()
            subset, _ = ingest(clips, **kw)
            warm = args.clips / (time.perf_counter() - t0)
            t0 = time.perf_counter()
            subset, _ = ingest(clips, **kw)
            audio = np.asarray(subset.audio)
            indexed = args.clips / (time.perf_counter() - t0)
            t0 = time.perf_counter()
            spectrograms(audio, MelSpectrogram(MEL), batch_size=8)
            mel = args.clips / (time.perf_counter() - t0)
            size = sum(f.stat().st_size for f in Path(subset.path).iterdir()) / args.clips
            print(f"{fmt:<8}{cold:>10.1f} c/s{warm:>12.1f} c/s{indexed:>11.1f} c/s{mel:>8.1f} c/s{size / 2**20:>9.2f} MB")


if __name__ == "__main__":
    main()
