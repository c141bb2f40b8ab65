"""``layer_combos``' probe stage: one Ray Tune trial per (task, feature, batch of layer combinations);
whole SVM grids run inside.

Batching matters twice. One Tune trial costs about a second of overhead, one small SVM fit a
millisecond, so a trial fits whole grids. And the layer combinations of a batch share their
kernels: each training set's per-layer Gram matrices are computed once and every combination's
kernel is a sum of them (``raymir.probes.kernels``). Features go to the object store once
(``with_parameters``). Each combination writes its full grid as CSV (grid.csv) and logs a child MLflow run.

With ``probe.repeats`` r > 1 every grid is fitted on each repeat's folds (with ``probe.repeat_training``, on the
features of that repeat's own nets) and the J = r·k fold scores pooled:
the summary row's scores are means over J with their 95% intervals (``_ci95``), and it keeps the per-fold
nested scores and inner-CV means (``nested_folds``, ``nested_inner``, JSON) for the report's paired tests.

The learned layer weighting probe (``raymir.probes.weighting``, the ``weighting:`` section) is a grid
of its own, layers ``"weighted"``, one trial per task and feature: its child run logs the mean learned
weights as ``layer_weight_<l>``, the per-fold scores and weights (folds.csv) and their bar plot.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from raymir import tracking
from raymir.config import ProbeConfig, SearchConfig, WeightingConfig, combo_layers
from raymir.probes.compare import held_out_fraction, score_interval
from raymir.probes.svm import GridResult, engine_for, grid_points, grid_search_combos, pooled_repeats
from raymir.probes.weighting import WeightingResult, pooled_folds, weighted_probe

WEIGHTED = "weighted"  # the layers of the learned layer weighting probe's grid: every layer, weighted


@dataclass(frozen=True)
class TaskData:
    """Everything a probe trial needs about one task: labels, folds and feature blocks."""

    kind: str  # the task's kind: classification | regression
    labels: np.ndarray  # [n]
    folds: list[np.ndarray]  # test indices per fold
    # "convnet"/"random": [n, layers, channels] (raymir's nets: [n, 5, 32]) or a list of per-layer [n, d_i] arrays
    # (given embeddings, whose widths may differ); "mfcc": [n, 120]
    features: dict[str, np.ndarray | list[np.ndarray]]
    # the folds of repeats 1, 2, … (``probe.repeats``, re-drawn with seed probe.seed + r); empty for one repeat
    more_folds: tuple[list[np.ndarray], ...] = ()
    # the features of repeats 1, 2, … where each repeat has nets of its own (``probe.repeat_training``); empty when
    # every repeat probes ``features``
    more_features: tuple[dict[str, np.ndarray | list[np.ndarray]], ...] = ()

    def __post_init__(self):
        if self.more_features and len(self.more_features) != len(self.more_folds):
            raise ValueError(f"TaskData: features for {len(self.more_features) + 1} repeats but folds for "
                             f"{len(self.more_folds) + 1}")

    @property
    def repeats(self) -> list[list[np.ndarray]]:
        """The folds of every repeat: [repeats][folds] test indices."""
        return [self.folds, *self.more_folds]

    def of_repeat(self, r: int) -> TaskData:
        """Repeat r alone: its folds and the features it probes (its own nets', or ``features``)."""
        features = self.more_features[r - 1] if r and self.more_features else self.features
        return replace(self, folds=self.repeats[r], features=features, more_folds=(), more_features=())

    @property
    def test_fraction(self) -> float:
        """The mean share of the clips a fold tests on (the corrected t-test's n_test / n)."""
        return held_out_fraction(self.folds, len(self.labels))


@dataclass(frozen=True)
class ProbeGrid:
    """One probe grid: a task, a feature and a layer combination ("135", "1+2+12"; "-" for MFCC alone;
    "weighted" for the learned layer weighting)."""

    task: str
    feature: str
    layers: str

    @property
    def key(self) -> str:
        """The MLflow key of the grid's child run: ``task/feature/layers``."""
        return f"{self.task}/{self.feature}/{self.layers}"


@dataclass(frozen=True)
class ProbeTrial:
    """One Ray Tune trial: the grids of a task and feature over several layer combinations."""

    task: str
    feature: str
    combos: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.task}/{self.feature}/{'+'.join(self.combos)}"

    def grids(self) -> list[ProbeGrid]:
        return [ProbeGrid(self.task, self.feature, layers) for layers in self.combos]


def batch_grids(grids: Sequence[ProbeGrid], *, per_trial: int) -> list[ProbeTrial]:
    """Group grids into trials of up to ``per_trial`` layer combinations of one task and feature; a weighted grid
    is a trial of its own (it shares no kernels)."""
    groups: dict[tuple[str, str, bool], list[str]] = {}
    for g in grids:
        groups.setdefault((g.task, g.feature, g.layers == WEIGHTED), []).append(g.layers)
    return [ProbeTrial(t, f, tuple(combos[i:i + per_trial]))
            for (t, f, _), combos in groups.items() for i in range(0, len(combos), per_trial)]


