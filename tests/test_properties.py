"""Property-based tests (hypothesis) of every registered LMO: random shapes (1×1 to 64×48, batched), every
supported dtype, largest entries from 1e-30 to 1e30 within the dtype's range, Gaussian, rank-deficient,
repeated and clustered spectra. Checked in float64 on the exact values of the input and the output:

  the direction is finite, of M's shape and dtype;
  ⟨M, D⟩ = dual_norm(M), and dual_norm in M's dtype agrees, to the dtype's tolerance ``TOL``;
  D lies in the unit ball: its primal norm (exact, float64) is ≤ 1 + TOL, and for the mixtures
      ⟨Z, D⟩ ≤ dual_norm(Z) for Z = M and random Z (the support-function test of αB₁ + (1−α)B₂);
  scale invariance: lmo(2ʲM) = lmo(M) bit for bit (2ʲM is exact), so no scale changes the step.
"""
import math

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings, strategies as st

import fanions
from fanions import norms

# The tolerance each dtype supports (README "The library"): 64ε for float64/float32 (an SVD's backward error
# over up to 48 singular values), 4ε for float16/bfloat16 (factorised in float32, then a few roundings to
# the dtype). Measured over 400 examples: 1.3e-15, 7e-7, 8.6e-4 and 7.9e-3 at most.
TOL = {dtype: (64 if torch.finfo(dtype).bits > 16 else 4) * torch.finfo(dtype).eps
       for dtype in (torch.float64, torch.float32, torch.float16, torch.bfloat16)}
PRIMAL = {"nsgd": lambda D, o: norms.frobenius(D), "sign": lambda D, o: D.abs().amax(dim=(-2, -1)),
          "muon": lambda D, o: norms.spectral(D), "neon": lambda D, o: norms.nuclear(D),
          "fanion": lambda D, o: norms.ky_fan_dual(D, o["k"]), "schatten": lambda D, o: norms.schatten(D, o["p"]),
          "lp": lambda D, o: norms.lp(D, o["p"]), "gauss-southwell": lambda D, o: norms.l1(D)}
NAMES = sorted(fanions.LMOS)  # the built-ins (and whatever a plugin registered at import)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def spectrum(kind, r, g):
    """r singular values (descending, float64) of a given kind."""
    if kind == "gaussian":
        return None
    if kind == "rank-deficient":
        rank = int(torch.randint(0, r, (), generator=g)) + 1
        return torch.cat([torch.rand(rank, generator=g, dtype=torch.float64) + 0.1,
                          torch.zeros(r - rank, dtype=torch.float64)]).sort(descending=True).values
    if kind == "repeated":
        cut = int(torch.randint(0, r + 1, (), generator=g))
        return torch.cat([torch.full((cut,), 2.0), torch.ones(r - cut)]).double()
    return (1 + 1e-6 * torch.rand(r, generator=g, dtype=torch.float64)).sort(descending=True).values  # clustered


@st.composite
def matrices(draw):
    """(M, lo, hi): a random matrix and the range its largest entry may be scaled through."""
    dtype = draw(st.sampled_from(list(TOL)))
    batch = draw(st.sampled_from([(), (1,), (3,), (2, 2)]))
    m, n = draw(st.integers(1, 64)), draw(st.integers(1, 48))
    kind = draw(st.sampled_from(["gaussian", "rank-deficient", "repeated", "clustered"]))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**32 - 1)))
    s = spectrum(kind, min(m, n), g)
    A = torch.randn(*batch, m, n, generator=g, dtype=torch.float64)
    if s is not None:
        U = torch.linalg.qr(torch.randn(*batch, m, len(s), generator=g, dtype=torch.float64)).Q
        V = torch.linalg.qr(torch.randn(*batch, n, len(s), generator=g, dtype=torch.float64)).Q
        A = (U * s) @ V.mT
    finfo = torch.finfo(dtype)
    lo = max(1e-30, finfo.tiny / finfo.eps)  # entries down to max·ε stay normal numbers
    hi = min(1e30, finfo.max / (4 * m * n))  # every norm of M is finite in its dtype
    largest = 10 ** draw(st.floats(math.log10(lo), math.log10(hi)))
    A = A / A.abs().amax(dim=(-2, -1), keepdim=True).clamp_min(1e-300) * largest
    return A.to(dtype), lo, hi


def draw_options(draw, name, M):
    takes = fanions.LMOS[name].options
    opts = {}
    if "alpha" in takes:
        opts["alpha"] = draw(st.floats(0, 1))
    if "k" in takes:
        opts["k"] = draw(st.integers(1, min(M.shape[-2:])))
    if "sign_lr_coeff" in takes:
        opts["sign_lr_coeff"] = 10 ** draw(st.floats(-3, 1))
    if "p" in takes:
        opts["p"] = draw(st.sampled_from([1.25, 1.5, 2.0, 3.0, 8.0]))
    return opts  # backend "auto": the exact SVD at these sizes (the iterative ones: tests/test_topk.py)


def inner(A, B):
    return (A * B).sum(dim=(-2, -1))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.filterwarnings("ignore:top-.*did not converge:RuntimeWarning")  # near-ties float32 cannot resolve:
@SETTINGS                                                                      # the float64 fallback is tested
@given(case=matrices(), data=st.data())
def test_every_lmo_at_every_scale_and_dtype(name, case, data):
    M, lo, hi = case
    opts = draw_options(data.draw, name, M)
    tol = TOL[M.dtype]
    D = fanions.lmo(M, name, **opts)
    assert D.shape == M.shape and D.dtype == M.dtype and D.isfinite().all()

    M64, D64 = M.double(), D.double()
    exact = fanions.dual_norm(M64, name, **opts)
    dual = fanions.dual_norm(M, name, **opts)
    assert dual.dtype == M.dtype
    torch.testing.assert_close(dual.double(), exact, rtol=tol, atol=0)
    torch.testing.assert_close(inner(M64, D64), exact, rtol=tol, atol=0)

    family = name.split("-")[-1] if name.split("-")[0] in ("f", "s") else name
    if name in PRIMAL:
        assert (PRIMAL[name](D64, opts) <= 1 + tol).all()
    g = torch.Generator().manual_seed(0)
    Z = torch.cat([M64.unsqueeze(0), torch.randn(8, *M.shape, generator=g, dtype=torch.float64)])
    Z = Z / Z.abs().amax(dim=(-2, -1), keepdim=True).clamp_min(1e-300)
    assert (inner(Z, D64) <= fanions.dual_norm(Z, name, **opts) * (1 + tol) + 1e-12).all(), family

    j = data.draw(st.integers(-60, 60))
    cM = (M64 * 2.0**j).to(M.dtype)
    assume(torch.equal(cM.double() * 2.0**-j, M64) and lo <= cM.abs().amax() <= hi)  # 2ʲM exact in the dtype
    assert torch.equal(fanions.lmo(cM, name, **opts), D)
