"""The CUDA paths, on a GPU (every test here is marked ``gpu`` and skipped without CUDA).

Training steps run the trainers' own ``train_step`` (the function their Ray Train loops call) on batches
from the production loaders (``ClipDataset`` in a pinned DataLoader, ``CropBatches`` through
``crop_batches(pin=True)``), in bf16 autocast with channels-last convolutions, eager and with
torch.compile. Batch shapes are those of ``benchmarks/gpu_proof.py``, so the proof's compiled graphs
come from the inductor cache these tests fill.

Tolerances (GPU vs CPU):

- tiling on the device: equal (a gather of the same samples);
- Choi features: float32 on both sides; with TF32 convolutions off, |Δ| ≤ 1e-3 · max|feature| + 1e-3 · |feature|
  (cuFFT vs pocketfft and different convolution algorithms); with PyTorch's default (TF32 convolutions
  on the GPU) ≤ 3e-2 · max|feature|, TF32 carrying 10 mantissa bits;
- kernels built on the device: float64, relative 1e-10;
- LS-SVM fold scores (float64 and mixed on the GPU vs float64 on the CPU): equal, except where a test clip
  sits on a decision tie, so at most 1 % of the (grid point, fold) scores may differ, each by one clip.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

CUDA = torch.device("cuda")
BF16 = torch.bfloat16
# Batch shapes shared with benchmarks/gpu_proof.py (its compiled graphs then come from the inductor cache).
CHOI_BATCH, KIM_BATCH, PARK_BATCH, PARK_ANCHORS, PARK_ARTISTS = 128, 256, 128, 64, 120


@contextlib.contextmanager
def no_tf32():
    """float32 convolutions in full float32 (PyTorch lets cuDNN use TF32 for them by default)."""
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = before


def _params(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _changed(before: list[torch.Tensor], model: torch.nn.Module) -> bool:
    return any(not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters()))


def _finite(model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def _graphs() -> int:
    """Graphs torch.compile has captured in this process so far (a compiled model must add some)."""
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"]


def _dtype_probe(module: torch.nn.Module) -> list:
    """Records (dtype, channels-last) of ``module``'s outputs (eager only: a hook is a side effect)."""
    seen: list = []
    module.register_forward_hook(lambda m, i, o: seen.append(
        (o.dtype, o.dim() == 4 and o.is_contiguous(memory_format=torch.channels_last))))
    return seen


# --- training steps ---------------------------------------------------------------------------------


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compile"])
def test_choi_train_step_bf16_channels_last_from_pinned_loader(tmp_path, compiled):
    from torch.utils.data import DataLoader

    from raymir.audio import MelParams
    from raymir.models.choi2017 import Choi2017
    from raymir.train import choi

    mel = MelParams()
    rng = np.random.default_rng(0)
    path = tmp_path / "audio.npy"  # clips at their stored length (2 s), tiled to 29 s on the device
    np.save(path, 0.1 * rng.standard_normal((CHOI_BATCH, 2 * mel.sr), dtype=np.float32))
    targets = (rng.random((CHOI_BATCH, 50)) < 0.1).astype(np.float32)
    ds = choi.ClipDataset(np.load(path, mmap_mode="r"), targets, np.arange(CHOI_BATCH))
    shifts = choi.epoch_shifts(CHOI_BATCH, 2 * mel.sr, seed=0, epoch=0)
    loader = DataLoader(ds, batch_size=CHOI_BATCH, shuffle=True, drop_last=True, num_workers=2, pin_memory=True)
    torch.manual_seed(0)
    model = Choi2017(50, mel=mel).to(CUDA).to(memory_format=torch.channels_last)
    seen = _dtype_probe(model.blocks[0][0]) if not compiled else None
    graphs = _graphs()
    if compiled:
        model.compile()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = _params(model)
    losses = []
    for _ in range(2):
        for y, t, j in loader:
            assert y.is_pinned() and t.is_pinned() and y.shape == (CHOI_BATCH, 2 * mel.sr)
            losses.append(choi.train_step(model, opt, y, t, shifts[j], n_samples=mel.n_samples, device=CUDA,
                                          autocast=BF16))
    assert all(loss.device.type == CUDA.type and bool(torch.isfinite(loss)) for loss in losses)
    assert _changed(before, model) and _finite(model)
    assert next(model.parameters()).dtype == torch.float32  # bf16 is autocast's, the weights stay float32
    assert (_graphs() > graphs) == compiled
    if seen is not None:
        assert seen[0] == (BF16, True)  # the first convolution ran in bf16, channels-last


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compile"])
def test_kim_mtn_train_step_bf16_channels_last_from_pinned_crops(tmp_path, compiled):
    from functools import partial

    from raymir.models.kim2018 import KimNet
    from raymir.train import kim
    from raymir.train.crops import CropBatches, crop_batches

    n, n_frames, tasks = 64, 300, {"g": 16, "s": 10}
    rng = np.random.default_rng(0)
    np.save(tmp_path / "spec.npy", rng.standard_normal((n, 128, n_frames), dtype=np.float32).astype(np.float16))
    targets = {t: rng.dirichlet(np.ones(k), size=n).astype(np.float32) for t, k in tasks.items()}
    targets["s"][:3] = np.nan  # tracks without a target of that task are skipped
    torch.manual_seed(0)
    model = KimNet(tasks, shared=True).to(CUDA).to(memory_format=torch.channels_last)
    seen = _dtype_probe(model.stem[0]) if not compiled else None
    graphs = _graphs()
    if compiled:
        kim.compile_blocks(model)
    plan = partial(kim.batch_plan, seed=0, rank=0, world=1, train_idx=np.arange(n).repeat(8), batch_size=KIM_BATCH,
                   n_tasks=len(tasks), task_sampling="batch", n_frames=n_frames)
    crops = CropBatches(tmp_path / "spec.npy", plan, epochs=range(2), frames=kim.CROP_FRAMES)  # both tasks
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = _params(model)
    names = list(tasks)
    trained = set()
    for x, idx, task_i in crop_batches(crops, workers=2, pin=True):
        assert x.is_pinned() and x.dtype == torch.float16 and x.shape == (KIM_BATCH, 1, 128, kim.CROP_FRAMES)
        task = names[task_i]
        loss = kim.train_step(model, opt, x, torch.from_numpy(targets[task][idx.numpy()]), task, device=CUDA,
                              autocast=BF16, channels_last=True)
        assert loss.device.type == CUDA.type and bool(torch.isfinite(loss))
        trained.add(task)
    assert trained == set(tasks) and _changed(before, model) and _finite(model)
    assert (_graphs() > graphs) == compiled
    if seen is not None:
        assert seen[0] == (BF16, True)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compile"])
