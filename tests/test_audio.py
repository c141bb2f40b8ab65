import numpy as np
import pytest
import torch

from raymir.audio import (
    MFCC_DIMS,
    MelParams,
    MelSpectrogram,
    mel_db_librosa,
    mel_filterbank,
    mfcc_stats,
    repeat_pad,
    spectrograms,
    tile_shifted,
)


def _tone_noise(sr, seconds, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    return (0.5 * np.sin(2 * np.pi * 440 * t) + 0.1 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.mark.parametrize("params", [MelParams(duration=3.0), MelParams(sr=22050, n_fft=1024, hop_length=512,
                                                                         n_mels=128, fmax=11025.0, duration=2.0)])
def test_mel_frontend_matches_librosa(params):
    y = _tone_noise(params.sr, params.duration)
    ours = MelSpectrogram(params)(torch.from_numpy(y)[None])[0, 0].numpy()
    ref = mel_db_librosa(y, params)
    assert ours.shape == ref.shape == (params.n_mels, params.n_frames)
    # float32 torch vs float64 librosa: agreement to a few hundredths of a dB over an 80 dB range
    assert np.max(np.abs(ours - ref)) < 0.05


@pytest.mark.parametrize("sr,n_fft,n_mels,fmin,fmax", [(12000, 512, 96, 0.0, 6000.0), (22050, 1024, 128, 0.0, 11025.0),
                                                      (22050, 2048, 128, 0.0, None), (16000, 400, 40, 30.0, 7600.0)])
def test_mel_filterbank_equals_librosa_bit_for_bit(sr, n_fft, n_mels, fmin, fmax):
    import librosa

    ours = mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    assert ours.dtype == ref.dtype and np.array_equal(ours, ref)


def test_mel_reference_is_per_clip_not_per_batch():
    p = MelParams(duration=2.0)
    loud, quiet = _tone_noise(p.sr, 2.0), 0.01 * _tone_noise(p.sr, 2.0, seed=1)
    net = MelSpectrogram(p)
    alone = net(torch.from_numpy(quiet)[None])[0]
    together = net(torch.from_numpy(np.stack([loud, quiet])))[1]
    assert torch.allclose(alone, together, atol=1e-4)


def test_silence_gives_finite_spectrogram_and_mfcc():
    p = MelParams(duration=2.0)
    spec = MelSpectrogram(p)(torch.zeros(1, p.n_samples))
    assert torch.isfinite(spec).all()
    feats = mfcc_stats(np.zeros(p.n_samples, dtype=np.float32), p.sr)
    assert feats.shape == (MFCC_DIMS,) and np.isfinite(feats).all()


def test_repeat_pad_tiles_short_clips_and_cuts_long_ones():
    y = np.arange(5, dtype=np.float32)
    assert repeat_pad(y, 12).tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]
    assert repeat_pad(y, 3).tolist() == [0, 1, 2]
    assert repeat_pad(np.zeros((2, 0), dtype=np.float32), 4).shape == (2, 4)


def test_tile_shifted_is_a_rolled_repeat_pad_per_clip():
    y = np.random.default_rng(0).standard_normal((3, 7)).astype(np.float32)
    shift = np.array([0, 3, 6])
    for n in (20, 7, 5):  # longer, equal and shorter than the clips
        got = tile_shifted(torch.from_numpy(y), torch.from_numpy(shift), n).numpy()
        want = np.stack([repeat_pad(np.roll(y[b], shift[b]), n) for b in range(3)])
        np.testing.assert_array_equal(got, want)
    assert tile_shifted(torch.zeros(2, 0), torch.zeros(2, dtype=torch.long), 4).shape == (2, 4)


def test_mfcc_baseline_is_120_dims_of_mean_and_std():
    y = _tone_noise(12000, 3.0)
    f = mfcc_stats(y, 12000)
    assert f.shape == (120,)
    assert np.all(f[60:] >= 0)  # second half are standard deviations


def test_spectrograms_stream_into_a_memory_mapped_file(tmp_path):
    y = np.random.default_rng(0).standard_normal((5, 12000)).astype(np.float32)
    front = MelSpectrogram(MelParams(duration=1.0))
    in_memory = spectrograms(y, front, batch_size=2)
    on_disk = spectrograms(y, front, batch_size=2, path=tmp_path / "spec.npy")
    assert isinstance(on_disk, np.memmap) and in_memory.dtype == on_disk.dtype == np.float16
    assert in_memory.shape == (5, 96, 47)
    np.testing.assert_array_equal(np.load(tmp_path / "spec.npy"), in_memory)
    with pytest.raises(ValueError, match="no clips"):
        spectrograms(y[:0], front)
