"""Linear minimization oracles (LMOs) and their registry.

For a norm ‖·‖ with unit ball B, lmo(M) = argmax_{D ∈ B} ⟨M, D⟩, so ⟨M, lmo(M)⟩ = ‖M‖†,
the dual norm; an LMO optimizer steps X ← X − lr·lmo(momentum). With M = UΣVᵀ:

  nsgd    M/‖M‖_F                 dual ‖M‖_F
  sign    sign(M)                 dual ‖M‖_1 (entrywise)
  gauss-southwell  sign(Mᵢⱼ)eᵢeⱼᵀ at argmax |Mᵢⱼ|   dual max|Mᵢⱼ| (the entrywise ℓ1 ball)
  muon    UVᵀ                     dual ‖M‖_nuc
  neon    u₁v₁ᵀ                   dual σ₁
  fanion  Σ_{i≤k} uᵢvᵢᵀ           dual Ky Fan k = Σ_{i≤k} σᵢ
  schatten  U diag(σ^{q−1}) Vᵀ / ‖σ‖_q^{q−1}   dual ‖σ‖_q (Schatten-q), 1/p + 1/q = 1, 1 < p < ∞
  lp      sign(M)|M|^{q−1} / ‖M‖_q^{q−1}   dual ‖M‖_q entrywise (the vector ℓp LMO of vec(M))
  f-X     α·X + (1−α)·nsgd        dual α·X† + (1−α)·‖M‖_F   (X = fanion, muon, neon)
  s-X     α·X + (1−α)·η·sign      dual α·X† + (1−α)·η·‖M‖_1   (η = sign_lr_coeff, default 1)

Schatten-p runs from Neon (p → 1) through NSGD (p = 2) to Muon (p → ∞); entrywise ℓp from the
Gauss–Southwell step (p → 1, ``gauss-southwell``) through NSGD to SignSGD (p → ∞).

A mixture is exact: the support function of a Minkowski sum αB₁ + (1−α)ηB₂ is α h₁ + (1−α)η h₂,
attained at α·lmo₁ + (1−α)·η·lmo₂ (η > 0 scales the second ball; η = 1 unless the mixture has a scale option). α outside [0, 1] is accepted (the paper runs α = −0.1 and
α > 1); the formula is then no longer a norm but is still what ``dual_norm`` returns.
Every LMO returns zeros for a zero matrix, and only the numerically nonzero singular
directions enter UVᵀ and Σ_{i≤k} uᵢvᵢᵀ.

Numerics, for every registered LMO: ``lmo`` and ``dual_norm`` divide M by the power of two
``norms.entry_scale(M)`` (exact) before anything else, so an LMO (invariant to positive scaling)
gives the same direction at every representable scale and a dual norm (homogeneous) is s·‖M / s‖†;
a NaN or ±Inf in M is a ValueError. float16/bfloat16 matrices are factorised in float32 and the
direction rounded to their dtype. A top-k solve that reports ``converged=False`` is redone by the
exact SVD (the direction is then exact) and counted in ``WarmStart.fallbacks``, or, without a
WarmStart, announced by a RuntimeWarning.
"""
import inspect
import math
import numbers
import warnings
from dataclasses import dataclass
from typing import Callable

import torch

from . import norms
from .norms import check_matrix, entry_scale, factor_dtype
from .polar import POLAR_METHODS, polar as polar_factor, singular_value_mask
from .topk import BACKENDS, topk


@dataclass(frozen=True)
class LMO:
    direction: Callable
    dual_norm: Callable
    options: frozenset  # the keyword options it takes
    ball: str = ""      # TeX: the set the LMO searches, e.g. r"\|X\|_F \le 1" (the paper's Table 1)
    formula: str = ""   # TeX: lmo(M), e.g. r"M/\|M\|_F"
    label: str = ""     # the name legends and tables show (default: the registered name)


LMOS: dict[str, LMO] = {}


def _keywords(fn):
    return {name for name, p in list(inspect.signature(fn).parameters.items())[1:] if p.kind != p.VAR_KEYWORD}


