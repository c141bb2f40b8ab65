"""Paper-style tables and figures (Choi et al. 2017, Figs. 3-9) from the probe summaries, with the uncertainty
the paper leaves out: every score ± its 95% confidence interval over folds × repeats, and the paper's claims
as paired tests on nested-CV scores (comparisons.csv).

The claims compare the best convnet combination with MFCC, with the random-weights convnet's best combination
and with convnet + MFCC. Picking the best combination by its score on the folds that then score it would favour
it; so the choice is nested too: per (repeat, outer fold) the combination whose inner CV scored highest
(``nested_inner``) is taken, and its nested score on that outer fold (``nested_folds``) enters the paired,
corrected resampled t-test (Nadeau & Bengio 2003, ``raymir.probes.compare``).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib
import numpy as np

from raymir.probes.compare import paired_comparison, write_comparisons

matplotlib.use("Agg")  # files only; no display on cluster nodes
import matplotlib.pyplot as plt  # noqa: E402

WEIGHTED = "weighted"  # the learned layer weighting probe's layers (``layer_combos_probes.WEIGHTED``)
# The paper's claims, as (a, b) features: a's nested best combination against b's
CLAIMS = (("convnet", "mfcc"), ("convnet", "random"), ("convnet", "convnet+mfcc"))
COMPARISON_FIELDS = ("task", "a", "b", "diff", "ci_low", "ci_high", "t", "p", "significant", "n")


def _score(row: dict) -> float:
    return float(row[f"cv_{row['metric']}"])


def _nested(row: dict) -> float | None:
    v = row.get(f"nested_{row['metric']}")
    return None if v is None else float(v)


def _ci95(row: dict, kind: str) -> float | None:
    """The half-width of a row's 95% interval, ``kind`` cv or nested (None for rows from before intervals)."""
    v = row.get(f"{kind}_{row['metric']}_ci95")
    return None if v in (None, "") else float(v)


def _cell(mean: float, ci95: float | None) -> str:
    return f"{mean:.3f}" if ci95 is None else f"{mean:.3f} ± {ci95:.3f}"


def nested_best(rows: list[dict]) -> np.ndarray:
    """The nested choice among one feature's combinations: rows with ``nested_folds`` and ``nested_inner`` (JSON
    lists [J] over the same repeats × outer folds) → scores [J], per fold the nested score of the combination whose
    inner-CV mean there is highest (the first of ``rows`` on ties). The outer fold that scores a choice took no
    part in making it."""
    scores = np.array([json.loads(r["nested_folds"]) for r in rows])  # [combinations, J]
    inner = np.array([json.loads(r["nested_inner"]) for r in rows])
    return scores[inner.argmax(axis=0), np.arange(scores.shape[1])]


def _svm_rows(rows: dict[tuple[str, str], dict], feature: str) -> list[dict] | None:
    """A feature's SVM rows in order of their layers, or None when there are none or one lacks its per-fold nested
    scores (nested CV off, or a run from before they were kept): no nested choice can be made then."""
    out = [r for (f, layers), r in sorted(rows.items()) if f == feature and layers != WEIGHTED]
    return out if out and all(r.get("nested_folds") and r.get("nested_inner") for r in out) else None


def task_comparisons(task: str, rows: dict[tuple[str, str], dict]) -> list[dict]:
    """The paper's claims on one task as paired tests (:data:`CLAIMS`), each feature's combination chosen per fold
    by nested CV (:func:`nested_best`): → rows with :data:`COMPARISON_FIELDS` (diff = a − b); a claim whose
    features lack rows or per-fold nested scores is left out."""
    out = []
    for a, b in CLAIMS:
        rows_a, rows_b = _svm_rows(rows, a), _svm_rows(rows, b)
        if rows_a is None or rows_b is None:
            continue
        c = paired_comparison(nested_best(rows_a), nested_best(rows_b), fraction=float(rows_a[0]["test_fraction"]))
        out.append({"task": task, "a": a, "b": b, "diff": c.diff, "ci_low": c.low, "ci_high": c.high, "t": c.t,
                    "p": c.p, "significant": c.significant(), "n": c.n})
    return out


