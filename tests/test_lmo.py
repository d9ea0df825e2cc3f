"""The LMOs against torch.linalg.svd in float64: duality, the unit ball, equivalences, the registry."""
from pathlib import Path

import pytest
import torch

import fanions
from conftest import matrix_with_spectrum

EXACT = dict(polar="svd", backend="svd")


def options(name, alpha=0.5, k=3, p=3.0, sign_lr_coeff=0.01):
    """Exact options for an LMO name: alpha for the mixtures, k for the fanions, p for schatten and lp, the
    paper's least-squares η for the S-mixtures."""
    takes = fanions.LMOS[name].options
    opts = {key: value for key, value in EXACT.items() if key in takes}
    given = dict(alpha=alpha, k=k, p=p, sign_lr_coeff=sign_lr_coeff)
    return opts | {key: value for key, value in given.items() if key in takes}


def inner(A, B):
    return (A * B).sum(dim=(-2, -1))


BUILTIN = ["nsgd", "sign", "muon", "neon", "fanion", "f-fanion", "f-muon", "f-neon", "s-fanion", "s-muon", "s-neon",
           "schatten", "lp", "gauss-southwell"]


def test_every_builtin_is_registered():
    assert set(BUILTIN) <= set(fanions.LMOS)


@pytest.mark.parametrize("name", BUILTIN)
@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_lmo_attains_the_dual_norm(matrices, name, alpha):
    for M in matrices.values():
        for k in (1, 3):
            opts = options(name, alpha, k)
            D = fanions.lmo(M, name, **opts)
            assert D.shape == M.shape
            torch.testing.assert_close(inner(M, D), fanions.dual_norm(M, name, **opts), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", BUILTIN)
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_lmo_lies_in_the_unit_ball(matrices, name, alpha):
    """⟨Z, lmo(M)⟩ ≤ ‖Z‖† for every Z: the direction is in the primal unit ball."""
    g = torch.Generator().manual_seed(4)
    for M in matrices.values():
        opts = options(name, alpha)
        D = fanions.lmo(M, name, **opts)
        Z = torch.randn(200, *M.shape, generator=g, dtype=M.dtype)
        Z[:10] = M + 1e-3 * Z[:10]  # near the maximiser, where the bound is tight
        assert (inner(Z, D) <= fanions.dual_norm(Z, name, **opts) + 1e-10).all()


@pytest.mark.parametrize("name", BUILTIN)
def test_zero_matrix_gives_zero_direction(name):
    for backend in ("svd", "lanczos", "power"):
        opts = options(name) | ({"backend": backend} if "backend" in fanions.LMOS[name].options else {})
        D = fanions.lmo(torch.zeros(2, 9, 7, dtype=torch.float64), name, **opts)
        assert torch.equal(D, torch.zeros_like(D))


def test_alpha_outside_unit_interval_keeps_the_formula():
    M = torch.randn(9, 7, dtype=torch.float64)
    for alpha in (-0.1, 1.25):
        D = fanions.lmo(M, "f-muon", alpha=alpha)
        expected = alpha * fanions.lmo(M, "muon") + (1 - alpha) * M / M.norm()
        torch.testing.assert_close(D, expected)
        dual = alpha * fanions.norms.nuclear(M) + (1 - alpha) * M.norm()
        torch.testing.assert_close(fanions.dual_norm(M, "f-muon", alpha=alpha), dual)


def test_equivalences(matrices):
    for M in matrices.values():
        r = min(M.shape[-2:])
        same = torch.testing.assert_close
        same(fanions.lmo(M, "f-muon", alpha=1.0), fanions.lmo(M, "muon"))
        same(fanions.lmo(M, "f-muon", alpha=0.0), fanions.lmo(M, "nsgd"))
        same(fanions.lmo(M, "s-muon", alpha=0.0), fanions.lmo(M, "sign"))
        same(fanions.lmo(M, "fanion", k=1, backend="svd"), fanions.lmo(M, "neon", backend="svd"))
        same(fanions.lmo(M, "fanion", k=r), fanions.lmo(M, "muon"))
        same(fanions.lmo(M, "f-fanion", k=r, alpha=0.3), fanions.lmo(M, "f-muon", alpha=0.3))
        same(fanions.lmo(M, "f-fanion", k=1, alpha=0.3, backend="svd"), fanions.lmo(M, "f-neon", alpha=0.3, backend="svd"))


def test_muon_and_fanion_match_the_svd(matrices):
    M = matrices["tall"]
    U, S, Vh = torch.linalg.svd(M, full_matrices=False)
    torch.testing.assert_close(fanions.lmo(M, "muon"), U @ Vh)
    torch.testing.assert_close(fanions.lmo(M, "fanion", k=4, backend="svd"), U[:, :4] @ Vh[:4])


def test_fanion_beyond_the_rank_fills_only_the_nonzero_part(matrices):
    M = matrices["rank3"]
    U, S, Vh = torch.linalg.svd(M, full_matrices=False)
    P = U[:, :3] @ Vh[:3]
    for k in (3, 5, 15):
        torch.testing.assert_close(fanions.lmo(M, "fanion", k=k, backend="svd"), P)
    torch.testing.assert_close(fanions.lmo(M, "muon"), P)
    assert torch.linalg.matrix_rank(fanions.lmo(M, "fanion", k=5, backend="svd")) == 3


def test_batched_equals_one_by_one(matrices):
    M = matrices["batched"]
    for name in BUILTIN:
        D = fanions.lmo(M, name, **options(name))
        torch.testing.assert_close(D, torch.stack([fanions.lmo(m, name, **options(name)) for m in M]))


def test_polar_iterations_are_within_their_known_error():
    """Uᵀ D V is diagonal (same singular vectors) with entries in the iteration's known range."""
    s = torch.logspace(0, -2, 20, dtype=torch.float64)
    for m, n in ((40, 20), (20, 40)):
        M = matrix_with_spectrum(s, m, n, seed=5)
        U, _, Vh = torch.linalg.svd(M, full_matrices=False)
        for method, low, high in (("newton-schulz", 0.67, 1.22), ("polar-express", 0.846, 1.142)):
            C = U.mT @ fanions.polar(M, method) @ Vh.mT
            diag = C.diagonal()
            torch.testing.assert_close(C, torch.diag(diag), atol=1e-10, rtol=0)
            assert low <= diag.min() and diag.max() <= high, (method, diag.min(), diag.max())
        torch.testing.assert_close(fanions.polar_express(M, steps=8), U @ Vh, atol=1e-9, rtol=0)


def test_newton_schulz_matches_torch_muon_iteration():
    from torch.optim._muon import _zeropower_via_newtonschulz

    for shape in ((24, 40), (40, 24)):
        G = torch.randn(*shape)
        theirs = _zeropower_via_newtonschulz(G, (3.4445, -4.7750, 2.0315), 5, 1e-7).float()
        assert torch.equal(fanions.newton_schulz(G, dtype=torch.bfloat16).float(), theirs)
        ours = fanions.newton_schulz(G, dtype=torch.float32)  # differs by bf16 rounding only
        assert (ours - theirs).norm() / theirs.norm() < 2e-2


def test_bad_arguments_name_the_argument_and_the_allowed_values():
    M = torch.randn(6, 5)
    cases = [
        (dict(name="not-a-norm"), "lmo='not-a-norm'.*allowed"),
        (dict(name="fanion", k=0), "k=0.*integer >= 1"),
        (dict(name="f-muon", alpha=float("nan")), "alpha=nan.*finite"),
        (dict(name="muon", polar="qr"), "polar='qr'.*newton-schulz"),
        (dict(name="neon", backend="arpack"), "backend='arpack'.*lanczos"),
        (dict(name="muon", alpha=0.5), "takes no option \\['alpha'\\].*polar"),
        (dict(name="muon", polar_dtype="bf16"), "polar_dtype='bf16'.*floating-point torch.dtype"),
        (dict(name="neon", rtol=0.0), r"rtol=0.0.*in \(0, 1\)"),
    ]
    for kwargs, message in cases:
        name = kwargs.pop("name")
        with pytest.raises(ValueError, match=message):
            fanions.lmo(M, name, **kwargs)


def test_registering_a_norm_makes_it_work_everywhere():
    name = "column-l2-max"

    @fanions.register_lmo(name, dual_norm=lambda M: M.norm(dim=-2).sum(-1))
    def column_normalized(M):
        """LMO of max_j ‖X[:, j]‖₂: every column scaled to unit length."""
        return M / M.norm(dim=-2, keepdim=True).clamp_min(1e-30)

    fanions.register_mixture("f-" + name, name, "nsgd")
    M = torch.randn(3, 8, 5, dtype=torch.float64)
    for n, opts in ((name, {}), ("f-" + name, {"alpha": 0.4})):
        torch.testing.assert_close(inner(M, fanions.lmo(M, n, **opts)), fanions.dual_norm(M, n, **opts))
    W = torch.nn.Parameter(torch.randn(8, 5))
    W.grad = torch.randn(8, 5)
    before = W.detach().clone()
    fanions.Fanion([W], lr=0.1, lmo=name, momentum=0.0).step()
    torch.testing.assert_close(W.detach(), before - 0.1 * column_normalized(W.grad))
    with pytest.raises(ValueError, match="already registered"):
        fanions.register_lmo(name, dual_norm=fanions.norms.l1)(lambda M: M)


def test_polar_steps_sets_the_iteration_count():
    M = torch.randn(30, 20, dtype=torch.float64)
    for method, iterate in (("newton-schulz", fanions.newton_schulz), ("polar-express", fanions.polar_express)):
        for steps in (1, 3, 8):
            D = fanions.lmo(M, "f-muon", alpha=0.5, polar=method, polar_steps=steps)
            torch.testing.assert_close(D, 0.5 * iterate(M, steps) + 0.5 * M / M.norm())
    with pytest.raises(ValueError, match="polar_steps=0.*integer >= 1"):
        fanions.lmo(M, "muon", polar="newton-schulz", polar_steps=0)


def test_nsgd_of_a_tiny_or_huge_momentum_is_a_unit_direction():
    """The issue's case: entries of 1e-25 in float32 gave ‖lmo‖_F = 3e14; 1e18 gave a zero step."""
    g = torch.Generator().manual_seed(0)
    M = torch.randn(40, 30, generator=g)
    for scale in (1e-25, 1e-40, 1e18, 1e30):
        Y = M * scale
        for name in ("nsgd", "f-muon", "f-neon", "s-muon"):
            D = fanions.lmo(Y, name, **options(name))
            torch.testing.assert_close(D.double(), fanions.lmo(Y.double(), name, **options(name)), rtol=1e-4,
                                       atol=1e-6)
        torch.testing.assert_close(fanions.dual_norm(Y, "nsgd").double(), Y.double().norm(), rtol=1e-6,
                                   atol=torch.finfo(Y.dtype).tiny * torch.finfo(Y.dtype).eps)


@pytest.mark.parametrize("name", BUILTIN)
def test_non_finite_input_raises_a_value_error(name):
    """One policy: NaN or ±Inf in M is a ValueError from lmo and dual_norm (never a silent NaN, a 0 from
    sign(NaN), or torch's LinAlgError)."""
    for bad in (float("nan"), float("inf"), -float("inf")):
        M = torch.randn(2, 7, 5, dtype=torch.float64)
        M[1, 3, 2] = bad
        for fn in (fanions.lmo, fanions.dual_norm):
            with pytest.raises(ValueError, match="M has non-finite entries"):
                fn(M, name, **options(name))


def test_polar_of_non_finite_input_raises_a_value_error():
    M = torch.randn(7, 5)
    M[0, 0] = float("inf")
    for method in fanions.POLAR_METHODS:
        with pytest.raises(ValueError, match="M has non-finite entries"):
            fanions.polar(M, method)


def test_an_empty_matrix_is_a_clear_error():
    for shape in ((0, 5), (5, 0), (3, 0, 4), (5,)):
        with pytest.raises(ValueError, match="M must be a .*matrix"):
            fanions.lmo(torch.zeros(shape), "muon")
    with pytest.raises(TypeError, match="M must be a floating-point tensor"):
        fanions.lmo(torch.ones(4, 3, dtype=torch.int64), "nsgd")


def test_numpy_scalars_are_numbers():
    np = pytest.importorskip("numpy")
    M = torch.randn(9, 7, dtype=torch.float64)
    expected = fanions.lmo(M, "f-fanion", k=2, alpha=0.3, backend="svd")
    torch.testing.assert_close(fanions.lmo(M, "f-fanion", k=np.int64(2), alpha=np.float32(0.3), backend="svd"),
                               expected, rtol=1e-7, atol=1e-7)  # float32(0.3) ≠ 0.3 in the last bits
    for k in (np.float64(2.0), True, 2.5):
        with pytest.raises(ValueError, match="k=.*integer >= 1"):
            fanions.lmo(M, "fanion", k=k)


def _hard_for_lanczos():
    """σ₁/σ₂ − 1 = 1e-5 in float32: above the tie threshold rtol², but the residual floor ε·σ₁ keeps the
    factor-error estimate near 2ε/1e-5 ≈ 0.02 > rtol, so Lanczos runs out of products unconverged."""
    s = torch.cat([torch.tensor([1.0, 1.0 - 1e-5]), torch.linspace(0.9, 0.1, 10)]).double()
    return matrix_with_spectrum(s, 12, 12, seed=7).float()


def test_unconverged_top_k_falls_back_on_the_exact_svd_and_is_counted():
    M = _hard_for_lanczos()
    assert not fanions.topk(M, 1, "lanczos").converged
    exact = fanions.lmo(M.double(), "neon").float()  # the fallback's exact SVD runs in float64
    warm = fanions.WarmStart()
    assert torch.equal(fanions.lmo(M, "neon", backend="lanczos", warm=warm), exact)
    assert warm.fallbacks == 1
    with pytest.warns(RuntimeWarning, match="did not converge.*exact SVD"):
        D = fanions.lmo(M, "f-neon", alpha=0.5, backend="lanczos")
    torch.testing.assert_close(D, 0.5 * exact + 0.5 * M / M.norm())


def test_the_float32_svd_says_what_its_rounding_leaves_and_the_fallback_is_exact():
    """float32 cannot resolve σ₁/σ₂ − 1 = 1e-5 to rtol 1e-3 (factor error ≈ ε/1e-5): the svd backend once said
    error 0, converged, and the fallback that promises the exact direction redid that same float32 SVD."""
    M = _hard_for_lanczos()
    U, S, Vh = torch.linalg.svd(M.double())
    exact = U[:, :1] @ Vh[:1]
    result = fanions.topk(M, 1, "svd", rtol=1e-3)
    true_error = float((result.U.double() @ result.V.double().mT - exact).norm() / exact.norm())
    assert not result.converged and true_error > 1e-3 and 0.2 <= result.error / true_error <= 5
    assert fanions.topk(M.double(), 1, "svd", rtol=1e-3).converged
    warm = fanions.WarmStart()
    D = fanions.lmo(M, "neon", backend="svd", warm=warm)
    assert warm.fallbacks == 1 and D.dtype == torch.float32
    assert (D.double() - exact).norm() / exact.norm() <= 1e-6


def test_polar_express_reaches_its_designed_interval_at_each_step_count():
    """σᵢ/‖M‖_F spread over [1e-3, 1] (the designs' lower bound ℓ): the singular values of the iterate lie
    where the composed quintics map [ℓ, 1] (evaluated on a grid, in float64), at every step count; the
    5-step design (Amsel et al.'s, as in the speedrun and microsoft/dion) reaches [0.845, 1.145], the
    8-step one 1 ± 1e-12."""
    s = torch.cat([torch.ones(1, dtype=torch.float64), torch.logspace(-1.5, -2.9, 39, dtype=torch.float64)])
    M = matrix_with_spectrum(s, 60, 40, seed=8)
    assert torch.linalg.svdvals(M)[-1] / M.norm() >= 1e-3
    x = torch.logspace(-3, 0, 10001, dtype=torch.float64)
    for steps in range(1, 11):
        coefficients, safety = fanions.polar_express_design(steps)
        y = x / safety
        for a, b, c in coefficients:
            y = a * y + b * y**3 + c * y**5
        S = torch.linalg.svdvals(fanions.polar_express(M, steps))
        assert y.min() - 1e-12 <= S.min() and S.max() <= y.max() + 1e-12, (steps, S.min(), S.max(), y.aminmax())
        if steps == 5:
            assert 0.845 <= y.min() and y.max() <= 1.145 and 0.845 <= S.min() and S.max() <= 1.145
        if steps == 8:
            assert (S - 1).abs().max() < 1e-12 and (y - 1).abs().max() < 1e-12


def test_the_config_schema_names_every_library_option():
    """One vocabulary: a method in config.yaml takes exactly fanions.OPTIONS (polar_dtype is a torch.dtype, not a
    config value)."""
    import yaml
    schema = yaml.safe_load((Path(__file__).resolve().parents[1] / "workflow/schemas/config.schema.yaml").read_text())
    assert set(schema["$defs"]["method"]["properties"]) - {"lmo"} == set(fanions.OPTIONS) - {"polar_dtype"}


def test_fanions_dual_norm_takes_the_lmos_default_k():
    """lmo(M, "fanion") is k = 1 by default; its dual norm without k is the same k's (the spectral norm), not an
    error (it was a TypeError: ky_fan() missing 'k')."""
    M = torch.randn(9, 6, dtype=torch.float64)
    for name in ("fanion", "f-fanion", "s-fanion"):
        D = fanions.lmo(M, name, backend="svd")
        torch.testing.assert_close((M * D).sum(), fanions.dual_norm(M, name))


def svd_reference(M):
    """U, Σ, Vᵀ of M in float64, the numerically zero σᵢ (≤ max(m, n)·ε·σ₁, as matrix_rank) set to 0."""
    U, S, Vh = torch.linalg.svd(M.double(), full_matrices=False)
    return U, torch.where(S > max(M.shape[-2:]) * torch.finfo(S.dtype).eps * S[..., :1], S, 0.0), Vh


@pytest.mark.parametrize("p", [1.1, 1.5, 3.0, 10.0])
def test_schatten_is_the_svd_formula_and_its_dual_is_schatten_q(matrices, p):
    """U diag(σ^{q−1}) Vᵀ / ‖σ‖_q^{q−1} with 1/p + 1/q = 1, from torch.linalg.svd in float64; dual ‖σ‖_q."""
    q = p / (p - 1)
    for M in matrices.values():
        U, S, Vh = svd_reference(M)
        expected = (U * (S ** (q - 1) / (S ** q).sum(-1, keepdim=True) ** ((q - 1) / q)).unsqueeze(-2)) @ Vh
        torch.testing.assert_close(fanions.lmo(M, "schatten", p=p), expected, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(fanions.dual_norm(M, "schatten", p=p), (S ** q).sum(-1) ** (1 / q))
        torch.testing.assert_close(fanions.norms.schatten(M, p), (S ** p).sum(-1) ** (1 / p))


@pytest.mark.parametrize("p", [1.1, 1.5, 3.0, 10.0])
def test_lp_is_the_vector_lmo_of_the_flattened_matrix(matrices, p):
    """sign(g)|g|^{q−1} / ‖g‖_q^{q−1} on g = vec(M), reshaped; dual the entrywise ℓq norm."""
    q = p / (p - 1)
    for M in matrices.values():
        g = M.flatten(-2)
        expected = torch.sign(g) * g.abs() ** (q - 1) / (g.abs() ** q).sum(-1, keepdim=True) ** ((q - 1) / q)
        torch.testing.assert_close(fanions.lmo(M, "lp", p=p), expected.view_as(M), rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(fanions.dual_norm(M, "lp", p=p), (g.abs() ** q).sum(-1) ** (1 / q))


def test_p_2_is_nsgd_exactly_and_the_limits_are_neon_muon_sign_and_gauss_southwell():
    """p = 2 is M/‖M‖_F bit for bit; Schatten-p → Neon as p → 1 and → Muon as p → ∞ (the gap σ₁/σ₂ = 2 and
    the σ's spread in [0.1, 2] set how fast), ℓp → SignSGD as p → ∞ and → sign(Mᵢⱼ)e_ij at argmax |Mᵢⱼ| as p → 1."""
    from conftest import matrix_with_spectrum
    M = matrix_with_spectrum(torch.tensor([2.0, 1.0, 0.7, 0.4, 0.1], dtype=torch.float64), 9, 5, seed=3)
    for name in ("schatten", "lp"):
        assert torch.equal(fanions.lmo(M, name, p=2.0), fanions.lmo(M, "nsgd"))
    errors = [(fanions.lmo(M, "schatten", p=1 + 1 / t) - fanions.lmo(M, "neon", backend="svd")).norm() for t in (4, 16, 64)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-12
    errors = [(fanions.lmo(M, "schatten", p=t) - fanions.lmo(M, "muon")).norm() for t in (10, 100, 10000)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-2
    errors = [(fanions.lmo(M, "lp", p=t) - fanions.lmo(M, "sign")).norm() for t in (10, 100, 10000)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-2
    top = torch.zeros_like(M).flatten()
    i = M.abs().flatten().argmax()
    top[i] = torch.sign(M.flatten()[i])
    assert torch.equal(fanions.lmo(M, "gauss-southwell"), top.view_as(M))
    torch.testing.assert_close(fanions.lmo(M, "lp", p=1 + 1 / 2048), top.view_as(M), rtol=0, atol=1e-12)


def test_sign_lr_coeff_scales_the_sign_part_and_its_dual():
    """S-Fanion = α·Fanion + (1−α)·η·sign(M), dual α‖M‖† + (1−α)·η·‖M‖₁; η = 1 is the unscaled mixture bit for bit."""
    M = torch.randn(4, 9, 7, dtype=torch.float64)
    for first, k in (("muon", {}), ("neon", {}), ("fanion", {"k": 2})):
        name, exact = f"s-{first}", options(f"s-{first}")
        exact.pop("sign_lr_coeff")
        exact.update(k)
        part = fanions.lmo(M, first, **{key: v for key, v in exact.items() if key != "alpha"})
        for alpha, eta in ((0.5, 0.01), (0.3, 3.0), (1.1, 0.003)):
            torch.testing.assert_close(fanions.lmo(M, name, **exact | dict(alpha=alpha, sign_lr_coeff=eta)),
                                       alpha * part + (1 - alpha) * eta * torch.sign(M))
            dual = alpha * fanions.dual_norm(M, first, **k) + (1 - alpha) * eta * M.abs().sum((-2, -1))
            torch.testing.assert_close(fanions.dual_norm(M, name, **exact | dict(alpha=alpha, sign_lr_coeff=eta)), dual)
        assert torch.equal(fanions.lmo(M, name, **exact), fanions.lmo(M, name, **exact, sign_lr_coeff=1.0))
        unscaled = exact["alpha"] * part + (1 - exact["alpha"]) * torch.sign(M)
        assert torch.equal(fanions.lmo(M, name, **exact), unscaled)


def test_a_users_mixture_takes_a_scale_of_its_second_part():
    """register_mixture(..., scale=NAME): α·first + (1−α)·η·second with η the option NAME (> 0, checked)."""
    fanions.register_mixture("s-nsgd-test", "nsgd", "sign", scale="eta_test")
    try:
        M = torch.randn(6, 5, dtype=torch.float64)
        D = fanions.lmo(M, "s-nsgd-test", alpha=0.25, eta_test=0.1)
        torch.testing.assert_close(D, 0.25 * M / M.norm() + 0.75 * 0.1 * torch.sign(M))
        torch.testing.assert_close((M * D).sum(), fanions.dual_norm(M, "s-nsgd-test", alpha=0.25, eta_test=0.1))
        with pytest.raises(ValueError, match=r"eta_test=-1.*must be a finite number > 0"):
            fanions.lmo(M, "s-nsgd-test", eta_test=-1)
    finally:
        fanions.LMOS.pop("s-nsgd-test")
        fanions.OPTIONS.pop("eta_test")


@pytest.mark.parametrize("name, key, value", [("schatten", "p", 1.0), ("schatten", "p", float("inf")), ("lp", "p", 0.5),
                                              ("schatten", "p", "3"), ("s-muon", "sign_lr_coeff", 0.0),
                                              ("s-fanion", "sign_lr_coeff", -0.01), ("s-neon", "sign_lr_coeff", float("nan"))])
def test_bad_p_and_sign_lr_coeff_are_refused_naming_the_key(name, key, value):
    M = torch.randn(6, 5)
    for call in (fanions.lmo, fanions.dual_norm):
        with pytest.raises(ValueError, match=rf"{key}=.*not allowed for lmo '{name}'; {key} must be"):
            call(M, name, **{key: value})
    with pytest.raises(ValueError, match=rf"{key}="):
        fanions.Fanion([torch.nn.Parameter(torch.randn(6, 5))], lmo=name, **{key: value})


def test_fanion_steps_an_s_muon_group_with_its_sign_lr_coeff():
    """A param group's sign_lr_coeff reaches the LMO: one step without momentum is −lr·(α·UVᵀ + (1−α)·η·sign(G))."""
    W = torch.nn.Parameter(torch.randn(8, 6, dtype=torch.float64))
    V = torch.nn.Parameter(torch.randn(8, 6, dtype=torch.float64))
    opt = fanions.Fanion([{"params": [W]}, {"params": [V], "sign_lr_coeff": 0.01}], lr=0.1, lmo="s-muon", alpha=0.5,
                         momentum=0.0, polar="svd", sign_lr_coeff=0.003)
    W0, V0 = W.detach().clone(), V.detach().clone()
    W.grad, V.grad = torch.randn_like(W), torch.randn_like(V)
    opt.step()
    for P, P0, eta in ((W, W0, 0.003), (V, V0, 0.01)):
        expected = P0 - 0.1 * (0.5 * fanions.lmo(P.grad, "muon") + 0.5 * eta * torch.sign(P.grad))
        torch.testing.assert_close(P.detach(), expected)


def test_the_cubic_newton_schulz_converges_to_the_polar_factor_and_forms_no_fifth_power(matrices):
    """X ← (3X − XXᵀX)/2 from M/‖M‖_F: UVᵀ to float64 rounding after enough steps (log_{1.5} of the condition number
    and a few more), and the scalar cubic applied to each σ after any number of them (to the 1e-7 guard of a zero
    M in the normalisation)."""
    for M in (matrices["tall"], matrices["square"], matrices["batched"]):
        U, S, Vh = torch.linalg.svd(M, full_matrices=False)
        torch.testing.assert_close(fanions.polar(M, "newton-schulz-cubic", 60), U @ Vh, rtol=0, atol=1e-12)
        x = S / M.norm(dim=(-2, -1), keepdim=True)[..., 0]
        for _ in range(4):
            x = 1.5 * x - 0.5 * x**3
        torch.testing.assert_close(fanions.newton_schulz_cubic(M, 4), (U * x.unsqueeze(-2)) @ Vh, rtol=0, atol=1e-8)
