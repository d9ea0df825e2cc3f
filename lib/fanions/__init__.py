"""fanions: LMO optimizers for matrices — Muon, Neon, k-Fanions and their F-/S- mixtures.

    D = fanions.lmo(M, "f-muon", alpha=0.5)        # argmax_{‖D‖≤1} ⟨M, D⟩
    s = fanions.dual_norm(M, "f-muon", alpha=0.5)  # ⟨M, D⟩ = ‖M‖†
    U, S, V = fanions.topk(M, k, backend="lanczos")
    opt = fanions.Fanion(model.parameters(), lr=0.02, lmo="f-muon", alpha=0.5)
"""
from . import norms
from .lmo import BUILTIN_LMOS, LMOS, OPTIONS, WarmStart, check_options, dual_norm, is_integer, is_number, lmo, register_lmo, register_mixture
from .optim import SCALES, Fanion
from .polar import POLAR_METHODS, newton_schulz, newton_schulz_cubic, polar, polar_express, polar_express_design, polar_svd
from .topk import BACKENDS, TopK, topk

__version__ = "0.1.0"
__all__ = ["BACKENDS", "BUILTIN_LMOS", "Fanion", "LMOS", "OPTIONS", "POLAR_METHODS", "SCALES", "TopK", "WarmStart", "check_options",
           "dual_norm", "is_integer", "is_number", "lmo", "newton_schulz", "newton_schulz_cubic", "norms", "polar", "polar_express", "polar_express_design", "polar_svd", "register_lmo",
           "register_mixture", "topk"]
