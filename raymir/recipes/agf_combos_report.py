"""Kim et al. 2018's tables and figure from the agf_combos run summaries, with the uncertainty the paper leaves out.

- Table 4: every task combination × {STN, MTN}: macro F1 and log loss (stratified val), and the F1 on unseen artists.
- Table 3: mean performance of the combinations with vs without genre (g).
- Table 5: per number of tasks N, the best STN and MTN combination vs the wSTN of the same size.
- Figure 3: mean performance against the number of tasks.
- The paper's comparisons as paired tests (``comparisons.csv``).

A repeat re-draws the split and retrains every net (``transfer.repeats``), so a score is R numbers, one per repeat,
and every score is shown as its mean ± the half-width of its 95% interval over the repeats (Nadeau & Bengio's
correction for overlapping training sets; ``raymir.probes.compare``). A group of combinations ("the 3-task MTNs")
is the mean of its members within each repeat, so groups are compared repeat by repeat on the same splits. The best
N-task combination is chosen, for each repeat, by its mean over the *other* repeats: the split that scores a choice
took no part in making it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from raymir.config import AGF_TASKS  # noqa: E402
from raymir.probes.compare import paired_comparison, score_interval, write_comparisons  # noqa: E402

F1, LOGLOSS, F1_UNSEEN = "val_f1_macro", "val_logloss", "val_artist_f1_macro"
COMPARED = (F1, LOGLOSS, F1_UNSEEN)  # the scores every comparison is tested on
COMPARISON_FIELDS = ("metric", "a", "b", "diff", "ci_low", "ci_high", "t", "p", "significant", "n")


def _order(tasks: str) -> tuple:
    return len(tasks), [AGF_TASKS.index(t) for t in tasks]


def _get(rows: list[dict], tasks: str, arch: str) -> dict | None:
    return next((r for r in rows if r["tasks"] == tasks and r["arch"] == arch), None)


def per_repeat(row: dict, key: str) -> np.ndarray | None:
    """A row's score ``key`` in each repeat: [R] (None when the row lacks it)."""
    values = row.get(f"{key}_repeats")
    if values not in (None, ""):
        return np.asarray(json.loads(values) if isinstance(values, str) else values, dtype=np.float64)
    return None if row.get(key) is None else np.array([float(row[key])])


def _fraction(rows: list[dict], key: str) -> float | None:
    """The share of tracks a score's held-out set takes (``<split>_held_out``; the split is the key's prefix), None
    where no row records it (rows of one repeat need none)."""
    split = "val_artist" if key.startswith("val_artist_") else "val"
    return next((float(r[f"{split}_held_out"]) for r in rows if r.get(f"{split}_held_out") not in (None, "")), None)


def _interval(values: np.ndarray | None, fraction: float | None) -> tuple[float, float | None] | None:
    """(mean, 95% half-width or None from one repeat) of per-repeat values [R]."""
    if values is None:
        return None
    if len(values) < 2:
        return float(values.mean()), None
    if fraction is None:
        raise ValueError("agf report: scores of several repeats but no <split>_held_out share to correct by")
    return float(values.mean()), score_interval(values, fraction=fraction).half_width


def _cell(stat: tuple[float, float | None] | None, *, mark: bool = False) -> str:
    if stat is None:
        return "-"
    mean, half = stat
    return (f"{mean:.3f}" if half is None else f"{mean:.3f} ± {half:.3f}") + (" *" if mark else "")


def group(rows: list[dict], key: str) -> np.ndarray | None:
    """The mean of several rows' score ``key`` within each repeat: [R] (None when a row lacks it or there are none)."""
    values = [per_repeat(r, key) for r in rows]
    if not values or any(v is None for v in values) or len({len(v) for v in values}) != 1:
        return None
    return np.mean(values, axis=0)


def chosen_on_other_repeats(rows: list[dict], key: str, *, lower_is_better: bool = False) -> np.ndarray | None:
    """The best of ``rows`` per repeat, chosen by its mean over the other repeats: → its score in that repeat [R]
    (None with fewer than 2 repeats: there is nothing else to choose on)."""
    values = np.array([per_repeat(r, key) for r in rows])  # [rows, R]
    if values.ndim != 2 or values.shape[1] < 2:
        return None
    r = values.shape[1]
    others = (values.sum(axis=1, keepdims=True) - values) / (r - 1)  # [rows, R]: each repeat left out
    pick = others.argmin(axis=0) if lower_is_better else others.argmax(axis=0)
    return values[pick, np.arange(r)]


def _sized(rows: list[dict], arch: str, n: int) -> list[dict]:
    return [r for r in rows if r["arch"] == arch and len(r["tasks"]) == n]


def _with_g(rows: list[dict], arch: str, with_g: bool) -> list[dict]:
    return [r for r in rows if r["arch"] == arch and ("g" in r["tasks"]) == with_g]


