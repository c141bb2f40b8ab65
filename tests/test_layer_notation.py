"""Layer combinations of any number of layers: their notation, the keywords of ``features.layers``, the
limit on ``all``, the config check, and the grids they become (with the learned layer weighting)."""

import pytest

from raymir.config import ConfigError, all_layer_combos, combo_layers, combo_name, load_sweep, resolve_layer_combos
from raymir.recipes.layer_combos import parent_params, probe_grids, sweep_combos
from raymir.recipes.layer_combos_probes import WEIGHTED, ProbeGrid, ProbeTrial, batch_grids


def test_five_layers_keep_their_digit_notation_and_order():
    combos = all_layer_combos(5)
    assert len(combos) == 31 and combos[:6] == ("1", "2", "3", "4", "5", "12") and combos[-1] == "12345"
    assert combos == all_layer_combos()  # raymir's convnets have 5 layers
    for c in combos:
        assert combo_name(combo_layers(c, 5), 5) == c
    assert combo_layers("135", 5) == (1, 3, 5) and combo_name((2, 4), 5) == "24"
    assert all_layer_combos(9)[-1] == "123456789"  # digits up to 9 layers


def test_ten_layers_and_more_join_layer_numbers_with_plus():
    combos = all_layer_combos(12)
    assert len(combos) == 2 ** 12 - 1
    assert combos[:13] == (*map(str, range(1, 13)), "1+2")  # by size, then in order of the layers
    assert combos[-1] == "+".join(map(str, range(1, 13)))
    for c in combos:
        assert combo_name(combo_layers(c, 12), 12) == c
    assert combo_layers("12", 12) == (12,)  # one token: one layer
    assert combo_layers("1+2+12", 12) == (1, 2, 12) and combo_name((1, 2, 12), 12) == "1+2+12"
    assert combo_layers("12", 5) == (1, 2)  # the same string, five layers: layers 1 and 2


@pytest.mark.parametrize("combo, n_layers, why", [
    ("16", 5, "'16' is not a layer combination of 5 layers: it names layer 6, not one of 1-5"),
    ("31", 5, "'31' is not a layer combination of 5 layers: its layers must increase"),
    ("1+3", 5, "'1+3' is not a layer combination of 5 layers (write digits"),
    ("13", 12, "'13' is not a layer combination of 12 layers: it names layer 13, not one of 1-12"),
    ("3+1", 12, "'3+1' is not a layer combination of 12 layers: its layers must increase"),
    ("1+1", 12, "its layers must increase, each once"),
    ("01", 12, "'01' is not a layer combination of 12 layers (write layer numbers joined by +"),
    ("", 5, "'' is not a layer combination of 5 layers"),
])
def test_a_combination_that_does_not_fit_names_itself_and_the_layer_count(combo, n_layers, why):
    with pytest.raises(ValueError) as e:
        combo_layers(combo, n_layers)
    assert why in str(e.value)


def test_keywords_name_families_of_combinations_unioned_in_order():
    assert resolve_layer_combos(("singles",), 12) == tuple(map(str, range(1, 13)))
    assert resolve_layer_combos(("cumulative",), 5) == ("1", "12", "123", "1234", "12345")
    assert resolve_layer_combos(("cumulative",), 12)[-2:] == ("+".join(map(str, range(1, 12))),
                                                               "+".join(map(str, range(1, 13))))
    assert resolve_layer_combos(("windows:3",), 5) == ("123", "234", "345")
    assert len(resolve_layer_combos(("windows:3",), 12)) == 10 and resolve_layer_combos(("windows:3",), 12)[-1] == "10+11+12"
    # union, in the order given, each once; explicit combinations beside keywords
    assert resolve_layer_combos(("135", "cumulative", "windows:2", "12"), 5) == \
        ("135", "1", "12", "123", "1234", "12345", "23", "34", "45")
    assert resolve_layer_combos(("1+12", "singles"), 12)[:3] == ("1+12", "1", "2")
    assert resolve_layer_combos((), 5) == resolve_layer_combos(("all",), 5) == all_layer_combos(5)


def test_all_beyond_the_limit_stops_with_the_alternatives():
    assert len(resolve_layer_combos((), 6, limit=63)) == 63
    with pytest.raises(ValueError) as e:
        resolve_layer_combos((), 12, limit=63)
    text = str(e.value)
    assert "'all' is 4095 layer combinations of 12 layers, more than features.max_combinations=63" in text
    for hint in ("singles", "cumulative", "windows:K", "explicit combinations", "raise features.max_combinations"):
        assert hint in text
    with pytest.raises(ValueError, match="'all' is 4095"):
        resolve_layer_combos(("singles", "all"), 12, limit=63)
    assert len(resolve_layer_combos(("all",), 12, limit=4095)) == 4095
    with pytest.raises(ValueError, match="'windows:6': windows of 6 layers do not fit 5 layers"):
        resolve_layer_combos(("windows:6",), 5)


