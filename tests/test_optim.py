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
    (dict(polar_dtype=torch.int8), "polar_dtype=torch.int8.*floating-point torch.dtype"),
    (dict(lmo="fanion", k=2.0), "k=2.0.*integer >= 1"),
    (dict(nesterov="no"), "nesterov='no'.*True or False"),
    (dict(lmo="muon", backend="arpack"), "backend='arpack'.*lanczos"),  # muon takes no backend: still a bad value
    (dict(lmo="muon", rtol=-1.0), r"rtol=-1.0.*in \(0, 1\)"),
    (dict(adam_lr=-1.0), "adam_lr=-1.0.*>= 0"),
    (dict(adam_eps=0.0), "adam_eps=0.0.*> 0"),
    (dict(lmo="muon", alhpa=0.5), "takes no option \\['alhpa'\\]"),
])
def test_bad_arguments_are_named(kwargs, message):
    params = [torch.nn.Parameter(torch.randn(4, 4)), torch.nn.Parameter(torch.randn(4))]
    with pytest.raises(ValueError, match=message):
        fanions.Fanion(params, **kwargs)


def test_a_bad_group_is_refused_whole_and_leaves_the_optimizer_as_it_was():
    W = torch.nn.Parameter(torch.randn(4, 4))
    opt = fanions.Fanion([W], lr=0.02)
    before = copy.deepcopy(opt.param_groups)
    for group, message in [({"lmo": "nope"}, "lmo='nope'"), ({"adam_eps": 0.0}, "adam_eps=0.0"),
                           ({"use_lmo": "false"}, "use_lmo='false'.*True, False or None")]:
        with pytest.raises(ValueError, match=message):
            opt.add_param_group({"params": [torch.nn.Parameter(torch.randn(3, 3)), torch.nn.Parameter(torch.randn(3))],
                                 **group})
        assert len(opt.param_groups) == len(before) and opt.param_groups[0].keys() == before[0].keys()
    W.grad = torch.randn_like(W)
    opt.step()  # a refused group once stayed in param_groups and made every later step fail


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for CPU parameters")
def test_the_cupy_backend_on_cpu_parameters_is_refused_at_construction():
    """At the first step it raised after the other groups' parameters had moved: half a step."""
    with pytest.raises((ValueError, ImportError), match="backend='cupy' needs"):
        fanions.Fanion([{"params": [torch.nn.Parameter(torch.randn(6, 5))]},
                        {"params": [torch.nn.Parameter(torch.randn(6, 5))], "lmo": "f-neon", "backend": "cupy"}])


def test_a_set_of_parameters_is_refused_as_torch_refuses_it():
    """A set's order changes between runs, and a state_dict would be restored onto the wrong tensors."""
    with pytest.raises(TypeError, match="ordered collections"):
        fanions.Fanion([{"params": {torch.nn.Parameter(torch.randn(4, 4)), torch.nn.Parameter(torch.randn(4, 4))}}])


def test_a_registered_lmo_takes_its_own_options_through_the_optimizer():
    name = "test-shrunk-sign"
    if name not in fanions.LMOS:
        @fanions.register_lmo(name, dual_norm=lambda M, c=1.0: c * M.abs().sum((-2, -1)))
        def shrunk_sign(M, c=1.0):
            return c * torch.sign(M)
    W, V = torch.nn.Parameter(torch.ones(3, 3)), torch.nn.Parameter(torch.ones(3, 3))
    opt = fanions.Fanion([{"params": [W]}, {"params": [V], "c": 0.0}], lr=1.0, lmo=name, c=0.5, momentum=0.0)
    W.grad, V.grad = torch.ones(3, 3), torch.ones(3, 3)
    opt.step()
    assert torch.equal(W.detach(), torch.full((3, 3), 0.5)) and torch.equal(V.detach(), torch.ones(3, 3))


def test_a_vector_in_a_matrix_only_group_is_refused():
    with pytest.raises(ValueError, match="use_lmo=True group holds a 1-D tensor of shape \\(4,\\)"):
        fanions.Fanion([{"params": [torch.nn.Parameter(torch.randn(4))], "use_lmo": True}])


