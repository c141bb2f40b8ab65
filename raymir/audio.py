"""Audio front end: repeat-padding, the torch mel spectrogram, and the MFCC baseline.

The mel spectrogram is computed with ``torch.stft`` and librosa's Slaney mel filterbank so
that the same code runs on CPU and GPU, batched, inside the model. It matches
``librosa.power_to_db(librosa.feature.melspectrogram(...), ref=np.max)`` per clip.
"""

from __future__ import annotations

from pathlib import Path

import librosa
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
        fb = librosa.filters.mel(
            sr=params.sr, n_fft=params.n_fft, n_mels=params.n_mels,
            fmin=params.fmin, fmax=params.fmax, htk=False, norm="slaney",
        )
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
