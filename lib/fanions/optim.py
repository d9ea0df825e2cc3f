"""``Fanion``: one optimizer for every LMO, with an auxiliary AdamW for what is not a matrix.

Matrix step (momentum as an EMA; the LMOs are scale-invariant, so this equals the summed
form of KellerJordan/Muon and airbench):
    B ← μB + (1−μ)G,   M = (1−μ)G + μB if nesterov else B,
    X ← (1 − lr·wd)·X − lr·scale(m, n)·lmo(M).
Conv filters (out, in, kh, kw) are stepped as (out, in·kh·kw) matrices. Matrices of one
shape are stacked and go through the LMO in one batched call; for the top-k LMOs the last
step's singular subspace of each matrix (state "subspace") starts the next solve. Under
torch.distributed (DDP: every rank holds the same gradients) each rank solves its share of
every stack and the results are all-gathered.

Never half a step: before touching any parameter or buffer, ``step`` checks every gradient. A
sparse one is a ValueError; if any holds a NaN or ±Inf the whole step is skipped (parameters,
momenta, AdamW moments and step counts stay exactly as they were) and counted in
``skipped_steps``, as AMP's GradScaler skips an overflowed step. ``topk_fallbacks`` counts the
top-k solves that did not converge and were redone by the exact SVD. Both count since
construction and are not in the state_dict.
"""
import importlib.util
import math
from collections import defaultdict

import torch
import torch.distributed as dist

from .lmo import LMOS, OPTIONS, WarmStart, check_options, is_number, lmo
from .topk import CUPY_MISSING

SCALES = {
    "none": lambda m, n: 1.0,  # the paper's X ← X − lr·LMO
    "muon": lambda m, n: math.sqrt(max(1.0, m / n)),  # KellerJordan/Muon
    "rms": lambda m, n: 0.2 * math.sqrt(max(m, n)),  # Moonshot: the RMS of an AdamW update
    "spectral": lambda m, n: math.sqrt(m / n),  # the spectral-norm scaling of Bernstein et al.
}


def _check(ok, name, value, allowed):
    if not ok:
        raise ValueError(f"{name}={value!r} is not allowed; {name} must be {allowed}")


def _nonnegative(x):
    return is_number(x) and x >= 0


