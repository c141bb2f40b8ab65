"""Siamese training for artist similarity (Park et al. 2017): triplet sampling and the hinge loss.

For every anchor track: a positive (another track of the same artist) and ``n_negatives`` tracks of
other artists; the loss is Σ_n max(0, margin − cos(a, p) + cos(a, n)), averaged over anchors.
"""

from __future__ import annotations

import numpy as np
import torch


def sample_triplets(artists: np.ndarray, anchors: np.ndarray, rng: np.random.Generator, *,
                    n_negatives: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Positives [len(anchors)] and negatives [len(anchors), n_negatives] (indices into ``artists``).

    The positive is a different track of the anchor's artist; negatives never share the anchor's
    artist. Anchors whose artist has a single track cannot have a positive and raise ValueError.
    """
    artists = np.asarray(artists)
    by_artist: dict = {}
    for i, a in enumerate(artists):
        by_artist.setdefault(a, []).append(i)
    positives = np.empty(len(anchors), dtype=int)
    negatives = np.empty((len(anchors), n_negatives), dtype=int)
    n = len(artists)
    for row, i in enumerate(anchors):
        own = by_artist[artists[i]]
        if len(own) < 2:
            raise ValueError(f"artist {artists[i]!r} has one track: no positive for track {i}")
        j = own[rng.integers(len(own) - 1)]
        positives[row] = j if j != i else own[-1]
        if len(own) == n:
            raise ValueError("every track has the same artist: no negatives")
        neg = rng.integers(n, size=n_negatives)
        while (bad := artists[neg] == artists[i]).any():  # redraw the few that hit the anchor's artist
            neg[bad] = rng.integers(n, size=int(bad.sum()))
        negatives[row] = neg
    return positives, negatives


def hinge_loss(anchor: torch.Tensor, positive: torch.Tensor, negatives: torch.Tensor, *,
               margin: float = 0.4) -> torch.Tensor:
    """anchor [B, d], positive [B, d], negatives [B, k, d] → scalar: mean_b Σ_k max(0, m − s(a,p) + s(a,n_k))."""
    cos = torch.nn.functional.cosine_similarity
    s_pos = cos(anchor, positive, dim=-1)  # [B]
    s_neg = cos(anchor.unsqueeze(1), negatives, dim=-1)  # [B, k]
    return torch.relu(margin - s_pos.unsqueeze(1) + s_neg).sum(dim=1).mean()
