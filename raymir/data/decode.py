"""Audio files → mono float32 clips at one sample rate, with a reason instead of a crash.

soundfile (libsndfile ≥ 1.1: wav, flac, ogg, mp3, aiff, …) reads only the seconds needed, so a
20-minute file costs no more than a short one; what it cannot open (``.au`` variants, odd mp3s)
falls back to librosa / audioread. Channels are averaged, soxr resamples, short clips are
repeated to length. Every failure is a :class:`DecodeError` whose message says what is wrong.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from raymir.audio import repeat_pad

MIN_SR, MAX_SR = 1_000, 768_000  # outside this a header is corrupt, not a real recording
MIN_SECONDS = 0.05  # shorter clips carry no usable content even when repeated
RES_TYPE = "soxr_hq"


class DecodeError(ValueError):
    """A file that cannot become a clip; the message is the reason (recorded, then skipped)."""


def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _read(path: Path, *, offset: float, seconds: float) -> tuple[np.ndarray, int]:
    """[t] mono samples and their rate, from ``offset`` for at most ``seconds``."""
    try:
        with sf.SoundFile(str(path)) as f:
            sr = int(f.samplerate)
            if not MIN_SR <= sr <= MAX_SR:
                raise DecodeError(f"implausible sample rate {sr} Hz in the file header")
            start = int(offset * sr)
            if start:
                f.seek(min(start, max(f.frames - 1, 0)))
            y = f.read(frames=int(np.ceil(seconds * sr)), dtype="float32", always_2d=True)
            return y.mean(axis=1), sr
    except DecodeError:
        raise
    except PermissionError as e:
        raise DecodeError(f"cannot read the file: {_describe(e)}") from None
    except Exception as e_sf:  # not a format libsndfile knows: let audioread / ffmpeg try
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                y, sr = librosa.load(str(path), sr=None, mono=True, offset=offset, duration=seconds)
        except Exception as e_lr:
            raise DecodeError(f"cannot decode: soundfile: {_describe(e_sf)}; librosa: {_describe(e_lr)}") from None
        if not MIN_SR <= int(sr) <= MAX_SR:
            raise DecodeError(f"implausible sample rate {sr} Hz in the file header") from None
        return np.asarray(y, dtype=np.float32), int(sr)


def decode(path: Path | str, *, sr: int, duration: float, offset: float = 0.0) -> np.ndarray:
    """One file → y [round(sr · duration)] float32 mono at ``sr``.

    Reads ``duration`` seconds from ``offset`` (e.g. EmoMusic's first 29 s), repeat-pads shorter
    audio. Raises :class:`DecodeError` for empty or unreadable files, implausible sample rates,
    NaN/inf samples and clips shorter than 50 ms.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise DecodeError("empty file (0 bytes)")
    y, orig_sr = _read(path, offset=offset, seconds=duration)
    if y.size == 0:
        raise DecodeError("no audio samples" + (f" after {offset} s" if offset else ""))
    if not np.isfinite(y).all():
        raise DecodeError(f"{int((~np.isfinite(y)).sum())} NaN or infinite samples")
    if y.size < MIN_SECONDS * orig_sr:
        raise DecodeError(f"too short: {y.size / orig_sr:.3f} s (at least {MIN_SECONDS} s)")
    if orig_sr != sr:
        y = librosa.resample(y, orig_sr=orig_sr, target_sr=sr, res_type=RES_TYPE)
    return repeat_pad(np.asarray(y, dtype=np.float32), int(round(sr * duration)))
