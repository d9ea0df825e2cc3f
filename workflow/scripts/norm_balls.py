"""Norm balls in the plane (or space) of singular values (paper Appendix C, Figures 3-5).

A unitarily invariant norm is a function of the singular values, so its unit ball is drawn in
(σ₁, σ₂) or (σ₁, σ₂, σ₃), signs and order free. Two ways to trace a boundary:
  - the LMO ball {D : ‖D‖ ≤ 1} whose dual is an LMO's ``dual_norm``: its support point in direction
    u is lmo(diag(u)) (diagonal for diagonal input), so the points diag(lmo(diag(u))) over unit u,
    in angle order, trace it (the vertices of a polytope, joined, are its edges). A mixture's ball is
    the Minkowski sum α·B₁ + (1−α)·B₂, traced by α·lmo₁ + (1−α)·lmo₂, which is the mixture's LMO;
  - a norm's own unit sphere, radially: u / ‖diag(u)‖.
"""
import itertools

import pandas as pd
import torch

from job import lmo_options, provenance, read_csv, run_rule, write_csv, write_tex
from report import method_label, save_figure, tex_escape, tex_number, tex_table
import fanions  # this commit's lib/fanions (job.py puts it first on the path)

EXACT = {"polar": "svd", "backend": "svd"}  # exact LMOs where an LMO takes these options


def lmo_boundary(directions, lmo, **options):
    """Points diag(lmo(diag(u))) for the unit ``directions`` u (P, r): the boundary of the LMO's ball."""
    D = fanions.lmo(torch.diag_embed(directions), lmo, **options)
    return torch.diagonal(D, dim1=-2, dim2=-1)


def radial_boundary(directions, norm):
    """Points u / norm(diag(u)): the unit sphere of ``norm`` (a function of a matrix batch)."""
    return directions / norm(torch.diag_embed(directions)).unsqueeze(-1)


def ky_fan_pair(k):
    """The Ky Fan k-norm Σ_{i≤k} σᵢ and its dual max(‖·‖_nuc / k, ‖·‖_op)."""
    return (lambda X: fanions.norms.ky_fan(X, k)), (lambda X: fanions.norms.ky_fan_dual(X, k))


def ky_fan_vertices(k, dim=3):
    """The vertices of the Ky Fan k-norm's unit ball in ℝ^dim and of its dual's. The dual ball
    {max(‖x‖₁/k, ‖x‖_∞) ≤ 1} has the vertices with k entries ±1 and the rest 0; the Ky Fan ball, its polar,
    is the hull of the normals of the dual's facets: ±eᵢ (from ‖x‖_∞ ≤ 1) and s/k for sign vectors s
    (from ‖x‖₁ ≤ k); the hull drops those that are not vertices."""
    points = torch.tensor(list(itertools.product((-1.0, 0.0, 1.0), repeat=dim)), dtype=torch.float64)
    nonzero = (points != 0).sum(-1)
    return torch.cat([points[nonzero == 1], points[nonzero == dim] / k]), points[nonzero == k]


def polytope_faces(vertices):
    """The faces of the convex hull of ``vertices`` (P, 3): one polygon per facet, its vertices in order
    around it (qhull's triangles merged by their plane), so a polytope is drawn face by face, exactly."""
    from scipy.spatial import ConvexHull
    hull = ConvexHull(vertices.numpy())
    facets = {}
    for simplex, plane in zip(hull.simplices, hull.equations):
        facets.setdefault(tuple(plane.round(9)), set()).update(simplex.tolist())
    faces = []
    for plane, corners in facets.items():
        points = vertices[sorted(corners)]
        offsets = points - points.mean(0)
        a = offsets[0]
        b = torch.linalg.cross(torch.tensor(plane[:3], dtype=points.dtype), a)
        faces.append(points[torch.atan2(offsets @ b, offsets @ a).argsort()])
    return faces


def sphere_grid(count, dtype=torch.float64):
    """Unit vectors on a (θ, φ) grid (count × count × 3), for surface plots."""
    theta, phi = torch.meshgrid(torch.linspace(0, torch.pi, count, dtype=dtype),
                                torch.linspace(0, 2 * torch.pi, count, dtype=dtype), indexing="ij")
    return torch.stack([theta.sin() * phi.cos(), theta.sin() * phi.sin(), theta.cos()], -1)


# ---------------------------------------------------------------- the figures
def figure_lmo_balls(settings):
    """Figure 3: the LMO balls of the configured methods (Muon's square, F-Muon's rounded square)."""
    import style
    directions = fanions.norms.sphere_directions(2, settings["directions"])
    fig, axes = style.figure(1, 1, height=3.0, width=0.6)
    ax = axes[0, 0]
    labels = [method_label(spec) for spec in settings["lmo_balls"].values()]
    for label, spec in zip(labels, settings["lmo_balls"].values()):
        p = lmo_boundary(directions, spec["lmo"], **lmo_options(spec, EXACT))
        ax.plot(*torch.cat([p, p[:1]]).T, label=label, color=style.colors(labels)[label])
    ax.set(aspect="equal", xlabel=r"$\sigma_1$", ylabel=r"$\sigma_2$", title="LMO balls")
    ax.legend(loc="center")
    return fig


