"""``encoder.kind: hear``: a module in the HEAR API (Turian et al. 2022, hearbenchmark.com), ``encoder.path`` =
its importable name or a .py file.

The module provides ``load_model(model_file_path="")`` → a model with ``sample_rate``,
``scene_embedding_size`` and ``timestamp_embedding_size``; ``get_scene_embeddings(audio, model)``:
audio [n, samples] → [n, d]; ``get_timestamp_embeddings(audio, model)`` → ([n, frames, d], timestamps
[n, frames]). ``encoder.weights``, when set, is passed to ``load_model`` as its model_file_path.

Two layers: layer 1 = the scene embedding [n, scene_embedding_size]; layer 2 = the timestamp embeddings,
pooled over their frames with ``encoder.pooling`` (mean, max, or mean+std: [n, 2 · timestamp_embedding_size]).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType

import torch

from raymir.config.sections import EncoderConfig
from raymir.encoders.source import import_code
from raymir.errors import ModelFileError

API = ("load_model", "get_scene_embeddings", "get_timestamp_embeddings")


def load(e: EncoderConfig) -> tuple[ModuleType, object]:
    """→ (the HEAR module of ``e.path``, its loaded model); ModelFileError naming what the module lacks."""
    module = import_code(e.path)
    missing = [f for f in API if not callable(getattr(module, f, None))]
    if missing:
        raise ModelFileError(f"encoder.path: {e.path} does not implement the HEAR API: no {', '.join(missing)}")
    try:
        model = module.load_model(e.weights) if e.weights else module.load_model()
    except Exception as exc:
        what = f"load_model({e.weights!r})" if e.weights else "load_model()"
        raise ModelFileError(f"encoder.path: {e.path}: {what} raised {type(exc).__name__}: {exc}") from exc
    sr = getattr(model, "sample_rate", None)
    if isinstance(sr, bool) or not isinstance(sr, int) or sr <= 0:
        raise ModelFileError(f"encoder.path: {e.path}: the model of load_model() needs an int sample_rate > 0, "
                             f"found {sr!r}")
    if isinstance(model, torch.nn.Module):
        model.eval()
    return module, model


def expected_widths(model) -> tuple[int | None, int | None]:
    """The widths the model declares (scene_embedding_size, timestamp_embedding_size; None where absent)."""
    return getattr(model, "scene_embedding_size", None), getattr(model, "timestamp_embedding_size", None)


def forward(module: ModuleType, model) -> Callable[[torch.Tensor], Sequence[torch.Tensor]]:
    """y [batch, samples] → [scene embeddings [batch, d], timestamp embeddings as [batch, d, frames]]
    (channels first, like every layer raymir pools over time)."""
    scene_size, frame_size = expected_widths(model)

    @torch.no_grad()
    def run(y: torch.Tensor) -> Sequence[torch.Tensor]:
        scene = torch.as_tensor(module.get_scene_embeddings(y, model))
        frames = module.get_timestamp_embeddings(y, model)
        if not isinstance(frames, (tuple, list)) or len(frames) != 2:
            raise ModelFileError("layer 2: get_timestamp_embeddings must return (embeddings [n, frames, d], "
                                 f"timestamps [n, frames]), got a {type(frames).__name__}")
        frames = torch.as_tensor(frames[0])
        if frames.ndim != 3:
            raise ModelFileError(f"layer 2: get_timestamp_embeddings gave embeddings of shape {tuple(frames.shape)}; "
                                 f"expected [n={len(y)}, frames, d]")
        for layer, out, size, axis in ((1, scene, scene_size, -1), (2, frames, frame_size, -1)):
            if size is not None and out.shape[axis] != size:
                raise ModelFileError(f"layer {layer}: width {out.shape[axis]} (shape {tuple(out.shape)}), but the model "
                                     f"declares {'scene' if layer == 1 else 'timestamp'}_embedding_size {size}")
        return [scene, frames.transpose(1, 2)]
    return run
