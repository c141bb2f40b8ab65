"""Every stage's cache key, for the default and tiny presets of the four shipped sweeps, is the one
recorded in ``tests/data/cache_keys.json``: a user's existing cache keeps hitting after a refactor,
and a change that alters a key (and so recomputes a stage for everyone) shows up here on purpose."""

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from raymir import cache
from raymir.config import load_sweep
from raymir.data.synthetic import SUBSETS, corpus_key
from raymir.extract import feature_key
from raymir.recipes import agf_combos, artist_labels
from raymir.session import parent_params
from raymir.train.choi import pretrain_key

RECORDED = json.loads((Path(__file__).parent / "data" / "cache_keys.json").read_text())
# Stand-ins for what comes from the data (content hashes, split indices): the keys' shapes are under test.
SPLITS = {"train": np.array([0, 2, 3]), "val": np.array([1]), "val_artist": np.array([4])}
TRAIN_IDX = np.array([0, 1, 5, 7])


def stage_keys(sweep: str, preset: str | None) -> dict[str, str]:
    cfg = load_sweep(sweep, preset=preset)
    keys = {f"corpus/{name}": corpus_key(cfg.corpus, sr=cfg.mel.sr, name=name) for name in SUBSETS}
    if sweep in ("layer_combos", "artist_tags"):
        for label in ("tags", "artist_tags"):
            keys[f"pretrain/{label}"] = pretrain_key("SOURCE", label=label, cfg=cfg.pretrain, mel=cfg.mel)
        keys["features/convnet"] = feature_key("convnet", "SUBSET", {"model": "DIGEST", "mel": asdict(cfg.mel)})
        keys["features/mfcc"] = feature_key("mfcc", "SUBSET", {"n_mfcc": 20})
    if sweep == "agf_combos":
        keys["agf"] = agf_combos.agf_key(cfg, "CORPUS", SPLITS["train"])
        keys["agf_inputs"] = agf_combos.inputs_key(cfg, "CORPUS", SPLITS)
        for run in (agf_combos.SourceRun("g", "STN"), agf_combos.SourceRun("gsedm", "MTN"),
                    agf_combos.SourceRun("g", "wSTN", 1.5, target_params=1000, n=5)):
            keys[f"source/{run.tasks}/{run.arch}"] = agf_combos.source_key(run, cfg, "INPUTS")
    if sweep == "artist_labels":
        keys["park_inputs"] = artist_labels.inputs_key(cfg, {"source": "SOURCE", "genre": "GENRE"})
        for model in ("basic", "siamese"):
            keys[f"artist_model/{model}"] = artist_labels.model_key(cfg, "INPUTS", model, TRAIN_IDX)
        keys["features/mfcc"] = feature_key("mfcc", "SUBSET", {"n_mfcc": 20})
    # the parent run's params: resuming finds the run by their hash (a default encoder section is left out)
    keys["parent_params"] = parent_params(cfg)
    return {k: cache.key_of(v) for k, v in keys.items()}


@pytest.mark.parametrize("sweep", ["layer_combos", "agf_combos", "artist_labels", "artist_tags"])
@pytest.mark.parametrize("preset", [None, "tiny"])
def test_stage_cache_keys_are_unchanged(sweep, preset):
    assert stage_keys(sweep, preset) == RECORDED[f"{sweep}:{preset or 'default'}"]


def test_a_changed_setting_changes_the_keys_that_depend_on_it():
    cfg = load_sweep("layer_combos", preset="tiny", overrides=("pretrain.epochs=3",))
    recorded = RECORDED["layer_combos:tiny"]
    assert cache.key_of(pretrain_key("SOURCE", label="tags", cfg=cfg.pretrain, mel=cfg.mel)) != recorded["pretrain/tags"]
    assert cache.key_of(corpus_key(cfg.corpus, sr=cfg.mel.sr, name="genre")) == recorded["corpus/genre"]


@pytest.mark.parametrize("preset", [None, "tiny"])
def test_repeat_zero_trains_with_the_single_runs_keys_and_later_repeats_re_seed(preset):
    """A default run's cached models are repeat 0's: --repeats N reuses them and trains only repeats 1…N−1."""
    from raymir.recipes import artist_tags

    cfg = load_sweep("artist_labels", preset=preset, overrides=("probe.repeats=3",))
    recorded = RECORDED[f"artist_labels:{preset or 'default'}"]
    for model in ("basic", "siamese"):
        key = cache.key_of(artist_labels.model_key(artist_labels.repeat_config(cfg, 0), "INPUTS", model, TRAIN_IDX))
        assert key == recorded[f"artist_model/{model}"]
        again = artist_labels.model_key(artist_labels.repeat_config(cfg, 2), "INPUTS", model, TRAIN_IDX)
        assert cache.key_of(again) != key and again["train"]["seed"] == cfg.train.seed + 2
    fixed = load_sweep("artist_labels", preset=preset, overrides=("probe.repeats=3", "probe.repeat_training=false"))
    assert artist_labels.repeat_config(fixed, 2) is fixed  # folds re-drawn only: repeat 0's models every time

    tags = load_sweep("artist_tags", preset=preset, overrides=("probe.repeats=3",))
    recorded = RECORDED[f"artist_tags:{preset or 'default'}"]
    for label, model in (("tags", "choi_tags"), ("artist_tags", "artist_tags")):
        first = artist_tags.repeat_config(tags, model, 0)
        assert cache.key_of(pretrain_key("SOURCE", label=label, cfg=first.pretrain, mel=first.mel)) == \
            recorded[f"pretrain/{label}"]
        second = artist_tags.repeat_config(tags, model, 1)
        assert second.pretrain.seed == tags.pretrain.seed + 1
        assert cache.key_of(pretrain_key("SOURCE", label=label, cfg=second.pretrain, mel=second.mel)) != \
            recorded[f"pretrain/{label}"]
    assert artist_tags.repeat_config(tags, "mfcc", 2) is tags

    from raymir.recipes import layer_combos

    choi = load_sweep("layer_combos", preset=preset, overrides=("probe.repeats=3",))
    recorded = RECORDED[f"layer_combos:{preset or 'default'}"]
    assert list(layer_combos.training_repeats(choi)) == [1, 2]
    first = layer_combos.repeat_config(choi, 0)
    assert cache.key_of(pretrain_key("SOURCE", label="tags", cfg=first.pretrain, mel=first.mel)) == recorded["pretrain/tags"]
    later = layer_combos.repeat_config(choi, 2)
    assert later.pretrain.seed == choi.pretrain.seed + 2 and cache.key_of(
        pretrain_key("SOURCE", label="tags", cfg=later.pretrain, mel=later.mel)) != recorded["pretrain/tags"]
    folds_only = load_sweep("layer_combos", preset=preset, overrides=("probe.repeats=3", "probe.repeat_training=false"))
    assert not layer_combos.training_repeats(folds_only)
