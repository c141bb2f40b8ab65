"""Golden values of the report tables: small hand-made result rows in, every cell checked.

The expected numbers are worked out by hand from the rows below (the arithmetic is written out),
never by calling the report code a second time.
"""

import csv
import json
import math
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from raymir.recipes.agf_combos_report import (
    chosen_on_other_repeats,
    comparisons,
    table3,
    table4,
    table5,
    write_agf_report,
)
from raymir.recipes.artist_report import summary_table, write_artist_report
from raymir.recipes.layer_combos_report import by_task, nested_best, task_comparisons, task_table, write_report


def _f4(x: float) -> str:
    """A hand-computed value as the Kim tables print it (4 decimals)."""
    return f"{x:.4f}"


def _read_csv(path):
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


# --- layer_combos (Choi et al. 2017) ---------------------------------------------------------------


def _probe(task, feature, layers, score, std, nested, *, ci=(0.030, 0.030), folds=None, kernel="rbf", C=8.0,
           gamma=0.125, scaler=True):
    """A probe summary row as a layer_combos trial reports it (accuracy for genre, r2 for the regressions).

    ci: the half-widths of the cv and nested 95% intervals; folds: (nested scores, inner-CV means) per outer fold
    of 5 folds × 1 repeat, which the paired tests read (rows of runs without them have none)."""
    metric = "accuracy" if task == "genre" else "r2"
    row = {"task": task, "feature": feature, "layers": layers, "n_features": 32, "kernel": kernel, "C": C,
           "gamma": gamma, "scaler": scaler, "metric": metric, f"cv_{metric}": score, f"cv_{metric}_std": std,
           f"cv_{metric}_ci95": ci[0], f"nested_{metric}": nested, f"nested_{metric}_ci95": ci[1],
           "test_fraction": 0.2, "repeats": 1, "capped_fits": 0, "engine": "libsvm"}
    if folds is not None:
        row |= {"nested_folds": json.dumps(folds[0]), "nested_inner": json.dumps(folds[1])}
    return row


# The genre rows' per-fold nested scores (their means are the nested column: e.g. 12345's
# (0.80 + 0.78 + 0.82 + 0.76 + 0.785) / 5 = 0.789) and the inner-CV means that chose each fold's point.
# Their nested CI: t(0.975, 4) · sqrt((1/5 + 0.2/0.8) · s²) = 2.7764 · sqrt(0.45 s²), e.g. 12345:
# s² = (0.011² + 0.009² + 0.031² + 0.029² + 0.004²) / 4 = 0.000505 → 2.7764 · 0.015075 = 0.042.
GENRE_FOLDS = {
    ("convnet", "12345"): ([0.80, 0.78, 0.82, 0.76, 0.785], [0.81, 0.79, 0.80, 0.78, 0.80]),
    ("convnet", "5"): ([0.77, 0.80, 0.72, 0.74, 0.725], [0.79, 0.80, 0.76, 0.79, 0.79]),
    ("convnet", "1"): ([0.60, 0.58, 0.62, 0.59, 0.60], [0.61, 0.60, 0.62, 0.60, 0.61]),
    ("random", "1"): ([0.52, 0.50, 0.54, 0.51, 0.53], [0.53, 0.52, 0.51, 0.55, 0.50]),
    ("random", "5"): ([0.47, 0.48, 0.46, 0.47, 0.47], [0.50, 0.53, 0.50, 0.50, 0.49]),
    ("random", "12345"): ([0.50, 0.51, 0.49, 0.50, 0.51], [0.52, 0.51, 0.52, 0.50, 0.52]),
    ("mfcc", "-"): ([0.44, 0.45, 0.43, 0.44, 0.445], [0.45, 0.45, 0.45, 0.45, 0.45]),
    ("convnet+mfcc", "12345"): ([0.81, 0.80, 0.83, 0.77, 0.795], [0.82, 0.80, 0.82, 0.79, 0.81]),
}


def _genre(feature, layers, score, std, nested, ci, **kw):
    return _probe("genre", feature, layers, score, std, nested, ci=ci, folds=GENRE_FOLDS[feature, layers], **kw)


# Deliberately out of table order; emotion_arousal comes first, so its table is written first.
PROBE_ROWS = [
    _probe("emotion_arousal", "convnet", "5", 0.422, 0.061, 0.395, ci=(0.076, 0.081)),
    _genre("random", "5", 0.489, 0.044, 0.470, (0.053, 0.013), kernel="linear", C=2.0, gamma="-"),
    _genre("convnet", "1", 0.612, 0.041, 0.598, (0.051, 0.028), kernel="linear", C=0.1, gamma="-", scaler=False),
    _genre("mfcc", "-", 0.455, 0.038, 0.441, (0.047, 0.014), C=32.0, gamma=0.5),
    _genre("convnet", "12345", 0.806, 0.027, 0.789, (0.034, 0.042), C=32.0, gamma=0.0078125),
    _probe("emotion_arousal", "random", "5", -0.104, 0.090, -0.150, ci=(0.112, 0.120), kernel="linear", C=0.1,
           gamma="-"),
    _genre("random", "1", 0.544, 0.050, 0.520, (0.062, 0.029), kernel="linear", C=2.0, gamma="-"),
    _genre("convnet+mfcc", "12345", 0.823, 0.025, 0.801, (0.031, 0.041), C=32.0, gamma=0.0078125),
    _probe("emotion_arousal", "convnet", "1", 0.301, 0.072, None, ci=(0.089, None), scaler=False),
    _genre("convnet", "5", 0.774, 0.032, 0.751, (0.040, 0.063)),
    _genre("random", "12345", 0.531, 0.047, 0.502, (0.057, 0.016), kernel="linear", C=8.0, gamma="-"),
    _probe("emotion_arousal", "mfcc", "-", 0.118, 0.055, 0.097, ci=(0.068, 0.070), C=2.0),
]