@pytest.mark.parametrize("mode", ["basic", "siamese"])
def test_park_train_step_bf16_from_pinned_crops(tmp_path, mode, compiled):
    """Park's tower is 1-D (Conv1d): channels-last does not apply to it."""
    from functools import partial

    from raymir.models.park2017 import CROP_FRAMES, Park2017
    from raymir.train import park
    from raymir.train.crops import CropBatches, crop_batches

    n, n_frames = 2 * PARK_ARTISTS, 300
    rng = np.random.default_rng(0)
    np.save(tmp_path / "spec.npy", rng.random((n, 128, n_frames), dtype=np.float32).astype(np.float16))
    label = np.arange(n) // 2  # two tracks per artist
    siamese = mode == "siamese"
    torch.manual_seed(0)
    model = Park2017(None if siamese else PARK_ARTISTS).to(CUDA)
    seen = _dtype_probe(model.tower[0][1]) if not compiled else None
    graphs = _graphs()
    if compiled:
        model.compile()
    train = np.arange(n)
    plan = partial(park.batch_plan, seed=0, rank=0, world=1, train=train, label=label,
                   batch_size=PARK_ANCHORS if siamese else PARK_BATCH, siamese=siamese, n_negatives=4,
                   n_frames=n_frames)
    crops = CropBatches(tmp_path / "spec.npy", plan, epochs=range(2), frames=CROP_FRAMES)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = _params(model)
    steps = 0
    for x, _, anchors in crop_batches(crops, workers=2, pin=True):
        assert x.is_pinned() and x.dtype == torch.float16
        target = None if siamese else torch.from_numpy(label[anchors.numpy()])
        loss = park.train_step(model, opt, x[:, 0], target=target, n_negatives=4, margin=0.4, device=CUDA,
                               autocast=BF16)
        assert loss.device.type == CUDA.type and bool(torch.isfinite(loss))
        steps += 1
    assert steps >= 2 and _changed(before, model) and _finite(model)
    assert (_graphs() > graphs) == compiled
    if seen is not None:
        assert seen[0][0] == BF16


def test_to_device_copies_pinned_and_pageable_batches_and_keeps_device_ones():
    from raymir.train.job import to_device

    x = torch.arange(1000, dtype=torch.float32)
    pinned = x.pin_memory()
    for host in (x, pinned):
        d = to_device(host, CUDA)
        assert d.device.type == CUDA.type and torch.equal(d.cpu(), x)
    on = x.to(CUDA)
    assert to_device(on, CUDA) is on and to_device(on, torch.device("cuda", torch.cuda.current_device())) is on


# --- multitask validation and transfer ----------------------------------------------------------------


