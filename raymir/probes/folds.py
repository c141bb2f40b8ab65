"""Cross-validation protocols: stratified, grouped (artist/recording) or predefined folds."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold


def make_folds(
    labels: np.ndarray, *, kind: str, n_folds: int, groups: np.ndarray | None = None,
    predefined: np.ndarray | None = None, seed: int = 0,
) -> list[np.ndarray]:
    """Split clips into folds; returns the test indices of each fold (a partition of range(n)).

    labels: [n]. ``predefined`` ([n] fold ids) wins over everything (e.g. UrbanSound8K's
    official folds — random folds there leak recordings). Otherwise clips sharing a group
    (artist, recording) stay in one fold; classification folds are stratified.
    """
    n = len(labels)
    if predefined is not None:
        return [np.flatnonzero(predefined == f) for f in np.unique(predefined)]
    idx = np.zeros(n)
    if kind == "classification":
        if groups is not None:
            split = StratifiedGroupKFold(n_folds, shuffle=True, random_state=seed).split(idx, labels, groups)
        else:
            split = StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(idx, labels)
    elif groups is not None:  # shuffled: unshuffled GroupKFold deals out groups in order (e.g. by genre)
        split = GroupKFold(n_folds, shuffle=True, random_state=seed).split(idx, labels, groups)
    else:
        split = KFold(n_folds, shuffle=True, random_state=seed).split(idx)
    return [test for _, test in split]