# Every genre line's cells: convnets by score (each followed by the random convnet of the same
# layers), the best random convnet, then 12345+MFCC and MFCC; cv and nested as mean ± 95% CI.
GENRE_LINES = {
    "convnet 12345": ["convnet", "12345", "0.806", "±", "0.034", "0.789", "±", "0.042", "rbf", "C=32.0", "γ=0.0078125",
                      "scaler=on"],
    "random 12345": ["random", "12345", "0.531", "±", "0.057", "0.502", "±", "0.016", "linear", "C=8.0", "γ=-",
                     "scaler=on"],
    "convnet 5": ["convnet", "5", "0.774", "±", "0.040", "0.751", "±", "0.063", "rbf", "C=8.0", "γ=0.125", "scaler=on"],
    "random 5": ["random", "5", "0.489", "±", "0.053", "0.470", "±", "0.013", "linear", "C=2.0", "γ=-", "scaler=on"],
    "convnet 1": ["convnet", "1", "0.612", "±", "0.051", "0.598", "±", "0.028", "linear", "C=0.1", "γ=-",
                  "scaler=off"],
    "random 1": ["random", "1", "0.544", "±", "0.062", "0.520", "±", "0.029", "linear", "C=2.0", "γ=-", "scaler=on"],
    # not significantly below the convnet's nested best (p = 0.1778, below): no mark
    "convnet+mfcc": ["convnet+mfcc", "12345", "0.823", "±", "0.031", "0.801", "±", "0.041", "rbf", "C=32.0",
                     "γ=0.0078125", "scaler=on"],
    "mfcc": ["mfcc", "-", "0.455", "±", "0.047", "0.441", "±", "0.014", "rbf", "C=32.0", "γ=0.5", "scaler=on", "*"],
}
SIGNIFICANCE_NOTE = ("* the convnet's nested best combination differs significantly from this feature's (p < 0.05, "
                     "comparisons.csv)")
HEADER = "mean ± 95% CI over folds × repeats, corrected for overlapping training sets) =="


def test_task_table_ranks_convnet_combinations_and_keeps_the_top_ones():
    lines = task_table("genre", by_task(PROBE_ROWS)["genre"], top=2).splitlines()
    assert lines[0] == f"== genre (accuracy: best-grid-point CV | nested CV; {HEADER}"
    assert lines[1].split() == ["feature", "layers", "cv", "nested", "best", "config"]
    # top=2 of the three convnets (0.806 > 0.774 > 0.612): layer 1 is cut, and so is its random twin,
    # which comes back as the best random convnet (0.544 > 0.531 > 0.489), marked: the random net's nested
    # best is significantly below the convnet's (test_genre_comparisons_by_hand)
    assert [line.split() for line in lines[2:-1]] == [
        GENRE_LINES["convnet 12345"], GENRE_LINES["random 12345"],
        GENRE_LINES["convnet 5"], GENRE_LINES["random 5"],
        GENRE_LINES["random 1"] + ["(best", "random)", "*"],
        GENRE_LINES["convnet+mfcc"], GENRE_LINES["mfcc"],
    ]
    assert lines[-1] == SIGNIFICANCE_NOTE


def test_task_table_of_a_regression_task_with_missing_rows():
    lines = task_table("emotion_arousal", by_task(PROBE_ROWS)["emotion_arousal"]).splitlines()
    assert lines[0] == f"== emotion_arousal (r2: best-grid-point CV | nested CV; {HEADER}"
    # no per-fold nested scores here: no paired tests, no marks, no note
    assert [line.split() for line in lines[2:]] == [
        # best combination 5 (0.422 > 0.301), its random twin below it
        ["convnet", "5", "0.422", "±", "0.076", "0.395", "±", "0.081", "rbf", "C=8.0", "γ=0.125", "scaler=on"],
        ["random", "5", "-0.104", "±", "0.112", "-0.150", "±", "0.120", "linear", "C=0.1", "γ=-", "scaler=on"],
        # layer 1 has no random twin and no nested score: that cell stays empty
        ["convnet", "1", "0.301", "±", "0.089", "rbf", "C=8.0", "γ=0.125", "scaler=off"],
        ["random", "5", "-0.104", "±", "0.112", "-0.150", "±", "0.120", "linear", "C=0.1", "γ=-", "scaler=on", "(best",
         "random)"],
        # no convnet+mfcc row for this task
        ["mfcc", "-", "0.118", "±", "0.068", "0.097", "±", "0.070", "rbf", "C=2.0", "γ=0.125", "scaler=on"],
    ]


def test_a_row_from_before_intervals_prints_its_means_alone():
    old = {k: v for k, v in _probe("genre", "mfcc", "-", 0.455, 0.038, 0.441).items() if not k.endswith("_ci95")}
    assert task_table("genre", by_task([old])["genre"]).splitlines()[2].split()[:4] == ["mfcc", "-", "0.455", "0.441"]


# The nested choice among the convnet's combinations, fold by fold (inner means of 12345 / 5 / 1):
#   fold 0: 0.81 / 0.79 / 0.61 → 12345, scored 0.80    fold 1: 0.79 / 0.80 / 0.60 → 5, scored 0.80
#   fold 2: 0.80 / 0.76 / 0.62 → 12345, scored 0.82    fold 3: 0.78 / 0.79 / 0.60 → 5, scored 0.74
#   fold 4: 0.80 / 0.79 / 0.61 → 12345, scored 0.785
# Fold 3 is where choosing by the outer fold's own score would differ (12345: 0.76 > 5: 0.74).
CONVNET_NESTED = [0.80, 0.80, 0.82, 0.74, 0.785]
# The random convnet's (inner of 1 / 5 / 12345): 1, 5, 12345, 1, 12345
RANDOM_NESTED = [0.52, 0.48, 0.49, 0.51, 0.51]


