"""The polar factor UVᵀ of M = UΣVᵀ: the exact reference and two matmul-only iterations.

UVᵀ is Muon's direction, the LMO of the spectral norm. ``polar_svd`` is exact; the
iterations apply an odd polynomial p(X) = aX + b(XXᵀ)X + c(XXᵀ)²X several times, which
acts on every singular value separately (U p(Σ) Vᵀ) and pushes each one towards 1.
"""
import torch

from .norms import check_matrix, entry_scale, factor_dtype

# Muon's quintic (KellerJordan/Muon): the slope at zero is maximised, so after 5 steps
# the singular values land in about [0.7, 1.2] instead of converging exactly to 1.
NEWTON_SCHULZ_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
# The classical cubic X ← (3X − XXᵀX)/2 (Higham's Newton–Schulz for the polar factor): every σ/‖M‖_F in (0, 1]
# converges to 1, quadratically once near it; what the paper's float64 table counts (2 products a step).
NEWTON_SCHULZ_CUBIC = (1.5, -0.5, 0.0)

# Polar Express (Amsel, Persson, Musco, Gower 2025, arXiv:2505.16932): at each step the quintic that is
# minimax-optimal on the current interval [ℓ, u] of singular values (ℓ = 1e-3 at the start), which the
# paper proves optimal for any number of steps (greedy); each is recentred on 1 and divided by a safety
# factor (a/f, b/f³, c/f⁵) and M is normalised by f·‖M‖_F, so rounding cannot push a value past the
# interval. Two published designs:
#   5 steps (modded-nanogpt's speedrun, microsoft/dion; bf16, f = 1.02): [1e-3, 1] -> [0.846, 1.142];
#   8 steps (the paper's code, f = 1.01): [1e-3, 1] -> 1 ± 4e-15; any other count takes the first
#   steps of this greedy sequence (the design for that count), then the limit quintic (15, −10, 3)/8.
POLAR_EXPRESS_5 = (
    (8.156554524902461, -22.48329292557795, 15.878769915207462),
    (4.042929935166739, -2.808917465908714, 0.5000178451051316),
    (3.8916678022926607, -2.772484153217685, 0.5060648178503393),
    (3.285753657755655, -2.3681294933425376, 0.46449024233003106),
    (2.3465413258596377, -1.7097828382687081, 0.42323551169305323),
)
_POLAR_EXPRESS_8 = [
    (8.28721201814563, -23.595886519098837, 17.300387312530933),
    (4.107059111542203, -2.9478499167379106, 0.5448431082926601),
    (3.9486908534822946, -2.908902115962949, 0.5518191394370137),
    (3.3184196573706015, -2.488488024314874, 0.51004894012372),
    (2.300652019954817, -1.6689039845747493, 0.4188073119525673),
    (1.891301407787398, -1.2679958271945868, 0.37680408948524835),
    (1.8750014808534479, -1.2500016453999487, 0.3750001645474248),
]
POLAR_EXPRESS_8 = tuple((a / 1.01, b / 1.01**3, c / 1.01**5) for a, b, c in _POLAR_EXPRESS_8)
POLAR_EXPRESS_LIMIT = (1.875, -1.25, 0.375)  # every step after the listed ones


def polar_express_design(steps: int):
    """(coefficients, safety factor f) of the Polar Express design for ``steps`` steps."""
    if steps == 5:
        return POLAR_EXPRESS_5, 1.02
    return (POLAR_EXPRESS_8 + (POLAR_EXPRESS_LIMIT,) * steps)[:steps], 1.01


def singular_value_mask(S: torch.Tensor, m: int, n: int) -> torch.Tensor:
    """True where σᵢ is numerically nonzero: σᵢ > max(m, n)·eps·σ₁ (as in matrix_rank), and σ₁ > 0."""
    tol = max(m, n) * torch.finfo(S.dtype).eps * S[..., :1]
    return (S > tol) & (S > 0)


