from pathlib import Path

import pytest

from raymir.config import ConfigError, gamma_value, list_sweeps, load_sweep
from raymir.recipes.layer_combos import probe_grids, sweep_combos
from raymir.sweep import main


def test_default_sweep_is_valid_and_has_the_full_grid():
    cfg = load_sweep("layer_combos")
    assert len(sweep_combos(cfg, 5)) == 31
    assert cfg.probe.C == (0.1, 2.0, 8.0, 32.0) and cfg.probe.scaler == (True, False)
    assert [gamma_value(g, 160) for g in cfg.probe.gamma] == [2**-3, 2**-5, 2**-7, 2**-9, 2**-11, 2**-13, 1 / 160]
    # 7 targets × (31 convnet + 31 random + mfcc + convnet+mfcc)
    assert len(probe_grids(cfg)) == 7 * 64


def test_presets_and_overrides():
    paper = load_sweep("layer_combos", preset="paper")
    assert paper.probe.folds == 10 and paper.corpus.duration == 29.0
    cfg = load_sweep("layer_combos", overrides=("pretrain.epochs=3", "probe.tasks=[genre]"))
    assert cfg.pretrain.epochs == 3 and cfg.probe.tasks == ("genre",)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as err:
        load_sweep("layer_combos", overrides=("pretrain.modle=x", "probe.folds=1", "probe.tasks=[genre,nope]",
                                              "corpus.overlap=abc", "features.layers=['16']", "probe.gamma=['2^x']"))
    text = str(err.value)
    for needle in ("pretrain.modle: unknown key", "probe.folds: must be ≥ 2", "unknown task 'nope'",
                   "corpus.overlap: expected a number", "'16' is not a layer combination", "'2^x'"):
        assert needle in text
    assert "layer_combos.yaml" in text


def test_unknown_sweep_lists_available(capsys):
    assert main(["no_such_sweep"]) == 2
    err = capsys.readouterr().err
    assert "unknown sweep 'no_such_sweep'" in err and "layer_combos" in err


