"""Top-k backends against torch.linalg.svd in float64."""
import importlib.util

import pytest
import torch

import fanions
from conftest import matrix_with_spectrum

TOPK = importlib.import_module("fanions.topk")  # the module; fanions.topk is its function


def factor(result):
    return result.U @ result.V.mT


def factor_error(P, M, k):
    """‖P − P_k‖_F / ‖P_k‖_F against the exact factor P_k = Σ_{i≤k} uᵢvᵢᵀ (worst over a batch)."""
    U, S, Vh = torch.linalg.svd(M.double(), full_matrices=False)
    exact = U[..., :k] @ Vh[..., :k, :]
    return float(((P.double() - exact).norm(dim=(-2, -1)) / exact.norm(dim=(-2, -1))).max())


GAPPED = [  # (m, n, spectrum): the top k = 4 well separated from the rest
    (120, 80, [10.0, 8.0, 6.0, 4.0] + [0.01] * 20),
    (80, 120, [5.0, 4.0, 3.0, 2.0] + [0.5 / (i + 1) for i in range(60)]),
    (100, 100, [3.0, 2.5, 2.0, 1.5] + torch.linspace(1.0, 0.01, 90).tolist()),
]


@pytest.mark.parametrize("backend", ["svd", "lanczos", "power", "rsvd", "auto"])
@pytest.mark.parametrize("m,n,spectrum", GAPPED)
def test_backends_agree_with_svd_on_gapped_spectra(backend, m, n, spectrum):
    M = matrix_with_spectrum(spectrum, m, n, seed=m + n)
    if backend == "rsvd":  # a fixed number of power steps, no stopping rule
        result, tolerance = fanions.topk(M, 4, backend, niter=8), 1e-2
    else:
        result, tolerance = fanions.topk(M, 4, backend, rtol=1e-8), 1e-6
    assert factor_error(factor(result), M, 4) <= tolerance
    torch.testing.assert_close(result.S, torch.tensor(spectrum[:4], dtype=M.dtype), rtol=tolerance, atol=0)


@pytest.mark.parametrize("backend", ["lanczos", "power"])
def test_iterative_backends_on_random_shapes(backend):
    g = torch.Generator().manual_seed(0)
    for shape, k in (((300, 200), 1), ((200, 300), 10), ((4, 150, 120), 5), ((90, 90), 20)):
        M = torch.randn(*shape, generator=g, dtype=torch.float64)
        result = fanions.topk(M, k, backend, rtol=1e-4, max_matvecs=10**6)
        assert result.converged and result.error <= 1e-4
        assert factor_error(factor(result), M, k) <= 1e-4  # the estimate is an upper bound in practice
        assert result.U.shape == (*shape[:-1], k) and result.V.shape == (*shape[:-2], shape[-1], k)


def test_rank_below_k():
    M = matrix_with_spectrum([3.0, 2.0], 60, 50)
    for backend in ("lanczos", "power", "svd"):
        D = fanions.lmo(M, "fanion", k=6, backend=backend, rtol=1e-8)
        torch.testing.assert_close(D, fanions.lmo(M, "muon"), atol=1e-7, rtol=0)


def test_repeated_top_values_meet_the_ky_fan_identity():
    """σ₂ = σ₃ at k = 2: P is not unique, so the solver is judged by ⟨M, P⟩ = σ₁ + σ₂."""
    M = matrix_with_spectrum([4.0, 2.0, 2.0, 1.0, 0.5], 80, 60)
    result = fanions.topk(M, 2, "lanczos", rtol=1e-6)
    assert result.converged
    torch.testing.assert_close((M * factor(result)).sum(), torch.tensor(6.0, dtype=M.dtype), rtol=1e-6, atol=0)


def test_a_tiny_gap_reports_instead_of_answering_silently_wrong():
    s = [1.0, 1.0 - 1e-7] + torch.linspace(0.99, 0.0, 200).tolist()
    M = matrix_with_spectrum(s, 300, 250)
    result = fanions.topk(M, 1, "lanczos", rtol=1e-9, max_matvecs=400)
    assert not result.converged and result.error > 1e-9
    assert result.matvecs <= 400 + 2 * 250  # stops at the cost limit (one cycle may overshoot)


