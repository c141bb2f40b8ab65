"""The released Park et al. 2017 tower as a per-layer encoder (``encoder.kind: park2017_keras`` in layer_combos).

The paper's feature is one track feature (``raymir.models.park2017.track_feature``); ``layer_combos``
probes every conv block instead, as it does for Choi's: each block's output [batch, channels, frames]
(after its ReLU and max-pool; 128, 128, 128, 128, 256 channels), pooled over time by ``encoder.pooling``.
Input: Park's front end (log10(1 + 10·mel) at 22.05 kHz), standardised as the release was trained.
"""

from __future__ import annotations

import torch
from torch import nn

from raymir.config.sections import PARK_MEL, EncoderConfig
from raymir.extract import state_digest
from raymir.models.keras_release import PARK_RELEASE_OPTIONS, load_park2017
from raymir.models.park2017 import Park2017, ParkFrontend

MIN_SECONDS = 3.0  # the tower pools time by 4·4·4·2 = 128 frames: shorter inputs leave its last blocks empty


class ParkLayers(nn.Module):
    """A Park2017 tower with its front end: ``layer_outputs(y [batch, samples] at 22.05 kHz)`` → 5 × [b, c, frames]."""

    sample_rate = PARK_MEL.sr

    def __init__(self, net: Park2017) -> None:
        super().__init__()
        self.net = net.eval()
        self.front = ParkFrontend(PARK_MEL)

    def layer_outputs(self, y: torch.Tensor) -> list[torch.Tensor]:
        mean, std = self.net.standardize
        x, outs = (self.front(y) - mean) / std, []
        for block in self.net.tower:
            x = block(x)
            outs.append(x)
        return outs


def build(e: EncoderConfig, *, seed: int | None = None) -> tuple[ParkLayers, str]:
    """→ (the release of ``e.path`` as :class:`ParkLayers`, the file's sha256); with ``seed``, its random-weights twin
    (the release's tower and options, untrained, drawn after ``torch.manual_seed(seed)``) and its weights' digest."""
    if seed is None:
        net, info = load_park2017(e.path)
        return ParkLayers(net), info.sha256
    torch.manual_seed(seed)
    net = Park2017(None, n_mels=PARK_MEL.n_mels, **PARK_RELEASE_OPTIONS)
    return ParkLayers(net), state_digest(net.state_dict())
