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


def _ritz(M, Q, k):
    """Rayleigh–Ritz on the right subspace span(Q): M Q = Ũ Σ̃ Wᵀ, ṽ = Q W, so M ṽᵢ = σ̃ᵢ ũᵢ exactly.

    Returns the triplets, Mᵀ Ũ (the next Krylov direction, reused, not recomputed) and the
    estimated factor error of the top k: Davis–Kahan with the residual R = MᵀŨ_k − Ṽ_k Σ̃_k and
    the gap σ̃_k − σ̃_{k+1} shrunk by the residual norms, 2‖R‖_F / (gap·√k). Where the gap
    is below rtol·σ̃_k the factor is not determined and the Ky Fan identity is tested instead
    (Σ‖rᵢ‖ / Σσ̃ᵢ bounds the relative defect of ⟨M, P̃⟩ = Σ_{i≤k} σᵢ).
    """
    U, S, Wh = torch.linalg.svd(M @ Q, full_matrices=False)
    V = Q @ Wh.mT
    MtU = M.mT @ U
    residual = (MtU - V * S.unsqueeze(-2)).norm(dim=-2)  # ‖rᵢ‖ per triplet
    r_k = residual[..., :k]
    sigma_k = S[..., k - 1]
    if S.size(-1) > k:
        gap = (sigma_k - r_k[..., -1]) - (S[..., k] + residual[..., k])
    else:  # the subspace is the whole space: nothing beyond k
        gap = sigma_k
    factor = 2 * r_k.norm(dim=-1) / (gap.clamp_min(0) * math.sqrt(k))
    ky_fan = r_k.sum(-1) / S[..., :k].sum(-1)
    return U, S, V, MtU, factor, ky_fan, gap / sigma_k


def _estimate(factor, ky_fan, rel_gap, rtol):
    """Worst estimate over the batch; zero matrices (NaN estimates) count as exact."""
    err = torch.where(rel_gap < rtol, torch.minimum(factor, ky_fan), factor)
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


def lanczos(M, k, *, rtol=1e-3, max_matvecs=None, seed=0, init=None, block=None, depth=None):
    """Restarted block Golub–Kahan–Lanczos (block Krylov on MᵀM) with Rayleigh–Ritz.

    One cycle builds span{V, MᵀMV, …, (MᵀM)^depth V} from the b current Ritz vectors V
    (a thick restart: the best vectors so far are kept, and MᵀU from the Ritz step is the
    next block for free), block-orthogonalised, then extracts Ritz triplets. Every product
    is a GEMM with b columns.
    """
    m, n = M.shape[-2:]
    b = min(block or k + max(4, k // 2), m, n)
    depth = depth or max(1, min(6, (min(m, n) // b) - 1))
    max_matvecs = max_matvecs or max(20 * min(m, n), 400 * b)
    V = _random_block(M, b, seed, init)
    U, S, V, MtU, factor, ky_fan, rel_gap = _ritz(M, V, k)
    matvecs = 2 * b
    while True:
        error = _estimate(factor, ky_fan, rel_gap, rtol)
        if error <= rtol or matvecs >= max_matvecs:
            return TopK(U[..., :k], S[..., :k], V[..., :k], error, error <= rtol, matvecs)
        basis, W = [V[..., :b]], MtU[..., :b]
        for j in range(depth):
            if j:
                W = M.mT @ (M @ W)
                matvecs += 2 * b
            Q = torch.cat(basis, -1)
            W = _orthonormal(W - Q @ (Q.mT @ W))
            basis.append(W)
        # One Householder QR of the whole basis keeps it orthonormal even where the Krylov
        # space runs out (rank(M) < its size): the lost directions become harmless extras.
        Q = _orthonormal(torch.cat(basis, -1))
        U, S, V, MtU, factor, ky_fan, rel_gap = _ritz(M, Q, k)
        matvecs += 2 * Q.size(-1)


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
