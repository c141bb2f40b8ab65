"""Sound synthesis primitives for the synthetic corpus: notes, drums, voice, speech, events.

Every function renders at any sample rate from explicit parameters and an ``rng``, so
the same latent track renders at 12 kHz (Choi) or 22.05 kHz (Kim, Park).
All outputs are float32 arrays of shape [n] (n = number of samples).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve, lfilter


@dataclass(frozen=True)
class Timbre:
    """Additive-synthesis instrument: partial amplitudes k^-rolloff, odd/even balance, ADSR-ish."""

    n_partials: int
    rolloff: float
    even: float  # gain of even partials (1 = saw-like, 0 = square/clarinet-like)
    attack: float  # seconds
    decay: float  # seconds
    sustain: float  # level after decay, 0..1
    drive: float = 0.0  # tanh distortion amount


TIMBRES: dict[str, Timbre] = {
    "piano": Timbre(10, 1.4, 1.0, 0.004, 0.7, 0.05),
    "acoustic_guitar": Timbre(12, 1.1, 0.9, 0.003, 0.45, 0.0),
    "electric_guitar": Timbre(14, 0.9, 1.0, 0.006, 0.9, 0.4),
    "distorted_guitar": Timbre(16, 0.7, 1.0, 0.01, 1.5, 0.85, drive=4.0),
    "strings": Timbre(12, 1.0, 1.0, 0.18, 1.0, 0.9),
    "organ": Timbre(9, 0.6, 0.3, 0.02, 0.2, 1.0),
    "brass": Timbre(12, 0.8, 1.0, 0.06, 0.4, 0.75),
    "flute": Timbre(4, 2.5, 0.5, 0.06, 0.3, 0.8),
    "synth_lead": Timbre(16, 1.0, 1.0, 0.01, 0.3, 0.7),
    "synth_pad": Timbre(12, 1.0, 0.15, 0.35, 1.0, 1.0),
    "electric_bass": Timbre(7, 1.5, 1.0, 0.005, 0.5, 0.3),
    "synth_bass": Timbre(10, 0.9, 0.6, 0.005, 0.25, 0.6, drive=1.0),
    "upright_bass": Timbre(6, 1.8, 1.0, 0.01, 0.35, 0.0),
    "vibraphone": Timbre(4, 2.2, 0.2, 0.002, 1.2, 0.0),
}


def midi_to_hz(m: np.ndarray | float) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(m, dtype=np.float64) - 69.0) / 12.0)


def note_tracks(onsets: np.ndarray, durs: np.ndarray, values: np.ndarray, n: int, sr: int):
    """Per-sample note value, time since note onset and gate: three arrays of shape [n]."""
    value = np.zeros(n, dtype=np.float64)
    since = np.full(n, 1e3, dtype=np.float64)
    gate = np.zeros(n, dtype=np.float32)
    t = np.arange(n) / sr
    for on, du, v in zip(onsets, durs, values):
        a, b = int(on * sr), min(n, int((on + du) * sr))
        if a >= n or b <= a:
            continue
        value[a:b] = v
        since[a:b] = t[a:b] - on
        gate[a:b] = 1.0
    return value, since, gate


def render_notes(
    midi: np.ndarray, onsets: np.ndarray, durs: np.ndarray, *, n: int, sr: int, timbre: Timbre,
    brightness: float = 1.0, vibrato: float = 0.0, rng: np.random.Generator,
) -> np.ndarray:
    """Monophonic additive voice: notes (midi pitch, onset s, duration s) → y [n].

    ``brightness`` > 1 flattens the partial roll-off (brighter), < 1 steepens it.
    """
    if len(midi) == 0:
        return np.zeros(n, dtype=np.float32)
    pitch, since, gate = note_tracks(onsets, durs, midi, n, sr)
    f0 = midi_to_hz(pitch)
    if vibrato > 0:
        t = np.arange(n) / sr
        f0 = f0 * 2.0 ** (vibrato / 12.0 * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    env = np.minimum(since / timbre.attack, 1.0)
    env = env * (timbre.sustain + (1 - timbre.sustain) * np.exp(-since / timbre.decay))
    env = (env * gate).astype(np.float32)
    out = np.zeros(n, dtype=np.float32)
    nyq = sr / 2
    rolloff = timbre.rolloff / max(brightness, 0.1)
    f0 = f0.astype(np.float32)
    for k, s_k in enumerate(_harmonics(phase, timbre.n_partials), start=1):
        amp = k ** -rolloff * (timbre.even if k % 2 == 0 else 1.0)
        if amp >= 1e-3:
            out += np.float32(amp) * s_k * (k * f0 < nyq)
    out *= env
    if timbre.drive > 0:
        out = np.tanh(timbre.drive * out) / np.tanh(timbre.drive)
    return out


# Vowel formants (F1, F2, F3) in Hz for a neutral adult voice.
VOWELS = np.array([[730, 1090, 2440], [270, 2290, 3010], [530, 1840, 2480],
                   [570, 840, 2410], [300, 870, 2240], [660, 1720, 2410]], dtype=np.float64)


def _harmonics(phase: np.ndarray, k_max: int):
    """Yield sin(k·phase) for k = 1..k_max as float32 [n], by the Chebyshev recurrence.

    sin(kθ) = 2cos(θ)·sin((k−1)θ) − sin((k−2)θ): one sin and one cos instead of k_max sines.
    """
    s_prev = np.zeros(len(phase), dtype=np.float32)
    s = np.sin(phase).astype(np.float32)
    c2 = (2 * np.cos(phase)).astype(np.float32)
    for _ in range(k_max):
        yield s
        s_prev, s = s, c2 * s - s_prev


def _formant_gain(freq: np.ndarray, formants: np.ndarray) -> np.ndarray:
    """Sum of three resonance peaks evaluated at ``freq``; formants [n, 3]."""
    g = np.zeros_like(freq)
    for j, bw in enumerate((90.0, 120.0, 170.0)):
        g += np.float32(1.0 / (j + 1)) / (1.0 + np.square((freq - formants[:, j]) * np.float32(1 / bw)))
    return g


def render_voice(
    pitch_midi: np.ndarray, vowel_idx: np.ndarray, since: np.ndarray, gate: np.ndarray, *,
    sr: int, formant_shift: float, vibrato: float, rng: np.random.Generator,
    breath: float = 0.05,
) -> np.ndarray:
    """Formant-filtered harmonic voice (singing or speech): per-sample arrays [n] → y [n]."""
    n = len(pitch_midi)
    t = np.arange(n) / sr
    f0 = midi_to_hz(pitch_midi) * 2.0 ** (vibrato / 12.0 * np.sin(2 * np.pi * rng.uniform(5, 6.5) * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    formants = (VOWELS[vowel_idx] * formant_shift).astype(np.float32)
    out = np.zeros(n, dtype=np.float32)
    f0 = f0.astype(np.float32)
    for k, s_k in enumerate(_harmonics(phase, 16), start=1):
        fk = k * f0
        out += _formant_gain(fk, formants) * (fk < sr / 2) * np.float32(k ** -0.5) * s_k
    env = np.minimum(since / 0.03, 1.0) * gate
    out = out * env.astype(np.float32)
    out += breath * rng.standard_normal(n).astype(np.float32) * env.astype(np.float32)
    return out


def _one_shot(drum: str, sr: int, rng: np.random.Generator, *, tune: float = 1.0) -> np.ndarray:
    """A single drum hit: kick, snare, hat or rim → y [m]."""
    dur = {"kick": 0.35, "snare": 0.22, "hat": 0.08, "open_hat": 0.3, "rim": 0.05}[drum]
    m = int(dur * sr)
    t = np.arange(m) / sr
    if drum == "kick":
        f = 45 * tune + 90 * np.exp(-t / 0.03)
        return (np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / 0.12)).astype(np.float32)
    noise = rng.standard_normal(m)
    if drum == "snare":
        tone = np.sin(2 * np.pi * 185 * tune * t) * np.exp(-t / 0.05)
        body = lfilter([1, -0.6], [1], noise) * np.exp(-t / 0.07)
        return (0.5 * tone + 0.6 * body).astype(np.float32)
    if drum == "rim":
        return (np.sin(2 * np.pi * 900 * tune * t) * np.exp(-t / 0.012) + 0.3 * noise * np.exp(-t / 0.005)).astype(np.float32)
    hp = lfilter([1, -1], [1, -0.3], noise)  # crude high-pass: hats are mostly high bands
    decay = 0.02 if drum == "hat" else 0.12
    return (0.35 * hp * np.exp(-t / decay)).astype(np.float32)


def render_drums(
    pattern: dict[str, list[int]], *, steps_per_bar: int, step_s: float, swing: float, n: int,
    sr: int, rng: np.random.Generator, humanize: float = 0.006, tune: float = 1.0,
) -> np.ndarray:
    """Loop a step pattern ({instrument: [step indices]}) over the clip → y [n].

    ``swing`` delays every odd step by that fraction of a step (0 = straight).
    """
    out = np.zeros(n, dtype=np.float32)
    n_bars = int(np.ceil(n / sr / (steps_per_bar * step_s))) + 1
    for drum, steps in pattern.items():
        if not steps:
            continue
        hits = np.zeros(n, dtype=np.float32)
        for bar in range(n_bars):
            for s in steps:
                t = (bar * steps_per_bar + s + (swing if s % 2 else 0.0)) * step_s
                t += rng.normal(0, humanize)
                i = int(max(t, 0) * sr)
                if i < n:
                    hits[i] += rng.uniform(0.6, 1.0)
        out += fftconvolve(hits, _one_shot(drum, sr, rng, tune=tune))[:n].astype(np.float32)
    return out


def one_pole_lowpass(y: np.ndarray, *, cutoff: float, sr: int) -> np.ndarray:
    """First-order low-pass filter: a cheap brightness / 'production era' control."""
    a = np.exp(-2 * np.pi * min(cutoff, sr * 0.45) / sr)
    return lfilter([1 - a], [1, -a], y).astype(np.float32)


def normalize(y: np.ndarray, *, rms: float = 0.1) -> np.ndarray:
    """Scale to a target RMS (silence stays silence)."""
    r = float(np.sqrt(np.mean(np.square(y), dtype=np.float64)))
    return (y * (rms / r)).astype(np.float32) if r > 1e-9 else y.astype(np.float32)