def _all_gather(x, world):
    parts = [torch.empty_like(x) for _ in range(world)]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def _sharded_lmo(stack, name, options):
    """lmo(stack) over a batch of same-shape matrices; under torch.distributed each rank solves a
    contiguous share (the last matrix repeated to even the shares) and the directions, and the
    warm-start subspaces, are all-gathered, so every rank ends with the same update and state."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return lmo(stack, name, **options)
    world, rank, count = dist.get_world_size(), dist.get_rank(), stack.size(0)
    share = -(-count // world)

    def mine(x):
        x = torch.cat([x, x[-1:].expand(share * world - count, *x.shape[1:])])
        return x[rank * share:(rank + 1) * share]

    warm = options.get("warm")
    local = {**options, "warm": WarmStart(None if warm.V is None else mine(warm.V))} if warm else options
    directions = _all_gather(lmo(mine(stack), name, **local), world)[:count]
    if warm:
        warm.fallbacks += local["warm"].fallbacks  # this rank's
    if warm and local["warm"].V is not None:
        warm.V = _all_gather(local["warm"].V, world)[:count]
    return directions


class Fanion(torch.optim.Optimizer):
    """LMO optimizer: ``lmo`` is any registered name (``fanions.LMOS``), with its options.

    Args:
        lr, momentum, nesterov, weight_decay: as above (weight decay decoupled, scaled by lr).
        lmo, alpha, k, polar, polar_steps, polar_dtype, backend, rtol: the LMO and its options;
            ``polar``, ``polar_steps``, ``polar_dtype`` (the Newton–Schulz / Polar Express dtype; None:
            bfloat16 on CUDA, the parameter's dtype elsewhere), ``backend`` and ``rtol`` apply to the
            LMOs that use them, ``alpha`` and ``k`` must be used by the LMO if given.
        sign_lr_coeff, p (keywords, through ``**lmo_options``): η of the S-mixtures, α·X + (1−α)·η·sign(M)
            (default 1), and the p of ``schatten`` and ``lp``; a param group may set them too.
        scale: "none", "muon" √max(1, m/n), "rms" 0.2·√max(m, n) or "spectral" √(m/n).
        adam_lr, adam_betas, adam_eps, adam_weight_decay: the auxiliary AdamW.
        **lmo_options: the options of a registered LMO of your own (``register_lmo``), by their names.

    A param group (given here or to ``add_param_group``) may set ``use_lmo``: True (matrices only;
    conv filters flattened), False (AdamW with the group's ``lr``: embeddings, heads), or leave it
    unset, and then its tensors of dim ≥ 2 take the LMO step and the others (biases, gains) AdamW
    with ``adam_lr`` and ``adam_weight_decay``.
    """

    def __init__(self, params, lr=0.02, lmo="muon", alpha=None, k=None, momentum=0.95, nesterov=True,
                 polar="newton-schulz", polar_steps=5, polar_dtype=None, backend="auto", rtol=1e-3, scale="none",
                 weight_decay=0.0, adam_lr=3e-4, adam_betas=(0.9, 0.95), adam_eps=1e-8, adam_weight_decay=0.0,
                 **lmo_options):
        check_options(lmo, {key: value for key, value in lmo_options.items() if value is not None})
        defaults = dict(lr=lr, lmo=lmo, alpha=alpha, k=k, momentum=momentum, nesterov=nesterov, polar=polar,
                        polar_steps=polar_steps, polar_dtype=polar_dtype, backend=backend, rtol=rtol, scale=scale,
                        weight_decay=weight_decay, adam_lr=adam_lr, adam_betas=adam_betas, adam_eps=adam_eps,
                        adam_weight_decay=adam_weight_decay, use_lmo=None, **lmo_options)
        self.skipped_steps = 0
        self.topk_fallbacks = 0
        super().__init__(params, defaults)

    def _route(self, group):
        """A group with ``use_lmo`` unset, split: its matrices to the LMO, the rest to AdamW (adam_lr)."""
        params = group["params"]
        if isinstance(params, set):  # as torch.optim.Optimizer refuses one
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering of "
                            "tensors in sets will change between runs. Please use a list instead.")
        group = dict(group, params=[params] if isinstance(params, torch.Tensor) else list(params))
        use_lmo = group.get("use_lmo")
        _check(use_lmo is None or isinstance(use_lmo, bool), "use_lmo", use_lmo,
               "True, False or None (unset: the matrices to the LMO, the rest to AdamW)")
        if use_lmo is not None:
            return [group]
        matrices = [p for p in group["params"] if p.ndim >= 2]
        others = [p for p in group["params"] if p.ndim < 2]
        adam = dict(group, params=others, use_lmo=False, lr=group.get("adam_lr", self.defaults["adam_lr"]),
                    weight_decay=group.get("adam_weight_decay", self.defaults["adam_weight_decay"]))
        routed = [dict(group, params=matrices, use_lmo=True)] if matrices else []
        return routed + [adam] if others or not matrices else routed

    def add_param_group(self, param_group):
        """Adds ``param_group`` routed as a constructor group is (see the class docstring); a bad one is refused
        whole, before any part of it is added."""
        routed = [{**self.defaults, **group} for group in self._route(param_group)]
        for group in routed:
            self._check_group(group)
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        for p in (p for group in routed for p in group["params"]):
            if id(p) in seen:  # torch only warns, and the parameter would take two steps
                raise ValueError(f"the parameter of shape {tuple(p.shape)} is given twice; give each parameter once")
            seen.add(id(p))
        for group in routed:
            super().add_param_group(group)

    def load_state_dict(self, state_dict):
        """torch's load, with every saved group's settings checked first, as a constructor's are (a state_dict
        written by hand or by another version may hold an LMO that is not registered, or a negative lr): a bad
        one is refused before anything is loaded."""
        saved = state_dict["param_groups"]
        if len(saved) == len(self.param_groups):  # else torch refuses it, naming the mismatch
            for group, current in zip(saved, self.param_groups):
                self._check_group({**current, **group, "params": current["params"]})
        super().load_state_dict(state_dict)

    def _check_group(self, group):
        """Every setting of the group, whether its tensors use it or not (a later split of a group may)."""
        for key in ("lr", "weight_decay", "adam_lr", "adam_weight_decay"):
            _check(_nonnegative(group[key]), key, group[key], "a finite number >= 0")
        _check(_nonnegative(group["momentum"]) and group["momentum"] < 1, "momentum", group["momentum"], "in [0, 1)")
        _check(isinstance(group["nesterov"], bool), "nesterov", group["nesterov"], "True or False")
        _check(group["scale"] in SCALES, "scale", group["scale"], f"one of {sorted(SCALES)}")
        betas, eps = group["adam_betas"], group["adam_eps"]
        _check(len(betas) == 2 and all(_nonnegative(b) and b < 1 for b in betas), "adam_betas", betas,
               "two numbers in [0, 1)")
        _check(is_number(eps) and eps > 0, "adam_eps", eps, "a finite number > 0")
        for key, (ok, allowed) in OPTIONS.items():  # a bad value even where this group's LMO does not use it
            _check(group.get(key) is None or ok(group[key]), key, group.get(key), allowed)
        if group["use_lmo"]:
            options = check_options(group["lmo"], self._lmo_options(group, strict=True))
            if options.get("backend") == "cupy":  # else the first step fails halfway, other groups stepped
                devices = sorted({str(p.device) for p in group["params"] if not p.is_cuda})
                if devices:
                    raise ValueError(f"backend='cupy' needs CUDA parameters; this group's are on {devices}: "
                                     "give it backend='lanczos' (or 'auto')")
                if importlib.util.find_spec("cupy") is None:
                    raise ImportError(CUPY_MISSING)
            for p in group["params"]:
                if p.ndim < 2:
                    raise ValueError(f"a use_lmo=True group holds a {p.ndim}-D tensor of shape {tuple(p.shape)}; "
                                     "LMO groups take tensors of dim >= 2 (put it in a group with use_lmo=False)")
        for p in group["params"]:
            if p.is_meta:  # no values to step (the LMO would fail on .item() at the first step)
                raise ValueError(f"the parameter of shape {tuple(p.shape)} is on the meta device: it has no values; "
                                 "materialise the model (e.g. model.to_empty(device=...) and its init) first")

    @staticmethod
    def _lmo_options(group, strict=False):
        """The group's LMO options: alpha and k when set (an error later if the LMO takes none), the other
        options where the LMO takes them (polar, backend, rtol, a user LMO's own)."""
        takes = LMOS[group["lmo"]].options if group["lmo"] in LMOS else set()
        return {key: group[key] for key in sorted((set(OPTIONS) | takes) - {"warm"})
                if group.get(key) is not None and (key in takes or (strict and key in ("alpha", "k")))}

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if not self._gradients_are_finite():
            self.skipped_steps += 1
            return loss
        for group in self.param_groups:
            (self._lmo_step if group["use_lmo"] else self._adam_step)(group)
        return loss

    def _gradients_are_finite(self):
        """Whether every gradient is finite (one host synchronisation per device); ValueError for a
        sparse one. Runs before any state changes."""
        finite = defaultdict(list)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.layout != torch.strided:
                    raise ValueError(f"a sparse gradient ({p.grad.layout}) for the parameter of shape "
                                     f"{tuple(p.shape)}: Fanion takes dense gradients only")
                finite[p.grad.device].append(p.grad.isfinite().all())
        return all(bool(torch.stack(flags).all()) for flags in finite.values())

    def _lmo_step(self, group):
        params = [p for p in group["params"] if p.grad is not None]
        mu = group["momentum"]
        momenta = []
        for p in params:
            g = p.grad.reshape(p.size(0), -1)
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.zeros_like(g)
            buf = state["momentum_buffer"]
            buf.lerp_(g, 1 - mu)
            momenta.append(g.lerp(buf, mu) if group["nesterov"] else buf)
        same_shape = defaultdict(list)
        for i, m in enumerate(momenta):
            same_shape[m.shape, m.dtype].append(i)
        options = self._lmo_options(group)
        for (shape, _), indices in same_shape.items():
            states = [self.state[params[i]] for i in indices]
            if "warm" in LMOS[group["lmo"]].options:  # last step's subspaces start the top-k solver
                previous = [state.get("subspace") for state in states]
                options["warm"] = WarmStart(None if None in previous else torch.stack(previous))
            directions = _sharded_lmo(torch.stack([momenta[i] for i in indices]), group["lmo"], options)
            if "warm" in options:
                self.topk_fallbacks += options["warm"].fallbacks
                for state, V in zip(states, options["warm"].V if options["warm"].V is not None else []):
                    state["subspace"] = V
            step = group["lr"] * SCALES[group["scale"]](*shape)
            for i, d in zip(indices, directions):
                p = params[i]
                p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(d.view_as(p), alpha=-step)

    def _adam_step(self, group):
        """AdamW (Loshchilov & Hutter), as torch.optim.AdamW computes it."""
        beta1, beta2 = group["adam_betas"]
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if not state:
                state.update(step=0, exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
            state["step"] += 1
            state["exp_avg"].lerp_(p.grad, 1 - beta1)
            state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            bias1, bias2 = 1 - beta1 ** state["step"], 1 - beta2 ** state["step"]
            p.mul_(1 - group["lr"] * group["weight_decay"])
            denom = (state["exp_avg_sq"].sqrt() / math.sqrt(bias2)).add_(group["adam_eps"])
            p.addcdiv_(state["exp_avg"], denom, value=-group["lr"] / bias1)