def _claims(rows: list[dict]) -> list[tuple[str, str, Callable[[str], np.ndarray | None],
                                           Callable[[str], np.ndarray | None]]]:
    """The paper's comparisons as (a, b, a's values of a score, b's): Figure 3 (each N-task STN / MTN mean vs genre
    alone), STN vs MTN per N, Table 3 (with vs without g), Table 5 (the best N-task combination vs the wSTN)."""
    genre = _get(rows, "g", "STN")
    ns = sorted({len(r["tasks"]) for r in rows if r["arch"] in ("STN", "MTN") and len(r["tasks"]) > 1})
    out = []
    for n in ns:
        for arch in ("STN", "MTN"):
            if genre is not None and _sized(rows, arch, n):
                out.append((f"{n}-task {arch}s (mean)", "g", lambda k, a=arch, n=n: group(_sized(rows, a, n), k),
                            lambda k: per_repeat(genre, k)))
        if _sized(rows, "STN", n) and _sized(rows, "MTN", n):
            out.append((f"{n}-task MTNs (mean)", f"{n}-task STNs (mean)",
                        lambda k, n=n: group(_sized(rows, "MTN", n), k), lambda k, n=n: group(_sized(rows, "STN", n), k)))
    for arch in ("STN", "MTN"):
        if _with_g(rows, arch, True) and _with_g(rows, arch, False):
            out.append((f"{arch}s with g (mean)", f"{arch}s without g (mean)",
                        lambda k, a=arch: group(_with_g(rows, a, True), k),
                        lambda k, a=arch: group(_with_g(rows, a, False), k)))
    for w in sorted((r for r in rows if r["arch"] == "wSTN"), key=lambda r: r["n_tasks"]):
        for arch in ("STN", "MTN"):
            pool = _sized(rows, arch, w["n_tasks"])
            if pool:
                out.append((f"best {w['n_tasks']}-task {arch}", f"wSTN-{w['n_tasks']}",
                            lambda k, p=pool: chosen_on_other_repeats(p, k, lower_is_better=k.endswith("logloss")),
                            lambda k, w=w: per_repeat(w, k)))
    return out


def comparisons(rows: list[dict]) -> list[dict]:
    """Every claim (:func:`_claims`) on every score of :data:`COMPARED` as a paired, corrected resampled t-test over
    the repeats: → rows with :data:`COMPARISON_FIELDS` (diff = a − b; for log loss lower is better). Empty with one
    repeat: a single split gives no interval."""
    out = []
    for a, b, values_a, values_b in _claims(rows):
        for key in COMPARED:
            va, vb = values_a(key), values_b(key)
            if va is None or vb is None or len(va) < 2 or len(va) != len(vb):
                continue
            c = paired_comparison(va, vb, fraction=_fraction(rows, key))
            out.append({"metric": key, "a": a, "b": b, "diff": c.diff, "ci_low": c.low, "ci_high": c.high, "t": c.t,
                        "p": c.p, "significant": c.significant(), "n": c.n})
    return out


def _significant(found: list[dict], a: str, b: str, metric: str = F1) -> bool:
    return any(c["a"] == a and c["b"] == b and c["metric"] == metric and c["significant"] for c in found)


def table4(rows: list[dict]) -> str:
    combos = sorted({r["tasks"] for r in rows if r["arch"] in ("STN", "MTN")}, key=_order)
    lines = ["== Table 4: source tasks → genre (val: stratified; unseen: val_artist, artists unseen in training) ==",
             f"{'tasks':<8}{'STN F1':>16}{'MTN F1':>16}{'STN logloss':>16}{'MTN logloss':>16}"
             f"{'STN F1 unseen':>16}{'MTN F1 unseen':>16}{'STN params':>12}{'MTN params':>12}"]
    for c in combos:
        s, m = _get(rows, c, "STN"), _get(rows, c, "MTN")
        cells = [_cell(_interval(per_repeat(r, k), _fraction(rows, k)) if r else None)
                 for k in (F1, LOGLOSS, F1_UNSEEN) for r in (s, m)]
        lines.append(f"{c:<8}" + "".join(f"{cell:>16}" for cell in cells)
                     + f"{(s or {}).get('n_params', '-'):>12}{(m or {}).get('n_params', '-'):>12}")
    return "\n".join(lines)


def table3(rows: list[dict], found: list[dict]) -> str:
    lines = ["== Table 3: mean over combinations with / without genre (g) ==",
             f"{'':<10}{'STN F1':>16}{'MTN F1':>16}{'STN logloss':>16}{'MTN logloss':>16}"]
    for label, with_g in (("without g", False), ("with g", True)):
        cells = []
        for key in (F1, LOGLOSS):
            for arch in ("STN", "MTN"):
                mark = with_g and _significant(found, f"{arch}s with g (mean)", f"{arch}s without g (mean)", key)
                cells.append(_cell(_interval(group(_with_g(rows, arch, with_g), key), _fraction(rows, key)),
                                   mark=mark))
        lines.append(f"{label:<10}" + "".join(f"{c:>16}" for c in cells))
    return "\n".join(lines)


