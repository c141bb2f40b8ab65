"""A tiny torch encoder for trying ``--encoder torch:tests/tiny_torch_encoder.py:make`` by hand: five 1-d conv
layers on 8 kHz audio, so ``--preset tiny``'s layer combinations ("1", "5", "12345") all exist. Random weights;
it shows the plumbing, not transfer learning."""

import torch
from torch import nn


class TinyConv(nn.Module):
    """y [batch, samples] at 8 kHz → five layers [batch, channels, time] (raymir pools their time axis)."""

    sample_rate = 8000

    def __init__(self, channels=(8, 8, 16, 16, 32)):
        super().__init__()
        ins = (1, *channels[:-1])
        self.convs = nn.ModuleList(nn.Conv1d(i, o, 9, stride=4, padding=4) for i, o in zip(ins, channels))

    def layer_outputs(self, y: torch.Tensor) -> list[torch.Tensor]:
        x, outs = y[:, None], []
        for conv in self.convs:
            x = torch.relu(conv(x))
            outs.append(x)
        return outs


def make() -> TinyConv:
    torch.manual_seed(0)  # the same weights in every process
    return TinyConv()
