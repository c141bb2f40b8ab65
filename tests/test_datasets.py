"""Dataset adapters on tiny fixtures in each real layout, and ingest over a directory of broken files."""

import csv
import json
import os

import numpy as np
import pytest
import soundfile as sf

from raymir.data.clips import Clip, DatasetError, ingest
from raymir.data.datasets import DATASETS

SR = 8000


def _tone(path, *, seconds=0.5, sr=SR, freq=440.0, fmt=None, subtype=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr, format=fmt, subtype=subtype)


def test_gtzan_genre_layout_with_filtered_split(tmp_path):
    for g in ("blues", "jazz"):
        for i in range(3):
            _tone(tmp_path / "genres" / g / f"{g}.{i:05d}.{'au' if i == 2 else 'wav'}", fmt="AU" if i == 2 else None,
                  subtype="PCM_16")
    (tmp_path / "genres" / "jazz" / "notes.txt").write_text("not audio")
    clips = DATASETS["gtzan"](tmp_path)
    assert len(clips) == 6 and {c.labels["genre"] for c in clips} == {"blues", "jazz"}
    assert all(c.split is None for c in clips)
    splits = tmp_path / "splits"
    splits.mkdir()
    (splits / "train_filtered.txt").write_text("blues/blues.00000.wav\njazz/jazz.00000.wav\n")
    (splits / "valid_filtered.txt").write_text("blues/blues.00001.wav\n")
    (splits / "test_filtered.txt").write_text("jazz/jazz.00002.wav\n")  # an .au file listed as .wav
    clips = DATASETS["gtzan"](tmp_path, split_dir=splits)
    assert {(c.path, c.split) for c in clips} == {
        ("genres/blues/blues.00000.wav", "train"), ("genres/jazz/jazz.00000.wav", "train"),
        ("genres/blues/blues.00001.wav", "valid"), ("genres/jazz/jazz.00002.au", "test")}
    subset, skipped = ingest(clips, root=tmp_path, name="gtzan", sr=SR, duration=1.0, cache_root=tmp_path / "c",
                             workers=1)
    assert len(subset) == 4 and not skipped and subset.audio.shape == (4, SR)
    assert sorted(subset.labels["split"].tolist()) == ["test", "train", "train", "valid"]
    (splits / "valid_filtered.txt").write_text("jazz/jazz.00000.wav\n")
    with pytest.raises(DatasetError, match="already in the train split"):
        DATASETS["gtzan"](tmp_path, split_dir=splits)
    with pytest.raises(DatasetError, match="genres"):
        DATASETS["gtzan"](tmp_path / "nowhere")


def test_gtzan_speech_music_layout(tmp_path):
    for label in ("music", "speech"):
        for i in range(2):
            _tone(tmp_path / f"{label}_wav" / f"{label}{i}.wav")
    clips = DATASETS["gtzan_speech_music"](tmp_path)
    assert sorted(c.labels["speech_music"] for c in clips) == ["music", "music", "speech", "speech"]


def test_urbansound8k_official_folds_by_recording(tmp_path):
    rows = []
    for i in range(6):
        fold, fs_id, cls = i % 3 + 1, 100 + i // 2, ("dog_bark", "siren")[i % 2]
        name = f"{fs_id}-{i}-0-0.wav"
        _tone(tmp_path / "audio" / f"fold{fold}" / name, seconds=0.1 + 0.1 * i)
        rows.append({"slice_file_name": name, "fsID": fs_id, "start": 0, "end": 1, "salience": 1, "fold": fold,
                     "classID": i % 2, "class": cls})
    (tmp_path / "metadata").mkdir()
    with (tmp_path / "metadata" / "UrbanSound8K.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    subset, skipped = ingest(DATASETS["urbansound8k"](tmp_path), root=tmp_path, name="us8k", sr=SR, duration=0.5,
                             cache_root=tmp_path / "c", workers=1)
    assert not skipped and len(subset) == 6
    assert subset.folds.tolist() == [1, 2, 3, 1, 2, 3]  # the official folds, as numbers
    assert len(np.unique(subset.groups)) == 3 and subset.classes["event"] == ["dog_bark", "siren"]


def _fma_fixture(root):
    meta = root / "fma_metadata"
    meta.mkdir(parents=True)
    (meta / "genres.csv").write_text("genre_id,#tracks,parent,title,top_level\n12,3,0,Rock,12\n25,1,12,Punk,12\n"
                                     "15,2,0,Electronic,15\n")
    header1 = ",album,artist,set,set,track,track"
    header2 = ",id,id,split,subset,genre_top,genres_all"
    rows = ["track_id,,,,,,",
            '2,1,10,training,small,Rock,"[12, 25]"',
            '3,1,10,test,small,Rock,[12]',
            '1005,7,11,validation,medium,Electronic,[15]',
            '1006,8,12,training,small,,[15]']  # no top genre: skipped with a reason
    (meta / "tracks.csv").write_text("\n".join([header1, header2, *rows]) + "\n")
    for tid in (2, 3, 1006):
        _tone(root / "fma_small" / f"{tid // 1000:03d}" / f"{tid:06d}.mp3", fmt="MP3", seconds=1.0, sr=22050)