def _by_hand(diffs):
    """mean, corrected t and the CI half-width of paired differences over 5 folds, 1/5 of the clips tested:
    se = sqrt((1/5 + 0.2/0.8) · s²), t(0.975, 4) = 2.7764451052."""
    mean = sum(diffs) / 5
    s2 = sum((d - mean) ** 2 for d in diffs) / 4
    se = math.sqrt(0.45 * s2)
    return mean, mean / se, 2.7764451052 * se


def test_nested_best_takes_each_folds_choice_by_its_inner_cv():
    rows = by_task(PROBE_ROWS)["genre"]
    conv = [rows["convnet", layers] for layers in ("1", "12345", "5")]
    assert nested_best(conv) == _approx(CONVNET_NESTED)
    rand = [rows["random", layers] for layers in ("1", "12345", "5")]
    assert nested_best(rand) == _approx(RANDOM_NESTED)


def _approx(values, abs=1e-12):
    import pytest

    return pytest.approx(values, abs=abs)


def test_genre_comparisons_by_hand():
    comparisons = task_comparisons("genre", by_task(PROBE_ROWS)["genre"])
    assert [(c["a"], c["b"]) for c in comparisons] == [("convnet", "mfcc"), ("convnet", "random"),
                                                       ("convnet", "convnet+mfcc")]
    mfcc, random, both = comparisons
    # convnet − mfcc per fold: 0.36, 0.35, 0.39, 0.30, 0.34 → mean 0.348, s² = 0.00428 / 4 = 0.00107,
    # se = sqrt(0.45 · 0.00107) = 0.021943, t = 15.86
    mean, t, half = _by_hand([0.36, 0.35, 0.39, 0.30, 0.34])
    assert mean == _approx(0.348) and round(t, 2) == 15.86
    assert (mfcc["diff"], mfcc["t"], mfcc["ci_low"], mfcc["ci_high"]) == _approx((mean, t, mean - half, mean + half))
    assert mfcc["significant"] and mfcc["p"] < 0.001 and mfcc["n"] == 5 and mfcc["task"] == "genre"
    # convnet − random per fold: 0.28, 0.32, 0.33, 0.23, 0.275 → mean 0.287
    mean, t, half = _by_hand([0.28, 0.32, 0.33, 0.23, 0.275])
    assert mean == _approx(0.287)
    assert (random["diff"], random["t"], random["ci_low"]) == _approx((mean, t, mean - half)) and random["significant"]
    # convnet − (convnet + mfcc): −0.01, 0, −0.01, −0.03, −0.01 → mean −0.012, s² = 0.00048 / 4 = 0.00012,
    # se = sqrt(0.45 · 0.00012) = 0.0073485, t = −1.633; p = 2 · P(T₄ > 1.633) = 0.1778: not significant
    mean, t, half = _by_hand([-0.01, 0.0, -0.01, -0.03, -0.01])
    assert (both["diff"], both["t"], both["ci_high"]) == _approx((mean, t, mean + half))
    assert round(both["t"], 3) == -1.633 and round(both["p"], 4) == 0.1778 and not both["significant"]


def test_write_report_csv_and_text(tmp_path):
    text, files = write_report(PROBE_ROWS, tmp_path)
    assert [f.name for f in files] == ["results.csv", "emotion_arousal.png", "genre.png", "comparisons.csv",
                                       "report.txt"]
    assert (tmp_path / "report.txt").read_text() == text + "\n"

    sections = text.split("\n\n")
    assert [s.splitlines()[0].split()[1] for s in sections] == ["emotion_arousal", "genre", "comparisons:"]
    genre = sections[1].splitlines()[2:]
    # the default top=5 keeps all three convnets: 3 × (convnet, twin) + best random + 12345+MFCC + MFCC + the note
    assert len(genre) == 3 * 2 + 1 + 2 + 1
    assert genre[0].split() == GENRE_LINES["convnet 12345"]  # the best combination for genre
    assert genre[4].split() == GENRE_LINES["convnet 1"] and genre[5].split() == GENRE_LINES["random 1"]
    # the comparisons section: a, b, diff, 95% CI, t, p, n; significant ones marked
    comparisons = sections[2].splitlines()
    assert comparisons[1].split() == ["task", "a", "b", "diff", "95%", "CI", "t", "p", "n"]
    assert comparisons[2].split() == ["genre", "convnet", "mfcc", "+0.348", "[+0.287,", "+0.409]", "15.86", "0.0001",
                                      "5", "*"]
    assert comparisons[4].split()[:4] == ["genre", "convnet", "convnet+mfcc", "-0.012"]
    assert comparisons[4].split()[-2:] == ["0.1778", "5"] and comparisons[-1] == "* p < 0.05"

    fields, rows = _read_csv(tmp_path / "results.csv")
    assert fields == ["feature", "layers", "task", "C", "capped_fits", "cv_accuracy", "cv_accuracy_ci95",
                      "cv_accuracy_std", "cv_r2", "cv_r2_ci95", "cv_r2_std", "engine", "gamma", "kernel", "metric",
                      "n_features", "nested_accuracy", "nested_accuracy_ci95", "nested_folds", "nested_inner",
                      "nested_r2", "nested_r2_ci95", "repeats", "scaler", "test_fraction"]
    assert len(rows) == 12
    # sorted by (task, feature, layers) as strings: "1" < "12345" < "5", "convnet" < "convnet+mfcc" < "mfcc"
    assert [(r["task"], r["feature"], r["layers"]) for r in rows] == [
        ("emotion_arousal", "convnet", "1"), ("emotion_arousal", "convnet", "5"), ("emotion_arousal", "mfcc", "-"),
        ("emotion_arousal", "random", "5"),
        ("genre", "convnet", "1"), ("genre", "convnet", "12345"), ("genre", "convnet", "5"),
        ("genre", "convnet+mfcc", "12345"), ("genre", "mfcc", "-"), ("genre", "random", "1"),
        ("genre", "random", "12345"), ("genre", "random", "5"),
    ]
    assert float(rows[5]["cv_accuracy"]) == 0.806 and rows[5]["cv_r2"] == ""
    assert float(rows[5]["cv_accuracy_ci95"]) == 0.034 and json.loads(rows[5]["nested_folds"])[3] == 0.76
    assert rows[0]["nested_r2"] == "" and float(rows[0]["cv_r2"]) == 0.301 and rows[0]["nested_folds"] == ""
    assert float(rows[3]["cv_r2"]) == -0.104 and rows[3]["kernel"] == "linear" and rows[3]["gamma"] == "-"

    fields, rows = _read_csv(tmp_path / "comparisons.csv")
    assert fields == ["task", "a", "b", "diff", "ci_low", "ci_high", "t", "p", "significant", "n"]
    assert [(r["a"], r["b"], r["significant"], r["n"]) for r in rows] == [
        ("convnet", "mfcc", "True", "5"), ("convnet", "random", "True", "5"), ("convnet", "convnet+mfcc", "False", "5")]
    assert float(rows[0]["diff"]) == _approx(0.348)


