"""Model registry: name → constructor. Sweeps refer to models by these names."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from raymir.models.choi2017 import Choi2017

MODELS: dict[str, Callable[..., nn.Module]] = {
    "choi2017": Choi2017,
}
