"""The Park et al. 2017 artist-label convnet: a 1-D convnet over time with mel bins as channels.

Front end (their code): 22.05 kHz, n_fft 1024, hop 512, 128 mel bins of the *magnitude* STFT,
compressed as log10(1 + 10·mel). Trained on random 3-s crops (129 frames).

Tower: [conv1d 128, k4, BN, ReLU, max-pool 4] × 3 → conv1d 128, k2, BN, ReLU, max-pool 2 →
conv1d 256, k1, BN, ReLU → global average pool → 256-d embedding. The basic model puts a
softmax over artists on top; the Siamese model compares embeddings by cosine similarity.
"""

from __future__ import annotations

import torch
from torch import nn

from raymir.audio import mel_filterbank
from raymir.config.sections import PARK_MEL, MelParams

CROP_FRAMES = 129  # 3 s at 22.05 kHz, hop 512
EMBED_DIM = 256


class ParkFrontend(nn.Module):
    """Waveform → log10(1 + 10·mel magnitude): y [batch, samples] → spec [batch, n_mels, frames]."""

    def __init__(self, mel: MelParams = PARK_MEL) -> None:
        super().__init__()
        self.mel = mel
        fb = mel_filterbank(sr=mel.sr, n_fft=mel.n_fft, n_mels=mel.n_mels, fmin=mel.fmin, fmax=mel.fmax)
        self.register_buffer("mel_fb", torch.from_numpy(fb).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(mel.n_fft), persistent=False)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        stft = torch.stft(y.float(), n_fft=self.mel.n_fft, hop_length=self.mel.hop_length, window=self.window,
                          center=True, pad_mode="constant", return_complex=True)
        return torch.log10(1.0 + 10.0 * torch.matmul(self.mel_fb, stft.abs()))


def _block(c_in: int, c_out: int, k: int, pool: int | None, bn_eps: float) -> nn.Sequential:
    # "same" padding as Keras does it for even kernels: one step less on the left than on the right
    layers: list[nn.Module] = [nn.ZeroPad1d(((k - 1) // 2, k // 2)), nn.Conv1d(c_in, c_out, k),
                               nn.BatchNorm1d(c_out, eps=bn_eps), nn.ReLU()]
    if pool:
        layers.append(nn.MaxPool1d(pool))
    return nn.Sequential(*layers)


class Park2017(nn.Module):
    """The 1-D tower; ``n_artists`` adds the basic model's softmax head (None: Siamese, no head).

    forward: spec [B, n_mels, frames] → logits [B, n_artists] (basic) or embedding [B, 256] (Siamese).

    The keyword options reproduce the released Keras models (``raymir.models.keras_release``) and are
    off by default: ``standardize=(mean, std)`` standardises the log-mel input, (spec − mean) / std,
    before the first conv (the release: the training set's 0.22620339, 0.25794547); ``bn_eps`` is
    BatchNorm's epsilon (Keras: 1e-3). Neither adds a parameter or buffer.
    """

    def __init__(self, n_artists: int | None = None, *, n_mels: int = 128,
                 standardize: tuple[float, float] | None = None, bn_eps: float = 1e-5) -> None:
        super().__init__()
        self.standardize = standardize
        self.tower = nn.Sequential(
            _block(n_mels, 128, 4, 4, bn_eps), _block(128, 128, 4, 4, bn_eps), _block(128, 128, 4, 4, bn_eps),
            _block(128, 128, 2, 2, bn_eps), _block(128, EMBED_DIM, 1, None, bn_eps))
        self.head = nn.Linear(EMBED_DIM, n_artists) if n_artists else None

    def maps(self, spec: torch.Tensor) -> torch.Tensor:
        """Last conv layer (after its ReLU) over time: [B, n_mels, frames] → [B, 256, frames // 128]."""
        if self.standardize is not None:
            mean, std = self.standardize
            spec = (spec - mean) / std
        return self.tower(spec)

    def embed(self, spec: torch.Tensor) -> torch.Tensor:
        """Training-time embedding (global average pool): [B, n_mels, frames] → [B, 256]."""
        return self.maps(spec).mean(dim=2)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        e = self.embed(spec)
        return self.head(e) if self.head is not None else e


@torch.no_grad()
def track_feature(model: Park2017, spec: torch.Tensor, *, frames: int = CROP_FRAMES) -> torch.Tensor:
    """The paper's track feature: per 3-s segment, max over time of the last conv layer; mean over segments.

    spec [B, n_mels, T] (T ≥ frames) → [B, 256]. Computed in eval mode, segment by segment, so a
    track's feature does not depend on the batch it is in.
    """
    model.eval()
    n_seg = max(1, spec.shape[2] // frames)
    segs = spec[:, :, :n_seg * frames].reshape(spec.shape[0], spec.shape[1], n_seg, frames)
    segs = segs.permute(0, 2, 1, 3).reshape(-1, spec.shape[1], frames)  # [B·n_seg, n_mels, frames]
    per_seg = model.maps(segs).amax(dim=2)  # max over time
    return per_seg.reshape(spec.shape[0], n_seg, -1).mean(dim=1)
