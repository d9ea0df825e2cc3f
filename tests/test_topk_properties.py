"""Property: for every iterative backend (rsvd by its a-posteriori check), converged=True means the factor error measured against the float64
SVD is at most rtol (at a tie, where the factor is not determined: ⟨M, P̃⟩ within rtol² of the Ky Fan norm)."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import fanions
from test_topk import HARD_SPECTRA, factor, factor_error, hard_matrix

EXPONENTS = {torch.float32: (-30, 30), torch.float64: (-300, 300)}  # 10^e within each dtype's range
RTOL = {torch.float32: [1e-2, 1e-3], torch.float64: [1e-2, 1e-4, 1e-8]}


@st.composite
def problems(draw):
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    spectrum = draw(st.sampled_from(sorted(HARD_SPECTRA)))
    largest = 16 if spectrum == "tight" else 160  # all values within 1e-6: small matrices, where it once failed
    m, n = draw(st.integers(6, largest)), draw(st.integers(6, largest))  # the clustered spectrum needs 5 values
    k = draw(st.integers(1, max(1, min(m, n) // 4)))
    seed = draw(st.integers(0, 2**16))
    scale = 10.0 ** draw(st.integers(*EXPONENTS[dtype]))
    return dtype, m, n, k, spectrum, seed, scale, draw(st.sampled_from(RTOL[dtype]))


@pytest.mark.parametrize("backend", ["lanczos", "power", "rsvd"])
@settings(max_examples=60, deadline=None)
@given(problem=problems())
def test_converged_means_within_rtol(backend, problem):
    dtype, m, n, k, spectrum, seed, scale, rtol = problem
    g = torch.Generator().manual_seed(seed)
    M = hard_matrix(spectrum, m, n, g, seed)  # float64
    A = (M * scale).to(dtype)  # the reference is A's SVD: at a gap of 1e-8 the rounding of M·scale moves P by 1e-8
    result = fanions.topk(A, k, backend, rtol=rtol, seed=seed, max_matvecs=20_000)
    assert torch.isfinite(result.S).all()
    if result.converged:
        A = A.double() * 2.0 ** -int(torch.frexp(A.double().abs().max()).exponent)  # exact: near 1, no rounding
        ky_fan_defect = 1 - float((A * factor(result).double()).sum() / torch.linalg.svdvals(A)[:k].sum())
        assert factor_error(factor(result), A, k) <= rtol or ky_fan_defect <= rtol**2
