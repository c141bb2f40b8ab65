import librosa
import numpy as np
import pytest
import torch

from raymir.models.park2017 import CROP_FRAMES, PARK_MEL, Park2017, ParkFrontend, track_feature
from raymir.probes.retrieval import chance_map, query_scores, retrieval_scores
from raymir.train.siamese import hinge_loss, sample_triplets


def test_frontend_matches_librosa():
    rng = np.random.default_rng(0)
    y = (0.1 * rng.standard_normal(PARK_MEL.sr * 2)).astype(np.float32)
    ours = ParkFrontend()(torch.from_numpy(y[None]))[0].numpy()
    mel = librosa.feature.melspectrogram(y=y, sr=PARK_MEL.sr, n_fft=1024, hop_length=512, n_mels=128, power=1.0,
                                         fmax=PARK_MEL.fmax, pad_mode="constant")
    np.testing.assert_allclose(ours, np.log10(1 + 10 * mel), rtol=1e-4, atol=1e-4)


def test_tower_reduces_a_3_second_crop_to_one_step():
    net = Park2017(n_artists=7).eval()
    spec = torch.randn(2, 128, CROP_FRAMES)
    assert net.maps(spec).shape == (2, 256, 1)
    assert net(spec).shape == (2, 7)
    assert Park2017(None).eval()(spec).shape == (2, 256)


def test_track_feature_is_max_over_time_then_mean_over_segments_and_batch_independent():
    torch.manual_seed(0)
    net = Park2017(None)
    spec = torch.randn(3, 128, CROP_FRAMES * 2 + 10)
    both = track_feature(net, spec)
    one = track_feature(net, spec[1:2])
    torch.testing.assert_close(both[1:2], one)
    segs = [net.maps(spec[:, :, i * CROP_FRAMES:(i + 1) * CROP_FRAMES]).amax(dim=2) for i in range(2)]
    torch.testing.assert_close(both, (segs[0] + segs[1]) / 2)


def test_triplets_positive_same_artist_other_track_negatives_other_artists():
    rng = np.random.default_rng(0)
    artists = rng.integers(6, size=60)
    anchors = np.arange(60)
    pos, neg = sample_triplets(artists, anchors, rng, n_negatives=4)
    assert neg.shape == (60, 4)
    assert (artists[pos] == artists[anchors]).all() and (pos != anchors).all()
    assert (artists[neg] != artists[anchors][:, None]).all()
    with pytest.raises(ValueError, match="one track"):
        sample_triplets(np.array([0, 0, 1]), np.array([2]), rng)


def test_hinge_loss_by_hand():
    a = torch.tensor([[1.0, 0.0]])
    p = torch.tensor([[1.0, 1.0]])  # cos = 0.7071
    n = torch.tensor([[[0.0, 1.0], [1.0, 0.0], [-1.0, 0.0], [1.0, -1.0]]])  # cos = 0, 1, -1, 0.7071
    s = 2 ** -0.5
    expected = max(0, 0.4 - s + 0) + max(0, 0.4 - s + 1) + max(0, 0.4 - s - 1) + max(0, 0.4 - s + s)
    assert abs(hinge_loss(a, p, n).item() - expected) < 1e-6


def test_retrieval_metrics_by_hand():
    # four tracks on a line; artists A A B B; query 0 ranks 1 (A) first → AP 1; query 1 ranks 0? ...
    x = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, 0.8]])
    artists = np.array(["A", "A", "B", "B"])
    # cosine order: q0: 1 (.8), 3 (.6), 2 (0) → relevant at rank 1 → AP 1
    # q1: 3 (.96), 0 (.8), 2 (.6) → relevant at rank 2 → AP 1/2
    # q2: 3 (.8), 1 (.6), 0 (0) → AP 1;  q3: 1 (.96), 2 (.8), 0 (.6) → AP 1/2
    s = retrieval_scores(x, artists, k=1)
    assert abs(s["map"] - 0.75) < 1e-12
    assert abs(s["recall_at_k"] - 0.5) < 1e-12
    assert retrieval_scores(x, artists, k=2)["recall_at_k"] == 1.0
    # per query, in row order: the paired comparisons' units
    per_query = query_scores(x, artists, k=1)
    assert per_query["ap"].tolist() == [1.0, 0.5, 1.0, 0.5] and per_query["recall_at_k"].tolist() == [1, 0, 1, 0]
    lonely = query_scores(x, np.array(["A", "A", "B", "C"]), k=1)  # B and C have no other track: not queries
    assert lonely["query"].tolist() == [0, 1] and lonely["ap"].tolist() == [1.0, 0.5]
    # a random ranking puts the one relevant track at rank 1, 2 or 3 alike: E[AP] = (1 + 1/2 + 1/3) / 3
    assert abs(chance_map(artists) - 11 / 18) < 1e-12
    # AAAB: an A query has two relevant among three candidates, at ranks {1,2} (AP 1), {1,3} (AP 5/6)
    # or {2,3} (AP 7/12) alike; the B query has none and is skipped
    assert abs(chance_map(np.array(["A", "A", "A", "B"])) - 29 / 36) < 1e-12


def test_module_compile_traces_the_park_and_choi_nets():
    from raymir.models.choi2017 import Choi2017
    from raymir.models.park2017 import Park2017

    graphs = []

    def counting(gm, inputs):
        graphs.append(gm)
        return gm.forward

    park = Park2017(5)
    park.compile(backend=counting)
    park(torch.randn(2, 128, 129)).sum().backward()
    choi = Choi2017(4)
    choi.compile(backend=counting)
    choi(torch.randn(1, choi.frontend.params.n_samples)).sum().backward()
    assert len(graphs) == 2  # one whole graph each, no breaks
