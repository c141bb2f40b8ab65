"""The latent music model of the synthetic corpus: genres → artists → tracks → audio.

Genre and artist set tempo, rhythm pattern, swing, key/mode, chord progression,
instrument palette, register, brightness, production era and vocals; a track varies
them a little. ``overlap`` lets artists borrow traits from other genres, which is what
keeps timbre-only features (MFCC statistics) away from the ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from raymir.data import synth

# 16-step (4/4) or 12-step (3/4) drum patterns: instrument → step indices within a bar.
PATTERNS: dict[str, dict[str, list[int]]] = {
    "rock": {"kick": [0, 8, 10], "snare": [4, 12], "hat": [0, 2, 4, 6, 8, 10, 12, 14]},
    "metal": {"kick": list(range(0, 16, 1)), "snare": [4, 12], "hat": [0, 4, 8, 12]},
    "disco": {"kick": [0, 4, 8, 12], "snare": [4, 12], "open_hat": [2, 6, 10, 14]},
    "hiphop": {"kick": [0, 7, 10], "snare": [4, 12], "hat": [0, 2, 4, 6, 8, 10, 12, 14]},
    "reggae": {"kick": [8], "rim": [8], "hat": [2, 6, 10, 14]},
    "jazz": {"open_hat": [0, 4, 7, 8, 12, 15], "kick": [0], "rim": [7, 15]},
    "shuffle": {"kick": [0, 8], "snare": [4, 12], "hat": [0, 3, 4, 7, 8, 11, 12, 15]},
    "train": {"kick": [0, 8], "snare": [2, 6, 10, 14], "hat": [4, 12]},
    "pop": {"kick": [0, 6, 8], "snare": [4, 12], "hat": [0, 2, 4, 6, 8, 10, 12, 14]},
    "none": {},
    # ballroom dance styles
    "chacha": {"kick": [0, 4, 8, 12], "rim": [12, 14], "hat": [2, 6, 10, 14]},
    "jive": {"kick": [0, 8], "snare": [4, 12], "open_hat": [0, 4, 7, 8, 12, 15]},
    "quickstep": {"kick": [0, 8], "snare": [4, 12], "hat": [2, 6, 10, 14]},
    "rumba": {"kick": [0, 6, 8], "rim": [4, 10, 14], "hat": [0, 4, 8, 12]},
    "samba": {"kick": [0, 3, 4, 7, 8, 11, 12, 15], "rim": [2, 5, 10, 13], "hat": list(range(16))},
    "tango": {"kick": [0, 4, 8, 10, 12], "snare": [12]},
    "waltz": {"kick": [0], "rim": [4, 8], "hat": [0, 4, 8]},
}


@dataclass(frozen=True)
class Genre:
    name: str
    subgenres: tuple[str, ...]
    tempo: tuple[float, float]  # mean, sd (bpm)
    pattern: str
    swing: float
    drums: float  # drum level
    major: float  # probability of major mode
    chords: tuple[str, ...]
    leads: tuple[str, ...]
    basses: tuple[str, ...]
    brightness: float
    vocal: float  # probability that an artist sings
    register: int  # midi note of the melody centre
    density: float  # melody notes per beat


GENRES: tuple[Genre, ...] = (
    Genre("blues", ("delta blues", "electric blues"), (95, 12), "shuffle", 0.33, 0.7, 0.3,
          ("electric_guitar", "piano", "organ"), ("electric_guitar", "brass"), ("electric_bass", "upright_bass"),
          0.9, 0.7, 64, 1.0),
    Genre("classical", ("baroque", "romantic"), (90, 20), "none", 0.0, 0.0, 0.6,
          ("strings", "piano", "organ"), ("strings", "flute", "piano"), ("upright_bass", "strings"),
          0.8, 0.05, 72, 1.5),
    Genre("country", ("bluegrass", "country pop"), (118, 14), "train", 0.0, 0.7, 0.9,
          ("acoustic_guitar", "piano"), ("acoustic_guitar", "flute", "strings"), ("electric_bass", "upright_bass"),
          1.0, 0.8, 64, 1.5),
    Genre("disco", ("funk", "disco house"), (120, 6), "disco", 0.0, 1.0, 0.7,
          ("strings", "electric_guitar", "synth_pad"), ("brass", "synth_lead"), ("electric_bass", "synth_bass"),
          1.2, 0.7, 67, 2.0),
    Genre("hiphop", ("rap", "trip-hop"), (90, 6), "hiphop", 0.2, 1.1, 0.35,
          ("synth_pad", "piano", "vibraphone"), ("synth_lead", "vibraphone"), ("synth_bass", "electric_bass"),
          0.8, 0.9, 55, 2.0),
    Genre("jazz", ("bebop", "smooth jazz"), (150, 35), "jazz", 0.3, 0.5, 0.55,
          ("piano", "vibraphone", "organ"), ("brass", "vibraphone", "flute"), ("upright_bass",),
          0.9, 0.4, 68, 2.5),
    Genre("metal", ("heavy metal", "thrash"), (165, 25), "metal", 0.0, 1.2, 0.15,
          ("distorted_guitar",), ("distorted_guitar", "synth_lead"), ("electric_bass", "synth_bass"),
          1.4, 0.8, 62, 3.0),
    Genre("pop", ("synthpop", "indie pop"), (112, 10), "pop", 0.0, 0.9, 0.8,
          ("synth_pad", "piano", "acoustic_guitar"), ("synth_lead", "piano"), ("synth_bass", "electric_bass"),
          1.2, 0.9, 67, 1.5),
    Genre("reggae", ("roots reggae", "dub"), (75, 6), "reggae", 0.1, 0.8, 0.6,
          ("organ", "electric_guitar"), ("brass", "organ"), ("electric_bass",),
          0.8, 0.75, 62, 1.0),
    Genre("rock", ("classic rock", "punk"), (130, 20), "rock", 0.0, 1.0, 0.6,
          ("electric_guitar", "distorted_guitar"), ("electric_guitar", "organ"), ("electric_bass",),
          1.1, 0.85, 62, 2.0),
)

DANCES: dict[str, tuple[float, float, int]] = {
    # style: (tempo bpm, sd, steps per bar: 16 = 4/4, 12 = 3/4)
    "chacha": (122, 4, 16), "jive": (172, 6, 16), "quickstep": (204, 6, 16), "rumba": (100, 4, 16),
    "samba": (100, 5, 16), "tango": (128, 3, 16), "waltz": (86, 3, 12), "viennese_waltz": (176, 4, 12),
}

ERAS = ("70s", "80s", "90s", "00s")
ERA_CUTOFF = {"70s": 3500.0, "80s": 5500.0, "90s": 4500.0, "00s": 9000.0}  # production low-pass
PROGRESSIONS = ((0, 5, 3, 4), (0, 3, 4, 4), (0, 4, 5, 3), (5, 3, 0, 4), (1, 4, 0, 0), (0, 0, 3, 4))
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)


@dataclass
class Track:
    """Latent factors of one music track; everything the renderer and the labels need."""

    genre: int
    subgenre: int
    artist: int
    tempo: float
    pattern: str
    steps_per_bar: int
    swing: float
    drums: float
    key: int
    major: bool
    progression: tuple[int, ...]
    chord: str
    lead: str
    bass: str
    brightness: float
    register: int
    density: float
    vocal: bool
    voice_gender: int  # 0 male, 1 female
    formant_shift: float
    era: str
    seed: int

    @property
    def arousal_valence(self) -> tuple[float, float]:
        """Continuous emotion targets derived from the factors (before annotator noise)."""
        tempo_z = (self.tempo - 115.0) / 35.0
        drive = synth.TIMBRES[self.chord].drive + synth.TIMBRES[self.lead].drive
        arousal = 0.55 * tempo_z + 0.45 * (self.drums - 0.7) + 0.25 * (self.brightness - 1.0) \
            + 0.12 * drive + 0.2 * (self.density - 1.8)
        # Valence: mode, pace, brightness, register and (negatively) distortion, as listeners hear it.
        valence = 0.25 * (1.0 if self.major else -1.0) + 0.45 * tempo_z - 0.3 * drive \
            + 1.0 * (self.brightness - 1.0) + 0.03 * (self.register - 64)
        return float(np.tanh(arousal)), float(np.tanh(valence))


def sample_artist(genre: int, artist: int, rng: np.random.Generator, *, overlap: float,
                  genres: tuple[Genre, ...] = GENRES) -> dict:
    """Artist-level traits, drawn around the genre.

    Timbre traits (instruments, brightness, vocals) are borrowed from a random genre with
    probability ``overlap``; structural traits (tempo, drum pattern) with probability
    ``overlap / 4``. So at the default overlap the genre lives mostly in rhythm, tempo, harmony
    and melody, which clip-level MFCC statistics summarise poorly, as in real music.
    """
    g = genres[genre]

    def src(p: float) -> Genre:  # where a trait comes from: own genre, or another one
        return genres[rng.integers(len(genres))] if rng.random() < p else g

    sub = int(rng.integers(len(g.subgenres)))
    tempo_src = src(overlap / 4)
    tempo = rng.normal(tempo_src.tempo[0], tempo_src.tempo[1] * (0.2 + 0.4 * overlap))
    tempo *= 1.08 if sub == 1 else 0.94  # subgenres differ in pace
    return {
        "genre": genre, "subgenre": sub, "artist": artist,
        "tempo": float(np.clip(tempo, 55, 220)),
        "pattern": src(overlap / 4).pattern,
        "swing": g.swing, "drums": float(max(0.0, g.drums + rng.normal(0, 0.15))),
        "key": int(rng.integers(12)), "major": bool(rng.random() < g.major),
        "progression": PROGRESSIONS[rng.integers(len(PROGRESSIONS))],
        "chord": str(rng.choice(src(overlap).chords)), "lead": str(rng.choice(src(overlap).leads)),
        "bass": str(rng.choice(src(overlap).basses)),
        "brightness": float(np.clip(rng.normal(src(overlap).brightness, 0.15 + 0.2 * overlap), 0.5, 1.8)),
        "register": int(g.register + rng.integers(-5, 6)),
        "density": float(max(0.5, g.density * rng.uniform(0.7, 1.3))),
        "vocal": bool(rng.random() < src(overlap).vocal), "voice_gender": int(rng.integers(2)),
        "formant_shift": float(rng.uniform(0.9, 1.15)),
        "era": str(ERAS[rng.integers(len(ERAS))]),
    }


def sample_track(artist: dict, rng: np.random.Generator) -> Track:
    """One track: the artist's traits with small per-track variation."""
    a = dict(artist)
    a["tempo"] = float(np.clip(a["tempo"] * rng.normal(1.0, 0.04), 55, 220))
    if rng.random() < 0.3:
        a["key"] = int((a["key"] + rng.integers(-3, 4)) % 12)
    if rng.random() < 0.1:
        a["major"] = not a["major"]
    if rng.random() < 0.4:
        a["progression"] = PROGRESSIONS[rng.integers(len(PROGRESSIONS))]
    a["brightness"] = float(np.clip(a["brightness"] + rng.normal(0, 0.05), 0.5, 1.8))
    return Track(steps_per_bar=16, seed=int(rng.integers(2**31)), **a)


