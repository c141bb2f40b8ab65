"""An FMA-like taxonomy for the synthetic corpus: 16 top genres, a subgenre hierarchy, artists with albums.

Subgenres are the latent artist groups that artist group factors should find: each one
shifts tempo, brightness, drum level and sometimes the rhythm pattern or chord instrument
of its artists. Artists may also carry a secondary subgenre from another top genre (as FMA
tracks often list genres from several branches), whose instrument they borrow. Each artist
releases one to three albums; an album fixes the production era and nudges brightness and tempo.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from raymir.data import music
from raymir.data.music import Genre

SUBGENRES: dict[str, tuple[str, ...]] = {
    "blues": ("delta blues", "electric blues", "blues rock"),
    "classical": ("baroque", "romantic", "chamber"),
    "country": ("bluegrass", "country pop", "americana"),
    "disco": ("funk", "disco house", "boogie"),
    "hiphop": ("rap", "trip-hop", "boom bap"),
    "jazz": ("bebop", "smooth jazz", "free jazz"),
    "metal": ("heavy metal", "thrash", "doom"),
    "pop": ("synthpop", "indie pop", "dream pop"),
    "reggae": ("roots reggae", "dub", "ska"),
    "rock": ("classic rock", "punk", "post-rock"),
    "electronic": ("house", "techno", "ambient electronic"),
    "folk": ("singer-songwriter", "british folk", "freak folk"),
    "soul-rnb": ("soul", "rnb", "gospel"),
    "easy listening": ("lounge", "exotica", "easy orchestral"),
    "experimental": ("noise", "drone", "sound collage"),
    "old-time": ("old-time", "ragtime", "parlour"),
}

_NEW_GENRES = (
    Genre("electronic", ("", ""), (126, 10), "disco", 0.0, 1.1, 0.5, ("synth_pad",), ("synth_lead",),
          ("synth_bass",), 1.3, 0.2, 67, 2.5),
    Genre("folk", ("", ""), (100, 15), "rumba", 0.0, 0.3, 0.7, ("acoustic_guitar",), ("flute", "acoustic_guitar"),
          ("upright_bass",), 0.9, 0.85, 64, 1.2),
    Genre("soul-rnb", ("", ""), (96, 10), "hiphop", 0.15, 0.9, 0.6, ("organ", "piano", "electric_guitar"),
          ("brass", "organ"), ("electric_bass",), 1.0, 0.95, 62, 1.8),
    Genre("easy listening", ("", ""), (100, 12), "rumba", 0.0, 0.4, 0.85, ("vibraphone", "strings"),
          ("flute", "vibraphone"), ("upright_bass",), 0.85, 0.3, 70, 1.2),
    Genre("experimental", ("", ""), (110, 40), "samba", 0.0, 0.5, 0.4, ("synth_pad", "distorted_guitar", "organ"),
          ("synth_lead", "strings"), ("synth_bass",), 1.5, 0.2, 60, 3.0),
    Genre("old-time", ("", ""), (110, 15), "train", 0.0, 0.3, 0.85, ("piano", "acoustic_guitar"), ("flute", "piano"),
          ("upright_bass",), 0.6, 0.5, 66, 2.0),
)

TOP_GENRES: tuple[Genre, ...] = tuple(replace(g, subgenres=SUBGENRES[g.name]) for g in music.GENRES + _NEW_GENRES)
SUBGENRE_NAMES: tuple[str, ...] = tuple(s for g in TOP_GENRES for s in g.subgenres)


@dataclass(frozen=True)
class SubgenreStyle:
    """How a subgenre shifts its artists' traits."""

    tempo: float  # factor
    brightness: float  # offset
    drums: float  # factor
    pattern: str | None  # rhythm pattern override
    chord: str | None  # chord instrument override
    era: str | None  # production era it favours


def _styles(seed: int = 2018) -> tuple[SubgenreStyle, ...]:
    # Fixed by a seed so that the taxonomy (and thus the corpus) is the same on every machine.
    rng = np.random.default_rng(seed)
    patterns = [p for p in ("rock", "metal", "disco", "hiphop", "reggae", "jazz", "shuffle", "train", "pop", "none")]
    chords = sorted({c for g in TOP_GENRES for c in g.chords})
    out = []
    for _ in SUBGENRE_NAMES:
        out.append(SubgenreStyle(
            tempo=float(rng.uniform(0.82, 1.18)), brightness=float(rng.uniform(-0.25, 0.25)),
            drums=float(rng.uniform(0.6, 1.3)),
            pattern=str(rng.choice(patterns)) if rng.random() < 0.3 else None,
            chord=str(rng.choice(chords)) if rng.random() < 0.5 else None,
            era=str(rng.choice(music.ERAS)) if rng.random() < 0.6 else None))
    return tuple(out)


STYLES: tuple[SubgenreStyle, ...] = _styles()


def subgenre_index(genre: int, sub: int) -> int:
    """Global index (into SUBGENRE_NAMES) of a top genre's ``sub``-th subgenre."""
    return sum(len(g.subgenres) for g in TOP_GENRES[:genre]) + sub


def sample_fma_artist(genre: int, artist: int, rng: np.random.Generator, *, overlap: float) -> dict:
    """An artist of ``genre`` with a primary subgenre, maybe a secondary one, and 1-3 albums.

    Returns the artist's traits (as ``music.sample_artist``) plus ``subgenres`` (global indices,
    primary first) and ``albums`` (per album: era, brightness offset, tempo factor).
    """
    a = music.sample_artist(genre, artist, rng, overlap=overlap, genres=TOP_GENRES)
    primary = subgenre_index(genre, a["subgenre"])
    style = STYLES[primary]
    a["tempo"] = float(np.clip(a["tempo"] * style.tempo, 55, 220))
    a["brightness"] = float(np.clip(a["brightness"] + style.brightness, 0.5, 1.8))
    a["drums"] = float(a["drums"] * style.drums)
    a["pattern"] = style.pattern or a["pattern"]
    a["chord"] = style.chord or a["chord"]
    subs = [primary]
    if rng.random() < 0.5 * overlap:  # a second subgenre from elsewhere in the tree, and its sound
        other = int(rng.integers(len(SUBGENRE_NAMES)))
        if other != primary:
            subs.append(other)
            a["chord"] = STYLES[other].chord or a["chord"]
    a["subgenres"] = subs
    a["albums"] = [{"era": str(rng.choice(music.ERAS)) if style.era is None or rng.random() < 0.3 else style.era,
                    "brightness": float(rng.normal(0, 0.08)), "tempo": float(rng.normal(1.0, 0.03))}
                   for _ in range(1 + int(rng.integers(3)))]
    return a


def sample_fma_track(artist: dict, album: int, rng: np.random.Generator) -> music.Track:
    """A track of ``artist`` on its ``album``-th album."""
    alb = artist["albums"][album]
    a = {k: v for k, v in artist.items() if k not in ("subgenres", "albums")}
    a["era"] = alb["era"]
    a["brightness"] = float(np.clip(a["brightness"] + alb["brightness"], 0.5, 1.8))
    a["tempo"] = float(np.clip(a["tempo"] * alb["tempo"], 55, 220))
    return music.sample_track(a, rng)