def test_the_config_check_names_bad_keywords_and_combinations_by_key():
    with pytest.raises(ConfigError) as e:
        load_sweep("layer_combos", overrides=("features.layers=[cumulativ, 'window:2', 'windows:0', '1-3']",
                                              "features.max_combinations=0"))
    text = str(e.value)
    for needle in ("features.layers: 'cumulativ' is not a layer combination ('135'; from 10 layers on '1+2+12') or one "
                   "of all, singles, cumulative, windows:K", "features.layers: 'window:2' is not",
                   "features.layers: 'windows:0': a window holds at least 1 layer", "features.layers: '1-3' is not",
                   "features.max_combinations: must be ≥ 1, got 0"):
        assert needle in text
    # raymir's own convnet has 5 layers: combinations beyond them, and `all` over the limit, stop at load time
    with pytest.raises(ConfigError, match=r"features.layers: '1\+6' is not a layer combination of 5 layers"):
        load_sweep("layer_combos", overrides=("features.layers=['1+6']",))
    with pytest.raises(ConfigError, match="features.layers: 'all' is 31 layer combinations of 5 layers, more than "
                                          "features.max_combinations=10"):
        load_sweep("layer_combos", overrides=("features.max_combinations=10",))
    # an embeddings folder's layer count is known once it is read: only the notation is checked here
    cfg = load_sweep("layer_combos", overrides=("features.layers=[cumulative, '1+12', 'windows:4']",
                                                "features.kinds=[convnet]", "encoder.kind=embeddings",
                                                "encoder.path=/"))
    assert sweep_combos(cfg, 12)[:2] == ("1", "1+2")
    with pytest.raises(ConfigError, match=r"features.layers: '1\+12' is not a layer combination of 5 layers .*\(the "
                                          r"layers of raymir's convnet\)"):
        sweep_combos(cfg, 5)


def test_the_weighting_section_is_checked_by_key_and_stays_out_of_default_params():
    with pytest.raises(ConfigError) as e:
        load_sweep("layer_combos", overrides=("weighting.head=cnn", "weighting.epochs=0", "weighting.hidden=0",
                                              "weighting.lr=0", "weighting.weight_decay=-1", "weighting.enabled=true",
                                              "features.kinds=[mfcc]"))
    text = str(e.value)
    for needle in ("weighting.head: 'cnn' is not one of linear, mlp", "weighting.epochs: must be ≥ 1, got 0",
                   "weighting.hidden: must be ≥ 1, got 0", "weighting.lr: must be > 0, got 0",
                   "weighting.weight_decay: must be ≥ 0, got -1", "weighting.enabled: weights the layers of convnet or "
                   "random features"):
        assert needle in text
    default = parent_params(load_sweep("layer_combos"))
    assert not any(k.startswith(("weighting.", "features.max_combinations")) for k in default)
    on = parent_params(load_sweep("layer_combos", overrides=("weighting.enabled=true", "features.max_combinations=40")))
    assert on["weighting.enabled"] is True and on["weighting.head"] == "linear" and on["features.max_combinations"] == 40


def test_weighting_adds_one_grid_per_task_and_layer_feature_in_a_trial_of_its_own():
    cfg = load_sweep("layer_combos", preset="tiny", overrides=("weighting.enabled=true", "probe.tasks=[genre]"))
    grids = probe_grids(cfg)
    assert [g.layers for g in grids if g.feature == "convnet"] == ["1", "5", "12345", WEIGHTED]
    assert ProbeGrid("genre", "random", WEIGHTED) in grids and ProbeGrid("genre", "convnet+mfcc", "12345") in grids
    trials = batch_grids(grids, per_trial=8)
    assert ProbeTrial("genre", "convnet", ("1", "5", "12345")) in trials
    assert ProbeTrial("genre", "convnet", (WEIGHTED,)) in trials and ProbeTrial("genre", "random", (WEIGHTED,)) in trials
    # convnet+mfcc concatenates every layer of the feature source, in its notation
    twelve = probe_grids(load_sweep("layer_combos", overrides=("features.layers=[singles]", "probe.tasks=[genre]")),
                         n_layers=12)
    assert ProbeGrid("genre", "convnet+mfcc", "+".join(map(str, range(1, 13)))) in twelve
    assert not any(g.layers == WEIGHTED for g in twelve)  # off by default
