"""Paper-style tables and figures (Choi et al. 2017, Figs. 3-9) from the probe summaries."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # files only; no display on cluster nodes
import matplotlib.pyplot as plt  # noqa: E402

WEIGHTED = "weighted"  # the learned layer weighting probe's layers (``layer_combos_probes.WEIGHTED``)


def _score(row: dict) -> float:
    return float(row[f"cv_{row['metric']}"])


def _nested(row: dict) -> float | None:
    v = row.get(f"nested_{row['metric']}")
    return None if v is None else float(v)


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
    lines = [f"== {task} ({metric}: best-grid-point CV mean ± std | nested CV) ==",
             f"{'feature':<14}{'layers':<{width}}{'cv':>16}{'nested':>9}   best config"]

    def line(r: dict) -> str:
        nested = _nested(r)
        cfg = (r["engine"] if r["layers"] == WEIGHTED else
               f"{r['kernel']} C={r['C']} γ={r['gamma']} scaler={'on' if r['scaler'] else 'off'}")
        return (f"{r['feature']:<14}{r['layers']:<{width}}{_score(r):>9.3f} ± {float(r[f'cv_{metric}_std']):.3f}"
                f"{'' if nested is None else f'{nested:>9.3f}'}   {cfg}")

    for r in conv[:top]:
        lines.append(line(r))
        twin = rows.get(("random", r["layers"]))
        if twin:
            lines.append(line(twin))
    randoms = _combos(rows, "random")
    if randoms:
        lines.append(line(randoms[0]) + "   (best random)")
    lines += [line(r) for _, r in _extras(rows)]
    return "\n".join(lines)


def task_figure(task: str, rows: dict[tuple[str, str], dict], path: Path) -> Path:
    """Convnet bars (31 for 5 layers) sorted by score, narrow grey random-convnet bars beside, then the learned
    weightings, all layers + MFCC and MFCC."""
    metric = next(iter(rows.values()))["metric"]
    conv = _combos(rows, "convnet")
    fig, ax = plt.subplots(figsize=(max(8, 0.35 * (len(conv) + 3)), 4))
    xs = range(len(conv))
    ax.bar([x - 0.15 for x in xs], [_score(r) for r in conv], width=0.6, color="tab:blue", label="convnet")
    rand = [rows.get(("random", r["layers"])) for r in conv]
    ax.bar([x + 0.3 for x in xs], [_score(r) if r else 0 for r in rand], width=0.25, color="grey",
           label="random convnet")
    ticks = [r["layers"] for r in conv]
    colours = {"convnet+mfcc": "tab:green", "mfcc": "tab:purple", "convnet": "tab:orange", "random": "darkgrey"}
    for i, (label, r) in enumerate(_extras(rows)):
        ax.bar(len(conv) + i, _score(r), width=0.6, color=colours[r["feature"]], label=label)
        ticks.append(label)
    ax.set_xticks(range(len(ticks)))
    ax.set_xticklabels(ticks, rotation=90, fontsize=7)
    lo = min([_score(r) for r in rows.values()] + [0])
    ax.set_ylim(min(lo, 0), max(1.0, max(_score(r) for r in rows.values())))
    ax.set_ylabel(metric)
    ax.set_title(f"{task}: best CV {metric} per feature")
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
    """Write results.csv, report.txt and one figure per task; return (text, files)."""
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
    tables = []
    for task, task_rows in by_task(rows).items():
        tables.append(task_table(task, task_rows))
        files.append(task_figure(task, task_rows, out_dir / f"{task}.png"))
    text = "\n\n".join(tables)
    (out_dir / "report.txt").write_text(text + "\n")
    files.append(out_dir / "report.txt")
    return text, files