# --- agf_combos (Kim et al. 2018) --------------------------------------------------------------------


HELD_OUT = 0.15  # each held-out set's share of the tracks in the rows below


def _wobble(tasks: str, arch: str, key: str) -> np.ndarray:
    """A fixed zero-mean pattern over 3 repeats, different for every row and score."""
    rng = np.random.default_rng(zlib.crc32(f"{tasks}/{arch}/{key}".encode()))
    d = rng.normal(size=3)
    return (d - d.mean()) * 0.02


def _agf(tasks, arch, logloss, f1, f1_artist, n_params, *, n=None, target=None):
    """A summary row over 3 repeats whose means are the given scores."""
    row = {"tasks": tasks, "arch": arch, "n_tasks": n or len(tasks), "n_params": n_params,
           "val_held_out": HELD_OUT, "val_artist_held_out": HELD_OUT}
    for key, mean in (("val_logloss", logloss), ("val_f1_macro", f1), ("val_artist_f1_macro", f1_artist)):
        values = mean + _wobble(tasks, arch if arch != "wSTN" else f"wSTN{n}", key)
        row |= {key: float(values.mean()), f"{key}_repeats": json.dumps(values.tolist())}
    return row if target is None else row | {"target_params": target}


def _values(row: dict, key: str) -> np.ndarray:
    return np.array(json.loads(row[f"{key}_repeats"]))


def _half(values) -> float:
    """Nadeau & Bengio's 95% half-width over J values whose test sets hold HELD_OUT of the tracks, by hand."""
    v = np.asarray(values, dtype=float)
    se = np.sqrt((1 / len(v) + HELD_OUT / (1 - HELD_OUT)) * v.var(ddof=1))
    return float(stats.t.ppf(0.975, len(v) - 1) * se)


def _cell(values) -> str:
    return f"{np.mean(values):.3f} ± {_half(values):.3f}"


# Tasks g, s, e of "gsedm": all 7 STN combinations, the 4 multi-task MTNs, wSTNs for N = 2 and 3.
AGF_ROWS = [
    _agf("gse", "MTN", 1.65, 0.470, 0.360, 2100),
    _agf("g", "wSTN", 1.78, 0.415, 0.315, 2110, n=3, target=2100),
    _agf("se", "STN", 2.10, 0.300, 0.220, 2000),
    _agf("g", "STN", 1.90, 0.400, 0.300, 1000),
    _agf("ge", "MTN", 1.95, 0.390, 0.280, 1600),
    _agf("gs", "STN", 1.80, 0.420, 0.310, 2000),
    _agf("e", "STN", 2.40, 0.200, 0.150, 1000),
    _agf("se", "MTN", 2.05, 0.310, 0.240, 1600),
    _agf("gse", "STN", 1.76, 0.450, 0.350, 3000),
    _agf("g", "wSTN", 1.88, 0.405, 0.305, 1590, n=2, target=1600),
    _agf("s", "STN", 2.20, 0.250, 0.200, 1000),
    _agf("gs", "MTN", 1.85, 0.430, 0.320, 1600),
    _agf("ge", "STN", 1.70, 0.410, 0.330, 2000),
]


def _row(tasks: str, arch: str, n: int | None = None) -> dict:
    return next(r for r in AGF_ROWS if r["tasks"] == tasks and r["arch"] == arch and (n is None or r["n_tasks"] == n))


def _cells(line: str) -> list[str]:
    """A table line's cells: "0.420 ± 0.031" stays one cell."""
    return line.replace(" ± ", "±").split()