def test_fma_two_row_header_mp3_and_missing_genre(tmp_path):
    _fma_fixture(tmp_path)
    clips = DATASETS["fma"](tmp_path, size="small")
    assert [c.path for c in clips] == ["fma_small/000/000002.mp3", "fma_small/000/000003.mp3",
                                       "fma_small/001/001006.mp3"]
    assert clips[0].labels["subgenres"] == ("Punk", "Rock") and clips[0].group == "10" and clips[0].split == "training"
    subset, skipped = ingest(clips, root=tmp_path, name="fma", sr=SR, duration=0.5, cache_root=tmp_path / "c",
                             workers=1)
    assert len(subset) == 2 and [(s.path, s.reason) for s in skipped] == [
        ("fma_small/001/001006.mp3", "missing label genre")]
    assert subset.classes["subgenres"] == ["Punk", "Rock"] and subset.labels["subgenres"].tolist() == [[1, 1], [0, 1]]
    assert len(DATASETS["fma"](tmp_path, size="medium")) == 4
    with pytest.raises(DatasetError, match="size 'tiny'"):
        DATASETS["fma"](tmp_path, size="tiny")


def test_generic_manifest_csv_and_jsonl(tmp_path):
    for i in range(3):
        _tone(tmp_path / "a" / f"{i}.wav")
    (tmp_path / "m.csv").write_text("path,group,split,mood,arousal,tags\na/0.wav,x,train,happy,0.5,rock;loud\n"
                                    "a/1.wav,y,test,sad,-0.2,\na/2.wav,y,test,,0.1,pop\n")
    clips = DATASETS["manifest"](tmp_path / "m.csv")
    assert clips[0].labels == {"mood": "happy", "arousal": 0.5, "tags": ("rock", "loud")} and clips[0].group == "x"
    subset, skipped = ingest(clips, root=tmp_path, name="m", sr=SR, duration=0.5, cache_root=tmp_path / "c", workers=1)
    assert [s.reason for s in skipped] == ["missing label mood"]
    assert np.allclose(subset.labels["arousal"], [0.5, -0.2]) and subset.classes["tags"] == ["loud", "rock"]
    (tmp_path / "m.jsonl").write_text(json.dumps({"path": "a/0.wav", "tags": ["a", "b"], "genre": "rock"}) + "\n")
    assert DATASETS["manifest"](tmp_path / "m.jsonl")[0].labels == {"tags": ("a", "b"), "genre": "rock"}