def test_kim_validation_and_transfer_on_cuda_agree_with_cpu():
    from raymir.config.sections import TransferConfig
    from raymir.models.kim2018 import KimNet
    from raymir.probes.transfer import embed_tracks, evaluate, transfer_splits
    from raymir.train import kim

    rng = np.random.default_rng(0)
    n, tasks = 48, {"g": 4, "s": 5}
    genre = np.arange(n) % 4
    spec = (rng.standard_normal((n, 128, 4 * kim.CROP_FRAMES)) + genre[:, None, None]).astype(np.float16)
    targets = {t: rng.dirichlet(np.ones(k), size=n).astype(np.float32) for t, k in tasks.items()}
    torch.manual_seed(0)
    net = KimNet(tasks, shared=True)
    val = np.arange(40, 48)
    with no_tf32():
        cpu = kim._val_losses(net, spec, targets, val, list(tasks), torch.device("cpu"), None)
        gpu = kim._val_losses(net.to(CUDA), spec, targets, val, list(tasks), CUDA, None)
        gpu_bf16 = kim._val_losses(net, spec, targets, val, list(tasks), CUDA, BF16)
        emb_gpu = embed_tracks(net, spec, frames=kim.CROP_FRAMES, device=CUDA)
        emb_cpu = embed_tracks(net.cpu(), spec, frames=kim.CROP_FRAMES)
    assert set(cpu) == set(gpu) == {"val_loss_g", "val_loss_s"}
    for k in cpu:
        assert abs(cpu[k] - gpu[k]) <= 1e-3 * abs(cpu[k]) and abs(cpu[k] - gpu_bf16[k]) <= 5e-2 * abs(cpu[k])
    # float16 embeddings: equal to a few units of float16 rounding
    np.testing.assert_allclose(emb_gpu.astype(np.float32), emb_cpu.astype(np.float32), rtol=5e-3, atol=5e-3)
    splits = transfer_splits(genre, np.arange(n) // 2, val_fraction=0.2, seed=0)
    out = evaluate([emb_gpu], genre, splits, 4, TransferConfig(hidden=64, epochs=3, batch_size=32), device=CUDA)
    assert {"val_f1_macro", "val_logloss", "val_accuracy"} <= set(out) and all(np.isfinite(v) for v in out.values())


# --- tiling and features --------------------------------------------------------------------------------


def test_device_tiling_equals_the_cpus():
    from raymir.audio import repeat_pad, tile_shifted

    rng = np.random.default_rng(0)
    for t in (0, 1, 7, 1000, 5000):
        y = rng.standard_normal((6, t)).astype(np.float32)
        shift = rng.integers(0, max(t, 1), size=6)
        got = tile_shifted(torch.from_numpy(y).to(CUDA), torch.from_numpy(shift).to(CUDA), 3000).cpu().numpy()
        want = np.stack([repeat_pad(np.roll(y[i], shift[i]), 3000) for i in range(6)])
        np.testing.assert_array_equal(got, want)


def test_features_on_cuda_equal_cpu_features():
    from raymir.audio import MelParams
    from raymir.extract import layer_features
    from raymir.models.choi2017 import Choi2017

    mel = MelParams()
    rng = np.random.default_rng(0)
    t = np.arange(4 * mel.sr) / mel.sr
    audio = (0.3 * np.sin(2 * np.pi * rng.uniform(100, 3000, (12, 1)) * t)
             + 0.05 * rng.standard_normal((12, len(t)))).astype(np.float32)
    torch.manual_seed(0)
    model = Choi2017(50, mel=mel)
    cpu = layer_features(model, audio, n_samples=mel.n_samples, batch_size=4)
    with no_tf32():
        gpu = layer_features(model, audio, n_samples=mel.n_samples, batch_size=8, device="cuda")
    tf32 = layer_features(model, audio, n_samples=mel.n_samples, batch_size=8, device="cuda")
    scale = float(np.abs(cpu).max())
    assert gpu.shape == cpu.shape == (12, 5, 32) and gpu.dtype == np.float32
    np.testing.assert_allclose(gpu, cpu, rtol=1e-3, atol=1e-3 * scale)
    np.testing.assert_allclose(tf32, cpu, rtol=0, atol=3e-2 * scale)


# --- probes: kernels and the LS-SVM -----------------------------------------------------------------------


def _blocks(n: int, seed: int, *, n_classes: int = 4) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    centres = rng.standard_normal((5, n_classes, 6))
    blocks = {str(b + 1): (centres[b, y] + 1.5 * rng.standard_normal((n, 6))) * (b + 1) for b in range(5)}
    return blocks, y


def test_kernels_built_on_the_device_equal_the_cpus():
    from raymir.probes.kernels import block_grams, rbf
    from raymir.probes.lssvm import on_device

    blocks, _ = _blocks(300, seed=1)
    rows = np.random.default_rng(0).permutation(300)
    for scaler in (True, False):
        ref = block_grams(blocks, rows, 250, scaler=scaler)
        dev = block_grams(blocks, rows, 250, scaler=scaler, to=on_device("cuda"))
        for combo in (("1",), ("1", "3"), ("1", "2", "3", "4", "5")):
            lin_ref, lin = ref.linear(combo), dev.linear(combo)
            assert lin.device.type == CUDA.type and lin.dtype == torch.float64
            scale = float(np.abs(lin_ref).max())
            np.testing.assert_allclose(lin.cpu().numpy(), lin_ref, rtol=1e-10, atol=1e-10 * scale)
            d_ref, d = ref.sqdist(combo, lin_ref), dev.sqdist(combo, lin)
            assert float(d.min()) >= 0
            np.testing.assert_allclose(d.cpu().numpy(), d_ref, rtol=1e-10, atol=1e-10 * float(d_ref.max()))
            for gamma in (2**-3, 2**-9):
                np.testing.assert_allclose(rbf(d, gamma).cpu().numpy(), rbf(d_ref, gamma), rtol=1e-10, atol=1e-12)


def test_auto_precision_follows_this_gpus_float64_rate():
    from raymir.probes.lssvm import FAST_FP64, solve_precision

    cap = torch.cuda.get_device_capability()
    assert solve_precision("auto", "cuda") == ("fp64" if cap in FAST_FP64 else "mixed")
    assert solve_precision("auto", "cpu") == "fp64"


def test_mixed_precision_solve_on_cuda_reaches_float64_accuracy():
    from raymir.probes.lssvm import _cholesky_outputs

    blocks, y = _blocks(400, seed=2)
    x = np.concatenate(list(blocks.values()), axis=1)
    x = (x - x.mean(0)) / x.std(0)
    k = torch.from_numpy(np.exp(-2**-5 * ((x[:, None] - x[None]) ** 2).sum(-1))).to(CUDA)
    ka, kb = k[None, :300, :300], k[None, 300:, :300]
    Y = -torch.ones(300, 4, dtype=torch.float64, device=CUDA)
    Y[torch.arange(300), torch.from_numpy(y[:300]).to(CUDA)] = 1.0
    for c in (0.1, 32.0):
        exact = _cholesky_outputs(ka, kb, Y, c)
        mixed = _cholesky_outputs(ka, kb, Y, c, mixed=True)
        cpu = _cholesky_outputs(ka.cpu(), kb.cpu(), Y.cpu(), c)
        np.testing.assert_allclose(exact.cpu().numpy(), cpu.numpy(), rtol=1e-8, atol=1e-9)
        np.testing.assert_allclose(mixed.cpu().numpy(), cpu.numpy(), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_lssvm_grid_on_cuda_gives_the_cpu_fp64_fold_scores(kind):
    from raymir.probes.folds import make_folds
    from raymir.probes.svm import Engine, grid_search_combos, make_grid

    blocks, y = _blocks(240, seed=3)
    if kind == "regression":
        y = y + 0.3 * np.random.default_rng(1).standard_normal(len(y))
    folds = make_folds(y, kind=kind, n_folds=5, seed=0)
    combos = {c: tuple(c) for c in ("1", "135", "12345")}
    gammas = tuple((f"2^{k}", 2.0**k) for k in (-3, -6, -9))
    points = {c: make_grid(n_features=6 * len(c), scaler=(True, False), kernels=("linear", "rbf"),
                           C=(0.1, 2.0, 8.0, 32.0), gammas=gammas) for c in combos}
    kw = dict(kind=kind, nested=True)
    ref = grid_search_combos(blocks, combos, y, folds, points, engine=Engine(solver="lssvm", precision="fp64"), **kw)
    one_clip = 1.0 / min(len(f) for f in folds)
    for precision in ("fp64", "mixed"):
        gpu = grid_search_combos(blocks, combos, y, folds, points,
                                 engine=Engine(solver="lssvm", device="cuda", precision=precision), **kw)
        for c in combos:
            assert gpu[c].engine == f"lssvm (cuda, {precision} Cholesky)"  # 4 C values: Cholesky
            a, b = gpu[c].fold_scores, ref[c].fold_scores
            if kind == "regression":
                np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)
                np.testing.assert_allclose(gpu[c].nested_scores, ref[c].nested_scores, rtol=1e-7, atol=1e-9)
            else:
                assert np.abs(a - b).max() <= one_clip + 1e-12 and np.mean(a != b) <= 0.01, (precision, c)
                assert gpu[c].best == ref[c].best or abs(gpu[c].cv_mean - ref[c].cv_mean) <= one_clip / len(folds)