def n_layers_of(source: np.ndarray | list[np.ndarray]) -> int:
    """How many layers a feature has: [n, layers, channels] or a list of per-layer [n, d_i]."""
    return len(source) if isinstance(source, (list, tuple)) else source.shape[1]


def layer_block(source: np.ndarray | list[np.ndarray], layer: int) -> np.ndarray:
    """Layer ``layer`` (1-based) of a feature: from [n, layers, channels], or from a list of per-layer [n, d_i] →
    [n, d]."""
    return source[layer - 1] if isinstance(source, (list, tuple)) else source[:, layer - 1]


def feature_blocks(data: TaskData, feature: str, layers: str) -> dict[str, np.ndarray]:
    """The named blocks a feature concatenates, in order: each layer of the combination ``layers`` under its number
    (``"1"``, …, ``"12"``) [n, d], ``"mfcc"`` [n, 120]. The per-layer kernels are shared by these names."""
    blocks = {}
    if feature in ("convnet", "random", "convnet+mfcc"):
        source = data.features["random" if feature == "random" else "convnet"]
        blocks |= {str(layer): layer_block(source, layer) for layer in combo_layers(layers, n_layers_of(source))}
    if feature in ("mfcc", "convnet+mfcc"):
        blocks["mfcc"] = data.features["mfcc"]
    return blocks


def feature_matrix(data: TaskData, feature: str, layers: str) -> np.ndarray:
    """Concatenate the chosen layers' pooled features (and/or MFCCs): → [n, d]."""
    return np.concatenate(list(feature_blocks(data, feature, layers).values()), axis=1)


def _fold_list(values: np.ndarray | None) -> str | None:
    """Per-fold values [J] as a JSON list (exact floats: the report's paired tests and a resumed run read them)."""
    return None if values is None else json.dumps([float(v) for v in values])


def fold_scores(metric: str, cv: np.ndarray, nested: np.ndarray | None, inner: np.ndarray | None, *,
                fraction: float, repeats: int) -> dict:
    """The score columns of a summary row from per-fold scores over J = folds × repeats (repeat-major).

    cv: [J] the best grid point's CV scores; nested: [J] nested-CV outer-fold scores; inner: [J] the inner-CV
    mean that chose each outer fold's grid point. ``_ci95``: the half-width of the 95% interval corrected for
    overlapping training sets (``raymir.probes.compare``), ``fraction`` of the clips tested per fold.
    """
    def ci95(values):
        return None if values is None else score_interval(values, fraction=fraction).half_width

    return {f"cv_{metric}": float(cv.mean()), f"cv_{metric}_std": float(cv.std()), f"cv_{metric}_ci95": ci95(cv),
            f"nested_{metric}": None if nested is None else float(nested.mean()),
            f"nested_{metric}_ci95": ci95(nested), "nested_folds": _fold_list(nested),
            "nested_inner": _fold_list(inner), "test_fraction": fraction, "repeats": repeats}


def _summary(grid: ProbeGrid, n_features: int, result: GridResult, data: TaskData) -> dict:
    """A grid's summary row: its best point's settings and scores (``result``: every repeat's folds pooled)."""
    best = result.points[result.best]
    metric = "accuracy" if data.kind == "classification" else "r2"
    return {
        "task": grid.task, "feature": grid.feature, "layers": grid.layers,
        "n_features": n_features, "kernel": best.kernel, "C": best.C,
        "gamma": "-" if best.gamma is None else best.gamma, "scaler": best.scaler, "metric": metric,
        **fold_scores(metric, result.fold_scores[result.best], result.nested_scores, result.nested_inner,
                      fraction=data.test_fraction, repeats=len(data.repeats)),
        "capped_fits": int(result.capped.sum()), "engine": result.engine,
    }


def run_probes(trial: ProbeTrial, data: TaskData, probe: ProbeConfig) -> list[tuple[dict, list[dict]]]:
    """Grid search + nested CV for every layer combination of a trial: → [(summary, full grid table)].

    All combinations share one set of per-layer kernels per training set. Each repeat's folds are fitted (their
    training sets differ), on that repeat's features, and pooled: the grid table's fold j is repeat j // k, fold
    j % k.
    """
    views = [data.of_repeat(r) for r in range(len(data.repeats))]  # each repeat's own nets' features, if any
    blocks = [{name: b for layers in trial.combos for name, b in feature_blocks(v, trial.feature, layers).items()}
              for v in views]
    combos = {layers: tuple(feature_blocks(data, trial.feature, layers)) for layers in trial.combos}
    n_features = {layers: sum(blocks[0][name].shape[1] for name in names) for layers, names in combos.items()}
    points = {layers: grid_points(probe, d) for layers, d in n_features.items()}
    runs = [grid_search_combos(b, combos, data.labels, v.folds, points, kind=data.kind, nested=probe.nested,
                               engine=engine_for(probe)) for v, b in zip(views, blocks, strict=True)]
    results = {layers: pooled_repeats([run[layers] for run in runs]) for layers in combos}
    return [(_summary(ProbeGrid(trial.task, trial.feature, layers), n_features[layers], res, data), res.table())
            for layers, res in results.items()]