def render_music(track: Track, *, sr: int, duration: float) -> np.ndarray:
    """Render a track's latent factors to audio: y [round(sr * duration)]."""
    rng = np.random.default_rng(track.seed)
    n = int(round(sr * duration))
    step_s = 60.0 / track.tempo / 4.0
    bar_s = step_s * track.steps_per_bar
    n_bars = int(np.ceil(duration / bar_s)) + 1
    scale = MAJOR if track.major else MINOR
    root = 48 + track.key
    mix = np.zeros(n, dtype=np.float32)

    # Harmony: one chord per bar from the progression, played by the chord instrument.
    degrees = [track.progression[b % len(track.progression)] for b in range(n_bars)]
    onsets = np.arange(n_bars) * bar_s
    chords = np.zeros(n, dtype=np.float32)
    for voice in range(3):
        midi = np.array([root + 12 + scale[(d + 2 * voice) % 7] + 12 * ((d + 2 * voice) // 7) for d in degrees])
        chords += synth.render_notes(midi, onsets, np.full(n_bars, bar_s * 0.98), n=n, sr=sr,
                                        timbre=synth.TIMBRES[track.chord], brightness=track.brightness, rng=rng)
    mix += synth.normalize(chords, rms=0.06)  # stems are levelled like a mix, so drums stay audible
    # Bass: chord roots on the beat.
    beats = np.arange(n_bars * track.steps_per_bar // 4) * step_s * 4
    bass_midi = np.array([root - 12 + scale[degrees[int(t // bar_s)] % 7] for t in beats])
    bass = synth.render_notes(bass_midi, beats, np.full(len(beats), step_s * 3.5), n=n, sr=sr,
                              timbre=synth.TIMBRES[track.bass], brightness=track.brightness, rng=rng)
    mix += synth.normalize(bass, rms=0.07)
    # Melody: a random walk on the scale, rhythm density set by the genre/artist.
    n_notes = max(1, int(duration / (60.0 / track.tempo) * track.density))
    note_s = duration / n_notes
    steps = np.cumsum(rng.choice([-2, -1, -1, 0, 1, 1, 2], size=n_notes))
    steps = np.clip(steps, -7, 7)
    mel_midi = np.array([track.register + scale[s % 7] + 12 * (s // 7) for s in steps])
    mel_on = np.arange(n_notes) * note_s
    if track.vocal:
        pitch, since, gate = synth.note_tracks(mel_on, np.full(n_notes, note_s * 0.9),
                                                mel_midi - (12 if track.voice_gender == 0 else 0), n, sr)
        vowel, _, _ = synth.note_tracks(mel_on, np.full(n_notes, note_s), rng.integers(0, 6, n_notes), n, sr)
        voice = synth.render_voice(pitch, vowel.astype(int), since, gate, sr=sr, vibrato=0.3,
                                   formant_shift=track.formant_shift * (1.12 if track.voice_gender else 1.0),
                                   rng=rng)
        mix += 0.9 * synth.normalize(voice, rms=0.1)
    else:
        lead = synth.render_notes(mel_midi, mel_on, np.full(n_notes, note_s * 0.9), n=n, sr=sr,
                                  timbre=synth.TIMBRES[track.lead], brightness=track.brightness,
                                  vibrato=0.15 if track.lead in ("strings", "flute") else 0.0, rng=rng)
        mix += 0.8 * synth.normalize(lead, rms=0.1)
    # Drums.
    if track.drums > 0.05 and PATTERNS[track.pattern]:
        drums = synth.render_drums(PATTERNS[track.pattern], steps_per_bar=track.steps_per_bar, step_s=step_s,
                                   swing=track.swing, n=n, sr=sr, rng=rng)
        mix += track.drums * synth.normalize(drums, rms=0.12)
    mix = synth.one_pole_lowpass(mix, cutoff=ERA_CUTOFF[track.era] * track.brightness, sr=sr)
    mix += 0.003 * rng.standard_normal(n).astype(np.float32)
    return synth.normalize(mix, rms=rng.uniform(0.05, 0.2))


def dance_track(style: str, artist: dict, rng: np.random.Generator) -> Track:
    """A ballroom-like track: the dance style fixes tempo and rhythm; timbre comes from anywhere."""
    tempo, sd, steps = DANCES[style]
    t = sample_track(artist, rng)
    t.tempo = float(rng.normal(tempo, sd))
    t.pattern = "waltz" if steps == 12 else style
    t.steps_per_bar = steps
    t.swing = 0.33 if style == "jive" else 0.0
    t.drums = float(rng.uniform(0.6, 1.1))
    return t
