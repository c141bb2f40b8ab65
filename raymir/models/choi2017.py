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


class Choi2017(nn.Module):
    """Waveform in, tag logits out; ``layer_features`` gives the 5 pooled layer features.

    forward: y [batch, samples] → logits [batch, n_classes].
    """

    def __init__(self, n_classes: int = 50, *, channels: int = 32, mel: MelParams = MelParams()) -> None:
        super().__init__()
        self.frontend = MelSpectrogram(mel)
        blocks, c_in = [], 1
        for pool in POOLS:
            blocks.append(nn.Sequential(
                nn.Conv2d(c_in, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ELU(), nn.MaxPool2d(pool),
            ))
            c_in = channels
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(channels, n_classes)
        self.feature_dims = (channels,) * N_LAYERS
        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # He-normal, as the released model (and the random baseline)
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def _maps(self, y: torch.Tensor) -> list[torch.Tensor]:
        x = self.frontend(y)  # dB, no input normalisation (as the released code)
        maps = []
        for block in self.blocks:
            x = block(x)
            maps.append(x)
        return maps

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        last = self._maps(y)[-1]
        return self.head(last.mean(dim=(2, 3)))

    def layer_features(self, y: torch.Tensor) -> list[torch.Tensor]:
        """Global average pool after each block: y [batch, samples] → 5 × [batch, channels]."""
        return [m.mean(dim=(2, 3)) for m in self._maps(y)]
