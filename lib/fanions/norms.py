"""Matrix norms over the last two dims (leading dims are a batch), and their duals.

Duality: ‖Y‖† = max_{‖X‖≤1} ⟨Y, X⟩. Pairs used here: Frobenius ↔ Frobenius, ℓ∞ ↔ ℓ1,
spectral ↔ nuclear, Ky Fan k (Σ_{i≤k} σᵢ) ↔ max(‖·‖_nuc / k, ‖·‖_op). For a weighted sum
α‖·‖_a + (1−α)‖·‖_b the dual unit ball is the Minkowski sum α·B_a† + (1−α)·B_b†; ``gauge``
evaluates such duals numerically on singular-value vectors (what the norm-ball figures need).
"""
import torch


def frobenius(X):
    return X.norm(dim=(-2, -1))


def l1(X):
    """Entrywise ℓ1: Σ|Xᵢⱼ|, the dual of ℓ∞ (so sign(M) is the ℓ∞ LMO)."""
    return X.abs().sum(dim=(-2, -1))


def linf(X):
    return X.abs().amax(dim=(-2, -1))


def spectral(X):
    """σ₁ (the operator norm ‖·‖_op)."""
    return torch.linalg.svdvals(X)[..., 0]


def nuclear(X):
    """Σᵢ σᵢ."""
    return torch.linalg.svdvals(X).sum(-1)


def ky_fan(X, k):
    """Ky Fan k-norm Σ_{i≤k} σᵢ: k = 1 is spectral, k ≥ rank is nuclear."""
    return torch.linalg.svdvals(X)[..., :k].sum(-1)


def ky_fan_dual(X, k):
    """Dual of the Ky Fan k-norm: max(‖X‖_nuc / k, ‖X‖_op); its unit ball holds Σ_{i≤k} uᵢvᵢᵀ."""
    s = torch.linalg.svdvals(X)
    return torch.maximum(s.sum(-1) / k, s[..., 0])


def combination(alpha, norm_a, norm_b):
    """X ↦ α‖X‖_a + (1−α)‖X‖_b (a norm for α in [0, 1])."""
    return lambda X: alpha * norm_a(X) + (1 - alpha) * norm_b(X)


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
