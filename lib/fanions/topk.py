"""Top-k singular triplets M ≈ Σ_{i≤k} σᵢ uᵢ vᵢᵀ: the exact reference and iterative backends.

Every backend returns a ``TopK`` (it unpacks as ``U, S, V``: U (…, m, k), S (…, k)
descending, V (…, n, k)) with the matrix–vector products it used and, for the iterative
ones, the estimated relative error of the factor P = Σ_{i≤k} uᵢvᵢᵀ that an LMO needs:
‖P̃ − P‖_F / ‖P‖_F ≤ ``rtol`` is the stopping rule (the paper's metric).
"""
import math
import numbers
from dataclasses import dataclass

import torch

from .polar import singular_value_mask


@dataclass
class TopK:
    U: torch.Tensor
    S: torch.Tensor
    V: torch.Tensor
    error: float = 0.0  # estimated ‖P̃ − P‖_F / ‖P‖_F (for the exact SVD, what rounding leaves)
    converged: bool = True
    matvecs: int = 0  # products of M or Mᵀ with one vector, summed over blocks
    basis: torch.Tensor | None = None  # iterative backends: the leading b right Ritz vectors, to warm-start

    def __iter__(self):
        return iter((self.U, self.S, self.V))


def _times(M, X):
    """M X for a thin X, computed as (Xᵀ Mᵀ)ᵀ with Xᵀ copied row-major (b × n, cheap): the row-major
    thin-by-wide GEMM is several times faster on CPUs (2000², float32, one thread: b = 2 in 0.86 ms
    against 2.2 ms with Xᵀ a transposed view and 6 ms as M @ X); on a GPU alike."""
    return (X.mT.contiguous() @ M.mT).mT


def _times_t(M, Y):
    """Mᵀ Y for a thin Y, as (Yᵀ M)ᵀ."""
    return (Y.mT @ M).mT


def svd(M, k, *, rtol=1e-3, **_):  # the iterative backends' options do not apply
    """Exact up to rounding: the leading k triplets of torch.linalg.svd. Its error is ``_ritz_error``'s with
    residuals at the rounding floor ε·σ₁, about ε·σ₁/(σ_k − σ_{k+1}): a gap too small for the dtype (float32,
    σ₁/σ₂ − 1 = 1e-5 at rtol 1e-3) is not converged. It is 0 where the factor is not determined: at a tie
    (σ_k − σ_{k+1} < rtol²·σ_k, where any vectors of the tie are exact to rounding) and where σ_k is
    numerically zero (an LMO drops such directions)."""
    U, S, Vh = torch.linalg.svd(M, full_matrices=False)
    top = S[..., :k + 1]
    factor, _, rel_gap = _ritz_error(top, torch.zeros_like(top), k, torch.zeros_like(top))
    undetermined = (rel_gap < rtol**2) | ~singular_value_mask(S, *M.shape[-2:])[..., k - 1]
    error = float(torch.where(undetermined, 0.0, factor).nan_to_num(0.0, posinf=math.inf).max())
    return TopK(U[..., :k], S[..., :k], Vh[..., :k, :].mT, error, error <= rtol)


def _generator(M, seed):
    return torch.Generator(device=M.device).manual_seed(seed)


def _random_block(M, cols, seed, init=None, k=None):
    """Orthonormal n×cols start block: up to k (< cols) of ``init``'s columns (a warm start), topped up with
    Gaussian ones. A block drawn wholly from init never leaves span(init) where that is invariant under MᵀM
    (a gradient whose new top block is orthogonal to the last step's subspace) and would report its top as M's;
    with k columns from init at most, one of the k + 1 leading Ritz pairs, which the stopping rule reads, holds
    a Gaussian direction: its residual stays large until M's top is found. A single column takes init alone."""
    n = M.size(-1)
    X = torch.randn(*M.shape[:-2], n, cols, generator=_generator(M, seed), dtype=M.dtype, device=M.device)
    if init is not None:
        used = min(init.size(-1), k or cols, max(cols - 1, 1))
        X[..., :used] = init[..., :used].to(X)
    return _orthonormalize(X)[0]