def test_table4_every_combination_in_paper_order_with_its_interval():
    lines = table4(AGF_ROWS).splitlines()
    assert lines[0].startswith("== Table 4")
    assert lines[1].split() == ["tasks", "STN", "F1", "MTN", "F1", "STN", "logloss", "MTN", "logloss", "STN", "F1",
                                "unseen", "MTN", "F1", "unseen", "STN", "params", "MTN", "params"]
    # by size, then by the order of the letters in "gsedm"; single tasks have no MTN ("-")
    assert [_cells(line)[0] for line in lines[2:]] == ["g", "s", "e", "gs", "ge", "se", "gse"]
    g, gs_stn, gs_mtn = _row("g", "STN"), _row("gs", "STN"), _row("gs", "MTN")
    assert _cells(lines[2]) == [c.replace(" ± ", "±") for c in (
        "g", _cell(_values(g, "val_f1_macro")), "-", _cell(_values(g, "val_logloss")), "-",
        _cell(_values(g, "val_artist_f1_macro")), "-", "1000", "-")]
    assert _cells(lines[5])[1:3] == [_cell(_values(gs_stn, "val_f1_macro")).replace(" ± ", "±"),
                                     _cell(_values(gs_mtn, "val_f1_macro")).replace(" ± ", "±")]
    assert _cells(lines[5])[1].startswith("0.420±")


def test_one_repeat_shows_means_without_intervals():
    rows = [{k: v for k, v in r.items() if not k.endswith(("_repeats", "_held_out"))} for r in AGF_ROWS]
    lines = table4(rows).splitlines()
    assert _cells(lines[5])[:3] == ["gs", "0.420", "0.430"]
    text, _ = write_agf_report(rows, Path(tempfile.mkdtemp()))
    assert "none: 1 repeat(s); a test needs at least 2" in text


def test_table3_means_with_and_without_genre_over_repeats():
    lines = table3(AGF_ROWS, []).splitlines()
    assert lines[0].startswith("== Table 3")
    assert lines[1].split() == ["STN", "F1", "MTN", "F1", "STN", "logloss", "MTN", "logloss"]

    def mean_of(pairs, key):  # within each repeat, the mean of the rows; the wSTN rows take no part
        return np.mean([_values(_row(t, a), key) for t, a in pairs], axis=0)

    without_stn, without_mtn = [("s", "STN"), ("e", "STN"), ("se", "STN")], [("se", "MTN")]
    with_stn = [("g", "STN"), ("gs", "STN"), ("ge", "STN"), ("gse", "STN")]
    with_mtn = [("gs", "MTN"), ("ge", "MTN"), ("gse", "MTN")]
    assert _cells(lines[2])[2:] == [_cell(mean_of(p, k)).replace(" ± ", "±") for k in ("val_f1_macro", "val_logloss")
                                    for p in (without_stn, without_mtn)]
    assert _cells(lines[3])[2:] == [_cell(mean_of(p, k)).replace(" ± ", "±") for k in ("val_f1_macro", "val_logloss")
                                    for p in (with_stn, with_mtn)]
    assert _cells(lines[3])[2].startswith("0.420±")  # (0.400 + 0.420 + 0.410 + 0.450) / 4
    assert len(lines) == 4


def test_table5_best_of_each_size_against_the_wstn():
    lines = table5(AGF_ROWS, []).splitlines()
    assert lines[0].startswith("== Table 5")
    n2, n3 = _cells(lines[2]), _cells(lines[3])
    # N, wSTN F1, best STN (by mean F1) and its F1, best MTN and its F1, wSTN log loss, its params, target
    assert n2 == ["2", _cell(_values(_row("g", "wSTN", 2), "val_f1_macro")).replace(" ± ", "±"),
                  "gs", _cell(_values(_row("gs", "STN"), "val_f1_macro")).replace(" ± ", "±"),
                  "gs", _cell(_values(_row("gs", "MTN"), "val_f1_macro")).replace(" ± ", "±"),
                  _cell(_values(_row("g", "wSTN", 2), "val_logloss")).replace(" ± ", "±"), "1590", "1600"]
    assert n3[0] == "3" and n3[2] == "gse" and n3[4] == "gse" and n3[-2:] == ["2110", "2100"]
    without_mtn = _cells(table5([r for r in AGF_ROWS if r["arch"] != "MTN"], []).splitlines()[2])
    assert without_mtn[2:4] == ["gs", _cell(_values(_row("gs", "STN"), "val_f1_macro")).replace(" ± ", "±")]
    assert without_mtn[4] == "-"


def test_the_best_combination_is_chosen_on_the_other_repeats():
    a = {"val_f1_macro_repeats": json.dumps([0.5, 0.9, 0.5])}
    b = {"val_f1_macro_repeats": json.dumps([0.6, 0.6, 0.6])}
    # repeat 0: a's other repeats average 0.7 > 0.6 → a (0.5); repeat 1: 0.5 < 0.6 → b (0.6); repeat 2: a (0.5).
    # Chosen on all three repeats, a (mean 0.633) would be scored 0.5, 0.9, 0.5.
    assert chosen_on_other_repeats([a, b], "val_f1_macro").tolist() == [0.5, 0.6, 0.5]
    # lower is better (log loss): the opposite picks
    assert chosen_on_other_repeats([a, b], "val_f1_macro", lower_is_better=True).tolist() == [0.6, 0.9, 0.6]
    assert chosen_on_other_repeats([{"val_f1_macro": 0.5}], "val_f1_macro") is None  # one repeat: nothing to choose on