def figure_dual_balls(settings):
    """Figure 4: α·B_op + (1−α)·B_F (dual ball of α‖·‖_nuc + (1−α)‖·‖_F, F-Muon) and
    α·B_nuc + (1−α)·B_F (dual ball of α‖·‖_op + (1−α)‖·‖_F, F-Neon), for each α."""
    import style
    directions = fanions.norms.sphere_directions(2, settings["directions"])
    fig, axes = style.figure(1, 2, height=3.0)
    labels = [f"α = {alpha:g}" for alpha in settings["alphas"]]
    colors = style.colors(labels)
    for ax, lmo, title in zip(axes[0], ["f-muon", "f-neon"], [
            r"$\alpha B_{\mathrm{op}} + (1-\alpha) B_F$, dual of $\alpha\|\cdot\|_{\mathrm{nuc}} + (1-\alpha)\|\cdot\|_F$",
            r"$\alpha B_{\mathrm{nuc}} + (1-\alpha) B_F$, dual of $\alpha\|\cdot\|_{\mathrm{op}} + (1-\alpha)\|\cdot\|_F$"]):
        for alpha, label in zip(settings["alphas"], labels):
            p = lmo_boundary(directions, lmo, **lmo_options({"lmo": lmo, "alpha": alpha}, EXACT))
            ax.plot(*torch.cat([p, p[:1]]).T, label=label, color=colors[label], lw=1)
        ax.set(aspect="equal", xlabel=r"$\sigma_1$", ylabel=r"$\sigma_2$")
        ax.set_title(title, fontsize="small")
    axes[0, 1].legend(loc="center", fontsize="small")
    return fig


def figure_ky_fan_balls(settings):
    """Figure 5: in (σ₁, σ₂, σ₃), the Ky Fan k-norm ball and its dual, polytopes drawn face by face (for
    k = 2: the rhombic dodecahedron max of pair sums ≤ 1, and the cuboctahedron max(max|σᵢ|, ½Σ|σᵢ|) ≤ 1)."""
    import style
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection
    k = settings["ky_fan_k"]
    fig, axes = style.figure(1, 2, height=3.2, subplot_kw={"projection": "3d"})
    names = [f"Ky Fan {k}-norm ball", f"its dual ball, max(nuc/{k}, op)"]
    for ax, vertices, title, color in zip(axes[0], ky_fan_vertices(k), names, style.colors(names).values()):
        faces = [face.numpy() for face in polytope_faces(vertices)]
        # autolim=False: matplotlib pads ragged faces with np.empty and autoscaled from it (an axis to -inf, at random)
        ax.add_collection3d(Poly3DCollection(faces, facecolor=color, edgecolor="black", linewidth=0.6, alpha=0.55),
                            autolim=False)
        ticks = [-1, 0, 1]
        ax.set(xlim=(-1, 1), ylim=(-1, 1), zlim=(-1, 1), xticks=ticks, yticks=ticks, zticks=ticks, xlabel=r"$\sigma_1$", ylabel=r"$\sigma_2$",
               zlabel=r"$\sigma_3$", title=title)
        ax.set_box_aspect((1, 1, 1), zoom=0.85)  # room for the σ₃ label, which constrained layout does not see
    return fig


def lr_ball_boundaries(balls, directions):
    """{label: boundary points (P, 2)}: each method's LMO ball in the (σ₁, σ₂) plane scaled by its lr, the set of
    steps lr·lmo(M) one update can take (v2's CIFAR ball figure)."""
    unit = fanions.norms.sphere_directions(2, directions)
    return {f"{method_label(spec)}, lr {spec['lr']:g}":
            spec["lr"] * lmo_boundary(unit, spec["lmo"], **lmo_options({k: v for k, v in spec.items() if k != "lr"}, EXACT))
            for spec in balls.values()}


def figure_lr_balls(settings):
    """v2's CIFAR ball figure: the airbench table's Muon and F-Muon balls, each times the lr it runs at."""
    import style
    boundaries = lr_ball_boundaries(settings["lr_ball_methods"], settings["directions"])
    fig, axes = style.figure(1, 1, height=3.0, width=0.6)
    ax, colors = axes[0, 0], style.colors(list(boundaries))
    for label, p in boundaries.items():
        ax.plot(*torch.cat([p, p[:1]]).T, label=label, color=colors[label])
    ax.set(aspect="equal", xlabel=r"$\sigma_1$", ylabel=r"$\sigma_2$", title="LMO balls scaled by the learning rate")
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small")
    return fig