def register_lmo(name: str, *, dual_norm: Callable, options=None, ball: str = "", formula: str = "", label: str = ""):
    r"""Decorator: register ``direction(M, **options)`` as the LMO ``name`` with ``dual_norm(M, **options)``.

    Its options are the keyword arguments of the two functions (or ``options``). Once registered,
    the name works everywhere a name is accepted: ``lmo``, ``dual_norm``, ``Fanion(lmo=...)``,
    the pipeline's sweeps. ``ball`` and ``formula`` (TeX) say what it is: the set it searches and
    its value; the paper's Table 1 lists every registered LMO with them. ``label`` is the name the
    pipeline's legends and tables show (default: ``name``).

        @fanions.register_lmo("linf-col", dual_norm=lambda M: M.norm(dim=-2).sum(-1),
                              ball=r"\max_j \|X_{:j}\|_2 \le 1", formula=r"M_{:j}/\|M_{:j}\|_2")
        def column_normalized(M):   # the LMO of max_j ‖X[:, j]‖₂
            return M / M.norm(dim=-2, keepdim=True).clamp_min(1e-30)
    """
    def register(direction):
        if name in LMOS and LMOS[name].direction is not direction:
            raise ValueError(f"lmo {name!r} is already registered; pick another name")
        LMOS[name] = LMO(direction, dual_norm, frozenset(options or _keywords(direction) | _keywords(dual_norm)),
                         ball, formula, label)
        return direction
    return register


def register_mixture(name: str, first: str, second: str, scale: str | None = None):
    """Register ``name`` = α·first + (1−α)·η·second (α default ½), with dual α·first† + (1−α)·η·second†.

    ``scale`` names the option η (a finite number > 0, default 1) that scales the second part, as
    ``sign_lr_coeff`` does in the S-mixtures; without it η = 1. η = 1 gives exactly the unscaled mixture.
    """
    a, b = LMOS[first], LMOS[second]
    if scale is not None:
        OPTIONS.setdefault(scale, (_positive, "a finite number > 0"))
        _AS_PYTHON.setdefault(scale, float)

    def weights(options):
        alpha = options.pop("alpha", 0.5)
        eta = options.pop(scale, 1.0) if scale is not None else 1.0
        return alpha, (1 - alpha) * eta

    def direction(M, **options):
        first_weight, second_weight = weights(options)
        return first_weight * _call(a.direction, M, options) + second_weight * _call(b.direction, M, options)

    def dual(M, **options):
        first_weight, second_weight = weights(options)
        return first_weight * _call(a.dual_norm, M, options) + second_weight * _call(b.dual_norm, M, options)

    eta = r"\eta\," if scale is not None else ""
    register_lmo(name, dual_norm=dual, options={"alpha"} | a.options | b.options | ({scale} if scale else set()),
                 ball=rf"\alpha\{{{a.ball}\}} + (1-\alpha){eta}\{{{b.ball}\}}" if a.ball and b.ball else "",
                 formula=rf"\alpha\,{a.formula} + (1-\alpha)\,{eta}{b.formula}" if a.formula and b.formula else "")(direction)


def _call(fn, M, options):
    """Call fn with the options its signature names (all of them if it takes **kwargs)."""
    params = inspect.signature(fn).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return fn(M, **options)
    return fn(M, **{key: value for key, value in options.items() if key in params})


def is_number(x) -> bool:
    """A finite real number: int, float or a numpy scalar (not a bool)."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def _positive(x) -> bool:
    return is_number(x) and x > 0


def is_integer(x) -> bool:
    """An integer: int or a numpy integer (not a bool)."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


OPTIONS = {  # the library's LMO options, each with its check and what it allows (the one vocabulary)
    "alpha": (is_number, "a finite number"),
    "k": (lambda k: is_integer(k) and k >= 1, "an integer >= 1"),
    "polar": (lambda p: p in POLAR_METHODS, f"one of {sorted(POLAR_METHODS)}"),
    "polar_steps": (lambda s: is_integer(s) and s >= 1, "an integer >= 1"),
    "polar_dtype": (lambda d: d is None or (isinstance(d, torch.dtype) and d.is_floating_point),
                    "None (bfloat16 on CUDA, the matrix's dtype elsewhere) or a floating-point torch.dtype"),
    "backend": (lambda b: b in BACKENDS, f"one of {sorted(BACKENDS)}"),
    "rtol": (lambda r: is_number(r) and 0 < r < 1, "a number in (0, 1)"),
    "sign_lr_coeff": (_positive, "a finite number > 0"),   # η of the S-mixtures (register_mixture's scale)
    "p": (lambda p: is_number(p) and p > 1, "a finite number > 1 (p → 1 is neon, p → ∞ muon)"),
}
_AS_PYTHON = {"alpha": float, "k": int, "polar_steps": int, "rtol": float, "p": float, "sign_lr_coeff": float}