def test_comparisons_are_the_paper_s_claims_as_paired_tests():
    found = comparisons(AGF_ROWS)
    claims = {(c["a"], c["b"]) for c in found}
    assert claims == {("2-task STNs (mean)", "g"), ("2-task MTNs (mean)", "g"), ("3-task STNs (mean)", "g"),
                      ("3-task MTNs (mean)", "g"), ("2-task MTNs (mean)", "2-task STNs (mean)"),
                      ("3-task MTNs (mean)", "3-task STNs (mean)"), ("STNs with g (mean)", "STNs without g (mean)"),
                      ("MTNs with g (mean)", "MTNs without g (mean)"), ("best 2-task STN", "wSTN-2"),
                      ("best 2-task MTN", "wSTN-2"), ("best 3-task STN", "wSTN-3"), ("best 3-task MTN", "wSTN-3")}
    assert {c["metric"] for c in found} == {"val_f1_macro", "val_logloss", "val_artist_f1_macro"}
    assert len(found) == 12 * 3 and all(c["n"] == 3 for c in found)
    # 2-task MTNs vs genre alone on F1, by hand: the MTNs' mean per repeat minus g's, Nadeau & Bengio's t
    c = next(c for c in found if c["a"] == "2-task MTNs (mean)" and c["b"] == "g" and c["metric"] == "val_f1_macro")
    mtn = np.mean([_values(_row(t, "MTN"), "val_f1_macro") for t in ("gs", "ge", "se")], axis=0)
    d = mtn - _values(_row("g", "STN"), "val_f1_macro")
    se = np.sqrt((1 / 3 + HELD_OUT / (1 - HELD_OUT)) * d.var(ddof=1))
    assert c["diff"] == pytest.approx(d.mean()) and c["t"] == pytest.approx(d.mean() / se)
    assert c["p"] == pytest.approx(2 * stats.t.sf(abs(d.mean() / se), 2))
    assert (c["ci_high"] - c["ci_low"]) / 2 == pytest.approx(_half(d))
    assert c["significant"] == (c["p"] < 0.05)
    # with g vs without g: 0.420 vs 0.250 F1 with a spread of ~0.02 per repeat: significant
    assert next(c for c in found if c["a"] == "STNs with g (mean)" and c["metric"] == "val_f1_macro")["significant"]


def test_write_agf_report_csv_order_and_sections(tmp_path):
    text, files = write_agf_report(AGF_ROWS, tmp_path)
    assert [f.name for f in files] == ["results.csv", "report.txt", "comparisons.csv", "tasks_vs_performance.png"]
    assert (tmp_path / "report.txt").read_text() == text + "\n"
    assert [s.splitlines()[0][:14] for s in text.split("\n\n")] == ["== Table 4: so", "== Table 3: me", "== Table 5: be",
                                                                   "== comparisons"]
    assert "STNs with g (mean)" in text and " *" in text

    fields, rows = _read_csv(tmp_path / "results.csv")
    assert fields[:4] == ["arch", "n_tasks", "tasks", "n_params"]
    assert {"val_f1_macro", "val_f1_macro_repeats", "val_held_out"} <= set(fields)
    # by combination (paper order), then arch ("MTN" < "STN" < "wSTN"), then n_tasks
    assert [(r["tasks"], r["arch"], r["n_tasks"]) for r in rows] == [
        ("g", "STN", "1"), ("g", "wSTN", "2"), ("g", "wSTN", "3"), ("s", "STN", "1"), ("e", "STN", "1"),
        ("gs", "MTN", "2"), ("gs", "STN", "2"), ("ge", "MTN", "2"), ("ge", "STN", "2"),
        ("se", "MTN", "2"), ("se", "STN", "2"), ("gse", "MTN", "3"), ("gse", "STN", "3"),
    ]
    assert rows[1]["target_params"] == "1600" and rows[0]["target_params"] == ""
    assert float(rows[11]["val_f1_macro"]) == pytest.approx(0.470)

    fields, found = _read_csv(tmp_path / "comparisons.csv")
    assert fields == ["metric", "a", "b", "diff", "ci_low", "ci_high", "t", "p", "significant", "n"]
    assert len(found) == 36


def test_write_agf_report_without_runs(tmp_path):
    text, files = write_agf_report([], tmp_path)
    assert text == "no finished runs"
    assert [f.name for f in files] == ["results.csv", "report.txt"]


# --- artist_labels / artist_tags (Park et al. 2017, Wang et al. 2019) -----------------------------


def _artist(model, n, genre, arousal, valence, roc, pr, rmap, recall, **more):
    row = {"model": model, "n_artists": n, "genre_accuracy": genre, "genre_accuracy_nested": genre - 0.01,
           "arousal_r2": arousal, "valence_r2": valence, "tag_roc_auc": roc, "tag_pr_auc": pr, "retrieval_map": rmap,
           "retrieval_recall_at_10": recall, "retrieval_chance_map": 0.1, "seconds_train": 12.5}
    return {k: v for k, v in (row | more).items() if v is not None}


# Two trained models × two artist counts, two baselines (n_artists 0); the mfcc baseline has no tag_pr_auc.
ARTIST_ROWS = [
    _artist("siamese", 30, 0.652, 0.412, 0.205, 0.801, 0.334, 0.281, 0.550),
    _artist("mfcc", 0, 0.480, 0.300, 0.100, 0.700, None, 0.150, 0.310),
    _artist("basic", 15, 0.561, 0.351, 0.158, 0.752, 0.281, 0.203, 0.420),
    _artist("random", 0, 0.333, 0.120, -0.050, 0.610, 0.190, 0.112, 0.205),
    _artist("siamese", 15, 0.590, 0.380, 0.180, 0.770, 0.300, 0.240, 0.480),
    _artist("basic", 30, 0.604, 0.397, 0.176, 0.789, 0.322, 0.236, 0.470),
]


def _markdown(text):
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines()]


