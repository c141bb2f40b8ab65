"""Speech-like clips and non-musical sound events for the synthetic corpus.

Each renderer takes a seed and returns y [round(sr * duration)] float32.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve, lfilter

from raymir.data import synth
from raymir.data.music import render_music, sample_artist, sample_track

EVENTS = ("air_conditioner", "car_horn", "children_playing", "dog_bark", "drilling",
          "engine_idling", "gun_shot", "jackhammer", "siren", "street_music")


def render_speech(seed: int, *, sr: int, duration: float) -> np.ndarray:
    """Speech-like audio: syllables at ~4-6 Hz, gliding f0 with declination, vowels, fricatives, pauses."""
    rng = np.random.default_rng(seed)
    n = int(round(sr * duration))
    base = rng.choice([50.0, 57.0]) + rng.normal(0, 2)  # male / female speaking pitch (midi)
    rate = rng.uniform(3.5, 6.0)
    onsets, durs, t = [], [], 0.0
    while t < duration:
        d = rng.uniform(0.6, 1.4) / rate
        if rng.random() < 0.1:  # pause between phrases
            t += rng.uniform(0.2, 0.6)
        onsets.append(t)
        durs.append(d * 0.8)
        t += d
    onsets, durs = np.array(onsets), np.array(durs)
    pitch, since, gate = synth.note_tracks(onsets, durs, np.zeros(len(onsets)), n, sr)
    time = np.arange(n) / sr
    pitch = base + 2.0 * np.sin(2 * np.pi * rng.uniform(0.3, 0.8) * time) - 1.5 * (time % 2.5)
    vowel, _, _ = synth.note_tracks(onsets, durs, rng.integers(0, 6, len(onsets)), n, sr)
    shape = np.sin(np.pi * np.clip(since / np.maximum(np.interp(time, onsets, durs), 1e-3), 0, 1))
    voice = synth.render_voice(pitch, vowel.astype(int), since, gate * shape, sr=sr, vibrato=0.0,
                               formant_shift=rng.uniform(0.95, 1.2), rng=rng, breath=0.02)
    fric = lfilter([1, -0.95], [1], rng.standard_normal(n)).astype(np.float32)
    fric_gate = ((since > 0) & (since < 0.05) & (rng.random() < 0.6)).astype(np.float32)
    y = synth.normalize(voice) + 0.05 * fric * fric_gate
    y += 0.004 * rng.standard_normal(n).astype(np.float32)
    return synth.normalize(y, rms=rng.uniform(0.05, 0.2))


def _bursts(n: int, sr: int, rng: np.random.Generator, *, rate: float, dur: float) -> np.ndarray:
    """Random on/off gate [n] with ~rate bursts per second of ~dur seconds."""
    gate = np.zeros(n, dtype=np.float32)
    t = rng.uniform(0, 1 / rate)
    while t < n / sr:
        a = int(t * sr)
        gate[a:a + int(dur * rng.uniform(0.6, 1.4) * sr)] = 1.0
        t += rng.exponential(1 / rate) + dur
    return gate


def render_event(cls: int, seed: int, *, sr: int, duration: float, recording: int) -> np.ndarray:
    """One sound-event clip of class ``EVENTS[cls]``; ``recording`` fixes its background."""
    rng = np.random.default_rng(seed)
    bg_rng = np.random.default_rng(recording)  # clips cut from one recording share background colour
    n = int(round(sr * duration))
    t = np.arange(n) / sr
    noise = rng.standard_normal(n).astype(np.float32)
    name = EVENTS[cls]
    if name == "air_conditioner":
        y = synth.one_pole_lowpass(noise, cutoff=bg_rng.uniform(300, 900), sr=sr) \
            + 0.3 * np.sin(2 * np.pi * bg_rng.uniform(50, 120) * t)
    elif name == "car_horn":
        f = rng.uniform(350, 500)
        tone = sum(np.sin(2 * np.pi * k * f * t) / k for k in range(1, 6) if k * f < sr / 2)
        y = tone * _bursts(n, sr, rng, rate=0.8, dur=0.5)
    elif name == "children_playing":
        y = sum(render_voice_babble(rng, n, sr) for _ in range(3))
    elif name == "dog_bark":
        f = rng.uniform(400, 800)
        bark = np.sin(2 * np.pi * f * t * (1 - 0.3 * (t % 0.25))) + 0.5 * noise
        y = bark * _bursts(n, sr, rng, rate=1.5, dur=0.15)
    elif name == "drilling":
        y = synth.one_pole_lowpass(noise, cutoff=4000, sr=sr) * (1 + np.sin(2 * np.pi * rng.uniform(30, 60) * t)) \
            + np.sin(2 * np.pi * rng.uniform(800, 1500) * t)
        y = y * _bursts(n, sr, rng, rate=0.4, dur=1.5)
    elif name == "engine_idling":
        pulses = (np.sin(2 * np.pi * rng.uniform(15, 35) * t) > 0.7).astype(np.float32)
        y = synth.one_pole_lowpass(pulses + 0.3 * noise, cutoff=400, sr=sr)
    elif name == "gun_shot":
        hits = np.zeros(n, dtype=np.float32)
        hits[(rng.uniform(0, duration, rng.integers(1, 4)) * sr).astype(int)] = 1.0
        shot = noise[: int(0.4 * sr)] * np.exp(-t[: int(0.4 * sr)] / 0.06)
        y = fftconvolve(hits, shot)[:n]
    elif name == "jackhammer":
        pulses = (np.sin(2 * np.pi * rng.uniform(12, 20) * t) > 0.5).astype(np.float32)
        y = pulses * synth.one_pole_lowpass(noise, cutoff=2500, sr=sr) * _bursts(n, sr, rng, rate=0.3, dur=2.0)
    elif name == "siren":
        f = 700 + 300 * np.sin(2 * np.pi * rng.uniform(0.2, 1.5) * t)
        ph = 2 * np.pi * np.cumsum(f) / sr
        y = np.sin(ph) + 0.3 * np.sin(2 * ph)
    else:  # street_music: music far away in traffic noise
        artist = sample_artist(int(rng.integers(10)), -1, rng, overlap=0.5)
        y = render_music(sample_track(artist, rng), sr=sr, duration=duration) * 5
    bg = synth.one_pole_lowpass(rng.standard_normal(n).astype(np.float32), cutoff=bg_rng.uniform(500, 3000), sr=sr)
    y = synth.normalize(np.asarray(y, dtype=np.float32)) + bg_rng.uniform(0.5, 1.5) * synth.normalize(bg)  # street-level noise
    return synth.normalize(y, rms=rng.uniform(0.03, 0.2))


def render_voice_babble(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """High-pitched short vocalisations (children playing)."""
    gate = _bursts(n, sr, rng, rate=2.0, dur=0.3)
    pitch = 65 + 5 * np.sin(2 * np.pi * rng.uniform(1, 3) * np.arange(n) / sr)
    since = np.full(n, 1.0)
    vowel = np.full(n, int(rng.integers(6)))
    return synth.render_voice(pitch, vowel, since, gate, sr=sr, formant_shift=1.3, vibrato=0.5, rng=rng)
