"""fanions.Fanion: the step by hand, state round trip, conv filters, aux AdamW, torch.optim.Muon, errors."""
import copy

import pytest
import torch

import fanions


def model():
    """A conv filter, three same-shape-or-not matrices and biases."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, 16),
                               torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))


def loss_fn(net, seed):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(32, 3, 6, 6, generator=g), torch.randint(0, 4, (32,), generator=g)
    return torch.nn.functional.cross_entropy(net(x), y)


def train(net, opt, steps, first=0):
    for i in range(first, first + steps):
        opt.zero_grad()
        loss_fn(net, i).backward()
        opt.step()


@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("scale", ["none", "muon", "rms", "spectral"])
def test_two_steps_equal_the_formula_by_hand(nesterov, scale):
    torch.manual_seed(0)
    W = torch.nn.Parameter(torch.randn(12, 3, 2, 2, dtype=torch.float64))  # a conv filter: stepped as 12×12
    lr, mu, wd, alpha = 0.1, 0.9, 0.01, 0.3
    opt = fanions.Fanion([W], lr=lr, lmo="f-muon", alpha=alpha, momentum=mu, nesterov=nesterov, polar="svd",
                         scale=scale, weight_decay=wd)
    X, B = W.detach().clone(), torch.zeros(12, 12, dtype=torch.float64)
    factor = fanions.SCALES[scale](12, 12)
    for _ in range(2):
        G = torch.randn_like(W)
        W.grad = G.clone()
        opt.step()
        B = mu * B + (1 - mu) * G.reshape(12, -1)
        M = (1 - mu) * G.reshape(12, -1) + mu * B if nesterov else B
        X = (1 - lr * wd) * X - lr * factor * fanions.lmo(M, "f-muon", alpha=alpha).reshape(X.shape)
        torch.testing.assert_close(W.detach(), X)


def test_stacked_same_shape_matrices_equal_one_at_a_time():
    net_a = model()
    net_b = copy.deepcopy(net_a)
    opt_a = fanions.Fanion(net_a.parameters(), lr=0.05, lmo="s-muon", polar="newton-schulz")
    opt_b = fanions.Fanion([{"params": [p]} for p in net_b.parameters()], lr=0.05, lmo="s-muon",
                           polar="newton-schulz")
    train(net_a, opt_a, 3)
    train(net_b, opt_b, 3)
    for a, b in zip(net_a.parameters(), net_b.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_state_dict_round_trip_continues_bit_identically():
    net = model()
    opt = fanions.Fanion(net.parameters(), lr=0.05, lmo="f-neon", alpha=0.5, backend="lanczos")
    train(net, opt, 3)
    saved_net, saved_opt = copy.deepcopy(net.state_dict()), copy.deepcopy(opt.state_dict())
    train(net, opt, 2, first=3)
    resumed = model()
    resumed.load_state_dict(saved_net)
    opt2 = fanions.Fanion(resumed.parameters(), lr=0.05, lmo="f-neon", alpha=0.5, backend="lanczos")
    opt2.load_state_dict(saved_opt)
    train(resumed, opt2, 2, first=3)
    for a, b in zip(net.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


def test_vectors_go_to_an_adamw_equal_to_torch():
    torch.manual_seed(0)
    W, b, gain = (torch.nn.Parameter(torch.randn(*s)) for s in ((6, 5), (6,), (5,)))
    twins = [torch.nn.Parameter(p.detach().clone()) for p in (b, gain)]
    opt = fanions.Fanion([W, b, gain], lr=0.05, adam_lr=1e-2, adam_betas=(0.8, 0.95), adam_weight_decay=0.1)
    assert [(g["use_lmo"], len(g["params"])) for g in opt.param_groups] == [(True, 1), (False, 2)]
    adamw = torch.optim.AdamW(twins, lr=1e-2, betas=(0.8, 0.95), eps=1e-8, weight_decay=0.1)
    for _ in range(3):
        for p, twin in zip((W, b, gain), (None, *twins)):
            p.grad = torch.randn_like(p)
            if twin is not None:
                twin.grad = p.grad.clone()
        opt.step()
        adamw.step()
        for p, twin in zip((b, gain), twins):
            torch.testing.assert_close(p, twin)


def test_marked_parameters_use_adamw_with_their_own_lr():
    emb = torch.nn.Parameter(torch.randn(10, 4))
    W = torch.nn.Parameter(torch.randn(4, 4))
    opt = fanions.Fanion([{"params": [emb], "use_lmo": False, "lr": 0.5}, {"params": [W]}], lr=0.02)
    emb.grad, W.grad = torch.randn(10, 4), torch.randn(4, 4)
    before = emb.detach().clone()
    opt.step()
    # Adam's first step moves every entry by lr·sign(g) (up to eps)
    torch.testing.assert_close(emb.detach(), before - 0.5 * torch.sign(emb.grad), atol=1e-6, rtol=0)


def test_matches_torch_muon_to_bf16_accuracy():
    torch.manual_seed(0)
    shapes = [(32, 64), (64, 32), (48, 48)]
    ours = [torch.nn.Parameter(torch.randn(*s)) for s in shapes]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    opt_ours = fanions.Fanion(ours, lr=0.02, lmo="muon", polar="newton-schulz", scale="rms", momentum=0.95)
    opt_theirs = torch.optim.Muon(theirs, lr=0.02, momentum=0.95, weight_decay=0.0, adjust_lr_fn="match_rms_adamw")
    for _ in range(5):
        for a, b in zip(ours, theirs):
            a.grad = torch.randn_like(a)
            b.grad = a.grad.clone()
        starts = [a.detach().clone() for a in ours]
        opt_ours.step()
        opt_theirs.step()
        for a, b, x in zip(ours, theirs, starts):
            step_ours, step_theirs = a.detach() - x, b.detach() - x
            assert (step_ours - step_theirs).norm() / step_theirs.norm() < 2e-2
            b.data.copy_(a.data)  # compare each step from the same point


@pytest.mark.parametrize("kwargs,message", [
    (dict(lmo="frobenius-ish"), "lmo='frobenius-ish'.*allowed.*f-muon"),
    (dict(lmo="fanion", k=0), "k=0.*integer >= 1"),
    (dict(lmo="f-muon", alpha=float("nan")), "alpha=nan.*finite"),
    (dict(lr=float("inf")), "lr=inf.*finite"),
    (dict(lr=-1.0), "lr=-1.0.*>= 0"),
    (dict(momentum=1.0), "momentum=1.0.*\\[0, 1\\)"),
    (dict(scale="huge"), "scale='huge'.*rms"),
    (dict(lmo="muon", alpha=0.5), "takes no option \\['alpha'\\]"),
    (dict(lmo="neon", backend="arpack"), "backend='arpack'.*lanczos"),
    (dict(adam_betas=(0.9, 1.5)), "adam_betas.*\\[0, 1\\)"),
])
def test_bad_arguments_are_named(kwargs, message):
    params = [torch.nn.Parameter(torch.randn(4, 4)), torch.nn.Parameter(torch.randn(4))]
    with pytest.raises(ValueError, match=message):
        fanions.Fanion(params, **kwargs)


def test_a_vector_in_a_matrix_only_group_is_refused():
    with pytest.raises(ValueError, match="use_lmo=True group holds a 1-D tensor of shape \\(4,\\)"):
        fanions.Fanion([{"params": [torch.nn.Parameter(torch.randn(4))], "use_lmo": True}])


def _three_steps(lmo, options):
    """Five 60×40 matrices and one 40×60 (two stacks), three Fanion steps on seeded gradients."""
    g = torch.Generator().manual_seed(0)
    shapes = [(60, 40)] * 5 + [(40, 60)]
    params = [torch.nn.Parameter(torch.randn(*shape, generator=g)) for shape in shapes]
    opt = fanions.Fanion(params, lr=0.05, lmo=lmo, **options)
    for step in range(3):
        for i, p in enumerate(params):
            p.grad = torch.randn(p.shape, generator=torch.Generator().manual_seed(100 * step + i))
        opt.step()
    return params, opt


def _distributed_steps(rank, world, path, lmo, options):
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=f"file://{path}", rank=rank, world_size=world)
    params, opt = _three_steps(lmo, options)
    if rank == 0:
        torch.save([p.detach() for p in params] + [opt.state[params[0]].get("subspace")], f"{path}.out")
    dist.destroy_process_group()


@pytest.mark.parametrize("lmo,options", [("muon", {"polar": "newton-schulz"}),
                                         ("f-neon", {"alpha": 0.5, "backend": "lanczos", "rtol": 1e-6})])
def test_sharded_step_over_two_processes_equals_one_process(tmp_path, lmo, options):
    params, opt = _three_steps(lmo, options)
    path = tmp_path / "rendezvous"
    torch.multiprocessing.spawn(_distributed_steps, args=(2, str(path), lmo, options), nprocs=2)
    *sharded, subspace = torch.load(f"{path}.out")
    for a, b in zip(params, sharded):
        torch.testing.assert_close(a.detach(), b, atol=1e-5, rtol=0)
    if subspace is not None:  # every rank keeps every matrix's subspace, gathered
        assert subspace.shape == opt.state[params[0]]["subspace"].shape
