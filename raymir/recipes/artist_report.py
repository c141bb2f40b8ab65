"""Summary of an artist sweep: one table row per run (every score as mean ± the half-width of its 95 %
confidence interval over folds × repeats), a figure of every probe metric against the number of training
artists (basic vs Siamese, baselines as flat lines; error bars: the intervals), and paired comparisons.

The comparisons (comparisons.csv, and a table in summary.md) test the papers' claims fold by fold on the folds
every run shares: Park et al. — basic vs Siamese at each number of artists, each model vs MFCC and vs the random
tower; Wang et al. — artist_tags vs choi_tags, each vs MFCC. SVM/SVR probes compare nested-CV outer-fold scores
(the best-point CV score picks its grid point on the folds it is scored on), tagging its fold scores, both with
the corrected resampled t-test (Nadeau & Bengio 2003, ``raymir.probes.compare``); retrieval compares per-query
average precision (averaged over repeats), queries being independent units: the plain paired t-test.
"""

from __future__ import annotations

import csv
import json
from itertools import combinations
from pathlib import Path

import matplotlib

from raymir.probes.compare import paired_comparison, write_comparisons
from raymir.recipes import layer_combos_report
from raymir.recipes.layer_combos_probes import PARAM_CHARS

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

METRICS = ("genre_accuracy", "arousal_r2", "valence_r2", "tag_roc_auc", "tag_pr_auc", "retrieval_map")
TRAINED = ("basic", "siamese", "artist_tags", "choi_tags")
GIVEN = ("choi2017_keras", "park2017_keras")  # a given encoder's row (keyed by its kind) leads its baselines


SCORES = ("_accuracy", "_r2")  # a real dataset's probes: <label>_accuracy (SVM), <label>_r2 (SVR)


BASELINES = ("mfcc", "random")
PER_FOLD = ("_ci95", "_folds", "_test_fraction")  # a metric's interval, per-fold scores and test fraction
# layer_combos' fields, and which scores were tested (e.g. genre_accuracy_nested): a sweep compares several metrics
COMPARISON_FIELDS = ("metric", *layer_combos_report.COMPARISON_FIELDS)


def row_key(key: str) -> bool:
    """The keys a trial's summary row keeps: identity, every probe metric with its interval and per-fold scores,
    timings."""
    return (key in ("model", "n_artists", "layers", "repeats") or key.startswith(("tag_", "retrieval_", "seconds_"))
            or key.endswith(SCORES) or key.endswith(tuple(f"{s}_nested" for s in SCORES)) or key.endswith(PER_FOLD))


def split_row(metrics: dict) -> tuple[dict[str, float], dict[str, str]]:
    """A trial's pooled row → (numbers for MLflow metrics, per-fold JSON lists short enough for MLflow params).

    The MLflow UI sorts runs by a metric's mean and shows its ``_ci95`` beside it; the lists are params so a run
    can be read back (longer ones are only in the run's folds.json and the report's summary.csv)."""
    numbers = {k: float(v) for k, v in metrics.items() if not isinstance(v, str)}
    lists = {k: v for k, v in metrics.items() if k.endswith("_folds") and len(v) <= PARAM_CHARS}
    return numbers, lists


def write_fold_lists(metrics: dict, folder: Path) -> Path:
    """Every per-fold list of a trial's row as ``<folder>/folds.json`` ({metric: [scores]}), for its MLflow run
    (the lists too long for a param are only there and in the report's summary.csv)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "folds.json"
    path.write_text(json.dumps({k[:-len("_folds")]: json.loads(v) for k, v in metrics.items()
                                if k.endswith("_folds")}))
    return path


def _metrics(rows: list[dict]) -> list[str]:
    keys = [k for k in dict.fromkeys(k for r in rows for k in r) if not k.endswith(PER_FOLD)]
    scores = [k for k in keys if k.endswith(SCORES) and k not in METRICS]
    recall = sorted(k for k in keys if k.startswith("retrieval_recall_at_"))
    return [m for m in (*METRICS, *scores, *recall) if m in keys]


def _label(r: dict) -> str:
    return r["model"] + (f" ({r['layers']})" if r.get("layers", "-") != "-" else "")


def _ci(r: dict, m: str) -> float:
    """The half-width of metric m's 95 % interval in row r (0 where the row has none, e.g. from one score)."""
    v = r.get(f"{m}_ci95")
    return 0.0 if v in (None, "") else float(v)


def _cell(r: dict, m: str) -> str:
    if m not in r:
        return "-"
    v = r.get(f"{m}_ci95")
    return f"{float(r[m]):.3f}" if v in (None, "") else f"{float(r[m]):.3f} ± {float(v):.3f}"