def run_weighted(grid: ProbeGrid, data: TaskData, weighting: WeightingConfig) -> tuple[dict, WeightingResult]:
    """The learned layer weighting probe on every layer of the grid's feature: → (summary, per-fold result).

    The summary has an SVM grid's keys; nothing is selected on the test folds (one fixed setting), so the
    cross-validated score is already unbiased and is the nested score too, fold by fold. Having no inner CV, its
    ``nested_inner`` is that per-fold score as well: it takes no part in the report's nested choice of a best
    combination (which chooses among SVM grids only). Every repeat's folds are fitted, pooled as the SVM grids'.
    """
    def layers_of(view: TaskData) -> list[np.ndarray]:
        source = view.features[grid.feature]
        return [np.asarray(layer_block(source, layer)) for layer in range(1, n_layers_of(source) + 1)]

    views = [data.of_repeat(r) for r in range(len(data.repeats))]
    layers = [layers_of(v) for v in views]
    result = pooled_folds([weighted_probe(ls, data.labels, v.folds, kind=data.kind, cfg=weighting)
                           for v, ls in zip(views, layers, strict=True)])
    metric = result.metric
    summary = {
        "task": grid.task, "feature": grid.feature, "layers": grid.layers,
        "n_features": max(a.shape[1] for a in layers[0]), "kernel": "-", "C": "-", "gamma": "-", "scaler": True,
        "metric": metric, **fold_scores(metric, result.scores, result.scores, result.scores,
                                        fraction=data.test_fraction, repeats=len(data.repeats)),
        "capped_fits": 0, "engine": f"layer weighting, {weighting.head} head",
    }
    return summary, result


def run_probe(grid: ProbeGrid, data: TaskData, probe: ProbeConfig) -> tuple[dict, list[dict]]:
    """Grid search + nested CV for one grid: → (summary, full grid table)."""
    return run_probes(ProbeTrial(grid.task, grid.feature, (grid.layers,)), data, probe)[0]


CHILD_PARAMS = ("task", "feature", "layers", "kernel", "C", "gamma", "scaler", "n_features", "engine", "repeats",
                "nested_folds", "nested_inner")
PARAM_CHARS = 6000  # MLflow cuts longer param values: ~250 per-fold scores (e.g. 25 folds × 10 repeats) fit


def _child_run(summary: dict) -> tuple[dict, dict]:
    """A summary row as its MLflow child run logs it: → (params, metrics); None values are left out, and so are
    per-fold lists too long for a param (a cut list would not parse: a resumed run then has none, as before)."""
    metric = summary["metric"]
    params = {k: summary[k] for k in CHILD_PARAMS
              if summary.get(k) is not None and len(str(summary[k])) <= PARAM_CHARS}
    metrics = {k: summary.get(k) for k in (f"cv_{metric}", f"cv_{metric}_std", f"cv_{metric}_ci95", f"nested_{metric}",
                                           f"nested_{metric}_ci95", "test_fraction", "capped_fits")}
    return params, {k: v for k, v in metrics.items() if v is not None}


def _logged_summary(params: dict, metrics: dict) -> dict:
    """A finished trial's summary rebuilt from its MLflow child run (params come back as strings)."""
    metric = "accuracy" if "cv_accuracy" in metrics else "r2"
    gamma, C = params.get("gamma", "-"), params["C"]
    summary = {k: v for k, v in metrics.items() if k.startswith(("cv_", "nested_")) or k == "capped_fits"}
    folds = {k: params[k] for k in ("nested_folds", "nested_inner") if k in params}  # the JSON lists as logged
    fraction = {"test_fraction": metrics["test_fraction"]} if "test_fraction" in metrics else {}
    return {"task": params["task"], "feature": params["feature"], "layers": params["layers"],
            "n_features": int(params["n_features"]), "kernel": params["kernel"], "C": C if C == "-" else float(C),
            "gamma": gamma if gamma == "-" else float(gamma), "scaler": params["scaler"] == "True",
            "metric": metric, **summary, **folds, **fraction, "repeats": int(params.get("repeats", 1)),
            "engine": params.get("engine", ""), "resumed": 1}