FIGURES = {"lmo_balls": figure_lmo_balls, "dual_balls": figure_dual_balls, "ky_fan_balls": figure_ky_fan_balls,
           "lr_balls": figure_lr_balls}

# v2's table of LMOs (§7.1): for each p, the ℓp ball of g = vec M beside the Schatten S_p ball of the matrix, as the
# registry's LMOs: (check key, p in TeX, p measured, vector LMO, matrix LMO); the open row is measured at p = 3.
P_ROWS = (("1", "1", 1.0, "gauss-southwell", "neon"), ("open", r"(1, \infty)", 3.0, "lp", "schatten"),
          ("2", "2", 2.0, "nsgd", "nsgd"), ("inf", r"\infty", float("inf"), "sign", "muon"))


def lmo_cell(lmos, name):
    lmo = lmos[name]
    return rf"\texttt{{{tex_escape(name)}}}: ${lmo.formula}$" if lmo.formula else rf"\texttt{{{tex_escape(name)}}}"


def lmo_table(lmos, checks=None):
    """The paper's Table 1 from the registry: v2's rows (the vector ℓp LMO of vec M beside the matrix Schatten-p
    LMO, for p = 1, (1, ∞), 2, ∞; with each pair's measured distance from the paper's formulas when ``checks``
    (``table_1_checks``) are given), then every other LMO (a user's too) with the set it searches and its value."""
    paired = [[f"${p}$", lmo_cell(lmos, vector), lmo_cell(lmos, matrix)] for _, p, _, vector, matrix in P_ROWS]
    if checks is not None:
        gaps = checks.set_index("check")["value"]
        paired = [row + [tex_number(gaps[f"table1_p{key}"], 1)] for row, (key, *_) in zip(paired, P_ROWS)]
    shown = {name for *_, vector, matrix in P_ROWS for name in (vector, matrix)}
    others = []
    for name, lmo in lmos.items():
        if name not in shown:
            others.append([rf"\texttt{{{tex_escape(name)}}}" + ("" if name in fanions.BUILTIN_LMOS else " (user)"),
                           f"${lmo.ball}$" if lmo.ball else "not stated", f"${lmo.formula}$" if lmo.formula else "not stated"])
    header = [r"$p$ & $\ell_p$ ball of $\operatorname{vec} M$ & Schatten $S_p$ ball of $M = U\Sigma V^\top$"
              + (r" & error \\" if checks is not None else r" \\")]
    note = (r"error: $\max |\lmo(M) - \text{the paper's formula}|$, both LMOs, Gaussian $12\times 8$, float64,"
            rf" $p = {P_ROWS[1][2]:g}$ in the open row") if checks is not None else None
    wrap = r">{\raggedright\arraybackslash}p{%s}"  # long formulas wrap inside the text width
    return (tex_table("l" + 2 * (wrap % "5.8cm") + ("l" if checks is not None else ""), header, paired, note=note)
            + r"\par\medskip" + "\n"
            + tex_table("l" + wrap % "6.4cm" + wrap % "5.2cm", [r"other LMOs & the set it searches & $\lmo(M)$ \\"], others))


def paper_formulas(M, p):
    """The paper's Table 1 formulas at p, in float64 from torch.linalg.svd and entrywise operations, independent of
    the library: (vector LMO of vec M, matrix LMO of M). p = 1 and ∞ are the limits (Gauss–Southwell / Neon,
    SignSGD / Muon)."""
    g = M.flatten()
    U, S, Vh = torch.linalg.svd(M, full_matrices=False)
    if p == 1:
        vector = torch.zeros_like(g)
        vector[g.abs().argmax()] = torch.sign(g[g.abs().argmax()])
        return vector.view_as(M), U[:, :1] @ Vh[:1]
    if p == float("inf"):
        return torch.sign(M), U @ Vh
    q = p / (p - 1)
    vector = torch.sign(g) * g.abs() ** (q - 1) / g.abs().pow(q).sum() ** ((q - 1) / q)
    return vector.view_as(M), (U * (S ** (q - 1) / S.pow(q).sum() ** ((q - 1) / q))) @ Vh