def summary_table(rows: list[dict]) -> str:
    """Markdown: model, number of training artists, then every metric present as mean ± 95 % CI half-width."""
    metrics = _metrics(rows)
    order = sorted(rows, key=lambda r: (r["model"] not in TRAINED + GIVEN, r["model"], r.get("n_artists", 0),
                                        r.get("layers", "")))
    repeats = max(int(r.get("repeats", 1)) for r in rows)
    intervals = any(f"{m}_ci95" in r for r in rows for m in metrics)  # rows from before intervals have none
    lines = [f"Mean ± half-width of the 95 % CI over folds × {repeats} repeat(s) (corrected for overlapping training "
             "sets; retrieval: over queries)", ""] if intervals else []
    lines += ["| model | n_artists | " + " | ".join(metrics) + " |", "|---|---:|" + "---:|" * len(metrics)]
    for r in order:
        cells = [_cell(r, m) for m in metrics]
        n = r.get("n_artists", 0)
        lines.append(f"| {_label(r)} | {n if n else '-'} | " + " | ".join(cells) + " |")
    chance = [r["retrieval_chance_map"] for r in rows if "retrieval_chance_map" in r]
    if chance:
        lines.append(f"\nRetrieval MAP by chance on the held-out artists: {chance[0]:.3f}")
    return "\n".join(lines)


def figure(rows: list[dict], path: Path) -> Path | None:
    """Each metric vs number of training artists: one line per trained model, baselines dashed."""
    metrics = _metrics(rows)
    counts = {r["model"]: set() for r in rows}
    for r in rows:
        counts[r["model"]].add(r.get("n_artists", 0))
    curves = sorted(m for m, ns in counts.items() if len(ns - {0}) >= 2)
    if not metrics:
        return None
    if not curves:
        return _bars(rows, metrics, path)
    cols = min(4, len(metrics))
    rows_ = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows_, cols, figsize=(3.4 * cols, 3.0 * rows_), squeeze=False)
    ns = sorted({r["n_artists"] for r in rows if r.get("n_artists")})
    for ax in axes.flat[len(metrics):]:
        ax.axis("off")
    for ax, m in zip(axes.flat, metrics):
        for model in curves:
            pts = sorted((r["n_artists"], r[m], _ci(r, m)) for r in rows
                         if r["model"] == model and m in r and r.get("n_artists"))
            if pts:
                x, y, err = zip(*pts)
                ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=model)
        for r in rows:
            if not r.get("n_artists") and m in r:
                colour = "grey" if r["model"] == "mfcc" else "black"
                ax.axhline(r[m], linestyle="--", linewidth=1, color=colour, label=_label(r))
                if _ci(r, m):  # the baseline's interval as a band
                    ax.axhspan(r[m] - _ci(r, m), r[m] + _ci(r, m), color=colour, alpha=0.12, linewidth=0)
        chance = [r["retrieval_chance_map"] for r in rows if "retrieval_chance_map" in r]
        if m == "retrieval_map" and chance:
            ax.axhline(chance[0], linestyle=":", color="red", linewidth=1, label="chance")
        ax.set_xscale("log")
        ax.set_xticks(ns, [str(n) for n in ns])
        ax.minorticks_off()
        ax.set_title(m, fontsize=9)
        ax.set_xlabel("training artists")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _bars(rows: list[dict], metrics: list[str], path: Path) -> Path:
    """One bar per run and metric (sweeps that compare models at one size), ± its 95 % interval."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.2), squeeze=False)
    labels = [_label(r) for r in rows]
    for ax, m in zip(axes[0], metrics):
        ax.bar(range(len(rows)), [r.get(m, 0.0) for r in rows], yerr=[_ci(r, m) for r in rows], capsize=3)
        ax.set_xticks(range(len(rows)), labels, rotation=45, ha="right", fontsize=7)
        ax.set_title(m, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run_name(r: dict) -> str:
    """A run's name in the comparisons: "basic/15", "siamese/120", "artist_tags", "mfcc"."""
    return r["model"] + (f"/{r['n_artists']}" if r["model"] in ("basic", "siamese") else "")


def comparison_pairs(rows: list[dict]) -> list[tuple[dict, dict]]:
    """The (a, b) run pairs the papers' claims compare: trained (or given) runs of the same number of training
    artists against each other (basic vs Siamese; artist_tags vs choi_tags), then each of them against each
    baseline (MFCC, the random tower)."""
    models = [r for r in rows if r["model"] not in BASELINES]
    models.sort(key=lambda r: (r.get("n_artists", 0), (TRAINED + GIVEN).index(r["model"])
                               if r["model"] in TRAINED + GIVEN else len(TRAINED + GIVEN), r["model"]))
    pairs = [(a, b) for a, b in combinations(models, 2) if a.get("n_artists", 0) == b.get("n_artists", 0)]
    baselines = [r for b in BASELINES for r in rows if r["model"] == b]
    return pairs + [(a, b) for a in models for b in baselines]


