"""Audio front end: repeat-padding, the torch mel spectrogram, and the MFCC baseline.

The mel spectrogram is computed with ``torch.stft`` and librosa's Slaney mel filterbank so
that the same code runs on CPU and GPU, batched, inside the model. It matches
``librosa.power_to_db(librosa.feature.melspectrogram(...), ref=np.max)`` per clip.

The filterbank is computed here (``mel_filterbank``, the same operations as ``librosa.filters.mel``,
equal to it bit for bit), so the models and front ends import without librosa; only the MFCC baseline
and the librosa reference need it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from raymir.config.sections import MelParams

FRAMINGS = ("center", "same")


def repeat_pad(y: np.ndarray, n_samples: int) -> np.ndarray:
    """Repeat (tile) clips along the last axis to exactly ``n_samples`` samples.

    y: [..., t] → [..., n_samples]. Longer clips are cut; an empty clip becomes silence.
    """
    t = y.shape[-1]
    if t == 0:
        return np.zeros(y.shape[:-1] + (n_samples,), dtype=y.dtype)
    if t >= n_samples:
        return y[..., :n_samples]
    reps = -(-n_samples // t)
    return np.concatenate([y] * reps, axis=-1)[..., :n_samples]


def tile_shifted(y: torch.Tensor, shift: torch.Tensor, n_samples: int) -> torch.Tensor:
    """``repeat_pad(np.roll(y[b], shift[b]), n_samples)`` for a batch, on y's device.

    y [B, t], shift [B] integer → [B, n_samples]. Loaders send clips at their stored length and the
    device tiles them, so a short clip crosses processes and the bus once instead of ×(n_samples / t).
    """
    b, t = y.shape
    if t == 0:
        return y.new_zeros(b, n_samples)
    k = torch.arange(n_samples, device=y.device)
    return torch.gather(y, 1, (k[None, :] - shift.to(y.device, torch.long)[:, None]) % t)


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default, ``htk=False``): linear below 1 kHz, logarithmic above. [n] → [n]."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    mels = hz / f_sp
    log_t = hz >= min_log_hz
    mels[log_t] = min_log_hz / f_sp + np.log(hz[log_t] / min_log_hz) / (np.log(6.4) / 27.0)
    return mels


def mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """The inverse of ``hz_to_mel``: [n] → [n]."""
    mels = np.asarray(mels, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel = min_log_hz / f_sp
    hz = f_sp * mels
    log_t = mels >= min_log_mel
    hz[log_t] = min_log_hz * np.exp(np.log(6.4) / 27.0 * (mels[log_t] - min_log_mel))
    return hz


def mel_filterbank(*, sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Slaney-normalised triangular mel filters on the Slaney mel scale: → [n_mels, 1 + n_fft // 2] float32.

    The same operations, in the same order, as ``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels,
    fmin=fmin, fmax=fmax)`` (htk=False, norm="slaney"), so the two are equal bit for bit (tested)."""
    fmax = float(sr) / 2 if fmax is None else fmax
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float32)
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(np.asarray([fmin]))[0], hz_to_mel(np.asarray([fmax]))[0], n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, np.newaxis]  # Slaney: constant energy per band
    return weights


