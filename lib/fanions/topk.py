"""Top-k singular triplets M ≈ Σ_{i≤k} σᵢ uᵢ vᵢᵀ: the exact reference and iterative backends.

Every backend returns a ``TopK`` (it unpacks as ``U, S, V``: U (…, m, k), S (…, k)
descending, V (…, n, k)) with the matrix–vector products it used and, for the iterative
ones, the estimated relative error of the factor P = Σ_{i≤k} uᵢvᵢᵀ that an LMO needs:
‖P̃ − P‖_F / ‖P‖_F ≤ ``rtol`` is the stopping rule (the paper's metric).
"""
import math
from dataclasses import dataclass

import torch


@dataclass
class TopK:
    U: torch.Tensor
    S: torch.Tensor
    V: torch.Tensor
    error: float = 0.0  # estimated ‖P̃ − P‖_F / ‖P‖_F (0 for the exact SVD)
    converged: bool = True
    matvecs: int = 0  # products of M or Mᵀ with one vector, summed over blocks

    def __iter__(self):
        return iter((self.U, self.S, self.V))


def svd(M, k, **_):
    """Exact: the leading k triplets of torch.linalg.svd."""
    U, S, Vh = torch.linalg.svd(M, full_matrices=False)
    return TopK(U[..., :k], S[..., :k], Vh[..., :k, :].mT)


def _generator(M, seed):
    return torch.Generator(device=M.device).manual_seed(seed)


def _orthonormal(X):
    return torch.linalg.qr(X).Q


def _random_block(M, cols, seed, init=None):
    """Orthonormal n×cols start block: ``init``'s columns (a warm start), topped up with Gaussian ones."""
    n = M.size(-1)
    X = torch.randn(*M.shape[:-2], n, cols, generator=_generator(M, seed), dtype=M.dtype, device=M.device)
    if init is not None:
        used = min(init.size(-1), cols)
        X[..., :used] = init[..., :used].to(X)
    return _orthonormal(X)


def _ritz_error(S, residual, k):
    """Factor-error estimates for the top k Ritz triplets (σ̃ descending, residual norms ‖rᵢ‖).

    Davis–Kahan: 2‖R_k‖_F / (gap·√k) with the gap σ̃_k − σ̃_{k+1} shrunk by the residuals.
    At a tie the factor is not determined and the Ky Fan identity is tested instead:
    Σ_{i≤k}‖rᵢ‖ / Σ_{i≤k}σ̃ᵢ bounds the defect of ⟨M, P̃⟩ = Σ_{i≤k} σᵢ.
    """
    r_k = residual[..., :k]
    sigma_k = S[..., k - 1]
    if S.size(-1) > k:
        gap = (sigma_k - r_k[..., -1]) - (S[..., k] + residual[..., k])
    else:  # the subspace is the whole space: nothing beyond k
        gap = sigma_k
    factor = 2 * r_k.norm(dim=-1) / (gap.clamp_min(0) * math.sqrt(k))
    ky_fan = r_k.sum(-1) / S[..., :k].sum(-1)
    return factor, ky_fan, gap / sigma_k


def _ritz(M, Q, k):
    """Rayleigh–Ritz on the right subspace span(Q): M Q = Ũ Σ̃ Wᵀ, ṽ = Q W, so M ṽᵢ = σ̃ᵢ ũᵢ exactly.

    Returns the triplets, Mᵀ Ũ (the next power-iteration block, reused) and ``_ritz_error``.
    """
    U, S, Wh = torch.linalg.svd(M @ Q, full_matrices=False)
    V = Q @ Wh.mT
    MtU = M.mT @ U
    residual = (MtU - V * S.unsqueeze(-2)).norm(dim=-2)
    return U, S, V, MtU, *_ritz_error(S, residual, k)


def _estimate(factor, ky_fan, rel_gap, rtol):
    """Worst estimate over the batch; zero matrices (NaN estimates) count as exact.

    A relative gap below rtol² counts as a tie σ_k = σ_{k+1} (the factor is then not
    determined to rtol), and the Ky Fan estimate decides.
    """
    err = torch.where(rel_gap < rtol**2, torch.minimum(factor, ky_fan), factor)
    return float(err.nan_to_num(0.0).max())