def _ritz_error(S, residual, k, left_residual=None):
    """Factor-error bounds for the top k Ritz triplets (σ̃ descending, residual norms ‖rᵢ‖, ‖eᵢ‖).

    With rᵢ = Mᵀũᵢ − σ̃ᵢṽᵢ and eᵢ = M ṽᵢ − σ̃ᵢ ũᵢ (``left_residual``; None where it is 0 by
    construction, as in Lanczos and power iteration), the components of ṽᵢ, ũᵢ on a singular pair
    (σⱼ, uⱼ, vⱼ) of M are exactly cᵢⱼ = (σ̃ᵢ rᵢⱼ + σⱼ eᵢⱼ) / (σⱼ² − σ̃ᵢ²) and
    dᵢⱼ = (σⱼ rᵢⱼ + σ̃ᵢ eᵢⱼ) / (σⱼ² − σ̃ᵢ²) (rᵢⱼ = ⟨rᵢ, vⱼ⟩, eᵢⱼ = ⟨eᵢ, uⱼ⟩). Summed over j > k, with
    every such σⱼ ≤ σ̂ (an upper bound on σ_{k+1}) and Cauchy–Schwarz on the cross term:
        ‖sin Θ_U‖²_F + ‖sin Θ_V‖²_F ≤ Σ_{i≤k} [(σ̃ᵢ² + σ̂²)(‖rᵢ‖² + ‖eᵢ‖²) + 4σ̃ᵢσ̂‖rᵢ‖‖eᵢ‖] / (σ̃ᵢ² − σ̂²)²,
    each Ritz value with its own gap. ‖P̃ − P‖²_F ≤ 2(‖sin Θ_U‖² + ‖sin Θ_V‖²) up to terms of higher
    order (for k = 1 exactly: ‖P̃ − P‖² = 2 − 2(1 − ‖sin Θ_U‖²)σ̃₁/σ₁ and 1 − σ̃₁/σ₁ ≤ ‖sin Θ_V‖²).
    At a near tie this is ‖R‖/δ, half the Wedin/Davis–Kahan bound 2‖R‖/δ, and far from σ̂ less still.
    σ̂ is σ̃_{k+1} + r_{k+1}, or σ̃_{k+1} + r_{k+1}²/(σ̃_k − σ̃_{k+1}) once smaller (Kato–Temple: the
    Ritz value's error is quadratic in its residual); 0 when the basis spans the whole space.
    At a tie the factor is not determined and the Ky Fan identity is tested instead:
    Σ_{i≤k}(‖rᵢ‖ + ‖eᵢ‖) / Σ_{i≤k}σ̃ᵢ bounds the defect of ⟨M, P̃⟩ = Σ_{i≤k} σᵢ.
    Each residual is at least the rounding floor ε·σ̃₁ (no product with M is more exact), so a
    gap too small for the dtype never counts as converged.
    """
    floor = torch.finfo(S.dtype).eps * S[..., :1]
    left = torch.zeros_like(residual) if left_residual is None else left_residual + floor
    residual = residual + floor
    r_k, e_k, s_k = residual[..., :k], left[..., :k], S[..., :k]
    sigma_k = S[..., k - 1]
    next_sigma = S[..., k] if S.size(-1) > k else torch.zeros_like(sigma_k)  # 0: the whole space
    next_residual = torch.hypot(residual, left)[..., k] if S.size(-1) > k else torch.zeros_like(sigma_k)
    ritz_gap = sigma_k - next_sigma
    bound = (next_sigma + torch.minimum(next_residual, next_residual**2 / ritz_gap)).unsqueeze(-1)
    spill = (s_k**2 + bound**2) * (r_k**2 + e_k**2) + 4 * s_k * bound * r_k * e_k
    factor = (2 * (spill / (s_k**2 - bound**2).clamp_min(0) ** 2).sum(-1) / k).sqrt()  # inf where σ̃ᵢ ≤ σ̂
    ky_fan = (r_k + e_k).sum(-1) / s_k.sum(-1)
    return factor, ky_fan, ritz_gap / sigma_k


def _ritz(M, Q, k):
    """Rayleigh–Ritz on the right subspace span(Q): M Q = Ũ Σ̃ Wᵀ, ṽ = Q W, so M ṽᵢ = σ̃ᵢ ũᵢ exactly.

    Returns the triplets, Mᵀ Ũ (the next power-iteration block, reused) and ``_ritz_error``.
    """
    U, S, Wh = torch.linalg.svd(_times(M, Q), full_matrices=False)
    V = Q @ Wh.mT
    MtU = _times_t(M, U)
    residual = (MtU - V * S.unsqueeze(-2)).norm(dim=-2)
    return U, S, V, MtU, *_ritz_error(S, residual, k)