class MelSpectrogram(nn.Module):
    """Waveform → log-mel spectrogram in dB, referenced to each clip's own maximum.

    forward: y [batch, samples] → spec [batch, 1, n_mels, frames].
    The dB reference is per clip (never per batch), so a clip's spectrogram does not
    depend on which other clips share its batch.

    ``framing`` says where the frames sit: ``"center"`` (default) as librosa, n_fft // 2 zeros on
    each side, 1 + samples // hop frames, frame t centred on sample t·hop; ``"same"`` as a Keras
    convolution with "same" padding (kapre's Melspectrogram, which the released Choi 2017 model
    was trained with): ceil(samples / hop) frames, the zeros needed split with one less on the
    left when odd. For 29 s at 12 kHz both give 1360 frames; "same" starts 48 samples later.
    """

    def __init__(self, params: MelParams = MelParams(), *, framing: str = "center") -> None:
        super().__init__()
        if framing not in FRAMINGS:
            raise ValueError(f"framing must be one of {FRAMINGS}, not {framing!r}")
        self.params = params
        self.framing = framing
        fb = mel_filterbank(sr=params.sr, n_fft=params.n_fft, n_mels=params.n_mels, fmin=params.fmin,
                            fmax=params.fmax)
        self.register_buffer("mel_fb", torch.from_numpy(fb).float(), persistent=False)
        # librosa's "hann" is scipy's periodic Hann window, as is torch's default.
        self.register_buffer("window", torch.hann_window(params.n_fft), persistent=False)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        p = self.params
        y = y.float()
        if self.framing == "same":
            n_frames = -(-y.shape[-1] // p.hop_length)
            pad = max((n_frames - 1) * p.hop_length + p.n_fft - y.shape[-1], 0)
            y = nn.functional.pad(y, (pad // 2, pad - pad // 2))
        stft = torch.stft(
            y, n_fft=p.n_fft, hop_length=p.hop_length, window=self.window,
            center=self.framing == "center", pad_mode="constant", return_complex=True,
        )
        power = stft.real.square() + stft.imag.square()  # [batch, freq, frames]
        mel = torch.matmul(self.mel_fb, power)  # [batch, n_mels, frames]
        amin = 1e-10
        db = 10.0 * torch.log10(mel.clamp_min(amin))
        ref = db.amax(dim=(1, 2), keepdim=True)  # per-clip reference, as ref=np.max
        db = db - ref
        db = db.clamp_min(-p.top_db)
        return db.unsqueeze(1)


@torch.no_grad()
def spectrograms(audio: np.ndarray, front: nn.Module, *, batch_size: int = 32, path: Path | None = None) -> np.ndarray:
    """A front end over every clip: audio [n, samples] → [n, n_mels, frames] float16 (half the disk and RAM).

    With ``path``, the result is written there batch by batch as a ``.npy`` file and returned memory-mapped,
    so corpora larger than memory fit."""
    out: np.ndarray | None = None
    for start in range(0, len(audio), batch_size):
        y = torch.from_numpy(np.array(audio[start:start + batch_size], dtype=np.float32))  # a writable copy
        spec = front(y)
        spec = (spec[:, 0] if spec.dim() == 4 else spec).numpy()
        if out is None:
            shape = (len(audio), *spec.shape[1:])
            out = (np.empty(shape, np.float16) if path is None
                   else np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=shape))
        out[start:start + len(spec)] = spec
    if out is None:
        raise ValueError("spectrograms: no clips")
    if path is not None:
        out.flush()
    return out


def mel_db_librosa(y: np.ndarray, params: MelParams = MelParams()) -> np.ndarray:
    """Reference implementation with librosa: y [samples] → [n_mels, frames] dB."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=y, sr=params.sr, n_fft=params.n_fft, hop_length=params.hop_length,
        n_mels=params.n_mels, fmin=params.fmin, fmax=params.fmax, power=2.0,
    )
    return librosa.power_to_db(mel, ref=np.max, top_db=params.top_db)


MFCC_DIMS = 120


def mfcc_stats(y: np.ndarray, sr: int, *, n_mfcc: int = 20) -> np.ndarray:
    """The MFCC baseline of Choi et al. 2017: y [samples] → [120].

    20 MFCCs (librosa defaults: n_fft 2048, hop 512), their first and second differences,
    then mean and standard deviation over time of all 60 rows.
    """
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if y.size < 2048:
        y = repeat_pad(y, 2048)
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=n_mfcc)
    frames = mfcc.shape[1]  # ≥ 5 after the padding above; delta needs an odd width ≤ frames
    width = min(9, frames if frames % 2 else frames - 1)
    d1 = librosa.feature.delta(mfcc, order=1, width=width, mode="nearest")
    d2 = librosa.feature.delta(mfcc, order=2, width=width, mode="nearest")
    rows = np.concatenate([mfcc, d1, d2], axis=0)
    out = np.concatenate([rows.mean(axis=1), rows.std(axis=1)])
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
