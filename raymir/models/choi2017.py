"""The Choi et al. 2017 convnet: 5 × [conv 3×3, 32 ch → BN → ELU → max-pool], tagging head.

Pool sizes are those of the released code for 96 mel bins, (2,4),(3,4),(2,5),(2,4),(4,4),
which reduce a 96×1360 spectrogram to 1×1 (the list printed in the paper is the branch
for ≥256 bins and cannot work for 96).
"""

from __future__ import annotations

import torch
from torch import nn

from raymir.audio import MelParams, MelSpectrogram

POOLS: tuple[tuple[int, int], ...] = ((2, 4), (3, 4), (2, 5), (2, 4), (4, 4))
N_LAYERS = len(POOLS)
HEAD_POOLS = ("mean", "max")  # global pool before the head: raymir's nets | the released Keras model
STANDARDIZE_EPS = 1e-10  # kapre's Normalization2D adds this to the standard deviation


def standardize_per_clip(spec: torch.Tensor) -> torch.Tensor:
    """Each clip standardised by its own mean and (population) standard deviation, as kapre's
    ``Normalization2D(str_axis="data_sample")``: spec [batch, 1, n_mels, frames] → the same shape."""
    mean = spec.mean(dim=(1, 2, 3), keepdim=True)
    std = spec.std(dim=(1, 2, 3), keepdim=True, correction=0)
    return (spec - mean) / (std + STANDARDIZE_EPS)


class Choi2017(nn.Module):
    """Waveform in, tag logits out; ``layer_features`` gives the 5 pooled layer features.

    forward: y [batch, samples] → logits [batch, n_classes].

    The keyword options reproduce the released Keras model (``raymir.models.keras_release``) and are
    off by default, so raymir's own nets keep their behaviour: ``standardize`` standardises each
    clip's dB spectrogram by its own mean and std before the first conv; ``head_pool="max"`` takes
    the global max (not mean) of the last block before the head (the same on a 1×1 map, not on
    longer inputs); ``bn_eps`` is BatchNorm's epsilon (Keras: 1e-3); ``framing`` is the front end's
    (see :class:`raymir.audio.MelSpectrogram`). None of them adds a parameter or buffer, so
    state_dict names and shapes are the same with any setting.
    """

    def __init__(self, n_classes: int = 50, *, channels: int = 32, mel: MelParams = MelParams(),
                 standardize: bool = False, head_pool: str = "mean", bn_eps: float = 1e-5,
                 framing: str = "center") -> None:
        super().__init__()
        if head_pool not in HEAD_POOLS:
            raise ValueError(f"head_pool must be one of {HEAD_POOLS}, not {head_pool!r}")
        self.frontend = MelSpectrogram(mel, framing=framing)
        self.standardize = standardize
        self.head_pool = head_pool
        blocks, c_in = [], 1
        for pool in POOLS:
            blocks.append(nn.Sequential(
                nn.Conv2d(c_in, channels, 3, padding=1), nn.BatchNorm2d(channels, eps=bn_eps), nn.ELU(),
                nn.MaxPool2d(pool),
            ))
            c_in = channels
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(channels, n_classes)
        self.feature_dims = (channels,) * N_LAYERS
        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # He-normal, as the released model (and the random baseline)
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def spec_maps(self, spec: torch.Tensor) -> list[torch.Tensor]:
        """Each block's output from a dB spectrogram: spec [batch, 1, n_mels, frames] → 5 × [batch, channels, h, w]."""
        x = standardize_per_clip(spec) if self.standardize else spec
        maps = []
        for block in self.blocks:
            x = block(x)
            maps.append(x)
        return maps

    def _maps(self, y: torch.Tensor) -> list[torch.Tensor]:
        return self.spec_maps(self.frontend(y))  # dB, per-clip reference

    def _logits(self, last: torch.Tensor) -> torch.Tensor:
        pooled = last.amax(dim=(2, 3)) if self.head_pool == "max" else last.mean(dim=(2, 3))
        return self.head(pooled)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self._logits(self._maps(y)[-1])

    def forward_spec(self, spec: torch.Tensor) -> torch.Tensor:
        """Tag logits from a dB spectrogram: spec [batch, 1, n_mels, frames] → [batch, n_classes]."""
        return self._logits(self.spec_maps(spec)[-1])

    def layer_features(self, y: torch.Tensor) -> list[torch.Tensor]:
        """Global average pool after each block: y [batch, samples] → 5 × [batch, channels]."""
        return [m.mean(dim=(2, 3)) for m in self._maps(y)]