def _checked_error(M, U, S, V, k, rtol):
    """A-posteriori factor-error estimate of returned triplets, by ``_ritz_error`` on their true
    residuals Mᵀ U − V S and M V − U S (one product pair). U, S, V hold k triplets, or k + 1: the
    next one gives σ̂; without it σ_{k+1} is unknown (inf) unless k triplets are all of M."""
    if S.size(-1) == k and k < min(M.shape[-2:]):
        return math.inf
    right = (_times_t(M, U) - V * S.unsqueeze(-2)).norm(dim=-2)
    left = (_times(M, V) - U * S.unsqueeze(-2)).norm(dim=-2)
    return _estimate(*_ritz_error(S, right, k, left), rtol)


def _estimate(factor, ky_fan, ritz_gap, rtol):
    """Worst estimate over the batch; zero matrices (NaN estimates) count as exact, an unresolved gap is inf.

    Ritz values σ̃_k, σ̃_{k+1} closer than rtol²·σ̃_k count as a tie σ_k = σ_{k+1} (the factor
    is then not determined to rtol), and the Ky Fan estimate decides, in factor units: the
    defect of ⟨M, P̃⟩ is quadratic in the factor error, so its square root is compared. A
    near-tie that is merely unresolved yet thus keeps iterating until it is resolved.
    """
    err = torch.where(ritz_gap < rtol**2, torch.minimum(factor, ky_fan.sqrt()), factor)
    return float(err.nan_to_num(0.0, posinf=math.inf).max())