def check_options(name: str, options: dict) -> dict:
    """ValueError naming the bad lmo name, option or value, with what is allowed; returns the
    options with numpy scalars as Python numbers."""
    if name not in LMOS:
        raise ValueError(f"lmo={name!r} is not a registered LMO; allowed: {sorted(LMOS)}")
    unknown = set(options) - LMOS[name].options
    if unknown:
        raise ValueError(f"lmo {name!r} takes no option {sorted(unknown)}; its options: {sorted(LMOS[name].options)}")
    for key, value in options.items():
        ok, allowed = OPTIONS.get(key, (lambda _: True, ""))
        if not ok(value):
            raise ValueError(f"{key}={value!r} is not allowed for lmo {name!r}; {key} must be {allowed}")
    return {key: _AS_PYTHON[key](value) if key in _AS_PYTHON else value for key, value in options.items()}


def lmo(M: torch.Tensor, name: str, **options) -> torch.Tensor:
    """The direction argmax_{‖D‖≤1} ⟨M, D⟩ of the LMO ``name`` for M (…, m, n), computed on M / s
    (s = ``entry_scale(M)``: the direction does not depend on M's scale). ValueError for NaN/Inf."""
    options = check_options(name, options)
    check_matrix(M)
    return _call(LMOS[name].direction, M / entry_scale(M), options)


def dual_norm(M: torch.Tensor, name: str, **options) -> torch.Tensor:
    """‖M‖† = s·‖M / s‖† for the LMO ``name``, so that ⟨M, lmo(M)⟩ = dual_norm(M) (exact for α in [0, 1]);
    float16/bfloat16 in float32, rounded once at the end (a mixture that fits the dtype has parts that may not)."""
    options = check_options(name, options)
    check_matrix(M)
    s = entry_scale(M)
    X = (M / s).to(factor_dtype(M.dtype))
    return (_call(LMOS[name].dual_norm, X, options) * s[..., 0, 0]).to(M.dtype)


@register_lmo("nsgd", dual_norm=norms.frobenius, ball=r"\|X\|_F \le 1", formula=r"M/\|M\|_F")
def nsgd(M):
    """M / ‖M‖_F, the Frobenius-ball LMO (normalized SGD)."""
    scale = norms.frobenius(M).clamp_min(torch.finfo(M.dtype).tiny)
    return M / scale[..., None, None]


@register_lmo("sign", dual_norm=norms.l1, ball=r"\max_{ij}|X_{ij}| \le 1", formula=r"\operatorname{sign}(M)")
def sign(M):
    """sign(M), the ℓ∞-ball LMO (SignSGD)."""
    return torch.sign(M)


@register_lmo("gauss-southwell", dual_norm=lambda M: M.abs().amax(dim=(-2, -1)), ball=r"\sum_{ij}|X_{ij}| \le 1",
              formula=r"\operatorname{sign}(M_{ij})\,e_i e_j^\top,\ |M_{ij}| = \max")
def gauss_southwell(M):
    """sign(Mᵢⱼ)·eᵢeⱼᵀ at the largest |Mᵢⱼ| (the first, at a tie), the entrywise ℓ1-ball LMO (greedy coordinate
    descent); dual max|Mᵢⱼ|."""
    flat = M.flatten(-2)
    index = flat.abs().argmax(-1, keepdim=True)
    return torch.zeros_like(flat).scatter_(-1, index, torch.sign(flat.gather(-1, index))).view_as(M)


@register_lmo("muon", dual_norm=norms.nuclear, ball=r"\|X\|_{\mathrm{op}} \le 1", formula=r"UV^\top")
def muon(M, polar="svd", polar_steps=5, polar_dtype=None):
    """UVᵀ, the spectral-ball LMO, by the ``polar`` method (``polar_steps`` steps of an iteration in
    ``polar_dtype``)."""
    return polar_factor(M, polar, polar_steps, polar_dtype)


@dataclass
class WarmStart:
    """A right singular subspace carried from one call to the next (momentum changes slowly):
    ``V`` (…, n, ≥k) starts the iterative top-k solver and is replaced by the new one;
    ``matvecs`` is what the last call cost; ``fallbacks`` counts the calls whose top-k did not
    converge and was redone by the exact SVD."""
    V: torch.Tensor | None = None
    matvecs: int = 0
    fallbacks: int = 0


@register_lmo("fanion", dual_norm=lambda M, k=1: norms.ky_fan(M, k), ball=r"\|X\|_{\mathrm{nuc}} \le k,\ \|X\|_{\mathrm{op}} \le 1",
              formula=r"\textstyle\sum_{i\le k} u_i v_i^\top")
