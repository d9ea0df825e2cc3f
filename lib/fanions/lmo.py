"""Linear minimization oracles (LMOs) and their registry.

For a norm ‖·‖ with unit ball B, lmo(M) = argmax_{D ∈ B} ⟨M, D⟩, so ⟨M, lmo(M)⟩ = ‖M‖†,
the dual norm; an LMO optimizer steps X ← X − lr·lmo(momentum). With M = UΣVᵀ:

  nsgd    M/‖M‖_F                 dual ‖M‖_F
  sign    sign(M)                 dual ‖M‖_1 (entrywise)
  muon    UVᵀ                     dual ‖M‖_nuc
  neon    u₁v₁ᵀ                   dual σ₁
  fanion  Σ_{i≤k} uᵢvᵢᵀ           dual Ky Fan k = Σ_{i≤k} σᵢ
  f-X     α·X + (1−α)·nsgd        dual α·X† + (1−α)·‖M‖_F   (X = fanion, muon, neon)
  s-X     α·X + (1−α)·sign        dual α·X† + (1−α)·‖M‖_1

A mixture is exact: the support function of a Minkowski sum αB₁ + (1−α)B₂ is α h₁ + (1−α) h₂,
attained at α·lmo₁ + (1−α)·lmo₂. α outside [0, 1] is accepted (the paper runs α = −0.1 and
α > 1); the formula is then no longer a norm but is still what ``dual_norm`` returns.
Every LMO returns zeros for a zero matrix, and only the numerically nonzero singular
directions enter UVᵀ and Σ_{i≤k} uᵢvᵢᵀ.
"""
import inspect
import math
from dataclasses import dataclass
from typing import Callable

import torch

from . import norms
from .polar import POLAR_METHODS, polar as polar_factor, singular_value_mask
from .topk import BACKENDS, topk


@dataclass(frozen=True)
class LMO:
    direction: Callable
    dual_norm: Callable
    options: frozenset  # the keyword options it takes


LMOS: dict[str, LMO] = {}


def _keywords(fn):
    return {name for name, p in list(inspect.signature(fn).parameters.items())[1:] if p.kind != p.VAR_KEYWORD}


def register_lmo(name: str, *, dual_norm: Callable, options=None):
    """Decorator: register ``direction(M, **options)`` as the LMO ``name`` with ``dual_norm(M, **options)``.

    Its options are the keyword arguments of the two functions (or ``options``). Once registered,
    the name works everywhere a name is accepted: ``lmo``, ``dual_norm``, ``Fanion(lmo=...)``,
    the pipeline's sweeps.

        @fanions.register_lmo("linf-col", dual_norm=lambda M: M.norm(dim=-2).sum(-1))
        def column_normalized(M):   # the LMO of max_j ‖X[:, j]‖₂
            return M / M.norm(dim=-2, keepdim=True).clamp_min(1e-30)
    """
    def register(direction):
        if name in LMOS and LMOS[name].direction is not direction:
            raise ValueError(f"lmo {name!r} is already registered; pick another name")
        LMOS[name] = LMO(direction, dual_norm, frozenset(options or _keywords(direction) | _keywords(dual_norm)))
        return direction
    return register


def register_mixture(name: str, first: str, second: str):
    """Register ``name`` = α·first + (1−α)·second (α default ½), with dual α·first† + (1−α)·second†."""
    a, b = LMOS[first], LMOS[second]

    def direction(M, alpha=0.5, **options):
        return alpha * _call(a.direction, M, options) + (1 - alpha) * _call(b.direction, M, options)

    def dual(M, alpha=0.5, **options):
        return alpha * _call(a.dual_norm, M, options) + (1 - alpha) * _call(b.dual_norm, M, options)

    register_lmo(name, dual_norm=dual, options={"alpha"} | a.options | b.options)(direction)


def _call(fn, M, options):
    """Call fn with the options its signature names (all of them if it takes **kwargs)."""
    params = inspect.signature(fn).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return fn(M, **options)
    return fn(M, **{key: value for key, value in options.items() if key in params})


