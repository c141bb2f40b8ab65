"""Paper-style tables and figures (Choi et al. 2017, Figs. 3-9) from the probe summaries."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on cluster nodes
import matplotlib.pyplot as plt  # noqa: E402


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


def task_table(task: str, rows: dict[tuple[str, str], dict], *, top: int = 5) -> str:
    """Text table: best convnet combinations (with the random convnet beside), MFCC, 12345+MFCC."""
    any_row = next(iter(rows.values()))
    metric = any_row["metric"]
    conv = sorted((r for (f, _), r in rows.items() if f == "convnet"), key=_score, reverse=True)
    lines = [f"== {task} ({metric}: best-grid-point CV mean ± std | nested CV) ==",
             f"{'feature':<14}{'layers':<8}{'cv':>16}{'nested':>9}   best config"]

    def line(r: dict) -> str:
        nested = _nested(r)
        cfg = f"{r['kernel']} C={r['C']} γ={r['gamma']} scaler={'on' if r['scaler'] else 'off'}"
        return (f"{r['feature']:<14}{r['layers']:<8}{_score(r):>9.3f} ± {float(r[f'cv_{metric}_std']):.3f}"
                f"{'' if nested is None else f'{nested:>9.3f}'}   {cfg}")

    for r in conv[:top]:
        lines.append(line(r))
        twin = rows.get(("random", r["layers"]))
        if twin:
            lines.append(line(twin))
    randoms = sorted((r for (f, _), r in rows.items() if f == "random"), key=_score, reverse=True)
    if randoms:
        lines.append(line(randoms[0]) + "   (best random)")
    for key in (("convnet+mfcc", "12345"), ("mfcc", "-")):
        if key in rows:
            lines.append(line(rows[key]))
    return "\n".join(lines)


def task_figure(task: str, rows: dict[tuple[str, str], dict], path: Path) -> Path:
    """31 convnet bars sorted by score, narrow grey random-convnet bars beside, then 12345+MFCC and MFCC."""
    metric = next(iter(rows.values()))["metric"]
    conv = sorted((r for (f, _), r in rows.items() if f == "convnet"), key=_score, reverse=True)
    fig, ax = plt.subplots(figsize=(max(8, 0.35 * (len(conv) + 3)), 4))
    xs = range(len(conv))
    ax.bar([x - 0.15 for x in xs], [_score(r) for r in conv], width=0.6, color="tab:blue", label="convnet")
    rand = [rows.get(("random", r["layers"])) for r in conv]
    ax.bar([x + 0.3 for x in xs], [_score(r) if r else 0 for r in rand], width=0.25, color="grey",
           label="random convnet")
    ticks = [r["layers"] for r in conv]
    extra = [(k, c) for k, c in ((("convnet+mfcc", "12345"), "tab:green"), (("mfcc", "-"), "tab:purple"))
             if k in rows]
    for i, (k, c) in enumerate(extra):
        ax.bar(len(conv) + i, _score(rows[k]), width=0.6, color=c, label="12345+MFCC" if k[0] != "mfcc" else "MFCC")
        ticks.append("12345+MFCC" if k[0] != "mfcc" else "MFCC")
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