HARD_SPECTRA = {  # r singular values: flat, clustered at the top, nearly uniform, power-law, all clustered
    "flat": lambda r, g: torch.rand(r, generator=g).sort(descending=True).values,
    "cluster": lambda r, g: torch.cat([1 - 1e-3 * torch.rand(4, generator=g), 0.9 * torch.rand(r - 4, generator=g)]),
    "uniform": lambda r, g: torch.linspace(1.0, 0.9, r),
    "power-law": lambda r, g: torch.arange(1, r + 1.0) ** -1.5,
    "tight": lambda r, g: 1 - 1e-6 * torch.rand(r, generator=g, dtype=torch.float64),  # all within 1e-6
}


def hard_matrix(spectrum, m, n, g, seed):
    """m×n float64 with ``spectrum``'s min(m, n) singular values drawn from g (sorted), singular vectors seeded."""
    s = HARD_SPECTRA[spectrum](min(m, n), g).sort(descending=True).values
    return matrix_with_spectrum(s.tolist(), m, n, seed=seed)


def converged_means_right(spectrum, dtype, rtol, scale, trial, g, backend="lanczos"):
    """One stress case: a random shape, k and ``spectrum`` at ``scale``; False where the solver says
    converged yet the factor is off by more than rtol (and, at a tie, ⟨M, P̃⟩ is off by more than rtol²)."""
    m, n = (int(x) for x in torch.randint(60, 260, (2,), generator=g))
    M = hard_matrix(spectrum, m, n, g, trial)
    k = int(torch.randint(1, min(m, n) // 5, (1,), generator=g))
    result = fanions.topk((M * scale).to(dtype), k, backend, rtol=rtol, seed=trial)
    if not result.converged:
        return True
    top = torch.linalg.svdvals(M)[:k].sum()
    ky_fan = 1 - float((M * factor(result).double()).sum() / top)
    return factor_error(factor(result), M, k) <= rtol or ky_fan <= rtol**2


@pytest.mark.parametrize("spectrum", HARD_SPECTRA)
@pytest.mark.parametrize("dtype,rtol,scales", [(torch.float64, 1e-3, (1.0, 1e-300, 1e300)),
                                               (torch.float32, 1e-2, (1.0, 1e-25, 1e20))])
def test_converged_means_right(spectrum, dtype, rtol, scales):
    """Whenever Lanczos says converged, the factor is within rtol, or (at a tie) ⟨M, P̃⟩ is within
    rtol² of the Ky Fan norm, at every scale. Near-uniform spectra once made unresolved Ritz values
    pass for a tie; extreme scales once made the residuals underflow to 0."""
    g = torch.Generator().manual_seed(0)
    for trial in range(6):
        for scale in scales:
            assert converged_means_right(spectrum, dtype, rtol, scale, trial, g), (trial, scale)


def test_a_small_matrix_with_all_values_within_1e_6_at_a_tight_rtol():
    """10×10, every σ within 1e-6 of the others, k = 1, rtol = √(64ε)/4: the part of Mᵀp outside the
    basis is ~1e-6 of it, and ``_extend`` once dropped such columns (under 1e-5) with their residual,
    so the first check saw residuals of 0 and called a random Ritz vector (factor error ≈ 1) converged.
    Then the recurrence's residuals (~ε) proved ~100× below the true ones (~2e-14) at such gaps (~5e-8):
    a converged=True 6e-8 off against a 40-digit SVD. Now the true residuals decide, and say not converged."""
    rtol = (64 * torch.finfo(torch.float64).eps) ** 0.5 / 4
    for seed in range(10):
        g = torch.Generator().manual_seed(seed)
        s = (1 + 1e-6 * torch.rand(10, generator=g, dtype=torch.float64)).sort(descending=True).values
        M = matrix_with_spectrum(s.tolist(), 10, 10, seed=seed)
        result = fanions.topk(M, 1, "lanczos", rtol=rtol, seed=seed)
        if result.converged:
            assert factor_error(factor(result), M, 1) <= rtol, seed
        else:
            assert result.error > rtol


@pytest.mark.parametrize("spectrum", [[0.9**i for i in range(80)], [1 - i / 100 for i in range(80)]],
                         ids=["decaying", "flat"])
def test_rsvd_converged_means_within_rtol(spectrum):
    """rsvd's a-posteriori check (true residuals of its top k + 1 triplets, ``_checked_error``):
    converged exactly where the estimate is ≤ rtol, and the estimate bounds the factor error."""
    M = matrix_with_spectrum(spectrum, 200, 120, seed=1)
    converged = 0
    for niter in (0, 2, 8, 32):
        for rtol in (1e-2, 1e-6):
            result = fanions.topk(M, 4, "rsvd", rtol=rtol, niter=niter)
            assert result.converged == (result.error <= rtol)
            assert factor_error(factor(result), M, 4) <= result.error
            converged += result.converged
    assert converged > 0


def test_rsvd_says_not_converged_where_it_is_not_accurate():
    """No power step on a flat spectrum: the range finder misses the top-k subspace, and says so."""
    M = matrix_with_spectrum([1 - i / 100 for i in range(80)], 200, 120, seed=1)
    result = fanions.topk(M, 4, "rsvd", rtol=1e-2, niter=0)
    assert factor_error(factor(result), M, 4) > 1e-2
    assert not result.converged and result.error > 1e-2


def test_cholesky_qr_and_its_fallback():
    g = torch.Generator().manual_seed(0)
    Y = torch.randn(200, 8, generator=g, dtype=torch.float64) * torch.logspace(0, -6, 8, dtype=torch.float64)
    N, R, ok = TOPK._cholesky_qr(Y)  # columns of very different lengths: the scaling handles them
    assert ok
    torch.testing.assert_close(N.mT @ N, torch.eye(8, dtype=Y.dtype), atol=1e-13, rtol=0)
    torch.testing.assert_close(N @ R, Y, atol=1e-13, rtol=0)
    assert not TOPK._cholesky_qr(torch.cat([Y, Y[:, :2] @ torch.randn(2, 3, generator=g, dtype=Y.dtype)], 1))[2]


def test_extend_keeps_the_basis_orthonormal_on_a_rank_deficient_block():
    """X of rank 2 in 6 columns, half in span(basis): N ⟂ basis, N orthonormal, X = basis·C + N·R."""
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(100, 20, generator=g, dtype=torch.float64)).Q
    X = torch.randn(100, 2, generator=g, dtype=torch.float64) @ torch.randn(2, 6, generator=g, dtype=torch.float64)
    X = X + basis @ torch.randn(20, 6, generator=g, dtype=torch.float64)
    N, C, R = TOPK._extend(basis, X, torch.randn(100, 6, generator=g, dtype=torch.float64))
    eye = torch.eye(6, dtype=X.dtype)
    torch.testing.assert_close(N.mT @ N, eye, atol=1e-12, rtol=0)
    assert float((basis.mT @ N).abs().max()) < 1e-12
    torch.testing.assert_close(basis @ C + N @ R, X, atol=1e-12, rtol=0)


def test_deterministic_under_a_seed():
    M = torch.randn(200, 150, dtype=torch.float64)
    a, b = (fanions.topk(M, 5, "lanczos", rtol=1e-3, seed=7) for _ in range(2))
    assert torch.equal(a.U, b.U) and torch.equal(a.S, b.S) and a.matvecs == b.matvecs


def test_warm_start_saves_products():
    M = torch.randn(400, 300, dtype=torch.float64)
    cold = fanions.topk(M, 8, "lanczos", rtol=1e-6)
    warm = fanions.topk(M + 1e-4 * torch.randn_like(M), 8, "lanczos", rtol=1e-6, init=cold.V)
    assert warm.converged and warm.matvecs < cold.matvecs


@pytest.mark.parametrize("backend", ["power", "lanczos"])
@pytest.mark.parametrize("k", [1, 4, 8])
def test_a_warm_start_that_spans_an_invariant_subspace_without_the_top_still_finds_it(backend, k):
    """A start block drawn wholly from such an init never leaves it (its Krylov space is invariant) and once
    answered σ₂'s vector with converged=True: beyond k columns the start block is Gaussian."""
    M = torch.randn(300, 280, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    Vh = torch.linalg.svd(M, full_matrices=False)[2]
    result = fanions.topk(M, k, backend, rtol=1e-3, init=Vh[1:1 + 2 * k + 8].mT)
    assert result.converged and factor_error(factor(result), M, k) <= 1e-3


def test_a_matrix_too_small_for_lanczos_gets_the_svd_at_the_callers_rtol():
    """The exact SVD's float32 rounding leaves ~1e-4 of factor error at a 1e-3 gap: above rtol 1e-6, which the
    hand-over once dropped (it judged the SVD at the default 1e-3)."""
    M = matrix_with_spectrum([1.0, 0.999, 0.5, 0.5, 0.5], 5, 5, dtype=torch.float32)
    result = fanions.topk(M, 1, "lanczos", rtol=1e-6)
    assert result.matvecs == 0 and not result.converged and result.error > 1e-6


def test_power_iteration_needs_a_column_beyond_k():
    """With k columns its estimate would take the block for the whole space and skip the gap to σ_{k+1}."""
    M = matrix_with_spectrum([1.0, 0.99, 0.98] + [0.5] * 100, 200, 150)
    with pytest.raises(ValueError, match="oversample must be an integer >= 1"):
        fanions.topk(M, 1, "power", oversample=0)


def test_bad_backend_and_k():
    M = torch.randn(10, 8)
    with pytest.raises(ValueError, match="backend='eig'.*lanczos"):
        fanions.topk(M, 2, "eig")
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        fanions.topk(M, 0)


def test_cupy_backend_names_what_is_missing():
    M = torch.randn(10, 8)
    if importlib.util.find_spec("cupy") is None:
        with pytest.raises(ImportError, match=r"fanions\[gpu\]"):
            fanions.topk(M, 2, "cupy")
    else:
        with pytest.raises(ValueError, match="CUDA tensor"):
            fanions.topk(M, 2, "cupy")


def momentum_sequence(steps, shape=(300, 200), mu=0.9, seed=0):
    """EMA momenta of noisy gradients of ½‖X − T‖² along a descent path: a slowly changing matrix."""
    g = torch.Generator().manual_seed(seed)
    target = matrix_with_spectrum(torch.logspace(0, -2, shape[1]).tolist(), *shape, seed=seed, dtype=torch.float32)
    X, B = torch.zeros(shape), torch.zeros(shape)
    for _ in range(steps):
        B = mu * B + (1 - mu) * (X - target + 0.003 * torch.randn(shape, generator=g))
        X = X - 0.05 * B
        yield B


def test_warm_start_saves_products_along_a_momentum_sequence():
    warm = fanions.WarmStart()
    cold_cost = warm_cost = 0
    for t, M in enumerate(momentum_sequence(8)):
        cold = fanions.topk(M, 8, "lanczos", rtol=1e-2)
        D = fanions.lmo(M, "fanion", k=8, backend="lanczos", rtol=1e-2, warm=warm)
        assert warm.V.shape[0] == 200 and warm.V.shape[1] >= 8
        if t:  # the first call has nothing to start from
            cold_cost, warm_cost = cold_cost + cold.matvecs, warm_cost + warm.matvecs
            assert factor_error(D, M, 8) <= 1e-2
    assert warm_cost < cold_cost


def test_the_optimizer_keeps_each_matrix_subspace():
    params = [torch.nn.Parameter(torch.randn(300, 200)) for _ in range(3)]  # one shape: one batched solve
    opt = fanions.Fanion(params, lr=0.01, lmo="f-fanion", k=8, alpha=0.5, backend="lanczos", rtol=1e-2)
    for p in params:
        p.grad = torch.randn_like(p)
    opt.step()
    for p in params:
        V = opt.state[p]["subspace"]
        b = V.size(-1)
        assert V.shape[0] == 200 and b >= 8
        torch.testing.assert_close(V.mT @ V, torch.eye(b), atol=1e-5, rtol=0)


@pytest.mark.parametrize("k", [60, 74, 75, 90])
def test_k_near_the_hand_over(k):
    """auto hands k ≥ min(m, n)/4 to the exact SVD; Lanczos itself still gets every k right."""
    M = matrix_with_spectrum([1.0 / (i + 1) for i in range(300)], 400, 300, seed=k)
    for backend in ("lanczos", "auto"):
        result = fanions.topk(M, k, backend, rtol=1e-6)
        assert result.converged and factor_error(factor(result), M, k) <= 1e-6
    assert fanions.topk(M, k, "auto").matvecs == (0 if 4 * k >= 300 else fanions.topk(M, k, "lanczos").matvecs)


def test_a_large_k_still_runs_lanczos():
    """k far above the CPU's 16-column blocks: the restart cycle grows to hold k + b Ritz vectors."""
    M = matrix_with_spectrum([1.0 / (i + 1) for i in range(500)], 600, 500)
    result = fanions.topk(M, 180, "lanczos", rtol=1e-4)
    assert result.matvecs > 0 and result.converged and factor_error(factor(result), M, 180) <= 1e-4


def test_the_fanion_step_with_lanczos_equals_the_svd_step():
    g = torch.Generator().manual_seed(0)
    start = [torch.randn(120, 80, generator=g, dtype=torch.float64) for _ in range(3)]
    grads = [[torch.randn(120, 80, generator=g, dtype=torch.float64) for _ in start] for _ in range(3)]
    params = {}
    for backend in ("svd", "lanczos"):
        params[backend] = [torch.nn.Parameter(p.clone()) for p in start]
        opt = fanions.Fanion(params[backend], lr=0.1, lmo="f-fanion", k=4, alpha=0.5, backend=backend, rtol=1e-8)
        for step_grads in grads:
            for p, grad in zip(params[backend], step_grads):
                p.grad = grad.clone()
            opt.step()
    for a, b in zip(params["svd"], params["lanczos"]):
        torch.testing.assert_close(a, b, atol=1e-8, rtol=0)


EXTREME_SCALES = [(torch.float32, 1e-30), (torch.float32, 1e-22), (torch.float32, 1e19), (torch.float32, 1e30),
                  (torch.float64, 1e-300), (torch.float64, 1e300)]


@pytest.mark.parametrize("backend", ["lanczos", "power"])
@pytest.mark.parametrize("dtype,scale", EXTREME_SCALES)
def test_extreme_scales_are_solved_as_at_scale_one(backend, dtype, scale):
    """Norms of vectors with entries 1e-30 underflow in float32: the solver normalises M once on entry."""
    M = torch.randn(200, 150, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    result = fanions.topk((M * scale).to(dtype), 3, backend, rtol=1e-3)
    assert result.converged and factor_error(factor(result), M, 3) <= 1e-3
    torch.testing.assert_close(result.S.double() / scale, torch.linalg.svdvals(M)[:3], rtol=1e-3, atol=0)


@pytest.mark.parametrize("rtol", [0, -1, float("nan"), float("inf")])
def test_rtol_must_be_a_number_in_0_1(rtol):
    with pytest.raises(ValueError, match=r"rtol must be a number in \(0, 1\)"):
        fanions.topk(torch.randn(60, 50), 2, "lanczos", rtol=rtol)


@pytest.mark.parametrize("backend", sorted(TOPK.BACKENDS))
def test_unknown_options_are_refused_by_every_backend(backend):
    with pytest.raises(TypeError, match=f"backend={backend!r}.*'tol'.*allowed.*rtol"):
        fanions.topk(torch.randn(60, 50), 2, backend, tol=1e-3)


@pytest.mark.parametrize("option,value", [("max_matvecs", 0), ("max_matvecs", 1.5), ("block", 0), ("seed", "a"),
                                          ("init", torch.randn(49, 2))])
def test_bad_option_values_name_the_option(option, value):
    with pytest.raises((TypeError, ValueError), match=option):
        fanions.topk(torch.randn(60, 50), 2, "lanczos", **{option: value})


def test_numpy_integers_are_integers():
    np = pytest.importorskip("numpy")
    M = torch.randn(60, 50, dtype=torch.float64)
    assert fanions.topk(M, np.int64(3), "svd").S.shape == (3,)
    assert fanions.topk(M, 3, "lanczos", max_matvecs=np.int32(400), seed=np.int64(1)).S.shape == (3,)


@pytest.mark.parametrize("backend", ["svd", "lanczos", "power", "rsvd"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_is_solved_in_float32(backend, dtype):
    M = torch.randn(120, 100, generator=torch.Generator().manual_seed(0)).to(dtype)
    result = fanions.topk(M, 2, backend, rtol=1e-3)
    assert result.U.dtype == result.S.dtype == result.V.dtype == dtype
    if backend == "rsvd":  # no stopping rule: the same answer as in float32
        torch.testing.assert_close(factor(result).float(), factor(fanions.topk(M.float(), 2, backend)), atol=1e-2, rtol=0)
    else:
        assert factor_error(factor(result), M.float(), 2) <= 2e-2


def test_not_a_matrix_of_reals():
    with pytest.raises(ValueError, match="M must have at least one row and one column"):
        fanions.topk(torch.randn(0, 5), 1)
    with pytest.raises(TypeError, match="M must be a floating-point tensor"):
        fanions.topk(torch.ones(6, 5, dtype=torch.int64), 1)


@pytest.mark.parametrize("seed, m, n", [(30, 127, 13), (127, 13, 127), (253, 127, 13), (3, 127, 13)])
def test_thin_flat_matrices_converge_within_rtol(seed, m, n):
    """A flat spectrum on a thin matrix (13 singular values), k = 2: converged means within rtol. A trend-based
    stopping rule tried in this session answered these at 3.6–16× rtol with converged=True."""
    g = torch.Generator().manual_seed(seed)
    A = hard_matrix("flat", m, n, g, seed) * 0.1
    result = fanions.topk(A, 2, "lanczos", rtol=1e-2, seed=seed, max_matvecs=20_000)
    assert not result.converged or factor_error(factor(result), A, 2) <= 1e-2


@pytest.mark.parametrize("trial, spectrum, m, n, k", [(186, "cluster", 265, 248, 1), (161, "cluster", 282, 247, 2),
                                                      (167, "uniform", 109, 262, 1), (157, "uniform", 244, 287, 3)])
def test_a_failed_confirmation_goes_on_iterating(trial, spectrum, m, n, k):
    """float32, rtol 1e-2, small gaps: the recurrence's estimate reached rtol, the true residuals then put it at
    1.0–1.7 × rtol, and the solver used to give up there with converged=False and most of its budget unspent
    (34 of 600 such solves). It must go on until the true residuals confirm, within rtol."""
    g = torch.Generator().manual_seed(trial)
    M = hard_matrix(spectrum, m, n, g, trial).float()
    result = fanions.topk(M, k, "lanczos", rtol=1e-2, seed=trial)
    assert result.converged and result.error <= 1e-2
    assert factor_error(factor(result), M, k) <= 1e-2


@pytest.mark.parametrize("trial", [36, 141, 211])
def test_a_confirmation_stalled_at_the_rounding_floor_says_not_converged_soon(trial):
    """float32, rtol 1e-2, a near-uniform or flat spectrum: the true estimate stays at 1.03–2.5 × rtol however long the
    solver runs (it ran to 10⁵ products without the stall rule). It says converged=False within a few hundred."""
    g = torch.Generator().manual_seed(trial)
    m, n = (int(x) for x in torch.randint(60, 300, (2,), generator=g))
    M = hard_matrix(list(HARD_SPECTRA)[trial % 5], m, n, g, trial).float()
    k = int(torch.randint(1, 6, (1,), generator=g))
    result = fanions.topk(M, k, "lanczos", rtol=1e-2, seed=trial, max_matvecs=100_000)
    assert not result.converged and 1e-2 < result.error and result.matvecs < 2_000


def cluster_matrix(k, size, offset, delta, seed):
    """200×180: ``offset`` isolated values above a cluster of ``size`` values spread over 1 − delta .. 1, then a
    gap of at least 0.2 to the rest."""
    g = torch.Generator().manual_seed(seed)
    rest = (0.8 * torch.rand(150, generator=g)).sort(descending=True).values.tolist()
    s = [2.0 - 0.2 * i for i in range(offset)] + torch.linspace(1.0, 1 - delta, size).tolist() + rest
    return matrix_with_spectrum(s, 200, 180, seed=seed)


def wrong_on_clusters(block):
    """Solves whose answer is converged yet off by more than rtol, with a Ky Fan defect over rtol² (not a tie)."""
    wrong = 0
    for k, size, offset in ((1, 2, 0), (1, 3, 0), (2, 3, 0), (2, 3, 1), (3, 6, 0)):
        for delta, seed, rtol in ((1e-3, 0, 1e-2), (1e-4, 1, 1e-3), (3e-4, 2, 1e-2)):
            M = cluster_matrix(k, size, offset, delta, seed)
            result = fanions.topk(M, k, "lanczos", rtol=rtol, seed=seed, block=block and block(k))
            P = factor(result)
            ky_fan = 1 - float((M * P).sum() / torch.linalg.svdvals(M)[:k].sum())
            wrong += result.converged and factor_error(P, M, k) > rtol and ky_fan > rtol**2
    return wrong


def test_a_cluster_cannot_hide_the_gap():
    """A cluster of singular values at or above σ_k: a block of b = k vectors sees fewer of its directions than it
    needs, takes its gap to the next value outside the cluster, and answers converged with the wrong vectors
    (factor error up to √2); the default block (b > k) never does."""
    assert wrong_on_clusters(block=None) == 0
    assert wrong_on_clusters(block=lambda k: k) > 0


def test_an_unresolved_gap_reports_an_infinite_estimate():
    """Before σ_k and σ_{k+1} are told apart the bound has no gap to divide by: the estimate is inf, not the dtype's
    largest number (nan_to_num made it 3.4e38 in float32)."""
    M = torch.randn(300, 300, generator=torch.Generator().manual_seed(0))
    result = fanions.topk(M, 1, "lanczos", rtol=1e-12, max_matvecs=4)
    assert not result.converged and result.error == float("inf")
