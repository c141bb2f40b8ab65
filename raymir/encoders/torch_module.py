"""``encoder.kind: torch``: an ``nn.Module`` from a factory, ``encoder.path`` = ``module.path:factory`` or
``/path/file.py:factory``.

The factory is called with no arguments and returns an ``nn.Module`` with

- ``sample_rate`` (int): the rate its input is at (raymir resamples clips to it);
- ``layer_outputs(y)``: y [batch, samples] float32 → a sequence of L tensors, each [batch, channels] or
  [batch, channels, time] (raymir pools the time axis with ``encoder.pooling``).

``encoder.weights`` is a state_dict file read with ``torch.load(..., weights_only=True)``: tensors and plain
containers only, never arbitrary pickled objects (which could run code). Without it the module keeps the
weights its factory gives it. The module runs in eval mode, without gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

from raymir.config.sections import EncoderConfig
from raymir.encoders.source import import_code
from raymir.errors import ModelFileError


def load_factory(path: str) -> tuple[Callable[[], nn.Module], ModuleType]:
    """``module.path:factory`` or ``file.py:factory`` → (the factory, its module); ModelFileError naming what lacks."""
    where, _, name = path.rpartition(":")
    if not where or not name.isidentifier():
        raise ModelFileError(f"encoder.path: {path!r}: expected module.path:factory or file.py:factory")
    module = import_code(where)
    factory = getattr(module, name, None)
    if factory is None:
        raise ModelFileError(f"encoder.path: {where} has no factory {name!r} (it defines: "
                             f"{', '.join(k for k in vars(module) if not k.startswith('_')) or 'nothing'})")
    if not callable(factory):
        raise ModelFileError(f"encoder.path: {where}:{name} is a {type(factory).__name__}, not a callable factory")
    return factory, module


def load_weights(net: nn.Module, weights: str, *, owner: str) -> None:
    """Load the state_dict file ``weights`` into ``net`` (strict: every name and shape must match)."""
    try:
        state = torch.load(Path(weights).expanduser(), map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError for anything but tensors and plain containers, OSError, …
        raise ModelFileError(f"encoder.weights: {weights}: cannot read it as a state_dict with "
                             f"torch.load(weights_only=True) (tensors only, no pickled objects): "
                             f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from e
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"encoder.weights: {weights}: expected a state_dict (names → tensors), "
                             f"found a {type(state).__name__}")
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        raise ModelFileError(f"encoder.weights: {weights} does not fit the module of {owner}: {e}") from e


def build(e: EncoderConfig, *, weights: bool = True, seed: int | None = None) -> tuple[nn.Module, list]:
    """The module of ``e`` in eval mode, its weights loaded (``weights`` False: as the factory made it, after
    ``torch.manual_seed(seed)`` when given — the random baseline): → (module, [factory, its module]) —
    the objects whose source files define it."""
    factory, module = load_factory(e.path)
    if seed is not None:
        torch.manual_seed(seed)
    try:
        net = factory()
    except Exception as exc:
        raise ModelFileError(f"encoder.path: calling {e.path}() raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(net, nn.Module):
        raise ModelFileError(f"encoder.path: {e.path}() returned a {type(net).__name__}, not a torch.nn.Module")
    sr = getattr(net, "sample_rate", None)
    if isinstance(sr, bool) or not isinstance(sr, int) or sr <= 0:
        raise ModelFileError(f"encoder.path: the module of {e.path} needs an int attribute sample_rate > 0 "
                             f"(the rate of its input), found {sr!r}")
    if not callable(getattr(net, "layer_outputs", None)):
        raise ModelFileError(f"encoder.path: the module of {e.path} ({type(net).__name__}) has no method "
                             "layer_outputs(y) → [batch, channels] or [batch, channels, time] per layer")
    if weights and e.weights:
        load_weights(net, e.weights, owner=e.path)
    return net.eval(), [module, factory, type(net)]


def forward(net: nn.Module) -> Callable[[torch.Tensor], Sequence[torch.Tensor]]:
    """y [batch, samples] → the module's per-layer outputs, without gradients."""
    @torch.no_grad()
    def run(y: torch.Tensor) -> Sequence[torch.Tensor]:
        return net.layer_outputs(y)
    return run