def _three_steps(lmo, options):
    """Five 24×16 matrices and one 16×24 (two stacks), three Fanion steps on seeded gradients."""
    g = torch.Generator().manual_seed(0)
    shapes = [(24, 16)] * 5 + [(16, 24)]
    params = [torch.nn.Parameter(torch.randn(*shape, generator=g)) for shape in shapes]
    opt = fanions.Fanion(params, lr=0.05, lmo=lmo, **options)
    for step in range(3):
        for i, p in enumerate(params):
            p.grad = torch.randn(p.shape, generator=torch.Generator().manual_seed(100 * step + i))
        opt.step()
    return params, opt


def _distributed_steps(rank, world, path, lmo, options):
    import torch.distributed as dist
    torch.set_num_threads(1)  # two processes on a small CI machine
    dist.init_process_group("gloo", init_method=f"file://{path}", rank=rank, world_size=world)
    params, opt = _three_steps(lmo, options)
    if rank == 0:
        torch.save([p.detach() for p in params] + [opt.state[params[0]].get("subspace")], f"{path}.out")
    dist.destroy_process_group()


@pytest.mark.parametrize("lmo,options", [("muon", {"polar": "newton-schulz"}),
                                         ("f-neon", {"alpha": 0.5, "backend": "lanczos", "rtol": 1e-3})])
def test_sharded_step_over_two_processes_equals_one_process(tmp_path, lmo, options):
    params, opt = _three_steps(lmo, options)
    assert opt.topk_fallbacks == 0  # Lanczos itself converged to rtol (its float32 bound, confirmed on the true
    # residuals, counts the rounding of the products against the gap: 1e-3 here, not 1e-4)
    path = tmp_path / "rendezvous"
    torch.multiprocessing.spawn(_distributed_steps, args=(2, str(path), lmo, options), nprocs=2)
    *sharded, subspace = torch.load(f"{path}.out")
    for a, b in zip(params, sharded):
        torch.testing.assert_close(a.detach(), b, atol=1e-5, rtol=0)
    if subspace is not None:  # every rank keeps every matrix's subspace, gathered
        assert subspace.shape == opt.state[params[0]]["subspace"].shape


@pytest.mark.parametrize("lmo,alpha,bound", [("nsgd", None, 1.0), ("f-muon", 0.5, 0.5 * 6**0.5 + 0.5),
                                             ("f-neon", 0.5, 1.0)])
def test_decaying_gradients_keep_every_step_within_the_lmo_bound(lmo, alpha, bound):
    """One real gradient, then zeros for 2000 steps: the momentum decays by μ per step into the float32
    subnormals (where rounding holds it), and every step ‖ΔX‖_F stays ≤ lr·max_{D ∈ B}‖D‖_F (nsgd 1, muon √r, neon 1); on main
    nsgd moved the weights by 4.8e14 at step 892."""
    W = torch.nn.Parameter(torch.randn(8, 6))
    opt = fanions.Fanion([W], lr=0.01, lmo=lmo, alpha=alpha, polar="svd", momentum=0.95)
    for step in range(2000):
        W.grad = torch.randn(8, 6) if step == 0 else torch.zeros(8, 6)
        before = W.detach().clone()
        opt.step()
        assert (W.detach() - before).double().norm() <= 0.01 * bound * (1 + 1e-3), step  # W rounds to float32
    assert opt.state[W]["momentum_buffer"].abs().max() < torch.finfo(torch.float32).tiny  # it did get subnormal


def _snapshot(net, opt):
    tensors = [p.detach().clone() for p in net.parameters()]
    for state in opt.state.values():
        tensors += [v.clone() for v in state.values() if isinstance(v, torch.Tensor)]
        tensors += [v for v in state.values() if not isinstance(v, torch.Tensor)]
    return tensors