def table_1_checks(lmos, seed=0):
    """v2's Table 1 measured: for each row, the registry's two LMOs against the paper's formulas (``paper_formulas``)
    on a Gaussian 12×8 float64 matrix: the largest entry of the difference, one row per p."""
    M = torch.randn(12, 8, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    rows = []
    for key, _, p, vector, matrix in P_ROWS:
        gap = 0.0
        for name, reference in zip((vector, matrix), paper_formulas(M, p)):
            options = lmo_options({"lmo": name}, EXACT) | ({"p": p} if "p" in lmos[name].options else {})
            gap = max(gap, float((fanions.lmo(M, name, **options) - reference).abs().max()))
        rows.append({"check": f"table1_p{key}", "alpha": None, "value": gap})
    return pd.DataFrame(rows)


def appendix_c_checks(alphas, directions, k):
    """Appendix C's statements, measured. F-Muon's LMO points p = α·UVᵀ + (1−α)·M/‖M‖_F lie on the ball
    α·B_op + (1−α)·B_F (the paper's Lemma: its gauge, sup_u ⟨p, u⟩ / (α‖u‖_nuc + (1−α)‖u‖_F), is 1), not on
    α·B_nuc + (1−α)·B_F (the text's reading: support α‖u‖_op + (1−α)‖u‖_F); F-Neon's, p = α·u₁v₁ᵀ + (1−α)·M/‖M‖_F,
    on α·B_nuc + (1−α)·B_F (support α‖u‖_op + (1−α)‖u‖_F), not the text's α·B_op + (1−α)·B_F; and the dual ball
    of the Ky Fan k-norm: the largest ℓ₁ norm on its boundary (``ky_fan_dual_l1_radius``), k by
    max(‖x‖₁/k, ‖x‖_∞) ≤ 1 (the ℓ∞ ball cut by ‖x‖₁ ≤ k), not the text's 1/k."""
    norms, rows = fanions.norms, []
    sphere = norms.sphere_directions(2, directions)
    readings = {"fmuon": ("f-muon", {"lemma": norms.nuclear, "text": norms.spectral}),
                "fneon": ("f-neon", {"lemma": norms.spectral, "text": norms.nuclear})}
    for alpha in alphas:
        for name, (lmo, supports) in readings.items():
            points = lmo_boundary(sphere, lmo, **lmo_options({"lmo": lmo, "alpha": alpha}, EXACT))
            for reading, inner in supports.items():
                gauge = norms.gauge(lambda X: alpha * inner(X) + (1 - alpha) * norms.frobenius(X), points)
                rows.append({"check": f"{name}_ball_{reading}", "alpha": alpha, "value": float((gauge - 1).abs().max())})
    rows.append({"check": "ky_fan_dual_l1_radius", "alpha": None, "value": ky_fan_dual_l1_radius(k, directions)})
    return pd.DataFrame(rows)


def ky_fan_dual_l1_radius(k, directions, dim=3):
    """The largest ℓ₁ norm on the boundary of the Ky Fan k-norm's dual ball in ℝ^dim, measured: the ball's gauge at
    each of ``directions`` unit directions x is the numerical dual (``norms.gauge``) of the library's Ky Fan k-norm,
    and the radius is max ‖x‖₁ / gauge(x). Nothing here assumes the ball's shape (k for k ≤ dim)."""
    x = fanions.norms.sphere_directions(dim, directions)
    gauge = fanions.norms.gauge(lambda X: fanions.norms.ky_fan(X, k), x)
    return float((x.abs().sum(-1) / gauge).max())


def registry_checks(lmos, seed=0):
    """Table 1 measured: every registered LMO (the user's too) attains its dual norm, ⟨M, lmo(M)⟩ = ‖M‖†, on a
    Gaussian 12×8 float64 matrix (exact options): the largest relative gap, and how many LMOs were checked."""
    M = torch.randn(12, 8, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    gaps = []
    for name, lmo in lmos.items():
        options = lmo_options({"lmo": name}, EXACT)
        dual = fanions.dual_norm(M, name, **options)
        gaps.append(float(((M * fanions.lmo(M, name, **options)).sum() - dual).abs() / dual))
    return pd.DataFrame([{"check": "lmo_dual_gap", "alpha": None, "value": max(gaps)},
                         {"check": "lmo_count", "alpha": None, "value": len(gaps)}])


def checks_job(snakemake):
    settings = snakemake.params.settings
    frame = pd.concat([appendix_c_checks(settings["alphas"], settings["directions"], settings["ky_fan_k"]),
                       registry_checks(fanions.LMOS), table_1_checks(fanions.LMOS)], ignore_index=True)
    write_csv(frame, snakemake.output[0], provenance(snakemake))


def table_job(snakemake):
    checks = read_csv(snakemake.input.checks)
    write_tex(lmo_table(fanions.LMOS, checks), snakemake.output[0], provenance(snakemake))


def figure_job(snakemake):
    fig = FIGURES[snakemake.wildcards.figure](snakemake.params.settings)
    save_figure(fig, snakemake.output.pdf, snakemake.output.png, provenance(snakemake))


if __name__ == "__main__":
    run_rule(snakemake, {"norm_balls": figure_job, "lmo_table": table_job, "norm_ball_checks": checks_job})  # noqa: F821 (set by Snakemake)
