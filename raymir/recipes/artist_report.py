"""Summary of an artist sweep: one table row per run, and a figure of every probe metric
against the number of training artists (basic vs Siamese, baselines as flat lines)."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

METRICS = ("genre_accuracy", "arousal_r2", "valence_r2", "tag_roc_auc", "tag_pr_auc", "retrieval_map")
TRAINED = ("basic", "siamese", "artist_tags", "choi_tags")
GIVEN = ("choi2017_keras", "park2017_keras")  # a given encoder's row (keyed by its kind) leads its baselines


SCORES = ("_accuracy", "_r2")  # a real dataset's probes: <label>_accuracy (SVM), <label>_r2 (SVR)


def row_key(key: str) -> bool:
    """The keys a trial's summary row keeps: identity, every probe metric, timings."""
    return (key in ("model", "n_artists", "layers") or key.startswith(("tag_", "retrieval_", "seconds_"))
            or key.endswith(SCORES) or key.endswith(tuple(f"{s}_nested" for s in SCORES)))


def _metrics(rows: list[dict]) -> list[str]:
    keys = dict.fromkeys(k for r in rows for k in r)
    scores = [k for k in keys if k.endswith(SCORES) and k not in METRICS]
    recall = sorted(k for k in keys if k.startswith("retrieval_recall_at_"))
    return [m for m in (*METRICS, *scores, *recall) if m in keys]


def _label(r: dict) -> str:
    return r["model"] + (f" ({r['layers']})" if r.get("layers", "-") != "-" else "")


def summary_table(rows: list[dict]) -> str:
    """Markdown: model, number of training artists, then every metric present."""
    metrics = _metrics(rows)
    order = sorted(rows, key=lambda r: (r["model"] not in TRAINED + GIVEN, r["model"], r.get("n_artists", 0),
                                        r.get("layers", "")))
    lines = ["| model | n_artists | " + " | ".join(metrics) + " |", "|---|---:|" + "---:|" * len(metrics)]
    for r in order:
        cells = [f"{r[m]:.3f}" if m in r else "-" for m in metrics]
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
            pts = sorted((r["n_artists"], r[m]) for r in rows if r["model"] == model and m in r and r.get("n_artists"))
            if pts:
                ax.plot(*zip(*pts), marker="o", label=model)
        for r in rows:
            if not r.get("n_artists") and m in r:
                ax.axhline(r[m], linestyle="--", linewidth=1, color="grey" if r["model"] == "mfcc" else "black",
                           label=_label(r))
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
    """One bar per run and metric (sweeps that compare models at one size)."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.2), squeeze=False)
    labels = [_label(r) for r in rows]
    for ax, m in zip(axes[0], metrics):
        ax.bar(range(len(rows)), [r.get(m, 0.0) for r in rows])
        ax.set_xticks(range(len(rows)), labels, rotation=45, ha="right", fontsize=7)
        ax.set_title(m, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_artist_report(rows: list[dict], out_dir: Path) -> tuple[str, list[Path]]:
    """summary.md, summary.csv and (with runs over several artist counts) the figure: → (text, files)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = summary_table(rows) if rows else "no finished runs"
    files = [out_dir / "summary.md"]
    files[0].write_text(text + "\n")
    if rows:
        keys = list(dict.fromkeys(k for r in rows for k in r))
        with (out_dir / "summary.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)
        files.append(out_dir / "summary.csv")
        fig = figure(rows, out_dir / "metrics.png")
        if fig is not None:
            files.append(fig)
    return text, files