def power(M, k, *, rtol=1e-3, max_matvecs=None, seed=0, init=None, oversample=None):
    """Block power (subspace) iteration with Rayleigh–Ritz: V ← orth(MᵀM V), b = k + oversample columns."""
    m, n = M.shape[-2:]
    b = min(k + (oversample if oversample is not None else max(2, k // 2)), m, n)
    max_matvecs = max_matvecs or 200 * b * 2
    V = _random_block(M, b, seed, init)
    matvecs = 0
    while True:
        U, S, Vr, MtU, factor, ky_fan, rel_gap = _ritz(M, V, k)
        matvecs += 2 * b
        error = _estimate(factor, ky_fan, rel_gap, rtol)
        if error <= rtol or matvecs >= max_matvecs:
            return TopK(U[..., :k], S[..., :k], Vr[..., :k], error, error <= rtol, matvecs)
        V = _orthonormal(MtU)


def _extend(basis, X, generator):
    """Orthonormal N ⟂ span(basis) with X = basis·C + N·R (C, R returned): a block Gram–Schmidt step.

    Two projection passes; columns of X that lie in span(basis) (the Krylov space ran out, or
    an invariant subspace was found) are replaced by random directions, so N stays orthonormal
    and orthogonal to the basis, and R = NᵀX keeps the relation exact.
    """
    size = X.norm(dim=-2, keepdim=True)
    C = basis.mT @ X
    Xp = X - basis @ C
    C2 = basis.mT @ Xp
    Xp, C = Xp - basis @ C2, C + C2
    lost = Xp.norm(dim=-2, keepdim=True) <= 1e-10 * size
    noise = torch.randn(Xp.shape, generator=generator, dtype=X.dtype, device=X.device)
    for _ in range(2):
        noise = noise - basis @ (basis.mT @ noise)
    N = _orthonormal(torch.where(lost, noise, Xp))
    N = _orthonormal(N - basis @ (basis.mT @ N))
    return N, C, N.mT @ Xp


def _block_upper(A, C, R):
    """[[A, C], [0, R]]."""
    return torch.cat([torch.cat([A, C], -1), torch.cat([torch.zeros_like(C.mT), R], -1)], -2)


def lanczos(M, k, *, rtol=1e-3, max_matvecs=None, seed=0, init=None, block=None, depth=None):
    """Thick-restart block Golub–Kahan–Lanczos with full reorthogonalisation.

    Builds orthonormal right and left bases Q, P with M Q = P B (B small, block upper
    triangular) one block of b columns at a time: Q_j from Mᵀ P_{j−1}, P_j from M Q_j, two
    GEMMs with b columns per block and no other product of M. Ritz triplets come from the
    SVD of B: uᵢ = P·ûᵢ, vᵢ = Q·v̂ᵢ, M vᵢ = σᵢuᵢ exactly, and the residual Mᵀuᵢ − σᵢvᵢ =
    Z·ûᵢ[last block] with Z the part of Mᵀ P_last outside Q, which is also the next block.
    After ``depth`` blocks the basis restarts from its best Ritz vectors (B becomes diagonal),
    so the memory stays (depth + 2)·b columns. Stops when the factor error estimate of
    ``_ritz_error`` is ≤ rtol, or after ``max_matvecs`` (then ``converged`` is False).
    """
    m, n = M.shape[-2:]
    small = min(m, n)
    b = min(block or k + max(3, k // 2), small)
    depth = depth or max(2, min(8, small // b - 1))
    keep = min(small, b + k)  # Ritz vectors kept at a restart
    max_matvecs = max_matvecs or max(20 * small, 400 * b)
    generator = _generator(M, seed)
    Q = _random_block(M, b, seed, init)
    P, R = torch.linalg.qr(M @ Q)
    B, matvecs = R, b
    Z_last = P  # the block whose Mᵀ-image extends Q next
    while True:
        for _ in range(depth):
            if Q.size(-1) + b > small:
                break
            Qj, _, _ = _extend(Q, M.mT @ Z_last, generator)
            Pj, C, R = _extend(P, M @ Qj, generator)
            B = _block_upper(B, C, R)
            Q, P, Z_last = torch.cat([Q, Qj], -1), torch.cat([P, Pj], -1), Pj
            matvecs += 2 * b
        Ub, S, Vbh = torch.linalg.svd(B)
        Qn, _, L = _extend(Q, M.mT @ Z_last, generator)  # the residual block, and the next Q block
        matvecs += b
        residual = (L @ Ub[..., -Z_last.size(-1):, :]).norm(dim=-2)
        error = _estimate(*_ritz_error(S, residual, k), rtol)
        U, V = P @ Ub, Q @ Vbh.mT
        if error <= rtol or matvecs >= max_matvecs or Q.size(-1) >= small:
            return TopK(U[..., :k], S[..., :k], V[..., :k], error, error <= rtol, matvecs)
        # thick restart: M V_keep = U_keep Σ_keep, and Mᵀ U_keep − V_keep Σ_keep = Qn·L·ûᵢ[last]
        j = min(keep, S.size(-1))
        Q, P = torch.cat([V[..., :j], Qn], -1), U[..., :j]
        Pn, C, R = _extend(P, M @ Qn, generator)
        matvecs += b
        B, P, Z_last = _block_upper(torch.diag_embed(S[..., :j]), C, R), torch.cat([P, Pn], -1), Pn


def rsvd(M, k, *, seed=0, oversample=10, niter=2, **_):
    """torch.svd_lowrank (Halko et al.: randomized range finder with ``niter`` power steps)."""
    with torch.random.fork_rng(devices=[M.device] if M.is_cuda else []):
        torch.manual_seed(seed)
        q = min(k + oversample, *M.shape[-2:])
        U, S, V = torch.svd_lowrank(M, q=q, niter=niter)
    return TopK(U[..., :k], S[..., :k], V[..., :k], math.nan, False, 2 * q * (niter + 1))


def cupy_svds(M, k, *, rtol=1e-3, **_):
    """cupyx.scipy.sparse.linalg.svds (thick-restart Lanczos on MᴴM), one matrix at a time."""
    try:
        import cupy
        from cupyx.scipy.sparse.linalg import svds
    except ImportError as e:
        raise ImportError("backend='cupy' needs cupy; install the GPU extra: pip install 'fanions[gpu]'") from e
    if not M.is_cuda:
        raise ValueError("backend='cupy' needs a CUDA tensor; use backend='lanczos' on the CPU")
    flat = M.reshape(-1, *M.shape[-2:])
    Us, Ss, Vs = [], [], []
    for A in flat:
        u, s, vt = svds(cupy.from_dlpack(A.contiguous()), k=k, tol=rtol)
        order = cupy.argsort(-s)
        Us.append(torch.from_dlpack(u[:, order]))
        Ss.append(torch.from_dlpack(s[order]))
        Vs.append(torch.from_dlpack(vt[order].T.copy()))
    shape = M.shape[:-2]
    return TopK(torch.stack(Us).reshape(*shape, -1, k), torch.stack(Ss).reshape(*shape, k),
                torch.stack(Vs).reshape(*shape, -1, k), math.nan, False)


def auto(M, k, **options):
    """The exact SVD for small matrices and large k, Lanczos otherwise."""
    small = min(M.shape[-2:])
    return (svd if small <= 256 or 4 * k >= small else lanczos)(M, k, **options)


BACKENDS = {"svd": svd, "lanczos": lanczos, "power": power, "rsvd": rsvd, "cupy": cupy_svds, "auto": auto}


def topk(M: torch.Tensor, k: int, backend: str = "auto", **options) -> TopK:
    """The k leading singular triplets of M (…, m, n) by ``backend``, one of BACKENDS.

    Options (where the backend uses them): ``rtol`` on the factor error, ``max_matvecs``,
    ``seed`` for the random start block, ``init`` (…, n, j) a warm-start subspace.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not a top-k backend; allowed: {sorted(BACKENDS)}")
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    k = min(k, *M.shape[-2:])
    return BACKENDS[backend](M, k, **options)