def test_artist_summary_table_rows_and_columns():
    lines = summary_table(ARTIST_ROWS).splitlines()
    table = _markdown("\n".join(lines[:8]))
    # the fixed metrics in their order, then recall@k; the nested scores, timings and chance MAP are no columns
    assert table[0] == ["model", "n_artists", "genre_accuracy", "arousal_r2", "valence_r2", "tag_roc_auc", "tag_pr_auc",
                        "retrieval_map", "retrieval_recall_at_10"]
    assert lines[1] == "|---|---:|" + "---:|" * 7
    # trained models first (by name, then artist count), baselines after with no artist count
    assert table[2:] == [
        ["basic", "15", "0.561", "0.351", "0.158", "0.752", "0.281", "0.203", "0.420"],
        ["basic", "30", "0.604", "0.397", "0.176", "0.789", "0.322", "0.236", "0.470"],
        ["siamese", "15", "0.590", "0.380", "0.180", "0.770", "0.300", "0.240", "0.480"],
        ["siamese", "30", "0.652", "0.412", "0.205", "0.801", "0.334", "0.281", "0.550"],
        ["mfcc", "-", "0.480", "0.300", "0.100", "0.700", "-", "0.150", "0.310"],
        ["random", "-", "0.333", "0.120", "-0.050", "0.610", "0.190", "0.112", "0.205"],
    ]
    assert lines[8:] == ["", "Retrieval MAP by chance on the held-out artists: 0.100"]


def test_artist_tags_summary_labels_the_layers():
    rows = [{"model": "mfcc", "layers": "-", "n_artists": 0, "genre_accuracy": 0.41, "arousal_r2": 0.22,
             "valence_r2": 0.05},
            {"model": "choi_tags", "layers": "12345", "n_artists": 24, "genre_accuracy": 0.63, "arousal_r2": 0.35,
             "valence_r2": 0.12},
            {"model": "artist_tags", "layers": "5", "n_artists": 24, "genre_accuracy": 0.58, "arousal_r2": 0.31,
             "valence_r2": 0.09}]
    table = _markdown(summary_table(rows))
    assert table[0] == ["model", "n_artists", "genre_accuracy", "arousal_r2", "valence_r2"]
    assert table[2:] == [
        ["artist_tags (5)", "24", "0.580", "0.310", "0.090"],
        ["choi_tags (12345)", "24", "0.630", "0.350", "0.120"],
        ["mfcc", "-", "0.410", "0.220", "0.050"],
    ]


def test_write_artist_report_files_and_csv(tmp_path):
    text, files = write_artist_report(ARTIST_ROWS, tmp_path)
    assert [f.name for f in files] == ["summary.md", "summary.csv", "metrics.png"]
    assert (tmp_path / "summary.md").read_text() == text + "\n"
    fields, rows = _read_csv(tmp_path / "summary.csv")
    assert fields == ["model", "n_artists", "genre_accuracy", "genre_accuracy_nested", "arousal_r2", "valence_r2",
                      "tag_roc_auc", "tag_pr_auc", "retrieval_map", "retrieval_recall_at_10", "retrieval_chance_map",
                      "seconds_train"]
    # the CSV keeps the runs in the order they came in
    assert [(r["model"], r["n_artists"]) for r in rows] == [
        ("siamese", "30"), ("mfcc", "0"), ("basic", "15"), ("random", "0"), ("siamese", "15"), ("basic", "30")]
    assert rows[1]["tag_pr_auc"] == "" and float(rows[0]["genre_accuracy"]) == 0.652
    assert float(rows[2]["genre_accuracy_nested"]) == 0.561 - 0.01


def test_learned_weightings_and_twelve_layers_take_their_rows_and_bars(tmp_path):
    import numpy as np

    from raymir.recipes.layer_combos_report import weights_figure

    every = "+".join(map(str, range(1, 13)))
    weighted = {"kernel": "-", "C": "-", "gamma": "-", "engine": "layer weighting, mlp head"}
    rows = [_probe("genre", "convnet", "12", 0.70, 0.03, 0.68), _probe("genre", "convnet", "1+12", 0.75, 0.02, 0.73),
            _probe("genre", "random", "1+12", 0.50, 0.04, 0.48), _probe("genre", "convnet", "weighted", 0.78, 0.02, 0.78) |
            weighted, _probe("genre", "random", "weighted", 0.52, 0.03, 0.52) | weighted,
            _probe("genre", "convnet+mfcc", every, 0.80, 0.02, 0.79), _probe("genre", "mfcc", "-", 0.45, 0.04, 0.44)]
    text, files = write_report(rows, tmp_path)
    lines = text.splitlines()[2:]
    # the combinations (best first, twins beside), the best random, the weightings, every layer + MFCC, MFCC
    assert [line.split()[:2] for line in lines] == [
        ["convnet", "1+12"], ["random", "1+12"], ["convnet", "12"], ["random", "1+12"], ["convnet", "weighted"],
        ["random", "weighted"], ["convnet+mfcc", every], ["mfcc", "-"]]
    assert lines[4].split()[2:] == ["0.780", "±", "0.030", "0.780", "±", "0.030", "layer", "weighting,", "mlp", "head"]
    assert (tmp_path / "genre.png").is_file()
    png = weights_figure(np.array([[0.1, 0.7, 0.2], [0.2, 0.6, 0.2]]), tmp_path / "w" / "layer_weights.png", title="t")
    assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG"


def _folds(values):
    import json

    return json.dumps(values)