def _write_csv(path: Path, table: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    return path


def _log_grid(tracker: tracking.Tracker, grid: ProbeGrid, summary: dict, table: list[dict], trial_dir: Path, *,
              more_metrics: dict | None = None, more_artifacts: tuple[Path, ...] = ()) -> None:
    grid_csv = _write_csv(trial_dir / grid.layers / "grid.csv", table)  # one folder per combination: each run's grid.csv
    params, metrics = _child_run(summary)
    tracking.log_trial(tracker, grid.key, params=params, metrics=metrics | (more_metrics or {}),
                       artifacts=(grid_csv, *more_artifacts))


def _log_weighted(tracker: tracking.Tracker, grid: ProbeGrid, summary: dict, result: WeightingResult,
                  trial_dir: Path) -> None:
    """The weighting grid's child run: its summary, the mean weight of each layer as ``layer_weight_<l>``, the
    per-fold scores and weights (grid.csv) and their bar plot (layer_weights.png)."""
    from raymir.recipes.layer_combos_report import weights_figure

    figure = weights_figure(result.weights, trial_dir / grid.layers / "layer_weights.png",
                            title=f"{grid.task} {grid.feature}: learned layer weights")
    means = {f"layer_weight_{i + 1}": float(w) for i, w in enumerate(result.weights.mean(axis=0))}
    _log_grid(tracker, grid, summary, result.table(), trial_dir, more_metrics=means, more_artifacts=(figure,))


def _fit(trial: ProbeTrial, todo: list[ProbeGrid], data: TaskData, probe: ProbeConfig, weighting: WeightingConfig
         ) -> list[tuple[ProbeGrid, dict, list[dict] | WeightingResult]]:
    """Fit the grids ``todo`` of a trial: SVM grids sharing kernels (→ their full grid tables), or the weighting
    probe (→ its per-fold result)."""
    if trial.combos == (WEIGHTED,):
        return [(todo[0], *run_weighted(todo[0], data, weighting))]
    results = run_probes(ProbeTrial(trial.task, trial.feature, tuple(g.layers for g in todo)), data, probe)
    by_layers = {summary["layers"]: (summary, table) for summary, table in results}
    return [(grid, *by_layers[grid.layers]) for grid in todo]


def _probe_trial(config: dict, *, tasks: dict[str, TaskData], probe: ProbeConfig, tracker: tracking.Tracker,
                 weighting: WeightingConfig = WeightingConfig()) -> None:
    import ray
    import ray.tune as tune

    trial: ProbeTrial = config["trial"]
    rows, todo = [], []
    for grid in trial.grids():
        done = tracking.finished_child(tracker, grid.key) if tracker.resumed else None
        if done is not None:  # finished before the sweep was interrupted: keep it, don't fit it again
            rows.append(_logged_summary(*done))
        else:
            todo.append(grid)
    if todo:
        with tracking.failures_logged(tracker, {g.key: {"task": g.task, "feature": g.feature, "layers": g.layers}
                                                for g in todo}):
            fitted = _fit(trial, todo, tasks[trial.task], probe, weighting)
        trial_dir = Path(tune.get_context().get_trial_dir())
        for grid, summary, out in fitted:
            if isinstance(out, WeightingResult):
                _log_weighted(tracker, grid, summary, out, trial_dir)
            else:
                _log_grid(tracker, grid, summary, out, trial_dir)
            rows.append({k: v for k, v in summary.items() if v is not None})
    where = ray.get_runtime_context().get_node_id()  # which cluster node fitted it (Tune's result.json)
    tune.report({"rows": json.dumps(rows), "n_combos": len(rows), "node_id": where})


def run_probe_trials(grids: Sequence[ProbeGrid], tasks: dict[str, TaskData], probe: ProbeConfig,
                     tracker: tracking.Tracker, *, search: SearchConfig, storage: Path | str, name: str,
                     weighting: WeightingConfig = WeightingConfig()) -> tuple[list[dict], list[str]]:
    """Fan the probe grids out with Ray Tune: → (one summary per grid, error messages).

    Weighted grids (layers ``"weighted"``) run the learned layer weighting probe with ``weighting``.

    Up to ``search.combos_per_trial`` combinations of a task and feature share a trial, which holds
    ``search.cpus_per_trial`` CPUs (and ``search.gpus_per_trial`` GPUs).
    """
    import ray.tune as tune

    from raymir.fanout import fan_out, trial_resources

    resources = trial_resources(search)
    trainable = tune.with_resources(tune.with_parameters(_probe_trial, tasks=tasks, probe=probe, tracker=tracker,
                                                         weighting=weighting),
                                    resources)
    trials = batch_grids(grids, per_trial=search.combos_per_trial)
    batches, errors = fan_out(trainable, trials, search=search, name=name, storage=storage, label="probe trials",
                              keep=lambda k: k == "rows")
    return [row for b in batches for row in json.loads(b["rows"])], errors