def table5(rows: list[dict], found: list[dict]) -> str:
    lines = ["== Table 5: best N-task STN / MTN (by the mean over repeats) vs a genre-only wSTN of the same size ==",
             f"{'N':<3}{'wSTN F1':>16}{'best STN':>24}{'best MTN':>24}{'wSTN logloss':>16}{'wSTN params':>13}"
             f"{'target':>9}"]
    for w in sorted((r for r in rows if r["arch"] == "wSTN"), key=lambda r: r["n_tasks"]):
        n, f1 = w["n_tasks"], _fraction(rows, F1)
        best = {}
        for arch in ("STN", "MTN"):
            pool = _sized(rows, arch, n)
            top = max(pool, key=lambda r: float(r[F1]), default=None)
            mark = _significant(found, f"best {n}-task {arch}", f"wSTN-{n}")
            best[arch] = "-" if top is None else f"{top['tasks']} {_cell(_interval(per_repeat(top, F1), f1), mark=mark)}"
        lines.append(f"{n:<3}{_cell(_interval(per_repeat(w, F1), f1)):>16}{best['STN']:>24}{best['MTN']:>24}"
                     f"{_cell(_interval(per_repeat(w, LOGLOSS), _fraction(rows, LOGLOSS))):>16}{w['n_params']:>13}"
                     f"{w.get('target_params', '-'):>9}")
    return "\n".join(lines)


def comparisons_text(found: list[dict], repeats: int) -> str:
    head = ("== comparisons: a − b per repeat (groups: their members' mean within each repeat; best: chosen on the "
            "other repeats), paired corrected resampled t-test over the repeats (Nadeau & Bengio 2003) ==")
    if not found:
        return f"{head}\nnone: {repeats} repeat(s); a test needs at least 2 (--repeats N re-draws the split and " \
               "retrains every net)"
    lines = [head, f"{'metric':<21}{'a':<22}{'b':<22}{'diff':>8}   {'95% CI':<18}{'t':>8}{'p':>8}{'n':>4}"]
    for c in found:
        interval = f"[{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]"
        lines.append(f"{c['metric']:<21}{c['a']:<22}{c['b']:<22}{c['diff']:>+8.3f}   {interval:<18}{c['t']:>8.2f}"
                     f"{c['p']:>8.4f}{c['n']:>4}{' *' if c['significant'] else ''}")
    return "\n".join(lines + ["* p < 0.05; for log loss a negative difference favours a"])


def figure(rows: list[dict], path: Path) -> Path:
    """Val F1 and log loss against the number of tasks: per N the mean over the N-task combinations, ± its 95%
    interval over the repeats (no bar from one repeat); STN and MTN lines, wSTN as points."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, key, label in ((axes[0], F1, "macro F1"), (axes[1], LOGLOSS, "log loss")):
        fraction = _fraction(rows, key)
        for arch, style in (("STN", "o-"), ("MTN", "s-")):
            ns = sorted({len(r["tasks"]) for r in rows if r["arch"] == arch})
            stats = [_interval(group(_sized(rows, arch, n), key), fraction) for n in ns]
            if ns and all(s is not None for s in stats):
                ax.errorbar(ns, [s[0] for s in stats], yerr=[s[1] or 0.0 for s in stats], fmt=style, capsize=3,
                            label=arch)
        wide = sorted((r["n_tasks"], _interval(per_repeat(r, key), fraction)) for r in rows if r["arch"] == "wSTN")
        if wide:
            ax.errorbar([n for n, _ in wide], [s[0] for _, s in wide], yerr=[s[1] or 0.0 for _, s in wide], fmt="k^",
                        capsize=3, label="wSTN (genre only)")
        ax.set_xlabel("number of source tasks")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Genre transfer vs number of source tasks (± 95% CI over repeats)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_agf_report(rows: list[dict], out_dir: Path) -> tuple[str, list[Path]]:
    """results.csv, comparisons.csv, report.txt (Tables 4, 3, 5, the comparisons) and tasks_vs_performance.png in
    ``out_dir``: → (the report's text, its files)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = sorted(rows, key=lambda r: (_order(r["tasks"]), r["arch"], r.get("n_tasks", 0)))
    fields = sorted({k for r in rows for k in r}, key=lambda k: (k not in ("tasks", "arch", "n_tasks"), k))
    with (out_dir / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    files = [out_dir / "results.csv", out_dir / "report.txt"]
    if not rows:
        text = "no finished runs"
    else:
        found = comparisons(rows)
        write_comparisons(found, out_dir / "comparisons.csv", fields=COMPARISON_FIELDS)
        repeats = max(len(per_repeat(r, F1)) for r in rows if per_repeat(r, F1) is not None)
        text = "\n\n".join([table4(rows), table3(rows, found), table5(rows, found), comparisons_text(found, repeats)])
        files += [out_dir / "comparisons.csv", figure(rows, out_dir / "tasks_vs_performance.png")]
    (out_dir / "report.txt").write_text(text + "\n")
    return text, files