def comparisons_text(comparisons: list[dict]) -> str:
    """The comparisons as a text section of report.txt."""
    lines = ["== comparisons: a − b, the nested best combination of each (chosen per outer fold by its inner CV), "
             "paired corrected resampled t-test over folds × repeats (Nadeau & Bengio 2003) ==",
             f"{'task':<18}{'a':<10}{'b':<14}{'diff':>8}   {'95% CI':<18}{'t':>8}{'p':>8}{'n':>5}"]
    for c in comparisons:
        interval = f"[{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]"
        lines.append(f"{c['task']:<18}{c['a']:<10}{c['b']:<14}{c['diff']:>+8.3f}   {interval:<18}{c['t']:>8.2f}"
                     f"{c['p']:>8.4f}{c['n']:>5}{' *' if c['significant'] else ''}")
    return "\n".join(lines + ["* p < 0.05"])


def by_task(rows: list[dict]) -> dict[str, dict[tuple[str, str], dict]]:
    """{task: {(feature, layers): summary row}}."""
    out: dict[str, dict] = {}
    for r in rows:
        out.setdefault(r["task"], {})[(r["feature"], r["layers"])] = r
    return out


def _combos(rows: dict[tuple[str, str], dict], feature: str) -> list[dict]:
    """The SVM rows of one feature's layer combinations (not its learned weighting), best first."""
    return sorted((r for (f, layers), r in rows.items() if f == feature and layers != WEIGHTED), key=_score,
                  reverse=True)


def _extras(rows: dict[tuple[str, str], dict]) -> list[tuple[str, dict]]:
    """The rows shown after the combinations, with their figure label: the learned weightings, every layer + MFCC
    (its layers are the feature source's all), MFCC."""
    out = [(f"{f} weighted", r) for (f, layers), r in rows.items() if layers == WEIGHTED]
    out += [(f"{r['layers']}+MFCC", r) for (f, _), r in rows.items() if f == "convnet+mfcc"]
    return out + [("MFCC", r) for (f, _), r in rows.items() if f == "mfcc"]


def task_table(task: str, rows: dict[tuple[str, str], dict], *, top: int = 5) -> str:
    """Text table: best convnet combinations (with the random convnet beside), the best random one, the learned
    layer weightings, all layers + MFCC, MFCC."""
    any_row = next(iter(rows.values()))
    metric = any_row["metric"]
    conv = _combos(rows, "convnet")
    width = max(8, *(len(r["layers"]) + 1 for r in rows.values()))  # "1+2+…+12" with many layers
    # the features whose nested best differs significantly from the convnet's: their rows below carry the mark
    marked = {c["b"] for c in task_comparisons(task, rows) if c["significant"]}
    lines = [f"== {task} ({metric}: best-grid-point CV | nested CV; mean ± 95% CI over folds × repeats, corrected "
             "for overlapping training sets) ==",
             f"{'feature':<14}{'layers':<{width}}{'cv':>16}{'nested':>16}   best config"]

    def line(r: dict, *, note: str = "", mark: bool = False) -> str:
        nested = _nested(r)
        cfg = (r["engine"] if r["layers"] == WEIGHTED else
               f"{r['kernel']} C={r['C']} γ={r['gamma']} scaler={'on' if r['scaler'] else 'off'}")
        star = " *" if mark and r["feature"] in marked else ""
        note = f"   {note}" if note else ""
        nested_cell = f"{'' if nested is None else _cell(nested, _ci95(r, 'nested')):>16}"
        return (f"{r['feature']:<14}{r['layers']:<{width}}{_cell(_score(r), _ci95(r, 'cv')):>16}{nested_cell}   "
                f"{cfg}{note}{star}")

    for r in conv[:top]:
        lines.append(line(r))
        twin = rows.get(("random", r["layers"]))
        if twin:
            lines.append(line(twin))
    randoms = _combos(rows, "random")
    if randoms:
        lines.append(line(randoms[0], note="(best random)", mark=True))
    lines += [line(r, mark=r["layers"] != WEIGHTED) for _, r in _extras(rows)]
    if marked:
        lines.append("* the convnet's nested best combination differs significantly from this feature's "
                     "(p < 0.05, comparisons.csv)")
    return "\n".join(lines)


