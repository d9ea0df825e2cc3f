import torch
import pytest


def matrix_with_spectrum(s, m, n, seed=0, dtype=torch.float64):
    """U diag(s) Vᵀ with Haar-random U (m×r), V (n×r), r = len(s)."""
    g = torch.Generator().manual_seed(seed)
    r = len(s)
    U = torch.linalg.qr(torch.randn(m, r, generator=g, dtype=dtype)).Q
    V = torch.linalg.qr(torch.randn(n, r, generator=g, dtype=dtype)).Q
    return U @ torch.diag(torch.as_tensor(s, dtype=dtype)) @ V.mT


@pytest.fixture
def matrices():
    """Tall, wide, square, batched, rank-deficient and repeated-spectrum test matrices (float64)."""
    g = torch.Generator().manual_seed(1)
    return {
        "tall": torch.randn(30, 20, generator=g, dtype=torch.float64),
        "wide": torch.randn(20, 30, generator=g, dtype=torch.float64),
        "square": torch.randn(25, 25, generator=g, dtype=torch.float64),
        "batched": torch.randn(3, 12, 8, generator=g, dtype=torch.float64),
        "rank3": matrix_with_spectrum([3.0, 2.0, 1.0], 20, 15, seed=2),
        "repeated": matrix_with_spectrum([2.0, 2.0, 2.0, 1.0, 1.0, 0.5], 18, 14, seed=3),
    }