def polar_svd(M: torch.Tensor) -> torch.Tensor:
    """Exact UVᵀ = Σᵢ uᵢvᵢᵀ over the nonzero singular values of M (zero for M = 0); the SVD runs in
    float32 for float16/bfloat16 (``norms.factor_dtype``)."""
    U, S, Vh = torch.linalg.svd(M.to(factor_dtype(M.dtype)), full_matrices=False)
    keep = singular_value_mask(S, *M.shape[-2:]).to(S.dtype)
    return ((U * keep.unsqueeze(-2)) @ Vh).to(M.dtype)


def odd_polynomial_iteration(M: torch.Tensor, coefficients, dtype=None, safety: float = 1.0) -> torch.Tensor:
    """X₀ = M / (safety·‖M‖_F), X ← aX + (b·A + c·A²)X with A = XXᵀ, once per (a, b, c).

    ‖M‖_F ≥ σ₁ puts every singular value of X₀ in [0, 1]. Runs in ``dtype`` (default:
    bfloat16 on CUDA, M's own dtype elsewhere) on the wide orientation, so A is the small Gram.
    M is first divided by its power-of-two ``entry_scale`` (exact), so ‖M‖_F neither underflows nor
    overflows and the 1e-7 guard of a zero M is negligible at every scale.
    """
    dtype = dtype or (torch.bfloat16 if M.is_cuda else M.dtype)
    tall = M.size(-2) > M.size(-1)
    X = (M.mT if tall else M) / entry_scale(M).mT
    X = X.to(dtype).reshape(-1, *sorted(M.shape[-2:]))  # a 3-D batch, wide
    X = X / (X.norm(dim=(-2, -1), keepdim=True) * safety + 1e-7)
    for a, b, c in coefficients:
        A = X @ X.mT
        B = torch.baddbmm(A, A, A, beta=b, alpha=c) if c else A * b  # fused: one rounding, as torch.optim.Muon
        X = torch.baddbmm(X, B, X, beta=a)
    X = X.reshape((M.mT if tall else M).shape)
    return (X.mT if tall else X).to(M.dtype)


def newton_schulz(M: torch.Tensor, steps: int = 5, dtype=None) -> torch.Tensor:
    """Muon's quintic Newton–Schulz: ≈ U S' Vᵀ with S' ∈ [0.7, 1.2] after 5 steps."""
    return odd_polynomial_iteration(M, [NEWTON_SCHULZ_COEFFICIENTS] * steps, dtype)


def newton_schulz_cubic(M: torch.Tensor, steps: int = 30, dtype=None) -> torch.Tensor:
    """The classical cubic Newton–Schulz, X ← (3X − XXᵀX)/2 from M/‖M‖_F: converges to UVᵀ (two products a step;
    the small σ/‖M‖_F grow by 3/2 a step, so a flat spectrum of size n takes about log_{1.5}(√n) + 5 steps)."""
    return odd_polynomial_iteration(M, [NEWTON_SCHULZ_CUBIC] * steps, dtype)


def polar_express(M: torch.Tensor, steps: int = 5, dtype=None) -> torch.Tensor:
    """Polar Express with the design for ``steps`` (``polar_express_design``): singular values with
    σ/‖M‖_F in [1e-3, 1] end in [0.846, 1.142] after 5 steps, within 4e-15 of 1 after 8."""
    coefficients, safety = polar_express_design(steps)
    return odd_polynomial_iteration(M, coefficients, dtype, safety)


POLAR_METHODS = {
    "svd": lambda M, steps, dtype=None: polar_svd(M),
    "newton-schulz": newton_schulz,
    "newton-schulz-cubic": newton_schulz_cubic,
    "polar-express": polar_express,
}


def polar(M: torch.Tensor, method: str = "svd", steps: int = 5, dtype=None) -> torch.Tensor:
    """UVᵀ of M by ``method``, one of POLAR_METHODS (the iterations run ``steps`` steps in ``dtype``).
    ValueError for non-finite M."""
    if method not in POLAR_METHODS:
        raise ValueError(f"polar={method!r} is not a polar method; allowed: {sorted(POLAR_METHODS)}")
    check_matrix(M)
    entry_scale(M)
    return POLAR_METHODS[method](M, steps, dtype)
