"""Song-level descriptors for the "e" artist group factor: y [samples] → a fixed-length vector.

``librosa`` (the default) summarises spectral shape, timbre texture, harmony (chroma),
rhythm (tempo, onset rate) and loudness by their mean and standard deviation over time.
``essentia`` runs Essentia's MusicExtractor (install ``raymir[essentia]``), as Kim et al. 2018 did,
and keeps every numeric descriptor.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable

import librosa
import numpy as np

N_FFT, HOP = 2048, 512


def librosa_descriptors(y: np.ndarray, sr: int) -> np.ndarray:
    """Spectral/chroma/rhythm/loudness statistics: y [samples] → [52]."""
    y = np.asarray(y, dtype=np.float32)
    if y.size < N_FFT:
        y = np.pad(y, (0, N_FFT - y.size))
    S = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))  # one STFT serves every spectral feature
    rows = [
        librosa.feature.spectral_centroid(S=S, sr=sr),
        librosa.feature.spectral_bandwidth(S=S, sr=sr),
        librosa.feature.spectral_rolloff(S=S, sr=sr),
        librosa.feature.spectral_flatness(S=S),
        librosa.feature.spectral_contrast(S=S, sr=sr),
        librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP),
        librosa.amplitude_to_db(librosa.feature.rms(S=S), ref=1.0),
        librosa.feature.chroma_stft(S=S**2, sr=sr, tuning=0.0),  # no tuning estimate: faster, and defined for any input
    ]
    frames = min(r.shape[1] for r in rows)
    stacked = np.concatenate([r[:, :frames] for r in rows], axis=0)  # [25, frames]
    onset_env = librosa.onset.onset_strength(S=librosa.amplitude_to_db(S, ref=np.max), sr=sr)
    tempo = librosa.feature.tempo(onset_envelope=onset_env, sr=sr, hop_length=HOP)
    onsets = librosa.onset.onset_detect(onset_envelope=onset_env, sr=sr, hop_length=HOP)
    rate = len(onsets) / (len(y) / sr)
    out = np.concatenate([stacked.mean(axis=1), stacked.std(axis=1), np.atleast_1d(tempo)[:1], [rate]])
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def essentia_descriptors(y: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    """Every numeric descriptor of Essentia's MusicExtractor (mean/stdev statistics): name → values.

    Some descriptors (beat positions, …) vary in length from song to song; ``descriptor_matrix``
    keeps only those with one length and finite values in every song (about 1700 numbers).
    """
    try:
        import essentia
        import essentia.standard as es
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise RuntimeError("agf.descriptors: essentia is not installed; pip install 'raymir[essentia]'") from exc
    import soundfile as sf

    essentia.log.infoActive = essentia.log.warningActive = False
    fd, path = tempfile.mkstemp(suffix=".wav")  # MusicExtractor reads files, not arrays
    os.close(fd)
    try:
        sf.write(path, np.asarray(y, dtype=np.float32), sr)
        stats = ["mean", "stdev"]
        pool, _ = es.MusicExtractor(lowlevelStats=stats, rhythmStats=stats, tonalStats=stats)(path)
    finally:
        os.unlink(path)
    values = {}
    for name in pool.descriptorNames():
        v = pool[name]
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            values[name] = np.array([v], dtype=np.float32)
        elif isinstance(v, np.ndarray) and v.dtype.kind == "f":
            values[name] = v.astype(np.float32).ravel()
    return values


DESCRIPTORS: dict[str, Callable[[np.ndarray, int], np.ndarray | dict[str, np.ndarray]]] = {
    "librosa": librosa_descriptors,
    "essentia": essentia_descriptors,
}


def descriptor_matrix(per_song: list[np.ndarray | dict[str, np.ndarray]]) -> np.ndarray:
    """Stack per-song descriptors into [n_songs, d], dropping named entries that are missing,
    differ in length between songs, or hold a non-finite value in any song."""
    if not per_song or not isinstance(per_song[0], dict):
        return np.stack(per_song).astype(np.float32)
    names = sorted(set.intersection(*(set(d) for d in per_song)))
    keep = [n for n in names if len({d[n].size for d in per_song}) == 1
            and all(np.isfinite(d[n]).all() for d in per_song)]
    return np.stack([np.concatenate([d[n] for n in keep]) for d in per_song]).astype(np.float32)


def essentia_available() -> bool:
    try:
        import essentia  # noqa: F401
    except ImportError:
        return False
    return True