def task_of(metric: str) -> str:
    """The probe a metric scores: "genre_accuracy_nested" → "genre", "tag_pr_auc" → "tagging",
    "retrieval_map" → "retrieval"."""
    if metric.startswith("tag_"):
        return "tagging"
    if metric.startswith("retrieval_"):
        return "retrieval"
    base = metric.removesuffix("_nested")
    return next((base.removesuffix(s) for s in SCORES if base.endswith(s)), base)


def _tested(a: dict, b: dict, metric: str) -> str | None:
    """The scores a comparison of ``metric`` reads: its nested-CV scores where both runs have them (SVM/SVR), else
    its own per-fold (per-query) scores; None when either run lacks them."""
    for name in (f"{metric}_nested", metric):
        if a.get(f"{name}_folds") and b.get(f"{name}_folds"):
            return name
    return None


def compare_runs(a: dict, b: dict, metric: str) -> dict | None:
    """The paired test of runs a and b on ``metric`` (:func:`_tested`'s scores, fold by fold): → a row with
    :data:`COMPARISON_FIELDS` (diff = a − b; ``metric``: the scores tested, e.g. genre_accuracy_nested), or None
    where the runs lack per-fold scores or were not scored on the same units (e.g. clips an encoder failed on)."""
    name = _tested(a, b, metric)
    if name is None:
        return None
    x, y = json.loads(a[f"{name}_folds"]), json.loads(b[f"{name}_folds"])
    if len(x) != len(y) or len(x) < 2:
        return None
    c = paired_comparison(x, y, fraction=float(a[f"{name}_test_fraction"]))
    return {"metric": name, "task": task_of(name), "a": run_name(a), "b": run_name(b), "diff": c.diff, "ci_low": c.low,
            "ci_high": c.high, "t": c.t, "p": c.p, "significant": c.significant(), "n": c.n}


def comparisons(rows: list[dict]) -> list[dict]:
    """Every claimed pair (:func:`comparison_pairs`) on every metric of the table but recall@k (a second view of
    retrieval): → comparison rows."""
    metrics = [m for m in _metrics(rows) if not m.startswith("retrieval_recall_at_")]
    out = [compare_runs(a, b, m) for a, b in comparison_pairs(rows) for m in metrics]
    return [c for c in out if c is not None]


def comparisons_text(found: list[dict]) -> str:
    """Markdown: one line per pair, one column per metric: a − b [95 % CI], * where p < 0.05."""
    metrics = list(dict.fromkeys(c["metric"].removesuffix("_nested") for c in found))
    by_pair: dict[tuple[str, str], dict[str, dict]] = {}
    for c in found:
        by_pair.setdefault((c["a"], c["b"]), {})[c["metric"].removesuffix("_nested")] = c

    def cell(c: dict | None) -> str:
        if c is None:
            return "-"
        return f"{c['diff']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]{' *' if c['significant'] else ''}"

    lines = ["## Paired comparisons: a − b [95 % CI]",
             "",
             "Fold by fold on the folds every run shares: nested-CV outer-fold scores of the SVM/SVR probes and the "
             "tagging folds (corrected resampled t-test, Nadeau & Bengio 2003), per-query average precision for "
             "retrieval (paired t-test over queries). * p < 0.05; details in comparisons.csv.",
             "",
             "| a | b | " + " | ".join(metrics) + " |", "|---|---|" + "---:|" * len(metrics)]
    for (a, b), cs in by_pair.items():
        lines.append(f"| {a} | {b} | " + " | ".join(cell(cs.get(m)) for m in metrics) + " |")
    return "\n".join(lines)


def write_artist_report(rows: list[dict], out_dir: Path) -> tuple[str, list[Path]]:
    """summary.md (the table, then the paired comparisons), summary.csv, comparisons.csv (where runs carry per-fold
    scores) and the figure: → (text, files)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = summary_table(rows) if rows else "no finished runs"
    found = comparisons(rows) if rows else []
    if found:
        text += "\n\n" + comparisons_text(found)
    files = [out_dir / "summary.md"]
    files[0].write_text(text + "\n")
    if rows:
        keys = list(dict.fromkeys(k for r in rows for k in r))
        with (out_dir / "summary.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)
        files.append(out_dir / "summary.csv")
        if found:
            files.append(write_comparisons(found, out_dir / "comparisons.csv", fields=COMPARISON_FIELDS))
        fig = figure(rows, out_dir / "metrics.png")
        if fig is not None:
            files.append(fig)
    return text, files