def power(M, k, *, rtol=1e-3, max_matvecs=None, seed=0, init=None, oversample=None):
    """Block power (subspace) iteration with Rayleigh–Ritz: V ← orth(MᵀM V), b = k + oversample columns."""
    m, n = M.shape[-2:]
    b = min(k + (oversample if oversample is not None else max(2, k // 2)), m, n)
    max_matvecs = max_matvecs or 200 * b * 2
    V = _random_block(M, b, seed, init, k)
    matvecs = 0
    while True:
        U, S, Vr, MtU, factor, ky_fan, rel_gap = _ritz(M, V, k)
        matvecs += 2 * b
        error = _estimate(factor, ky_fan, rel_gap, rtol)
        if error <= rtol or matvecs >= max_matvecs:
            return TopK(U[..., :k], S[..., :k], Vr[..., :k], error, error <= rtol, matvecs, Vr)
        V = _orthonormalize(MtU)[0]


def _cholesky_qr(Y):
    """Y = N R with N orthonormal, by Cholesky-QR twice on the column-scaled Y (CholQR2: two b×b
    Gram GEMMs and two triangular solves; a cuSOLVER Householder QR costs about a millisecond on a
    GPU whatever its size). Also returns whether it is trustworthy: both Cholesky factorisations
    succeeded and the second pass corrected the first by less than 10% (else Y is too
    ill-conditioned for it, e.g. a rank-deficient block)."""
    scale = Y.norm(dim=-2, keepdim=True).clamp_min(torch.finfo(Y.dtype).tiny)
    N, R = Y / scale, None
    for _ in range(2):
        Ri, info = torch.linalg.cholesky_ex(N.mT @ N, upper=True)
        N = torch.linalg.solve_triangular(Ri, N, upper=True, left=False)
        R = Ri if R is None else Ri @ R
    ok = (info == 0).all() & ((Ri.diagonal(dim1=-2, dim2=-1) - 1).abs() < 0.1).all()
    return N, R * scale, ok


def _orthonormalize(Y):
    """Y = N R with N orthonormal: ``_cholesky_qr``, or Householder QR where that is not trustworthy
    (one host synchronisation)."""
    N, R, ok = _cholesky_qr(Y)
    return (N, R) if ok else torch.linalg.qr(Y)


def _extend(basis, X, noise):
    """Orthonormal N ⟂ span(basis) with X = basis·C + N·R; returns N, C, R (block Gram–Schmidt).

    Project twice ("twice is enough"), tracking the coefficients exactly, then orthonormalize
    (``_cholesky_qr``). A column of X that lies in span(basis) to rounding, ‖X − basis·C‖ ≤ ε‖X‖
    (the Krylov space ran out, or an invariant subspace was found), is replaced by a column of
    the fixed random block ``noise``, so N stays orthonormal and orthogonal to the basis; its R
    column is 0. What that drops is no larger than the rounding floor ``_ritz_error`` adds to each
    residual; a larger threshold would drop real residuals (on a spectrum clustered within 1e-6
    they are 1e-6 of ‖X‖) and let the stopping rule see 0. A rank-deficient block falls back on
    Householder QR, whose completion columns are projected and orthonormalized once more.
    """
    C = basis.mT @ X
    Xp = X - basis @ C
    kept = Xp.norm(dim=-2, keepdim=True) > torch.finfo(X.dtype).eps * X.norm(dim=-2, keepdim=True)
    Y = torch.where(kept, Xp, noise)
    C2 = basis.mT @ Y
    Y = Y - basis @ C2
    N, R, ok = _cholesky_qr(Y)
    if not ok:
        N, R = torch.linalg.qr(Y)
        C3 = basis.mT @ N
        N, R3 = torch.linalg.qr(N - basis @ C3)
        C2, R = C2 + C3 @ R, R3 @ R
    return N, C + C2 * kept, R * kept


def _block_upper(A, C, R):
    """[[A, C], [0, R]]."""
    return torch.cat([torch.cat([A, C], -1), torch.cat([torch.zeros_like(C.mT), R], -1)], -2)


def lanczos(M, k, *, rtol=1e-3, max_matvecs=None, seed=0, init=None, block=None, depth=None, check_every=None):
    """Thick-restart block Golub–Kahan–Lanczos with full reorthogonalisation.

    Builds orthonormal right and left bases Q, P with M Q = P B (B small, block upper
    triangular) one block of b columns at a time: the next Q block from Mᵀ P_last, the next
    P block from M Q_new, two GEMMs with b columns per block and no other product of M.
    Ritz triplets come from the SVD of B: uᵢ = P·ûᵢ, vᵢ = Q·v̂ᵢ, so M vᵢ = σᵢuᵢ exactly and
    Mᵀuᵢ − σᵢvᵢ = Z·ûᵢ[last block], Z the part of Mᵀ P_last outside Q, which is also the
    next Q block: the residuals cost no product. They are checked once the basis holds more
    than k columns, then every ``check_every`` blocks (a host synchronisation each); when the
    basis holds ``depth`` blocks it restarts from its best Ritz vectors (B becomes diagonal).
    Once the factor error estimate (``_ritz_error``) is ≤ rtol it is confirmed on the true
    residuals of the top k + 1 triplets (``_checked_error``, 2(k + 1) products): the recurrence's
    residuals drift from them at rounding level (~100ε·σ₁ on a 10×10 after a few hundred products),
    which matters at a tight rtol and a small gap (float32 at rtol 1e-2 and a gap of 1e-3: the true
    estimate is up to 2.5 × the recurrence's). At the first check, after one block, nothing has been
    recurred yet (M Q = P B and Mᵀ P are the products themselves): an answer there, a warm start's
    as a rule, needs no confirmation. Stops when that is ≤ rtol too; else it goes on and
    confirms again once the recurrence's estimate has fallen by the ratio seen. It returns with
    ``converged`` False after ``max_matvecs``, or when a confirmation finds the true estimate less than
    20% below the last one: the rounding floor of the dtype, which more products do not lower
    (float32 at rtol 1e-2 on the stress spectra of the tests: 13 of 300 solves stayed at 1.03–2.5 × rtol
    over 10⁵ products). ``init`` (a warm start) gives up to k columns of the first block (``_random_block``).

    Defaults: ``_lanczos_shape``; a cycle holds at least 2(k + b) columns. A matrix too small for
    a restarted basis (min(m, n) ≤ k + 2b) gets the exact SVD.
    """
    m, n = M.shape[-2:]
    small = min(m, n)
    b, depth, check_every = _lanczos_shape(k, small, M.is_cuda, block, depth, check_every)
    max_basis = min(small - b, max(b * depth, 2 * (k + b)))  # the basis and its pending block fit in the space
    if max_basis - b <= k:  # too small for a restarted Krylov basis
        return svd(M, k, rtol=rtol)
    keep = min(max(k + b, max_basis // 2), max_basis - b)
    max_matvecs = max_matvecs or max(20 * small, 400 * b)
    generator = _generator(M, seed)
    noise_n, noise_m = (torch.randn(*M.shape[:-2], rows, b, generator=generator, dtype=M.dtype, device=M.device)
                        for rows in (n, m))
    Q = _random_block(M, b, seed, init, k)
    P, B = _orthonormalize(_times(M, Q))
    Qn, _, L = _extend(Q, _times_t(M, P), noise_n)
    matvecs, since_check, confirm_at, checked = 2 * b, check_every, rtol, 0.0
    while True:
        full = Q.size(-1) + b > max_basis
        if Q.size(-1) > k and (since_check >= check_every or full):
            Ub, S, Vbh = torch.linalg.svd(B)
            residual = (L @ Ub[..., -L.size(-1):, :]).norm(dim=-2)
            error, since_check = _estimate(*_ritz_error(S, residual, k), rtol), 0
            confirm = error <= confirm_at and matvecs > 2 * b  # the first block's residuals are not yet recurred
            if confirm or error <= rtol or matvecs >= max_matvecs:
                last = max(k + 1, b)  # the basis holds more than k columns
                U, V = P @ Ub[..., :last], Q @ Vbh[..., :last, :].mT
                stalled = False
                if confirm:  # the recurrence's residuals drift from the true ones: confirm on these
                    top = slice(0, k + 1)
                    previous, checked = checked, _checked_error(M, U[..., top], S[..., top], V[..., top], k, rtol)
                    matvecs, stalled = matvecs + 2 * (k + 1), previous and checked > 0.8 * previous  # rounding floor
                    if checked > rtol:  # go on, and confirm again once the estimate has fallen as far again
                        confirm_at = min(confirm_at, rtol * error / checked)
                error = max(error, checked)
                if error <= rtol or stalled or matvecs >= max_matvecs:
                    return TopK(U[..., :k], S[..., :k], V[..., :k], error, error <= rtol, matvecs, V[..., :b])
            if full:  # thick restart: M V_j = U_j Σ_j, Mᵀ U_j − V_j Σ_j ∈ span(Qn)
                Q, P, B = Q @ Vbh[..., :keep, :].mT, P @ Ub[..., :keep], torch.diag_embed(S[..., :keep])
        Pn, C, R = _extend(P, _times(M, Qn), noise_m)
        B, Q, P = _block_upper(B, C, R), torch.cat([Q, Qn], -1), torch.cat([P, Pn], -1)
        Qn, _, L = _extend(Q, _times_t(M, Pn), noise_n)
        matvecs, since_check = matvecs + 2 * b, since_check + 1


def _lanczos_shape(k, small, cuda, block, depth, check_every):
    """Block size b, blocks per restart cycle and blocks between convergence checks (each one a
    host synchronisation and an SVD of the small B).

    b > k (on a CPU up to k = 15): a cluster of singular values around σ_k then shows in the block as
    at least two Ritz values, σ̃_k and σ̃_{k+1}, so the gap the stopping rule divides by is the
    cluster's, not the distance to the next value outside it. With b = k a single vector, say, sees one
    direction of a doublet σ₁ ≈ σ₂ and its gap to σ₃: b = k answers 7 of the 15 cluster cases of the
    tests (``test_a_cluster_cannot_hide_the_gap``) converged with the wrong vectors, factor error up
    to √2. Beyond k = 15 a CPU block of 16 is smaller than k; a scratch sweep (k = 20 and 24, clusters
    of 18 to 26 values at the top, 36 solves) found no wrong answer: such solves run long enough for
    the missed directions to enter the basis through the residuals, but no bound says so.
    On a GPU a pass over M costs about the same for 1 to ~64 columns: b = k + max(3, k/2), a check
    every second block. On a CPU a pass costs about b matrix–vector products up to b = 4 and stays
    flat up to 16 (2000², measured): b = k + 1 while that is below 4 (Gaussian k = 1: 140 products in
    127 ms against 236 in 213 ms with b = 4), else k + max(3, k/2) up to 16; the SVD of a large B is
    not free there, so a check every block (2000² Gaussian, k = 50: 0.4 s against 0.9 s with b = 75).
    """
    b = k + max(3, k // 2)
    if not cuda:
        b = k + 1 if k + 1 < 4 else min(b, 16)
    b = min(block or b, small)
    depth = depth or (12 if b <= 16 else 6)
    check_every = check_every or (2 if cuda else 1)
    return b, depth, check_every


def rsvd(M, k, *, rtol=1e-3, seed=0, oversample=10, niter=2, **_):
    """torch.svd_lowrank (Halko et al.: randomized range finder with ``niter`` power steps), then
    ``_checked_error`` on the top k + 1 of its q = k + oversample triplets: converged where ≤ rtol."""
    with torch.random.fork_rng(devices=[M.device] if M.is_cuda else []):
        torch.manual_seed(seed)
        q = min(k + oversample, *M.shape[-2:])
        U, S, V = torch.svd_lowrank(M, q=q, niter=niter)
    checked = min(k + 1, q)
    error = _checked_error(M, U[..., :checked], S[..., :checked], V[..., :checked], k, rtol)
    return TopK(U[..., :k], S[..., :k], V[..., :k], error, error <= rtol, 2 * q * (niter + 1) + 2 * checked)


CUPY_MISSING = "backend='cupy' needs cupy; install the GPU extra: pip install 'fanions[gpu]'"


def cupy_svds(M, k, *, rtol=1e-3, **_):
    """cupyx.scipy.sparse.linalg.svds (thick-restart Lanczos on MᴴM), one matrix at a time, for k + 1
    triplets where M has them; converged where ``_checked_error`` on them is ≤ rtol."""
    try:
        import cupy
        from cupyx.scipy.sparse.linalg import svds
    except ImportError as e:
        raise ImportError(CUPY_MISSING) from e
    if not M.is_cuda:
        raise ValueError("backend='cupy' needs a CUDA tensor; use backend='lanczos' on the CPU")
    flat = M.reshape(-1, *M.shape[-2:])
    wanted = k + 1 if k + 1 < min(M.shape[-2:]) else k  # svds needs k < min(m, n)
    Us, Ss, Vs = [], [], []
    for A in flat:
        u, s, vt = svds(cupy.from_dlpack(A.contiguous()), k=wanted, tol=rtol)
        order = cupy.argsort(-s)
        Us.append(torch.from_dlpack(u[:, order]))
        Ss.append(torch.from_dlpack(s[order]))
        Vs.append(torch.from_dlpack(vt[order].T.copy()))
    shape = M.shape[:-2]
    U, S, V = (torch.stack(Us).reshape(*shape, -1, wanted), torch.stack(Ss).reshape(*shape, wanted),
               torch.stack(Vs).reshape(*shape, -1, wanted))
    error = _checked_error(M, U, S, V, k, rtol)
    return TopK(U[..., :k], S[..., :k], V[..., :k], error, error <= rtol, 2 * wanted)


def auto(M, k, **options):
    """The exact SVD for small matrices and large k, Lanczos otherwise."""
    small = min(M.shape[-2:])
    return (svd if small <= 256 or 4 * k >= small else lanczos)(M, k, **options)


BACKENDS = {"svd": svd, "lanczos": lanczos, "power": power, "rsvd": rsvd, "cupy": cupy_svds, "auto": auto}
# Every backend takes them; svd, cupy and rsvd (torch.svd_lowrank has no start block or budget) ignore
# max_matvecs and init.
COMMON_OPTIONS = ("rtol", "max_matvecs", "seed", "init")
OPTIONS = {"svd": COMMON_OPTIONS, "cupy": COMMON_OPTIONS, "lanczos": (*COMMON_OPTIONS, "block", "depth", "check_every"),
           "power": (*COMMON_OPTIONS, "oversample"), "rsvd": (*COMMON_OPTIONS, "oversample", "niter")}
OPTIONS["auto"] = OPTIONS["lanczos"]


def _integer(name, value, least, none=False):
    """value as an int ≥ least (numpy integers are integers); None where ``none``."""
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {least}{' or None' if none else ''}, got {value!r}")
    if value < least:
        raise ValueError(f"{name} must be an integer >= {least}{' or None' if none else ''}, got {value!r}")
    return int(value)


def _checked(M, k, backend, options):
    """Every argument of ``topk`` checked in one place: k and the integer options as ints, the rest
    as given; a TypeError or ValueError naming the argument and what is allowed otherwise."""
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not a top-k backend; allowed: {sorted(BACKENDS)}")
    if not isinstance(M, torch.Tensor) or not (M.dtype.is_floating_point and M.dim() >= 2):
        raise TypeError(f"M must be a floating-point tensor (..., m, n), got {getattr(M, 'dtype', type(M))}")
    if min(M.shape[-2:]) == 0:
        raise ValueError(f"M must have at least one row and one column, got shape {tuple(M.shape)}")
    k = _integer("k", k, 1)
    unknown = sorted(set(options) - set(OPTIONS[backend]))
    if unknown:
        raise TypeError(f"backend={backend!r} takes no option {', '.join(map(repr, unknown))}; "
                        f"allowed: {', '.join(OPTIONS[backend])}")
    checked = dict(options)
    rtol = options.get("rtol", 1e-3)
    if isinstance(rtol, bool) or not isinstance(rtol, numbers.Real) or not 0 < rtol < 1:
        raise ValueError(f"rtol must be a number in (0, 1) (a relative error of the factor; 1 accepts any answer), "
                         f"got {rtol!r}")
    oversample = 1 if backend == "power" else 0  # power's estimate needs σ̃_{k+1}
    for name, least in (("max_matvecs", 1), ("block", 1), ("depth", 1), ("check_every", 1), ("oversample", oversample)):
        if name in options:
            checked[name] = _integer(name, options[name], least, none=True)
    for name, least in (("seed", 0), ("niter", 0)):
        if name in options:
            checked[name] = _integer(name, options[name], least)
    init = options.get("init")
    if init is not None and not (isinstance(init, torch.Tensor) and init.dim() == M.dim()
                                 and init.shape[:-2] == M.shape[:-2] and init.size(-2) == M.size(-1)):
        raise ValueError(f"init must be None or a tensor (..., n, j) with M's batch shape and n = {M.size(-1)}, "
                         f"got {getattr(init, 'shape', type(init))}")
    return min(k, *M.shape[-2:]), checked


def _normalized(M):
    """M / 2ᵉ with 2ᵉ near its largest entry (per matrix), in float32 for the half dtypes, and 2ᵉ.

    The solvers square residuals and singular values; those under- or overflow once the entries
    leave [tiny^¼, max^¼] (float32 ≈ [3e-10, 4e9]). A power of two scales exactly, and every step of
    the solvers scales with M, so inside that window no division is needed (it would cost a pass
    over M and change no bit) and the scale is 1."""
    A = M.float() if M.dtype in (torch.float16, torch.bfloat16) else M
    flat = A.flatten(-2)  # no |A| copy; torch.aminmax's one pass took 8× amin's and amax's two on a CPU (2000²)
    low, high = flat.amin(-1), flat.amax(-1)
    largest, info = torch.maximum(-low, high), torch.finfo(A.dtype)
    in_range = ((largest >= info.tiny**0.25) | (largest == 0)) & (largest <= info.max**0.25)
    if in_range.all() or not torch.isfinite(largest).all():  # non-finite input goes through as it is
        return A, None
    scale = torch.exp2(torch.floor(torch.log2(largest.clamp_min(info.tiny))))
    return A / scale[..., None, None], scale


def topk(M: torch.Tensor, k: int, backend: str = "auto", **options) -> TopK:
    """The k leading singular triplets of M (…, m, n) by ``backend``, one of BACKENDS.

    Options (``OPTIONS`` lists each backend's; the exact backends ignore the iterative ones):
    ``rtol`` in (0, 1) on the factor error, ``max_matvecs``, ``seed`` for the random start block,
    ``init`` (…, n, j) a warm-start subspace; Lanczos's ``block``, ``depth``, ``check_every``;
    ``oversample`` and ``niter`` of power iteration and rsvd. M is solved scaled by a power of two
    near its largest entry (``_normalized``) and S scaled back; float16 and bfloat16 are solved in
    float32 and returned in their own dtype.
    """
    k, options = _checked(M, k, backend, options)
    A, scale = _normalized(M)
    result = BACKENDS[backend](A, k, **options)
    if scale is not None:
        result.S = result.S * scale[..., None]
    for name in ("U", "S", "V"):
        setattr(result, name, getattr(result, name).to(M.dtype))
    return result
