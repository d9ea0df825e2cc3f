"""Matrix norms over the last two dims (leading dims are a batch), and their duals.

Duality: ‖Y‖† = max_{‖X‖≤1} ⟨Y, X⟩. Pairs used here: Frobenius ↔ Frobenius, ℓ∞ ↔ ℓ1, ℓp ↔ ℓq and
Schatten-p ↔ Schatten-q (1/p + 1/q = 1),
spectral ↔ nuclear, Ky Fan k (Σ_{i≤k} σᵢ) ↔ max(‖·‖_nuc / k, ‖·‖_op). For a weighted sum
α‖·‖_a + (1−α)‖·‖_b the dual unit ball is the Minkowski sum α·B_a† + (1−α)·B_b†; ``gauge``
evaluates such duals numerically on singular-value vectors (what the norm-ball figures need).

Every norm is taken of X / s, s = ``entry_scale(X)`` a power of two, and multiplied back: exact at
every representable scale, inf only where the norm itself exceeds the dtype. Non-finite input is a
ValueError. float16/bfloat16 singular values are computed in float32 and rounded to the dtype.
"""
import torch


def check_matrix(X: torch.Tensor, name: str = "M") -> None:
    """TypeError/ValueError unless X is a floating-point tensor of shape (…, m, n) with m, n ≥ 1."""
    if not isinstance(X, torch.Tensor) or not X.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {getattr(X, 'dtype', type(X).__name__)}")
    if X.ndim < 2 or 0 in X.shape[-2:]:
        raise ValueError(f"{name} must be a (…, m, n) matrix with m, n >= 1, got shape {tuple(X.shape)}")


def entry_scale(X: torch.Tensor, name: str = "M") -> torch.Tensor:
    """The power of two s with s ≤ max|Xᵢⱼ| < 2s over the last two dims (keepdim; 1 where X = 0).

    X / s is exact and has entries in [−2, 2], so no square or sum of X / s underflows or overflows
    (LAPACK's nrm2 scales alike), and every norm is s·‖X / s‖. ValueError if X has a NaN or ±Inf
    entry: the library's policy for non-finite input (one host synchronisation).
    """
    largest = X.abs().amax(dim=(-2, -1), keepdim=True)
    if not bool(largest.isfinite().all()):
        raise ValueError(f"{name} has non-finite entries (NaN or ±Inf); fanions takes finite matrices only")
    mantissa, _ = torch.frexp(largest.double())  # largest = mantissa·2^e, mantissa in [0.5, 1)
    return torch.where(largest > 0, largest.double() / (2 * mantissa), 1.0).to(X.dtype)


def factor_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype an SVD or top-k factorisation runs in: float32 for float16/bfloat16 (LAPACK has none)."""
    return torch.promote_types(dtype, torch.float32)


def _svdvals(X):
    """Singular values of X (…, r), scaled by ``entry_scale`` and computed in ``factor_dtype``."""
    s = entry_scale(X, "X")
    return torch.linalg.svdvals((X / s).to(factor_dtype(X.dtype))).to(X.dtype) * s[..., 0]


def frobenius(X):
    s = entry_scale(X, "X")
    return (X / s).norm(dim=(-2, -1)) * s[..., 0, 0]


def l1(X):
    """Entrywise ℓ1: Σ|Xᵢⱼ|, the dual of ℓ∞ (so sign(M) is the ℓ∞ LMO)."""
    s = entry_scale(X, "X")
    return (X / s).abs().sum(dim=(-2, -1)) * s[..., 0, 0]


def lp(X, p):
    """Entrywise ℓp: (Σ|Xᵢⱼ|^p)^{1/p} for p ≥ 1 (p = 1 is ``l1``, p = 2 ``frobenius``)."""
    s = entry_scale(X, "X")
    return torch.linalg.vector_norm(X / s, p, dim=(-2, -1)) * s[..., 0, 0]


def schatten(X, p):
    """Schatten-p: ‖σ‖_p for p ≥ 1 (p = 1 is ``nuclear``, p = 2 ``frobenius``, p → ∞ ``spectral``)."""
    s = _svdvals(X)
    scale = s[..., :1].clamp_min(torch.finfo(s.dtype).tiny)
    return torch.linalg.vector_norm(s / scale, p, dim=-1) * scale[..., 0]


def spectral(X):
    """σ₁ (the operator norm ‖·‖_op)."""
    return _svdvals(X)[..., 0]


def nuclear(X):
    """Σᵢ σᵢ."""
    return _svdvals(X).sum(-1)


def ky_fan(X, k):
    """Ky Fan k-norm Σ_{i≤k} σᵢ: k = 1 is spectral, k ≥ rank is nuclear."""
    return _svdvals(X)[..., :k].sum(-1)


def ky_fan_dual(X, k):
    """Dual of the Ky Fan k-norm: max(‖X‖_nuc / k, ‖X‖_op); its unit ball holds Σ_{i≤k} uᵢvᵢᵀ."""
    s = _svdvals(X)
    return torch.maximum(s.sum(-1) / k, s[..., 0])


def sphere_directions(dim, count=20000, dtype=torch.float64):
    """Unit vectors covering the sphere in ℝ^dim: an angle grid for dim 2, a Fibonacci lattice for dim 3."""
    if dim == 2:
        t = torch.linspace(0, 2 * torch.pi, count + 1, dtype=dtype)[:-1]
        return torch.stack([t.cos(), t.sin()], -1)
    if dim == 3:
        i = torch.arange(count, dtype=dtype) + 0.5
        z = 1 - 2 * i / count
        phi = torch.pi * (3 - 5**0.5) * i
        r = (1 - z**2).sqrt()
        return torch.stack([r * phi.cos(), r * phi.sin(), z], -1)
    raise ValueError(f"dim must be 2 or 3, got {dim}")


def gauge(norm, s, directions=None):
    """Numerical dual of a unitarily invariant ``norm`` at singular-value vectors ``s`` (…, r).

    ‖s‖† = max_y ⟨s, y⟩ / ‖diag(y)‖ over the unit ``directions`` (default: ``sphere_directions``);
    a lower bound that is exact up to the grid's spacing.
    """
    directions = sphere_directions(s.size(-1), dtype=s.dtype) if directions is None else directions
    values = norm(torch.diag_embed(directions))
    return ((s @ directions.mT) / values).amax(-1)