def fanion(M, k=1, polar="svd", polar_steps=5, polar_dtype=None, backend="auto", rtol=1e-3,
           warm: WarmStart | None = None):
    """Σ_{i≤k} uᵢvᵢᵀ, the LMO of the dual Ky Fan k-norm max(‖·‖_nuc / k, ‖·‖_op).

    The top k by ``backend`` (to the factor tolerance ``rtol``, warm-started from ``warm``), in
    float32 for float16/bfloat16; if it reports ``converged=False`` the exact SVD in float64 gives them
    instead (counted in ``warm.fallbacks``, else a RuntimeWarning): a gap that float32 cannot resolve to rtol
    is resolved there. k ≥ min(m, n) is UVᵀ by ``polar``.
    """
    if k >= min(M.shape[-2:]):
        return muon(M, polar, polar_steps, polar_dtype)
    X = M.to(factor_dtype(M.dtype))
    result = topk(X, k, backend, rtol=rtol, init=None if warm is None else warm.V)
    if warm is not None:
        warm.V, warm.matvecs = result.V if result.basis is None else result.basis, result.matvecs
    if not result.converged:
        if warm is not None:
            warm.fallbacks += 1
        else:
            warnings.warn(f"top-{k} by backend={backend!r} did not converge (estimated factor error "
                          f"{result.error:.2g}, rtol={rtol}); the exact SVD was used", RuntimeWarning, stacklevel=2)
        result = topk(X.double(), k, "svd")
    keep = singular_value_mask(result.S.to(X.dtype), *M.shape[-2:]).to(result.S.dtype)  # X's rank
    return ((result.U * keep.unsqueeze(-2)) @ result.V.mT).to(M.dtype)


@register_lmo("neon", dual_norm=norms.spectral, ball=r"\|X\|_{\mathrm{nuc}} \le 1", formula=r"u_1 v_1^\top")
def neon(M, backend="auto", rtol=1e-3, warm: WarmStart | None = None):
    """u₁v₁ᵀ, the nuclear-ball LMO (the k = 1 Fanion)."""
    return fanion(M, 1, backend=backend, rtol=rtol, warm=warm)


def _dual_exponent(p):
    """q with 1/p + 1/q = 1."""
    return p / (p - 1)


def _power_direction(x, q, keep):
    """x^{q−1} / ‖x‖_q^{q−1} for x ≥ 0 (where ``keep``; 0 elsewhere), along the last dim, computed on x / max x
    so that neither power overflows or underflows to a wrong direction as q grows (p → 1)."""
    r = torch.where(keep, x / x.amax(-1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny), 0.0)
    powered = r ** (q - 1)
    return powered / (r ** q).sum(-1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny) ** ((q - 1) / q)


@register_lmo("schatten", dual_norm=lambda M, p=2.0: norms.schatten(M, _dual_exponent(p)), ball=r"\|X\|_{S_p} \le 1",
              formula=r"U \operatorname{diag}(\sigma^{q-1}) V^\top / \|\sigma\|_q^{q-1}")
def schatten(M, p=2.0):
    """U diag(σ^{q−1}) Vᵀ / ‖σ‖_q^{q−1} (1/p + 1/q = 1), the Schatten-p-ball LMO, by the SVD (in float32 for
    float16/bfloat16); only numerically nonzero σᵢ enter. p = 2 is ``nsgd`` (computed as M/‖M‖_F), p → 1 tends
    to Neon (at a gap σ₁ > σ₂), p → ∞ to Muon."""
    if p == 2:
        return nsgd(M)
    U, S, Vh = torch.linalg.svd(M.to(factor_dtype(M.dtype)), full_matrices=False)
    weights = _power_direction(S, _dual_exponent(p), singular_value_mask(S, *M.shape[-2:]))
    return ((U * weights.unsqueeze(-2)) @ Vh).to(M.dtype)


@register_lmo("lp", dual_norm=lambda M, p=2.0: norms.lp(M, _dual_exponent(p)), ball=r"\|\operatorname{vec} X\|_p \le 1",
              formula=r"\operatorname{sign}(M) |M|^{q-1} / \|M\|_q^{q-1}")
def lp(M, p=2.0):
    """sign(M)|M|^{q−1} / ‖M‖_q^{q−1} entrywise (1/p + 1/q = 1): the vector ℓp-ball LMO applied to vec(M).
    p = 2 is ``nsgd``; p → ∞ tends to ``sign``, p → 1 to ``gauss-southwell`` (without a tie for the largest |Mᵢⱼ|)."""
    if p == 2:
        return nsgd(M)
    X = M.to(factor_dtype(M.dtype))
    flat = X.abs().flatten(-2)
    weights = _power_direction(flat, _dual_exponent(p), flat > 0).view_as(X)
    return (torch.sign(X) * weights).to(M.dtype)


for _first in ("fanion", "muon", "neon"):
    register_mixture(f"f-{_first}", _first, "nsgd")
    register_mixture(f"s-{_first}", _first, "sign", scale="sign_lr_coeff")

BUILTIN_LMOS = frozenset(LMOS)  # the library's own; any other name was registered by a user