@pytest.mark.parametrize("polar", ["newton-schulz", "svd"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_gradient_skips_the_whole_step(polar, bad):
    """A NaN/Inf in any gradient (here the last matrix's, after the others would have been stepped, and a
    bias's) leaves every parameter and buffer exactly as before the step; the skip is counted (as AMP's
    GradScaler does) and the next finite step proceeds as if the bad one never happened."""
    for poisoned in (-1, -2):  # the last bias (AdamW, after every matrix was stepped), the last matrix
        net, twin = model(), model()
        opt = fanions.Fanion(net.parameters(), lr=0.05, lmo="f-muon", alpha=0.5, polar=polar)
        opt_twin = fanions.Fanion(twin.parameters(), lr=0.05, lmo="f-muon", alpha=0.5, polar=polar)
        train(net, opt, 2)
        train(twin, opt_twin, 2)
        before = _snapshot(net, opt)
        opt.zero_grad()
        loss_fn(net, 2).backward()
        list(net.parameters())[poisoned].grad.view(-1)[0] = bad
        opt.step()
        after = _snapshot(net, opt)
        assert len(before) == len(after) and all(torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b
                                                 for a, b in zip(before, after))
        assert opt.skipped_steps == 1 and opt_twin.skipped_steps == 0
        train(net, opt, 1, first=2)
        train(twin, opt_twin, 1, first=2)
        for a, b in zip(net.parameters(), twin.parameters()):
            assert torch.equal(a, b)


def test_sparse_gradients_are_refused_before_any_state_changes():
    emb = torch.nn.Embedding(10, 4, sparse=True)
    W, b = torch.nn.Parameter(torch.randn(4, 4)), torch.nn.Parameter(torch.randn(4))
    opt = fanions.Fanion([{"params": [emb.weight], "use_lmo": False}, {"params": [W, b]}], lr=0.02)
    emb(torch.tensor([1, 2])).sum().backward()
    W.grad, b.grad = torch.randn(4, 4), torch.randn(4)
    before = [p.detach().clone() for p in (emb.weight, W, b)]
    with pytest.raises(ValueError, match="sparse gradient.*shape \\(10, 4\\).*dense"):
        opt.step()
    assert not opt.state and all(torch.equal(p, q) for p, q in zip(before, (emb.weight, W, b)))


def test_added_param_groups_are_routed_as_constructor_groups():
    """A group added later is split like a constructor group: matrices to the LMO, vectors to AdamW with
    adam_lr (not the group's lr), and use_lmo=False keeps its own lr."""
    W, b = torch.nn.Parameter(torch.randn(6, 5)), torch.nn.Parameter(torch.randn(6))
    W2, b2 = torch.nn.Parameter(torch.randn(6, 5)), torch.nn.Parameter(torch.randn(6))
    emb = torch.nn.Parameter(torch.randn(10, 4))
    built = fanions.Fanion([{"params": [W, b]}, {"params": [W2, b2]}, {"params": [emb], "use_lmo": False}],
                           lr=0.02, adam_lr=3e-4)
    added = fanions.Fanion([W, b], lr=0.02, adam_lr=3e-4)
    added.add_param_group({"params": [W2, b2]})
    added.add_param_group({"params": [emb], "use_lmo": False})

    def routes(opt):
        return [([tuple(p.shape) for p in g["params"]], g["use_lmo"], g["lr"], g["weight_decay"])
                for g in opt.param_groups]

    assert routes(added) == routes(built)
    assert routes(added)[3] == ([(6,)], False, 3e-4, 0.0)


def test_numpy_scalars_are_accepted_as_numbers():
    np = pytest.importorskip("numpy")
    params = [torch.nn.Parameter(torch.randn(6, 5)), torch.nn.Parameter(torch.randn(6))]
    opt = fanions.Fanion(params, lr=np.float32(0.02), lmo="f-fanion", k=np.int64(2), alpha=np.float64(0.5),
                         momentum=np.float64(0.9), weight_decay=np.float32(0.0), backend="svd")
    for p in params:
        p.grad = torch.randn_like(p)
    opt.step()
    assert opt.param_groups[0]["k"] == 2


@pytest.mark.parametrize("adjust_lr_fn,scale", [("original", "muon"), ("match_rms_adamw", "rms")])
def test_bf16_newton_schulz_is_bit_identical_to_torch_muon(adjust_lr_fn, scale):
    """20 steps on the CPU with polar_dtype=bfloat16, three same-shape matrices (stacked into one batched
    call) and two others: every parameter equals torch.optim.Muon's, bit for bit."""
    torch.manual_seed(0)
    shapes = [(32, 64)] * 3 + [(64, 32), (48, 48)]
    ours = [torch.nn.Parameter(torch.randn(*s)) for s in shapes]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    opt_ours = fanions.Fanion(ours, lr=0.02, lmo="muon", polar="newton-schulz", polar_dtype=torch.bfloat16,
                              scale=scale, momentum=0.95, weight_decay=0.1)
    opt_theirs = torch.optim.Muon(theirs, lr=0.02, momentum=0.95, weight_decay=0.1, adjust_lr_fn=adjust_lr_fn)
    for _ in range(20):
        for a, b in zip(ours, theirs):
            a.grad = torch.randn_like(a)
            b.grad = a.grad.clone()
        opt_ours.step()
        opt_theirs.step()
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)


def test_a_parameter_given_twice_is_refused_in_one_group_or_across_groups():
    """torch only warns, and the parameter then took two steps per step."""
    p, q = torch.nn.Parameter(torch.randn(6, 4)), torch.nn.Parameter(torch.randn(6, 4))
    with pytest.raises(ValueError, match=r"shape \(6, 4\) is given twice"):
        fanions.Fanion([p, p])
    opt = fanions.Fanion([p])
    with pytest.raises(ValueError, match="given twice"):
        opt.add_param_group({"params": [q, p]})
    assert len(opt.param_groups) == 1 and opt.param_groups[0]["params"] == [p]  # nothing of the bad group added


def test_a_meta_device_parameter_is_refused_naming_the_fix():
    with pytest.raises(ValueError, match="meta device.*to_empty"):
        fanions.Fanion([torch.nn.Parameter(torch.empty(6, 4, device="meta"))])


@pytest.mark.parametrize("key, value, message", [("lmo", "nosuch", "not a registered LMO"), ("lr", -5.0, "lr=-5.0"),
                                                 ("momentum", 1.5, "momentum=1.5")])
def test_a_loaded_state_dict_is_checked_before_anything_is_loaded(key, value, message):
    p = torch.nn.Parameter(torch.randn(6, 4))
    opt = fanions.Fanion([p], lr=0.02)
    p.grad = torch.randn_like(p)
    opt.step()
    state = opt.state_dict()
    state["param_groups"][0][key] = value
    fresh = fanions.Fanion([p], lr=0.02)
    with pytest.raises(ValueError, match=message):
        fresh.load_state_dict(state)
    assert fresh.param_groups[0]["lr"] == 0.02 and fresh.param_groups[0]["lmo"] == "muon" and not fresh.state


@pytest.mark.parametrize("rtol", [1.0, 1.5, 0.0, float("nan")])
def test_rtol_outside_0_1_is_refused_by_topk_lmo_and_fanion(rtol):
    """rtol = 1.5 was accepted and answered a factor with error 1.37: rtol is a relative error in (0, 1)."""
    M = torch.randn(20, 12)
    with pytest.raises(ValueError, match=r"rtol must be a number in \(0, 1\)"):
        fanions.topk(M, 2, "lanczos", rtol=rtol)
    with pytest.raises(ValueError, match=r"rtol=.*must be a number in \(0, 1\)"):
        fanions.lmo(M, "fanion", k=2, rtol=rtol)
    with pytest.raises(ValueError, match=r"rtol=.*must be a number in \(0, 1\)"):
        fanions.Fanion([torch.nn.Parameter(M)], lmo="neon", rtol=rtol)