def test_bad_yaml_file_names_the_file(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("probe: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml"):
        load_sweep(str(bad))
    odd = tmp_path / "odd.yaml"
    odd.write_text("recipe: layer_combos\nprobe:\n  folds: ten\nunknown_section: 1\n")
    with pytest.raises(ConfigError) as err:
        load_sweep(str(odd))
    assert "probe.folds: expected an integer" in str(err.value) and "unknown_section" in str(err.value)
    nameless = tmp_path / "nameless.yaml"  # a sweep file says which study it is
    nameless.write_text("probe:\n  folds: 3\n")
    with pytest.raises(ConfigError, match="recipe: missing"):
        load_sweep(str(nameless))


def test_list_and_check(capsys):
    assert "layer_combos" in list_sweeps()
    assert main(["--list"]) == 0
    assert main(["layer_combos", "--check", "--preset", "tiny"]) == 0
    assert "ok" in capsys.readouterr().out


DEFAULT_SWEEPS = {"agf_combos", "artist_labels", "artist_tags", "layer_combos"}
REPO_SWEEPS = Path(__file__).resolve().parents[1] / "sweeps"


def test_default_sweeps_are_found_from_an_empty_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    found = list_sweeps()
    assert set(found) == DEFAULT_SWEEPS
    for name, path in found.items():  # the repository's own files, wherever the package reads them from
        assert path.read_bytes() == (REPO_SWEEPS / f"{name}.yaml").read_bytes()
    assert load_sweep("agf_combos").recipe == "agf_combos"


def test_a_sweeps_folder_in_the_current_directory_wins_on_a_name_clash(tmp_path, monkeypatch):
    (tmp_path / "sweeps").mkdir()
    mine = tmp_path / "sweeps" / "layer_combos.yaml"
    mine.write_text((REPO_SWEEPS / "layer_combos.yaml").read_text().replace("output: raymir_out", "output: my_out"))
    (tmp_path / "sweeps" / "my_study.yaml").write_text("recipe: artist_tags\n")
    monkeypatch.chdir(tmp_path)
    found = list_sweeps()
    assert set(found) == DEFAULT_SWEEPS | {"my_study"}
    assert found["layer_combos"] == mine and found["my_study"] == tmp_path / "sweeps" / "my_study.yaml"
    assert found["agf_combos"].parent != tmp_path / "sweeps"
    assert load_sweep("layer_combos").output == "my_out"


def test_agf_sweep_is_valid_and_has_paper_preset():
    cfg = load_sweep("agf_combos")
    assert cfg.recipe == "agf_combos" and cfg.tasks == "gsedm" and cfg.mel.sr == 22050 and cfg.mel.n_mels == 128
    paper = load_sweep("agf_combos", preset="paper")
    assert (paper.agf.n_words, paper.agf.n_topics, paper.train.epochs, paper.train.batch_size) == (2048, 40, 200, 64)
    assert paper.transfer.hidden == 1024 and paper.transfer.epochs == 50


def test_agf_problems_are_reported_at_once(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_sweep("agf_combos", overrides=("tasks=gx", "archs=[STN,BIG]", "train.task_sampling=sometimes",
                                            "agf.n_topics=1", "data.dataset=manifest",
                                            f"data.path={tmp_path / 'nope.csv'}", "data.source.dataset=mtat",
                                            "transfer.val_fraction=0.7", "train.loader_workers=-1"))
    text = str(err.value)
    for needle in ("tasks: 'gx'", "unknown architecture 'BIG'", "train.task_sampling", "agf.n_topics: must be ≥ 2",
                   "data.path: '", "does not exist", "data.source: this recipe trains on data.dataset itself",
                   "transfer.val_fraction", "train.loader_workers: must be ≥ 0, got -1"):
        assert needle in text, needle
    with pytest.raises(ConfigError, match="train.loader_workers: must be ≥ 0, got -2"):
        load_sweep("artist_labels", overrides=("train.loader_workers=-2",))
    with pytest.raises(ConfigError, match="wSTN is a widened genre net"):
        load_sweep("agf_combos", overrides=("tasks=sm",))


def test_data_flags_reach_the_config(tmp_path, capsys):
    csv = tmp_path / "tracks.csv"
    csv.write_text("path,artist,genre\n")
    assert main(["agf_combos", "--check", "--data", str(csv)]) == 0  # a .csv alone is a manifest
    assert main(["agf_combos", "--check", "--data", str(tmp_path / "missing.csv")]) == 2
    assert "data.path: " in capsys.readouterr().err
    for recipe in ("layer_combos", "artist_labels", "artist_tags"):
        assert main([recipe, "--check", "--dataset", "gtzan", "--data", str(tmp_path), "--source-dataset",
                     "manifest", "--source-data", str(csv)]) == 0, recipe
    with pytest.raises(SystemExit):  # a folder needs its layout named
        main(["layer_combos", "--check", "--source-data", str(tmp_path)])
    err = capsys.readouterr().err
    assert f"--source-data {tmp_path}: name its layout with --source-dataset" in err
    with pytest.raises(ConfigError) as err:
        load_sweep("artist_tags", overrides=("data.source.dataset=nope", f"data.source.path={tmp_path}",
                                             "data.split_dir=/nope", "data.source.size=huge", "data.duration=-1"))
    for needle in ("data.source.dataset: unknown dataset 'nope'", "data.split_dir: set data.dataset too",
                   "data.source.size: must be one of small", "data.duration: must be ≥ 0"):
        assert needle in str(err.value), needle


def test_an_unusable_storage_folder_is_named_before_anything_runs(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit):
        main(["layer_combos", "--check", "--storage", str(blocker / "ray")])
    assert f"--storage {blocker / 'ray'}: cannot create the folder" in capsys.readouterr().err


def test_probe_engine_settings_are_checked_by_key():
    with pytest.raises(ConfigError) as err:
        load_sweep("layer_combos", overrides=("probe.solver=svmlight", "probe.device=tpu", "probe.kernel_memory_gb=0",
                                              "probe.solver_precision=fp16",
                                              "search.combos_per_trial=0", "pretrain.loader_workers=-1"))
    msg = str(err.value)
    for key in ("probe.solver", "'svmlight'", "probe.device", "probe.kernel_memory_gb", "probe.solver_precision",
                "'fp16'", "search.combos_per_trial",
                "pretrain.loader_workers"):
        assert key in msg


def test_config_imports_no_torch_ray_or_mlflow():
    """config/ is a leaf: validating a sweep file starts none of the heavy frameworks."""
    import subprocess
    import sys

    code = ("import sys, raymir.config; heavy = sorted({'torch', 'ray', 'mlflow'} & set(sys.modules)); "
            "print(heavy); sys.exit(1 if heavy else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_repeats_are_checked_and_set_by_the_sweep_s_own_key(capsys):
    assert load_sweep("layer_combos").probe.repeats == 1  # the default run's time limit: one repeat
    assert load_sweep("layer_combos", preset="paper").probe.repeats == 5
    with pytest.raises(ConfigError, match="probe.repeats: must be ≥ 1, got 0"):
        load_sweep("layer_combos", overrides=("probe.repeats=0",))
    assert main(["layer_combos", "--check", "--repeats", "3"]) == 0
    assert "cross-validation repeated 3×" in capsys.readouterr().out
    assert main(["layer_combos", "--check", "--repeats", "3", "--set", "probe.repeats=2"]) == 0  # --set wins
    assert "repeated 2×" in capsys.readouterr().out
    assert main(["agf_combos", "--check", "--repeats", "3"]) == 0  # agf_combos: split and training repeated
    assert "repeated 3× (split re-drawn, every net retrained)" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="transfer.repeats: must be ≥ 1, got 0"):
        load_sweep("agf_combos", overrides=("transfer.repeats=0",))


@pytest.mark.parametrize("sweep", ["artist_labels", "artist_tags"])
def test_the_artist_sweeps_repeat_five_times_in_the_paper_preset_and_check_repeats(sweep, capsys):
    cfg = load_sweep(sweep)
    assert (cfg.probe.repeats, cfg.probe.repeat_training) == (1, True)  # the default run's time: one repeat
    assert load_sweep(sweep, preset="paper").probe.repeats == 5
    with pytest.raises(ConfigError, match="probe.repeats: must be ≥ 1 .*got 0"):
        load_sweep(sweep, overrides=("probe.repeats=0",))
    assert load_sweep(sweep, overrides=("probe.repeat_training=false",)).probe.repeat_training is False
    assert main([sweep, "--check", "--repeats", "3"]) == 0
    assert "repeated 3× (folds re-drawn, encoders re-trained)" in capsys.readouterr().out
    assert main([sweep, "--check", "--repeats", "-1"]) != 0
    assert "probe.repeats: must be ≥ 1" in capsys.readouterr().err


def test_each_repeat_redraws_the_folds_and_predefined_folds_are_used_once():
    import numpy as np

    from raymir.data.subset import Subset, TargetTask
    from raymir.probes.folds import make_folds
    from raymir.recipes.layer_combos import task_data

    cfg = load_sweep("layer_combos", overrides=("probe.repeats=3", "probe.folds=4"))
    y = np.repeat([0, 1], 20)
    subsets = {"a": Subset("a", np.zeros((40, 1)), 8000, {"y": y}),
               "b": Subset("b", np.zeros((40, 1)), 8000, {"y": y}, folds=np.arange(40) % 4)}
    tasks = task_data(cfg, subsets, [TargetTask("free", "a", "y", "classification"),
                                     TargetTask("fixed", "b", "y", "classification")], {"a": {}, "b": {}})
    free = tasks["free"].repeats
    assert len(free) == 3
    for r, folds in enumerate(free):  # repeat r: seed probe.seed + r
        expected = make_folds(y, kind="classification", n_folds=4, seed=cfg.probe.seed + r)
        assert all(np.array_equal(f, e) for f, e in zip(folds, expected, strict=True))
    assert not np.array_equal(free[0][0], free[1][0])
    fixed = tasks["fixed"].repeats
    assert len(fixed) == 1 and [len(f) for f in fixed[0]] == [10] * 4 and tasks["fixed"].test_fraction == 0.25

    # with each repeat's own nets (probe.repeat_training), predefined folds are probed once per repeat's features
    own = [{"a": {"convnet": np.full((40, 5, 2), r)}, "b": {"convnet": np.full((40, 5, 2), r)}} for r in (1, 2)]
    tasks = task_data(cfg, subsets, [TargetTask("free", "a", "y", "classification"),
                                     TargetTask("fixed", "b", "y", "classification")],
                      {"a": {"convnet": np.zeros((40, 5, 2))}, "b": {"convnet": np.zeros((40, 5, 2))}},
                      more_features=tuple(own))
    for name in ("free", "fixed"):
        data = tasks[name]
        assert len(data.repeats) == 3
        assert [data.of_repeat(r).features["convnet"][0, 0, 0] for r in range(3)] == [0, 1, 2]
    assert all(np.array_equal(a, b) for a, b in zip(tasks["fixed"].repeats[2], fixed[0], strict=True))


def test_search_settings_a_sweep_would_ignore_are_refused():
    for sweep in ("artist_labels", "artist_tags"):  # one encoder per trial: nothing to batch
        with pytest.raises(ConfigError, match="search.combos_per_trial: does not apply here"):
            load_sweep(sweep, overrides=("search.combos_per_trial=4",))
        assert load_sweep(sweep, overrides=("search.gpus_per_trial=0.5",)).search.gpus_per_trial == 0.5  # honoured
    with pytest.raises(ConfigError, match="search.gpus_per_trial: does not apply here"):
        load_sweep("agf_combos", overrides=("search.gpus_per_trial=1",))
    with pytest.raises(ConfigError, match="search.combos_per_trial: does not apply here"):
        load_sweep("agf_combos", overrides=("search.combos_per_trial=2",))
    assert load_sweep("layer_combos", overrides=("search.combos_per_trial=2",)).search.combos_per_trial == 2
