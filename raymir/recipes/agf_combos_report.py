"""Kim et al. 2018's tables and figure from the agf_combos run summaries.

- Table 4: every task combination × {STN, MTN}: log loss and macro F1 (stratified val) and the artist-filtered F1.
- Table 3: mean performance of the combinations with vs without genre (g).
- Table 5: per number of tasks N, the best STN and MTN combination vs the wSTN of the same size.
- Figure 3: mean performance against the number of tasks.
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from raymir.config import AGF_TASKS  # noqa: E402


def _order(tasks: str) -> tuple:
    return len(tasks), [AGF_TASKS.index(t) for t in tasks]


def _get(rows: list[dict], tasks: str, arch: str) -> dict | None:
    return next((r for r in rows if r["tasks"] == tasks and r["arch"] == arch), None)


def _fmt(r: dict | None, key: str) -> str:
    return f"{r[key]:.4f}" if r is not None and key in r else "   -  "


def table4(rows: list[dict]) -> str:
    combos = sorted({r["tasks"] for r in rows if r["arch"] in ("STN", "MTN")}, key=_order)
    lines = ["== Table 4: source tasks → genre (val: stratified; val_artist: unseen artists) ==",
             f"{'tasks':<8}{'STN logloss':>12}{'STN F1':>9}{'MTN logloss':>13}{'MTN F1':>9}"
             f"{'STN F1 art':>12}{'MTN F1 art':>12}{'STN params':>12}{'MTN params':>12}"]
    for c in combos:
        s, m = _get(rows, c, "STN"), _get(rows, c, "MTN")
        lines.append(f"{c:<8}{_fmt(s, 'val_logloss'):>12}{_fmt(s, 'val_f1_macro'):>9}{_fmt(m, 'val_logloss'):>13}"
                     f"{_fmt(m, 'val_f1_macro'):>9}{_fmt(s, 'val_artist_f1_macro'):>12}"
                     f"{_fmt(m, 'val_artist_f1_macro'):>12}{(s or {}).get('n_params', '-'):>12}"
                     f"{(m or {}).get('n_params', '-'):>12}")
    return "\n".join(lines)


def _mean(rows: list[dict], key: str) -> str:
    vals = [r[key] for r in rows if key in r]
    return f"{np.mean(vals):.4f}" if vals else "   -  "


def table3(rows: list[dict]) -> str:
    lines = ["== Table 3: mean over combinations with / without genre (g) ==",
             f"{'':<10}{'STN logloss':>12}{'MTN logloss':>12}{'STN F1':>9}{'MTN F1':>9}"]
    for label, with_g in (("without g", False), ("with g", True)):
        pick = {a: [r for r in rows if r["arch"] == a and ("g" in r["tasks"]) == with_g] for a in ("STN", "MTN")}
        lines.append(f"{label:<10}{_mean(pick['STN'], 'val_logloss'):>12}{_mean(pick['MTN'], 'val_logloss'):>12}"
                     f"{_mean(pick['STN'], 'val_f1_macro'):>9}{_mean(pick['MTN'], 'val_f1_macro'):>9}")
    return "\n".join(lines)


def table5(rows: list[dict]) -> str:
    lines = ["== Table 5: best N-task STN / MTN vs a genre-only wSTN of the same size ==",
             f"{'N':<3}{'wSTN logloss':>13}{'STN':>8}{'MTN':>8}{'wSTN F1':>9}{'STN':>8}{'MTN':>8}"
             f"{'wSTN params':>13}{'target':>9}"]
    for n in sorted({r["n_tasks"] for r in rows if r["arch"] == "wSTN"}):
        w = next(r for r in rows if r["arch"] == "wSTN" and r["n_tasks"] == n)
        cells = {}
        for arch in ("STN", "MTN"):
            pool = [r for r in rows if r["arch"] == arch and len(r["tasks"]) == n]
            cells[arch] = (min((r["val_logloss"] for r in pool), default=None),
                           max((r["val_f1_macro"] for r in pool), default=None))

        def f(v):
            return f"{v:.4f}" if v is not None else "  -  "
        lines.append(f"{n:<3}{w['val_logloss']:>13.4f}{f(cells['STN'][0]):>8}{f(cells['MTN'][0]):>8}"
                     f"{w['val_f1_macro']:>9.4f}{f(cells['STN'][1]):>8}{f(cells['MTN'][1]):>8}"
                     f"{w['n_params']:>13}{w.get('target_params', '-'):>9}")
    return "\n".join(lines)


def figure(rows: list[dict], path: Path) -> Path:
    """Mean ± std of val F1 and log loss against the number of tasks (STN, MTN; wSTN as points)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, key, label in ((axes[0], "val_f1_macro", "macro F1"), (axes[1], "val_logloss", "log loss")):
        for arch, style in (("STN", "o-"), ("MTN", "s-")):
            ns = sorted({len(r["tasks"]) for r in rows if r["arch"] == arch})
            vals = [[r[key] for r in rows if r["arch"] == arch and len(r["tasks"]) == n] for n in ns]
            if ns:
                ax.errorbar(ns, [np.mean(v) for v in vals], yerr=[np.std(v) for v in vals], fmt=style, capsize=3,
                            label=arch)
        wide = sorted((r["n_tasks"], r[key]) for r in rows if r["arch"] == "wSTN")
        if wide:
            ax.plot(*zip(*wide), "k^", label="wSTN (genre only)")
        ax.set_xlabel("number of source tasks")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Genre transfer vs number of source tasks")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_agf_report(rows: list[dict], out_dir: Path) -> tuple[str, list[Path]]:
    """results.csv, report.txt (Tables 4, 3, 5) and tasks_vs_performance.png in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = sorted(rows, key=lambda r: (_order(r["tasks"]), r["arch"], r.get("n_tasks", 0)))
    fields = sorted({k for r in rows for k in r}, key=lambda k: (k not in ("tasks", "arch", "n_tasks"), k))
    with (out_dir / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    text = "\n\n".join([table4(rows), table3(rows), table5(rows)]) if rows else "no finished runs"
    (out_dir / "report.txt").write_text(text + "\n")
    files = [out_dir / "results.csv", out_dir / "report.txt"]
    if rows:
        files.append(figure(rows, out_dir / "tasks_vs_performance.png"))
    return text, files
