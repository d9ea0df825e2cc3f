"""The polar factor UVᵀ of M = UΣVᵀ: the exact reference and two matmul-only iterations.

UVᵀ is Muon's direction, the LMO of the spectral norm. ``polar_svd`` is exact; the
iterations apply an odd polynomial p(X) = aX + b(XXᵀ)X + c(XXᵀ)²X several times, which
acts on every singular value separately (U p(Σ) Vᵀ) and pushes each one towards 1.
"""
import torch

# Muon's quintic (KellerJordan/Muon): the slope at zero is maximised, so after 5 steps
# the singular values land in about [0.7, 1.2] instead of converging exactly to 1.
NEWTON_SCHULZ_COEFFICIENTS = (3.4445, -4.7750, 2.0315)

# Polar Express (Amsel, Persson, Musco, Gower 2025, arXiv:2505.16932): one minimax-optimal
# quintic per step, each but the last shrunk by a 1.01 safety factor for bf16.
_POLAR_EXPRESS = [
    (8.28721201814563, -23.595886519098837, 17.300387312530933),
    (4.107059111542203, -2.9478499167379106, 0.5448431082926601),
    (3.9486908534822946, -2.908902115962949, 0.5518191394370137),
    (3.3184196573706015, -2.488488024314874, 0.51004894012372),
    (2.300652019954817, -1.6689039845747493, 0.4188073119525673),
    (1.891301407787398, -1.2679958271945868, 0.37680408948524835),
    (1.8750014808534479, -1.2500016453999487, 0.3750001645474248),
]
POLAR_EXPRESS_COEFFICIENTS = [(a / 1.01, b / 1.01**3, c / 1.01**5) for a, b, c in _POLAR_EXPRESS]
POLAR_EXPRESS_LIMIT = (1.875, -1.25, 0.375)  # every step after the listed ones


def singular_value_mask(S: torch.Tensor, m: int, n: int) -> torch.Tensor:
    """True where σᵢ is numerically nonzero: σᵢ > max(m, n)·eps·σ₁ (as in matrix_rank), and σ₁ > 0."""
    tol = max(m, n) * torch.finfo(S.dtype).eps * S[..., :1]
    return (S > tol) & (S > 0)


def polar_svd(M: torch.Tensor) -> torch.Tensor:
    """Exact UVᵀ = Σᵢ uᵢvᵢᵀ over the nonzero singular values of M (zero for M = 0)."""
    U, S, Vh = torch.linalg.svd(M, full_matrices=False)
    keep = singular_value_mask(S, *M.shape[-2:]).to(M.dtype)
    return (U * keep.unsqueeze(-2)) @ Vh


def odd_polynomial_iteration(M: torch.Tensor, coefficients, dtype=None, safety: float = 1.0) -> torch.Tensor:
    """X₀ = M / (safety·‖M‖_F), X ← aX + (b·A + c·A²)X with A = XXᵀ, once per (a, b, c).

    ‖M‖_F ≥ σ₁ puts every singular value of X₀ in [0, 1]. Runs in ``dtype`` (default:
    bfloat16 on CUDA, M's own dtype elsewhere) on the wide orientation, so A is the small Gram.
    """
    dtype = dtype or (torch.bfloat16 if M.is_cuda else M.dtype)
    tall = M.size(-2) > M.size(-1)
    X = (M.mT if tall else M).to(dtype).reshape(-1, *sorted(M.shape[-2:]))  # a 3-D batch, wide
    X = X / (X.norm(dim=(-2, -1), keepdim=True) * safety + 1e-7)
    for a, b, c in coefficients:
        A = X @ X.mT
        B = torch.baddbmm(A, A, A, beta=b, alpha=c)  # fused: one rounding, as torch.optim.Muon
        X = torch.baddbmm(X, B, X, beta=a)
    X = X.reshape((M.mT if tall else M).shape)
    return (X.mT if tall else X).to(M.dtype)


def newton_schulz(M: torch.Tensor, steps: int = 5, dtype=None) -> torch.Tensor:
    """Muon's quintic Newton–Schulz: ≈ U S' Vᵀ with S' ∈ [0.7, 1.2] after 5 steps."""
    return odd_polynomial_iteration(M, [NEWTON_SCHULZ_COEFFICIENTS] * steps, dtype)


def polar_express(M: torch.Tensor, steps: int = 5, dtype=None) -> torch.Tensor:
    """Polar Express: the step-optimal quintics, converging to UVᵀ (normalised with a 1.01 margin)."""
    coefficients = (POLAR_EXPRESS_COEFFICIENTS + [POLAR_EXPRESS_LIMIT] * steps)[:steps]
    return odd_polynomial_iteration(M, coefficients, dtype, safety=1.01)


POLAR_METHODS = {"svd": lambda M, steps: polar_svd(M), "newton-schulz": newton_schulz, "polar-express": polar_express}


def polar(M: torch.Tensor, method: str = "svd", steps: int = 5) -> torch.Tensor:
    """UVᵀ of M by ``method``, one of POLAR_METHODS (the iterations run ``steps`` steps)."""
    if method not in POLAR_METHODS:
        raise ValueError(f"polar={method!r} is not a polar method; allowed: {sorted(POLAR_METHODS)}")
    return POLAR_METHODS[method](M, steps)
