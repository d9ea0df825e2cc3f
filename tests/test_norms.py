"""fanions.norms against their definitions and their duality relations."""
import pytest
import torch

import fanions
from fanions import norms


def test_norms_match_their_definitions():
    X = torch.randn(4, 7, 5, dtype=torch.float64)
    s = torch.linalg.svdvals(X)
    torch.testing.assert_close(norms.frobenius(X), s.square().sum(-1).sqrt())
    torch.testing.assert_close(norms.spectral(X), torch.linalg.matrix_norm(X, ord=2))
    torch.testing.assert_close(norms.nuclear(X), torch.linalg.matrix_norm(X, ord="nuc"))
    torch.testing.assert_close(norms.l1(X), X.abs().flatten(-2).sum(-1))
    torch.testing.assert_close(norms.ky_fan(X, 1), norms.spectral(X))
    torch.testing.assert_close(norms.ky_fan(X, 5), norms.nuclear(X))
    torch.testing.assert_close(norms.ky_fan_dual(X, 1), norms.nuclear(X))
    torch.testing.assert_close(norms.ky_fan_dual(X, 5), norms.spectral(X))


def test_fanion_lies_on_the_dual_ky_fan_unit_sphere():
    X = torch.randn(9, 6, dtype=torch.float64)
    for k in (1, 2, 4):
        P = fanions.lmo(X, "fanion", k=k, backend="svd")
        torch.testing.assert_close(norms.ky_fan_dual(P, k), torch.tensor(1.0, dtype=X.dtype))


def test_numerical_gauge_recovers_known_duals():
    """On singular-value vectors in ℝ³: the dual of Ky Fan 2 is max(‖·‖_nuc/2, ‖·‖_op); Frobenius is self-dual."""
    s = torch.rand(50, 3, dtype=torch.float64) + 0.1
    exact = torch.maximum(s.sum(-1) / 2, s.amax(-1))
    numeric = norms.gauge(lambda X: norms.ky_fan(X, 2), s, norms.sphere_directions(3, 200000))
    assert (numeric <= exact + 1e-12).all() and (numeric >= exact * (1 - 5e-3)).all()
    s2 = torch.rand(50, 2, dtype=torch.float64)
    torch.testing.assert_close(norms.gauge(norms.frobenius, s2), s2.norm(dim=-1), rtol=1e-6, atol=0)


NORMS = {"frobenius": norms.frobenius, "l1": norms.l1, "spectral": norms.spectral,
         "nuclear": norms.nuclear, "ky_fan 2": lambda X: norms.ky_fan(X, 2), "ky_fan_dual 2": lambda X: norms.ky_fan_dual(X, 2)}


def test_norms_hold_at_every_representable_scale():
    """Scaled by the largest entry first (as LAPACK's nrm2): no square underflows or overflows, so each norm
    equals the float64 value of the same matrix to the dtype's rounding, from tiny entries to huge norms."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(2, 40, 30, generator=g, dtype=torch.float64)
    cases = [(torch.float32, 1e-25), (torch.float32, 1e-40), (torch.float32, 1e30), (torch.float64, 1e-300),
             (torch.float64, 1e300), (torch.float16, 1e-3), (torch.float16, 30.0), (torch.bfloat16, 1e-30),
             (torch.bfloat16, 1e30)]
    for dtype, scale in cases:
        Y = (X * scale).to(dtype)
        for name, norm in NORMS.items():
            exact = norm(Y.double())
            assert exact.isfinite().all() and (exact > 0).all(), (name, dtype, scale)
            got = norm(Y)
            assert got.dtype == dtype
            finfo = torch.finfo(dtype)  # a subnormal norm (1e-40 entries) is rounded to the subnormal grid
            torch.testing.assert_close(got.double(), exact, rtol=4 * finfo.eps, atol=finfo.tiny * finfo.eps,
                                       msg=f"{name} {dtype} at {scale}")


def test_a_norm_too_large_for_the_dtype_is_inf_not_zero():
    X = torch.full((40, 30), 1e4, dtype=torch.float16)  # ‖X‖_F = 3.5e5 > 65504
    assert norms.frobenius(X) == float("inf") and norms.l1(X) == float("inf")


def test_non_finite_input_raises_a_value_error_naming_it():
    for bad in (float("nan"), float("inf")):
        X = torch.randn(5, 4)
        X[1, 2] = bad
        for name, norm in NORMS.items():
            with pytest.raises(ValueError, match="non-finite"):
                norm(X)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_a_mixture_dual_norm_that_fits_the_dtype_is_not_lost_to_a_part_that_does_not(dtype):
    """‖ones(300, 300)‖₁ = 90000 is past float16's 65504; α·300 + (1 − α)·90000 fits for α ≥ 0.28: it once read
    inf (and NaN at α = 1, from 0·inf)."""
    M = torch.ones(300, 300, dtype=dtype)
    for alpha in (1.0, 0.5):
        expected = torch.tensor(alpha * 300 + (1 - alpha) * 90000, dtype=dtype)
        assert fanions.dual_norm(M, "s-muon", alpha=alpha) == expected
    assert fanions.dual_norm(M, "sign") == torch.tensor(90000.0).to(dtype)  # inf in float16, as it must be
