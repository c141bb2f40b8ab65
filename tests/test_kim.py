import torch

from raymir.models.kim2018 import EMBED_DIM, KimNet, n_params, widened
from raymir.train.kim import soft_cross_entropy

HEADS = {"g": 16, "s": 10, "e": 10, "d": 10, "m": 10}


def test_shapes_follow_table_2():
    net = KimNet({"g": 16}, shared=False).eval()
    x = torch.randn(3, 1, 128, 43)
    assert net(x, "g").shape == (3, 16)
    assert net.embed(x).shape == (3, EMBED_DIM)
    maps = net.stems["g"](x)
    assert maps.shape == (3, 16, 64, 43)  # conv 5×5 16 ch, max-pool 2×1


def test_mtn_shares_one_stem_stn_does_not():
    mtn = KimNet(HEADS, shared=True)
    stn = KimNet(HEADS, shared=False)
    assert mtn.stem_of("g")[0].weight is mtn.stem_of("m")[0].weight
    assert stn.stem_of("g")[0].weight is not stn.stem_of("m")[0].weight
    stem = sum(p.numel() for p in mtn.stem.parameters())
    assert n_params(stn) - n_params(mtn) == 4 * stem  # four extra stems, nothing else differs
    # a gradient step on task g moves the shared stem for every task in the MTN
    x = torch.randn(4, 1, 128, 43)
    mtn(x, "g").sum().backward()
    assert mtn.stem[0].weight.grad is not None and mtn.branches["m"][0].weight.grad is None
    assert KimNet(HEADS, shared=True).embed(x).shape == (4, 5 * EMBED_DIM)


def test_wstn_matches_target_parameter_count():
    for tasks in ("gs", "gse", "gsed", "gsedm"):
        target = n_params(KimNet({t: HEADS[t] for t in tasks}, shared=True))
        wide = widened(16, target)
        assert abs(n_params(wide) - target) / target < 0.05
        assert wide.width > 1 and list(wide.tasks) == ["g"]
        rebuilt = KimNet({"g": 16}, shared=False, width=wide.width)
        assert n_params(rebuilt) == n_params(wide)


def test_soft_cross_entropy():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    target = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    logp = torch.log_softmax(logits, dim=1)
    expected = -(target * logp).sum(dim=1).mean()
    torch.testing.assert_close(soft_cross_entropy(logits, target), expected)
    onehot = torch.tensor([[1.0, 0, 0], [0, 0, 1.0]])
    torch.testing.assert_close(soft_cross_entropy(logits, onehot),
                               torch.nn.functional.cross_entropy(logits, torch.tensor([0, 2])))
    masked = torch.tensor([[0.5, 0.5, 0.0], [float("nan")] * 3])
    torch.testing.assert_close(soft_cross_entropy(logits, masked), -(target[0] * logp[0]).sum())
    assert soft_cross_entropy(logits, torch.full((2, 3), float("nan"))).item() == 0.0



def test_compile_blocks_compiles_every_stem_and_branch_and_keeps_the_state_dict_names():
    """Module.compile() on a plain nn.Sequential finds no frame to trace (PyTorch skips its own modules'
    files) and runs eagerly: the stems and branches have their own forward so that it does compile them."""
    from raymir.train.kim import compile_blocks

    graphs = []

    def counting(gm, inputs):
        graphs.append(gm)
        return gm.forward

    torch.manual_seed(0)
    net = KimNet({"g": 4, "s": 3}, shared=False)
    names = list(net.state_dict())
    compile_blocks(net, backend=counting)
    x = torch.randn(2, 1, 128, 43)
    for task in ("g", "s"):
        net(x, task).sum().backward()
    # a graph for the stems and one for the branches (the second stem and branch, the same layers, may reuse
    # them); a plain nn.Sequential would give none
    assert len(graphs) >= 2
    assert list(net.state_dict()) == names