def test_broken_files_are_skipped_with_reasons_and_never_crash(tmp_path):
    """Every kind of broken input: skipped with its reason, no crash, finite audio for the rest."""
    d = tmp_path / "data"
    _tone(d / "good.wav", seconds=1.0)
    _tone(d / "short.wav", seconds=0.1)  # 0.1 s: repeat-padded, kept
    _tone(d / "long.flac", seconds=1200, sr=1000, fmt="FLAC")  # 20 minutes: only the needed seconds are read
    sf.write(str(d / "silence.wav"), np.zeros(SR, dtype=np.float32), SR)
    _tone(d / "stereo44k.wav", sr=44100)
    raw = (d / "good.wav").read_bytes()
    (d / "truncated.wav").write_bytes(raw[:30])
    (d / "empty.wav").write_bytes(b"")
    (d / "text.mp3").write_text("this is not audio at all " * 20)
    nan = np.full(SR, np.nan, dtype=np.float32)
    sf.write(str(d / "nan.wav"), nan, SR, subtype="FLOAT")
    bad_sr = bytearray(raw)
    bad_sr[24:28] = (7).to_bytes(4, "little")  # a 7 Hz sample rate in the header
    (d / "absurd_sr.wav").write_bytes(bytes(bad_sr))
    _tone(d / "locked.wav")
    os.chmod(d / "locked.wav", 0)
    (tmp_path / "outside.wav").write_bytes(raw)
    names = ["good.wav", "short.wav", "long.flac", "silence.wav", "stereo44k.wav", "truncated.wav", "empty.wav",
             "text.mp3", "nan.wav", "absurd_sr.wav", "locked.wav", "missing.wav", "good.wav", "../outside.wav"]
    clips = [Clip(n, {"label": "x"}) for n in names] + [Clip("short.wav", {"label": ""}, offset=0.01)]
    subset, skipped = ingest(clips, root=d, name="broken", sr=SR, duration=2.0, cache_root=tmp_path / "c", workers=2)
    reasons = {s.path: s.reason for s in skipped}
    readable = os.access(d / "locked.wav", os.R_OK)  # root reads anything: then the file is simply kept
    kept = subset.classes["path"]
    assert kept == ["good.wav", "short.wav", "long.flac", "silence.wav", "stereo44k.wav"] + ["locked.wav"] * readable
    assert np.isfinite(subset.audio).all() and subset.audio.shape == (len(kept), 2 * SR)
    assert np.abs(subset.audio[1]).max() > 0.1  # the short clip was tiled, not zero-padded
    expected = {"truncated.wav", "empty.wav", "text.mp3", "nan.wav", "absurd_sr.wav", "missing.wav", "../outside.wav",
                "short.wav", "good.wav"} | ({"locked.wav"} if not readable else set())
    assert set(reasons) == expected
    assert reasons["empty.wav"] == "empty file (0 bytes)" and "NaN" in reasons["nan.wav"]
    assert "sample rate 7 Hz" in reasons["absurd_sr.wav"] and "outside the dataset root" in reasons["../outside.wav"]
    assert reasons["missing.wav"] == "file not found" and reasons["short.wav"] == "missing label label"
    assert [s.path for s in skipped].count("good.wav") == 1  # the duplicate row
    assert (subset.path / "skipped.csv").read_text().count("\n") == len(skipped) + 1
    from raymir.audio import MelParams, MelSpectrogram, spectrograms

    spec = spectrograms(subset.audio, MelSpectrogram(MelParams(sr=SR, n_fft=256, hop_length=128, n_mels=32,
                                                                fmax=4000.0, duration=2.0)))
    assert np.isfinite(spec.astype(np.float32)).all()  # silence included: no -inf dB

    only_bad = [Clip(n, {"label": "x"}) for n in ("empty.wav", "text.mp3")]
    with pytest.raises(DatasetError, match="no usable clips"):
        ingest(only_bad, root=d, name="bad", sr=SR, duration=1.0, cache_root=tmp_path / "c", workers=1)
    assert not list((tmp_path / "c" / "dataset").glob("*.tmp-*"))  # no partial cache entry left behind


def test_extended_ballroom_style_folders(tmp_path):
    for style in ("Chacha", "Waltz"):
        for i in range(2):
            _tone(tmp_path / style / f"{i}.mp3", fmt="MP3", sr=22050)
    clips = DATASETS["ballroom"](tmp_path)
    assert sorted((c.labels["dance"], c.path) for c in clips)[0] == ("Chacha", "Chacha/0.mp3") and len(clips) == 4


def test_emomusic_first_29_seconds_and_static_annotations(tmp_path):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "static_annotations.csv").write_text(
        "song_id, mean_arousal, std_arousal, mean_valence, std_valence\n2, 3.1, 0.9, 5.2, 1.0\n3, 6.5, 1.1, x, 1\n")
    for sid in (2, 3):
        _tone(tmp_path / "clips_45seconds" / f"{sid}.mp3", fmt="MP3", seconds=45.0, sr=8000)
    clips = DATASETS["emomusic"](tmp_path)
    assert clips[0].labels == {"arousal": 3.1, "valence": 5.2} and clips[0].duration == 29.0
    subset, skipped = ingest(clips, root=tmp_path, name="emo", sr=SR, duration=29.0, cache_root=tmp_path / "c",
                             workers=1)
    assert len(subset) == 1 and [s.reason for s in skipped] == ["missing label arousal, valence"]


def test_jamendo_segments_from_lab_files(tmp_path):
    for split in ("train", "valid", "test"):
        _tone(tmp_path / "audio" / split / f"song_{split}.ogg", fmt="OGG", subtype="VORBIS", seconds=3.0)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "song_train.lab").write_text("0 1.2 nosing\n1.2 2.5 sing\n2.5 3.0 sing\n")
    (tmp_path / "labels" / "song_valid.lab").write_text("0.0 3.0 sing\n")
    clips = DATASETS["jamendo"](tmp_path)  # song_test has no .lab: its clip is skipped for the missing label
    train = [c for c in clips if c.split == "train"]
    assert [(c.labels["vocal"], c.offset, round(c.duration, 3)) for c in train] == [
        ("non-vocal", 0.0, 1.2), ("vocal", 1.2, 1.3), ("vocal", 2.5, 0.5)]
    subset, skipped = ingest(clips, root=tmp_path, name="jamendo", sr=SR, duration=1.0, cache_root=tmp_path / "c",
                             workers=1)
    assert len(subset) == 4 and [s.path for s in skipped] == ["audio/test/song_test.ogg"]
    assert sorted(set(subset.labels["split"].tolist())) == ["train", "valid"]
    assert len(np.unique(subset.groups)) == 2  # segments of one song share a group