def _scored(model, n, genre_nested, tags, queries, **more):
    """A run with per-fold scores: genre nested folds (its cv folds 0.1 higher: never tested), tagging folds,
    per-query AP; 5 folds test 20 % of the clips each."""
    import numpy as np

    cv = [v + 0.1 for v in genre_nested]
    return {"model": model, "n_artists": n, "repeats": 1,
            "genre_accuracy": float(np.mean(cv)), "genre_accuracy_ci95": 0.02, "genre_accuracy_folds": _folds(cv),
            "genre_accuracy_test_fraction": 0.2, "genre_accuracy_nested": float(np.mean(genre_nested)),
            "genre_accuracy_nested_folds": _folds(genre_nested), "genre_accuracy_nested_test_fraction": 0.2,
            "tag_roc_auc": float(np.mean(tags)), "tag_roc_auc_ci95": 0.03, "tag_roc_auc_folds": _folds(tags),
            "tag_roc_auc_test_fraction": 0.2, "retrieval_map": float(np.mean(queries)), "retrieval_map_ci95": 0.1,
            "retrieval_map_folds": _folds(queries), "retrieval_map_test_fraction": 0.0,
            "retrieval_recall_at_10": 0.5, "retrieval_recall_at_10_ci95": 0.2,
            "retrieval_recall_at_10_folds": _folds([0.5] * len(queries)),
            "retrieval_recall_at_10_test_fraction": 0.0} | more


def test_artist_comparisons_golden_values_on_hand_made_runs(tmp_path):
    """basic/15 − mfcc on genre: nested folds d = [.10, .07, .09, .13, .11], mean .1, s² = .0005, corrected
    se = √((1/5 + .2/.8) · .0005) = .015, t = 20/3 on 4 df; retrieval: per-query d = [0, .5, 0, .5], plain paired
    t = √3 on 3 df."""
    from raymir.recipes.artist_report import COMPARISON_FIELDS, comparison_pairs, comparisons

    rows = [_scored("mfcc", 0, [0.50, 0.55, 0.49, 0.52, 0.50], [0.70, 0.72, 0.69, 0.71, 0.70], [0.5, 0.5, 0.25, 0.25]),
            _scored("siamese", 15, [0.60, 0.62, 0.58, 0.65, 0.61], [0.70, 0.72, 0.69, 0.71, 0.70], [0.5, 1, 0.25, 0.75]),
            _scored("basic", 15, [0.60, 0.62, 0.58, 0.65, 0.61], [0.75, 0.80, 0.74, 0.78, 0.76], [0.5, 1, 0.25, 0.75]),
            _scored("random", 0, [0.30, 0.31, 0.33, 0.29, 0.30], [0.60, 0.62, 0.61, 0.60, 0.59], [0.2, 0.3, 0.2, 0.1])]
    assert [(a["model"], b["model"]) for a, b in comparison_pairs(rows)] == [
        ("basic", "siamese"), ("basic", "mfcc"), ("basic", "random"), ("siamese", "mfcc"), ("siamese", "random")]
    found = {(c["a"], c["b"], c["task"]): c for c in comparisons(rows)}
    genre = found[("basic/15", "mfcc", "genre")]
    assert genre["metric"] == "genre_accuracy_nested"  # nested scores, not the best point's CV scores
    assert genre["diff"] == pytest.approx(0.10) and genre["t"] == pytest.approx(20 / 3) and genre["n"] == 5
    assert (genre["ci_low"], genre["ci_high"]) == pytest.approx((0.1 - 2.7764451 * 0.015, 0.1 + 2.7764451 * 0.015))
    assert genre["p"] == pytest.approx(0.0026, abs=1e-4) and genre["significant"]
    same = found[("basic/15", "siamese/15", "genre")]  # identical folds: no difference at all
    assert (same["diff"], same["p"], same["significant"]) == (0.0, 1.0, False)
    retrieval = found[("basic/15", "mfcc", "retrieval")]
    assert retrieval["metric"] == "retrieval_map" and retrieval["diff"] == pytest.approx(0.25)
    assert retrieval["t"] == pytest.approx(3 ** 0.5) and retrieval["p"] == pytest.approx(0.1817, abs=1e-4)
    assert not retrieval["significant"]
    assert found[("basic/15", "siamese/15", "tagging")]["significant"]  # +.05 on every fold, little spread

    text, files = write_artist_report(rows, tmp_path)
    assert [f.name for f in files] == ["summary.md", "summary.csv", "comparisons.csv", "metrics.png"]
    fields, written = _read_csv(tmp_path / "comparisons.csv")
    assert fields == list(COMPARISON_FIELDS) and len(written) == 5 * 3
    lines = text.splitlines()
    assert lines[0].startswith("Mean ± half-width of the 95 % CI over folds × 1 repeat(s)")
    # every metric ± its interval; per-fold lists, intervals and test fractions are no columns
    assert "| basic | 15 | 0.712 ± 0.020 | 0.766 ± 0.030 | 0.625 ± 0.100 | 0.500 ± 0.200 |" in lines
    table = _markdown("\n".join(lines[lines.index("| a | b | genre_accuracy | tag_roc_auc | retrieval_map |"):]))
    assert table[2] == ["basic/15", "siamese/15", "+0.000 [+0.000, +0.000]", "+0.062 [+0.038, +0.086] *",
                        "+0.000 [+0.000, +0.000]"]
    assert table[3][:3] == ["basic/15", "mfcc", "+0.100 [+0.058, +0.142] *"]
    assert table[3][4] == "+0.250 [-0.209, +0.709]"


def test_artist_tags_comparisons_are_wangs_claims():
    from raymir.recipes.artist_report import comparison_pairs

    rows = [_scored(m, n, [0.5, 0.6, 0.55], [0.7, 0.71, 0.72], [0.5, 0.4], layers=layers)
            for m, n, layers in (("mfcc", 0, "-"), ("choi_tags", 24, "12345"), ("artist_tags", 24, "5"))]
    assert [(a["model"], b["model"]) for a, b in comparison_pairs(rows)] == [
        ("artist_tags", "choi_tags"), ("artist_tags", "mfcc"), ("choi_tags", "mfcc")]
