"""The Kim et al. 2018 DCNN (their Table 2) as single-task (STN), multi-task (MTN) and wide (wSTN) nets.

Input: a standardised 128-bin log-mel patch of 1 s (43 frames). Every task has a *branch*
(conv blocks 2-7, global average pooling, dense 256, softmax head); the *stem* (block 1:
conv 5×5 16 ch + ELU + max-pool 2×1) is one module shared by all tasks in an MTN and one
module per task in an STN. A wSTN is a genre-only STN whose channel widths are scaled so
its parameter count matches a multi-task setup.

All nets take spec [batch, 1, n_mels, frames] and give, per task, logits [batch, n_out];
``embed`` gives the 256-d penultimate features of every task, concatenated.
"""

from __future__ import annotations

import torch
from torch import nn

# (out channels, kernel, batch norm, pool after, dropout after) for blocks 2..7 (Table 2)
BRANCH: tuple[tuple[int, int, bool, tuple[int, int] | None, float], ...] = (
    (32, 3, True, (2, 2), 0.1),
    (64, 3, False, (2, 2), 0.0),
    (64, 3, True, (2, 2), 0.1),
    (128, 3, False, (2, 2), 0.0),
    (256, 3, False, None, 0.0),
    (256, 1, True, None, 0.0),
)
STEM_CHANNELS = 16
EMBED_DIM = 256


def _scaled(c: int, width: float) -> int:
    return max(1, int(round(c * width)))


class Layers(nn.Sequential):
    """``nn.Sequential`` with its ``forward`` written here. ``Module.compile()`` compiles a module's call from its
    ``forward`` frame on; PyTorch never traces the frames of its own modules' files, so on a plain
    ``nn.Sequential`` (whose layers are all PyTorch's) it would find nothing to compile and run eagerly."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self:
            x = layer(x)
        return x


def _stem(width: float) -> Layers:
    c = _scaled(STEM_CHANNELS, width)
    return Layers(nn.Conv2d(1, c, 5, padding=2), nn.ELU(), nn.MaxPool2d((2, 1)))


class Branch(Layers):
    """Blocks 2-7 + GAP + BN + dense 256 (BN, ELU) + dropout: [B, c, F, T] → embedding [B, 256·width]."""

    def __init__(self, c_in: int, *, width: float) -> None:
        layers: list[nn.Module] = []
        for c, k, bn, pool, drop in BRANCH:
            c = _scaled(c, width)
            layers += [nn.Conv2d(c_in, c, k, padding=k // 2)]
            layers += [nn.BatchNorm2d(c)] if bn else []
            layers += [nn.ELU()]
            layers += [nn.MaxPool2d(pool)] if pool else []
            layers += [nn.Dropout(drop)] if drop else []
            c_in = c
        d = _scaled(EMBED_DIM, width)
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.BatchNorm1d(c_in),
                   nn.Linear(c_in, d), nn.BatchNorm1d(d), nn.ELU(), nn.Dropout(0.5)]
        super().__init__(*layers)
        self.dim = d


class KimNet(nn.Module):
    """STN/MTN/wSTN over ``tasks`` (name → number of outputs).

    shared: True → MTN (one stem for all tasks); False → STN (a stem per task).
    width: channel multiplier (1.0 = Table 2; > 1 for a wSTN).
    Per-bin standardisation statistics live in buffers (``spec_mean``/``spec_std`` [n_mels]),
    so a saved state dict is a complete encoder.
    """

    def __init__(self, tasks: dict[str, int], *, shared: bool, width: float = 1.0, n_mels: int = 128) -> None:
        super().__init__()
        if not tasks:
            raise ValueError("KimNet needs at least one task")
        self.tasks = dict(tasks)
        self.shared, self.width = shared, width
        self.register_buffer("spec_mean", torch.zeros(n_mels))
        self.register_buffer("spec_std", torch.ones(n_mels))
        if shared:
            self.stem = _stem(width)
        else:
            self.stems = nn.ModuleDict({t: _stem(width) for t in tasks})
        c_stem = _scaled(STEM_CHANNELS, width)
        self.branches = nn.ModuleDict({t: Branch(c_stem, width=width) for t in tasks})
        self.heads = nn.ModuleDict({t: nn.Linear(self.branches[t].dim, n) for t, n in tasks.items()})
        self.embed_dim = sum(b.dim for b in self.branches.values())

    def stem_of(self, task: str) -> nn.Module:
        return self.stem if self.shared else self.stems[task]

    def set_standardisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Per-mel-bin mean and std of the training spectrograms (dB): [n_mels] each."""
        self.spec_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.spec_std.copy_(torch.as_tensor(std, dtype=torch.float32).clamp_min(1e-3))

    def _standardise(self, spec: torch.Tensor) -> torch.Tensor:
        return (spec - self.spec_mean[:, None]) / self.spec_std[:, None]

    def forward(self, spec: torch.Tensor, task: str) -> torch.Tensor:
        """spec [B, 1, n_mels, frames] → logits [B, n_out] of ``task``."""
        x = self.stem_of(task)(self._standardise(spec))
        return self.heads[task](self.branches[task](x))

    def embed(self, spec: torch.Tensor) -> torch.Tensor:
        """Penultimate features of every task, concatenated: spec [B, 1, n_mels, frames] → [B, embed_dim]."""
        x = self._standardise(spec)
        shared = self.stem(x) if self.shared else None
        return torch.cat([b(shared if self.shared else self.stems[t](x)) for t, b in self.branches.items()], dim=1)


def n_params(model: nn.Module) -> int:
    """Trainable parameters (buffers excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def widened(n_out: int, target_params: int, *, task: str = "g", n_mels: int = 128, tol: float = 0.01) -> KimNet:
    """A single-task STN whose width is chosen (by bisection) so its parameter count ≈ ``target_params``."""
    lo, hi = 0.25, 8.0
    best = KimNet({task: n_out}, shared=False, width=1.0, n_mels=n_mels)
    for _ in range(40):
        mid = round((lo + hi) / 2, 6)  # a short float: it is logged and reused to rebuild the net
        net = KimNet({task: n_out}, shared=False, width=mid, n_mels=n_mels)
        count = n_params(net)
        if abs(count - target_params) < abs(n_params(best) - target_params):
            best = net
        if abs(count - target_params) <= tol * target_params:
            break
        lo, hi = (mid, hi) if count < target_params else (lo, mid)
    return best