def test_mtat_top_tags_song_groups_and_folder_split(tmp_path):
    header = ["clip_id", "guitar", "rock", "piano", "quiet", "mp3_path"]
    rows = [[1, 1, 1, 0, 0, "0/artist-album-01-song_a-0-29.mp3"], [2, 1, 1, 0, 0, "0/artist-album-01-song_a-30-59.mp3"],
            [3, 0, 0, 1, 1, "c/other-alb-02-song_b-0-29.mp3"], [4, 1, 0, 1, 0, "e/x-y-03-song_c-0-29.mp3"]]
    (tmp_path / "annotations_final.csv").write_text("\n".join("\t".join(map(str, r)) for r in [header, *rows]) + "\n")
    clips = DATASETS["mtat"](tmp_path, top=3)  # guitar 3, piano 2, rock 2 (quiet 1 is out)
    assert [c.labels["tags"] for c in clips] == [("guitar", "rock"), ("guitar", "rock"), ("piano",), ("guitar", "piano")]
    assert [c.split for c in clips] == ["train", "train", "valid", "test"]
    assert clips[0].group == clips[1].group != clips[2].group


def test_manifest_artist_column_groups_and_subgenre_lists(tmp_path):
    for i in range(4):
        _tone(tmp_path / "audio" / f"{i}.wav")
    (tmp_path / "tracks.csv").write_text("Path,Artist,Genre,subgenres,track_id\n"
                                         "audio/0.wav,Miles,Jazz,Modal;Cool,t0\naudio/1.wav,Miles,Jazz,,t1\n"
                                         "audio/2.wav,Kraftwerk,Electronic,Synth-pop,t2\n"
                                         "../outside.wav,Kraftwerk,Electronic,,t3\n")
    clips = DATASETS["manifest"](tmp_path / "tracks.csv")
    assert [c.group for c in clips] == ["Miles", "Miles", "Kraftwerk", "Kraftwerk"]
    assert clips[0].labels == {"genre": "Jazz", "subgenres": ("Modal", "Cool")} and clips[1].labels["subgenres"] == ()
    subset, skipped = ingest(clips, root=tmp_path, name="tracks", sr=SR, duration=0.5, cache_root=tmp_path / "c",
                             workers=1)
    assert [s.path for s in skipped] == ["../outside.wav"] and "outside the dataset root" in skipped[0].reason
    assert subset.classes["subgenres"] == ["Cool", "Modal", "Synth-pop"]
    assert subset.labels["subgenres"].tolist() == [[1, 1, 0], [0, 0, 0], [0, 0, 1]]
    assert subset.groups.tolist() == [1, 1, 0] and "track_id" not in subset.labels


def test_mtat_artist_is_the_file_names_first_field(tmp_path):
    header = ["clip_id", "rock", "piano", "mp3_path"]
    rows = [[1, 1, 0, "0/some_band-album-01-song-0-29.mp3"], [2, 0, 1, "c/solo_pianist-alb-02-etude-30-59.mp3"]]
    (tmp_path / "annotations_final.csv").write_text("\n".join("\t".join(map(str, r)) for r in [header, *rows]) + "\n")
    assert [c.labels["artist"] for c in DATASETS["mtat"](tmp_path)] == ["some_band", "solo_pianist"]


def test_warm_ingest_takes_hashes_from_the_index_and_rehashes_changed_files(tmp_path, monkeypatch):
    import raymir.data.clips as clips_mod

    for i in range(3):
        _tone(tmp_path / "d" / f"{i}.wav", freq=300.0 + 100 * i)
    clips = [Clip(f"{i}.wav", {"k": str(i)}) for i in range(3)]
    kw = {"root": tmp_path / "d", "name": "d", "sr": SR, "duration": 0.5, "cache_root": tmp_path / "c", "workers": 1}
    first, _ = ingest(clips, **kw)
    (index_file,) = (tmp_path / "c" / "hashes").glob("*.json")
    assert len(json.loads(index_file.read_text())) == 3
    hashed = []
    real = clips_mod._sha256
    monkeypatch.setattr(clips_mod, "_sha256", lambda p: hashed.append(p.name) or real(p))
    assert ingest(clips, **kw)[0].path == first.path and hashed == []  # nothing re-read
    _tone(tmp_path / "d" / "1.wav", freq=999.0)  # new content, new mtime
    os.utime(tmp_path / "d" / "1.wav", ns=(1, 10**18))
    rebuilt, _ = ingest(clips, **kw)
    assert hashed == ["1.wav"] and rebuilt.path != first.path
    index_file.write_text("{not json")  # a damaged index is ignored and rewritten
    assert ingest(clips, **kw)[0].path == rebuilt.path and len(json.loads(index_file.read_text())) == 3
