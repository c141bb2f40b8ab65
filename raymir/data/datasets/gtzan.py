"""GTZAN genre (``genres/<genre>/<genre>.000NN.{wav,au}``) and GTZAN music/speech
(``music_wav/*.wav``, ``speech_wav/*.wav``).

The fault-filtered artist split (Kereliuk et al.) comes from split files the user supplies:
plain-text lists with one path per line relative to ``genres/`` (``blues/blues.00029.wav``;
an ``.au`` file matches a ``.wav`` line of the same name), named ``train*.txt``, ``valid*.txt``
and ``test*.txt`` in ``split_dir``. Without them every clip gets no split, and sweeps use the
standard random 10-fold CV.
"""

from __future__ import annotations

from pathlib import Path

from raymir.data.clips import Clip, DatasetError

AUDIO = (".wav", ".au")
SETS = ("train", "valid", "test")


def _read_splits(split_dir: Path) -> dict[str, str]:
    """{"blues/blues.00029": "train", …} from train*/valid*/test* lists."""
    out: dict[str, str] = {}
    for name in SETS:
        files = sorted(split_dir.glob(f"{name}*.txt"))
        if not files:
            raise DatasetError(f"gtzan: no {name}*.txt split file in {split_dir}")
        for f in files:
            for n, line in enumerate(f.read_text().splitlines(), start=1):
                line = line.strip()
                if not line:
                    continue
                stem = str(Path(line).with_suffix(""))
                if stem.startswith("genres/"):
                    stem = stem[len("genres/"):]
                if stem in out and out[stem] != name:
                    raise DatasetError(f"gtzan: {f}:{n}: {line!r} is already in the {out[stem]} split")
                out[stem] = name
    return out


def scan_genre(root: Path | str, *, split_dir: Path | str | None = None) -> list[Clip]:
    """One clip per audio file under ``genres/<genre>/``; label ``genre`` = the folder name."""
    base = Path(root) / "genres"
    if not base.is_dir():
        raise DatasetError(f"gtzan: {base} not found (expected genres/<genre>/<genre>.000NN.wav)")
    splits = _read_splits(Path(split_dir)) if split_dir else {}
    clips = []
    for genre_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        for f in sorted(genre_dir.iterdir()):
            if f.suffix.lower() not in AUDIO:
                continue
            stem = f"{genre_dir.name}/{f.stem}"
            if splits and stem not in splits:
                continue  # the filtered split drops faulty and repeated excerpts on purpose
            clips.append(Clip(f"genres/{genre_dir.name}/{f.name}", {"genre": genre_dir.name},
                              split=splits.get(stem)))
    return clips


def scan_speech_music(root: Path | str) -> list[Clip]:
    """``music_wav/`` and ``speech_wav/``: label ``speech_music`` = music | speech."""
    clips = []
    for label in ("music", "speech"):
        d = Path(root) / f"{label}_wav"
        if not d.is_dir():
            raise DatasetError(f"gtzan_speech_music: {d} not found (expected music_wav/ and speech_wav/)")
        clips += [Clip(f"{label}_wav/{f.name}", {"speech_music": label}) for f in sorted(d.iterdir())
                  if f.suffix.lower() in AUDIO]
    return clips
