"""Given audio encoders (``encoder.kind`` torch or hear) as one object: clips in, per-layer pooled features out.

:func:`load_encoder` imports the encoder, checks it on a test signal (every problem → ModelFileError naming
the module or file, the layer and the shape found vs expected) and returns an :class:`AudioEncoder`, whose
:meth:`~AudioEncoder.embed` takes clips at any rate: resample → windows → the encoder's layers → pooled over
time → the mean of each clip's windows (``raymir.encoders.windows``). A clip the encoder fails on gets
NaN features and a message, never a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from raymir.config.sections import EncoderConfig
from raymir.encoders import hear, park_release, torch_module
from raymir.encoders.source import content_sha256, source_files
from raymir.encoders.windows import average_windows, cut, n_windows, pool, resample
from raymir.errors import ModelFileError

TEST_SECONDS = 1.0  # the test signal: 2 clips of quiet noise, this long (or one window, if windows are set)


@dataclass(frozen=True, eq=False)
class AudioEncoder:
    """A loaded encoder. ``sha256``: the content of what defines it — its weights file's bytes (when given),
    then the bytes of the source files of its module, factory and class (``source.content_sha256``).
    ``params``: what its features depend on beside the clips, their cache key (kind, path, sha256, pooling,
    window_seconds; and the seed of a random-weights twin). ``widths``: each layer's pooled width."""

    kind: str
    name: str
    sha256: str
    sr: int
    widths: tuple[int, ...]
    params: dict
    section: EncoderConfig
    forward: Callable[[torch.Tensor], Sequence[torch.Tensor]] = field(repr=False)

    @property
    def n_layers(self) -> int:
        return len(self.widths)

    @property
    def window(self) -> int:
        """Samples per window at the encoder's rate (0: whole clips)."""
        return int(round(self.section.window_seconds * self.sr))

    def layers_of(self, y: np.ndarray) -> list[np.ndarray]:
        """Windows y [b, samples] at the encoder's rate → per-layer pooled features, L × [b, d_i] float32;
        raises on an output of another shape than the layer's."""
        outs = self.forward(torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)))
        pooled = [pool(out, self.section.pooling).detach().cpu().numpy() for out in outs]
        shapes = [p.shape for p in pooled]
        if shapes != [(len(y), d) for d in self.widths]:
            raise ValueError(f"pooled layer shapes {shapes}, expected {[(len(y), d) for d in self.widths]}")
        return pooled

    def embed(self, audio: np.ndarray, sr: int, *, batch_size: int = 8
              ) -> tuple[list[np.ndarray], dict[int, str]]:
        """Clips audio [n, samples] at ``sr`` → (L per-layer features [n, d_i] float32, {row: message} of the
        clips that failed).

        Clips go through in batches of about ``batch_size`` windows. A batch that raises is retried clip by
        clip; a clip that still raises, or whose features are NaN or infinite, gets NaN rows and its message.
        """
        n, t = np.shape(audio)
        w = n_windows(resample(np.zeros((1, t), np.float32), sr, self.sr).shape[1], self.window)
        per_batch = max(1, batch_size // w)
        layers = [np.full((n, d), np.nan, dtype=np.float32) for d in self.widths]
        failed: dict[int, str] = {}
        for start in range(0, n, per_batch):
            rows = range(start, min(n, start + per_batch))
            y = cut(resample(np.asarray(audio[rows.start:rows.stop]), sr, self.sr), self.window)
            try:
                parts = {rows: self.layers_of(y)}
            except Exception:  # one bad clip must not cost its batch: each clip alone
                parts = {}
                for r, i in zip(rows, range(0, len(y), w)):
                    try:
                        parts[range(r, r + 1)] = self.layers_of(y[i:i + w])
                    except Exception as e:
                        failed[r] = f"{self.name} raised {type(e).__name__}: {e}"
            for rs, feats in parts.items():
                for out, f in zip(layers, feats):
                    out[rs.start:rs.stop] = average_windows(f, w)
        for i, out in enumerate(layers, start=1):
            for r in np.flatnonzero(~np.isfinite(out).all(axis=1)):
                if int(r) not in failed:
                    failed[int(r)] = f"{self.name}: layer {i} gave NaN or infinite values"
        for r in failed:
            for out in layers:
                out[r] = np.nan
        return layers, dict(sorted(failed.items()))


def check_outputs(outs, *, where: str, batch: int, seconds: float) -> None:
    """The per-layer outputs of the test signal: a non-empty sequence of tensors, each [batch, channels] or
    [batch, channels, time], finite; else ModelFileError naming ``where``, the layer and the shapes."""
    if not isinstance(outs, (list, tuple)) or not outs:
        raise ModelFileError(f"{where}: expected a non-empty list of per-layer tensors, got {type(outs).__name__}")
    signal = f"the test signal: {batch} clips of {seconds:g} s of quiet noise"
    for i, out in enumerate(outs, start=1):
        if not isinstance(out, (torch.Tensor, np.ndarray)):
            raise ModelFileError(f"{where}: layer {i} is a {type(out).__name__}, not a tensor")
        shape = tuple(out.shape)
        if len(shape) not in (2, 3) or shape[0] != batch:
            raise ModelFileError(f"{where}: layer {i} has shape {list(shape)}; expected [batch={batch}, channels] or "
                                 f"[batch={batch}, channels, time] ({signal})")
        if not torch.isfinite(torch.as_tensor(out)).all():
            raise ModelFileError(f"{where}: layer {i} (shape {list(shape)}) holds NaN or infinite values on {signal}")


def _test_signal(sr: int, e: EncoderConfig, *, at_least: float = 0.0) -> tuple[np.ndarray, float]:
    """2 clips of quiet noise at the encoder's rate, one window long (1 s without windows), and at least
    ``at_least`` seconds: → (y [2, samples], s)."""
    seconds = max(e.window_seconds or TEST_SECONDS, at_least)
    rng = np.random.default_rng(0)
    return (0.01 * rng.standard_normal((2, int(round(seconds * sr))))).astype(np.float32), seconds


def load_encoder(e: EncoderConfig, *, random_seed: int | None = None) -> AudioEncoder:
    """The encoder of the section ``e`` (kind torch, hear or park2017_keras), checked on a test signal.

    ``random_seed`` (torch, park2017_keras): the random-weights twin (park2017_keras: the release's tower,
    untrained) — the factory's module built after
    ``torch.manual_seed(random_seed)``, without ``encoder.weights``. Raises ModelFileError naming the module
    or file, the layer, and the shape found vs expected.
    """
    weights = [Path(e.weights).expanduser()] if e.weights and random_seed is None else []
    if e.kind == "torch":
        net, defined_by = torch_module.build(e, weights=random_seed is None, seed=random_seed)
        sr, fwd, where = net.sample_rate, torch_module.forward(net), f"the module of {e.path}"
        name = f"{Path(e.path.rpartition(':')[0]).stem}:{e.path.rpartition(':')[2]}"
    elif e.kind == "hear":
        if random_seed is not None:
            raise ValueError("a HEAR module has no random-weights twin")
        module, model = hear.load(e)
        defined_by = [module, type(model)]
        sr, fwd, where = model.sample_rate, hear.forward(module, model), f"the HEAR module {e.path}"
        name = Path(e.path).stem if e.path.endswith(".py") else e.path
    elif e.kind == "park2017_keras":
        net, release_sha = park_release.build(e, seed=random_seed)
        defined_by, sr, fwd = [], net.sample_rate, torch_module.forward(net)
        where, name = f"the Park 2017 release {e.path}", Path(e.path).name
    else:
        raise ValueError(f"encoder.kind {e.kind!r}: load_encoder takes torch, hear or park2017_keras")
    y, seconds = _test_signal(sr, e, at_least=park_release.MIN_SECONDS if e.kind == "park2017_keras" else 0.0)
    try:
        outs = fwd(torch.from_numpy(y))
    except ModelFileError as exc:
        raise ModelFileError(f"{where}: {exc}") from exc
    except Exception as exc:
        raise ModelFileError(f"{where}: raised {type(exc).__name__} on the test signal ({len(y)} clips of "
                             f"{seconds:g} s of quiet noise at {sr} Hz): {exc}") from exc
    outs = list(outs) if isinstance(outs, tuple) else outs
    check_outputs(outs, where=where, batch=len(y), seconds=seconds)
    widths = tuple(int(pool(o, e.pooling).shape[1]) for o in outs)
    # the release: its file's sha256 (its twin: its weights' digest); torch / hear: what defines the module
    sha = release_sha if e.kind == "park2017_keras" else content_sha256(weights + source_files(*defined_by))
    params = {"kind": e.kind, "path": e.path, "sha256": sha, "pooling": e.pooling, "window_seconds": e.window_seconds}
    if random_seed is not None:
        params["random_seed"] = random_seed
    return AudioEncoder(kind=e.kind, name=name + (" (random weights)" if random_seed is not None else ""), sha256=sha,
                        sr=int(sr), widths=widths, params=params, section=e, forward=fwd)


__all__ = ["AudioEncoder", "load_encoder"]