def task_figure(task: str, rows: dict[tuple[str, str], dict], path: Path) -> Path:
    """Convnet bars (31 for 5 layers) sorted by score, narrow grey random-convnet bars beside, then the learned
    weightings, all layers + MFCC and MFCC."""
    metric = next(iter(rows.values()))["metric"]
    conv = _combos(rows, "convnet")
    fig, ax = plt.subplots(figsize=(max(8, 0.35 * (len(conv) + 3)), 4))
    xs = range(len(conv))
    bars = dict(capsize=2, error_kw={"elinewidth": 0.8})
    ax.bar([x - 0.15 for x in xs], [_score(r) for r in conv], yerr=[_ci95(r, "cv") or 0 for r in conv], width=0.6,
           color="tab:blue", label="convnet", **bars)
    rand = [rows.get(("random", r["layers"])) for r in conv]
    ax.bar([x + 0.3 for x in xs], [_score(r) if r else 0 for r in rand],
           yerr=[(_ci95(r, "cv") or 0) if r else 0 for r in rand], width=0.25, color="grey", label="random convnet",
           **bars)
    ticks = [r["layers"] for r in conv]
    colours = {"convnet+mfcc": "tab:green", "mfcc": "tab:purple", "convnet": "tab:orange", "random": "darkgrey"}
    for i, (label, r) in enumerate(_extras(rows)):
        ax.bar(len(conv) + i, _score(r), yerr=_ci95(r, "cv") or 0, width=0.6, color=colours[r["feature"]],
               label=label, **bars)
        ticks.append(label)
    ax.set_xticks(range(len(ticks)))
    ax.set_xticklabels(ticks, rotation=90, fontsize=7)
    lo = min([_score(r) for r in rows.values()] + [0])
    ax.set_ylim(min(lo, 0), max(1.0, max(_score(r) for r in rows.values())))
    ax.set_ylabel(metric)
    ax.set_title(f"{task}: best CV {metric} per feature (± 95% CI over folds × repeats)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def weights_figure(weights: np.ndarray, path: Path, *, title: str) -> Path:
    """Bar plot of learned layer weights [folds, L]: the mean over folds per layer, ± their std, layers 1…L."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n_layers = weights.shape[1]
    fig, ax = plt.subplots(figsize=(max(4, 0.4 * n_layers + 2), 3))
    ax.bar(range(1, n_layers + 1), weights.mean(axis=0), yerr=weights.std(axis=0), color="tab:orange", capsize=3)
    ax.axhline(1 / n_layers, color="grey", linewidth=0.8, linestyle="--", label="uniform")
    ax.set_xticks(range(1, n_layers + 1))
    ax.set_xlabel("layer")
    ax.set_ylabel("softmax weight")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(rows: list[dict], out_dir: Path) -> tuple[str, list[Path]]:
    """Write results.csv, comparisons.csv (where rows carry per-fold nested scores), report.txt and one figure per
    task; return (text, files)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    if rows:
        keys = sorted({k for r in rows for k in r}, key=lambda k: (k not in ("task", "feature", "layers"), k))
        csv_path = out_dir / "results.csv"
        with csv_path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(sorted(rows, key=lambda r: (r["task"], r["feature"], r["layers"])))
        files.append(csv_path)
    tables, comparisons = [], []
    for task, task_rows in by_task(rows).items():
        tables.append(task_table(task, task_rows))
        comparisons += task_comparisons(task, task_rows)
        files.append(task_figure(task, task_rows, out_dir / f"{task}.png"))
    if comparisons:
        files.append(write_comparisons(comparisons, out_dir / "comparisons.csv", fields=COMPARISON_FIELDS))
        tables.append(comparisons_text(comparisons))
    text = "\n\n".join(tables)
    (out_dir / "report.txt").write_text(text + "\n")
    files.append(out_dir / "report.txt")
    return text, files