def _finite(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


_OPTION_CHECKS = {
    "alpha": (_finite, "a finite number"),
    "k": (lambda k: isinstance(k, int) and not isinstance(k, bool) and k >= 1, "an integer >= 1"),
    "polar": (lambda p: p in POLAR_METHODS, f"one of {sorted(POLAR_METHODS)}"),
    "polar_steps": (lambda s: isinstance(s, int) and not isinstance(s, bool) and s >= 1, "an integer >= 1"),
    "backend": (lambda b: b in BACKENDS, f"one of {sorted(BACKENDS)}"),
    "rtol": (lambda r: _finite(r) and r > 0, "a finite number > 0"),
}


def check_options(name: str, options: dict) -> None:
    """ValueError naming the bad lmo name, option or value, with what is allowed."""
    if name not in LMOS:
        raise ValueError(f"lmo={name!r} is not a registered LMO; allowed: {sorted(LMOS)}")
    unknown = set(options) - LMOS[name].options
    if unknown:
        raise ValueError(f"lmo {name!r} takes no option {sorted(unknown)}; its options: {sorted(LMOS[name].options)}")
    for key, value in options.items():
        ok, allowed = _OPTION_CHECKS.get(key, (lambda _: True, ""))
        if not ok(value):
            raise ValueError(f"{key}={value!r} is not allowed for lmo {name!r}; {key} must be {allowed}")


def lmo(M: torch.Tensor, name: str, **options) -> torch.Tensor:
    """The direction argmax_{‖D‖≤1} ⟨M, D⟩ of the LMO ``name`` for M (…, m, n)."""
    check_options(name, options)
    return _call(LMOS[name].direction, M, options)


def dual_norm(M: torch.Tensor, name: str, **options) -> torch.Tensor:
    """‖M‖† for the LMO ``name``, so that ⟨M, lmo(M)⟩ = dual_norm(M) (exact for α in [0, 1])."""
    check_options(name, options)
    return _call(LMOS[name].dual_norm, M, options)


@register_lmo("nsgd", dual_norm=norms.frobenius)
def nsgd(M):
    """M / ‖M‖_F, the Frobenius-ball LMO (normalized SGD)."""
    scale = norms.frobenius(M).clamp_min(torch.finfo(M.dtype).tiny)
    return M / scale[..., None, None]


@register_lmo("sign", dual_norm=norms.l1)
def sign(M):
    """sign(M), the ℓ∞-ball LMO (SignSGD)."""
    return torch.sign(M)


@register_lmo("muon", dual_norm=norms.nuclear)
def muon(M, polar="svd", polar_steps=5):
    """UVᵀ, the spectral-ball LMO, by the ``polar`` method (``polar_steps`` steps of an iteration)."""
    return polar_factor(M, polar, polar_steps)


@dataclass
class WarmStart:
    """A right singular subspace carried from one call to the next (momentum changes slowly):
    ``V`` (…, n, ≥k) starts the iterative top-k solver and is replaced by the new one;
    ``matvecs`` is what the last call cost."""
    V: torch.Tensor | None = None
    matvecs: int = 0


@register_lmo("fanion", dual_norm=norms.ky_fan)
def fanion(M, k=1, polar="svd", polar_steps=5, backend="auto", rtol=1e-3, warm: WarmStart | None = None):
    """Σ_{i≤k} uᵢvᵢᵀ, the LMO of the dual Ky Fan k-norm max(‖·‖_nuc / k, ‖·‖_op).

    The top k by ``backend`` (to the factor tolerance ``rtol``, warm-started from ``warm``);
    k ≥ min(m, n) is UVᵀ by ``polar``.
    """
    if k >= min(M.shape[-2:]):
        return muon(M, polar, polar_steps)
    result = topk(M, k, backend, rtol=rtol, init=None if warm is None else warm.V)
    if warm is not None:
        warm.V, warm.matvecs = result.V if result.basis is None else result.basis, result.matvecs
    keep = singular_value_mask(result.S, *M.shape[-2:]).to(M.dtype)
    return (result.U * keep.unsqueeze(-2)) @ result.V.mT


@register_lmo("neon", dual_norm=norms.spectral)
def neon(M, backend="auto", rtol=1e-3, warm: WarmStart | None = None):
    """u₁v₁ᵀ, the nuclear-ball LMO (the k = 1 Fanion)."""
    return fanion(M, 1, backend=backend, rtol=rtol, warm=warm)


for _first in ("fanion", "muon", "neon"):
    register_mixture(f"f-{_first}", _first, "nsgd")
    register_mixture(f"s-{_first}", _first, "sign")
