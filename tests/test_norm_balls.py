"""Every boundary the norm-ball figures draw lies on the unit sphere of the norm it claims (Appendix C)."""
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow/scripts"))
import norm_balls as nb  # noqa: E402
import report  # noqa: E402
from job import lmo_options  # noqa: E402
import fanions  # this commit's lib/fanions (job.py puts it first on the path)

EXACT = {"polar": "svd", "backend": "svd"}


def lmo_ball_norm(points, lmo, **options):
    """‖p‖ of the LMO ball's own norm, numerically: the dual of ``dual_norm`` (``fanions.norms.gauge``)."""
    return fanions.norms.gauge(lambda X: fanions.dual_norm(X, lmo, **options), points)


@pytest.mark.parametrize("spec", [{"lmo": "muon"}, {"lmo": "nsgd"}, {"lmo": "neon"}, {"lmo": "sign"}]
                         + [{"lmo": name, "alpha": a} for name in ("f-muon", "f-neon") for a in (0.25, 0.5, 0.75)]
                         + [{"lmo": "s-muon", "alpha": 0.5, "sign_lr_coeff": eta} for eta in (0.3, 1.0)]
                         + [{"lmo": "schatten", "p": p} for p in (1.5, 4.0)])
def test_lmo_boundary_has_norm_one(spec):
    """‖p‖ = 1 where ‖·‖ is the norm whose dual is the LMO's dual_norm (numerical dual, exact up to the grid)."""
    lmo, options = spec["lmo"], lmo_options(spec, EXACT)
    points = nb.lmo_boundary(fanions.norms.sphere_directions(2, 300), lmo, **options)
    norms = lmo_ball_norm(points, lmo, **options)
    assert torch.allclose(norms, torch.ones_like(norms), atol=2e-4)


def test_mixture_boundary_is_the_minkowski_sum():
    """F-Muon's ball α·B_op + (1−α)·B_F: the point in direction u is α·sign(u) + (1−α)·u/‖u‖."""
    angles = (torch.arange(64, dtype=torch.float64) + 0.5) * 2 * torch.pi / 64  # off the axes, where sign(0) is 0
    u = torch.stack([angles.cos(), angles.sin()], -1)
    points = nb.lmo_boundary(u, "f-muon", alpha=0.3, polar="svd")
    assert torch.allclose(points, 0.3 * u.sign() + 0.7 * u, atol=1e-12)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_ky_fan_balls_in_3d_are_unit_spheres_of_the_explicit_formulas(k):
    ky_fan, dual = nb.ky_fan_pair(k)
    u = nb.sphere_grid(30).reshape(-1, 3)
    primal, dual_points = nb.radial_boundary(u, ky_fan), nb.radial_boundary(u, dual)
    top = primal.abs().sort(-1, descending=True).values
    assert torch.allclose(top[:, :k].sum(-1), torch.ones(len(u), dtype=u.dtype))  # Σ of the k largest |σᵢ|
    a = dual_points.abs()
    explicit = torch.maximum(a.amax(-1), a.sum(-1) / k)
    assert torch.allclose(explicit, torch.ones_like(explicit))


def test_ky_fan_two_ball_matches_the_papers_pair_sums_and_duality():
    ky_fan, dual = nb.ky_fan_pair(2)
    x, y, z = nb.radial_boundary(nb.sphere_grid(20).reshape(-1, 3), ky_fan).abs().unbind(-1)
    assert torch.allclose(torch.stack([x + y, x + z, y + z]).amax(0), torch.ones_like(x))
    dual_points = nb.radial_boundary(fanions.norms.sphere_directions(3, 200), dual)
    by_duality = fanions.norms.gauge(ky_fan, dual_points, fanions.norms.sphere_directions(3, 20000))
    assert (by_duality <= 1 + 1e-9).all() and (by_duality > 0.98).all()


@pytest.mark.parametrize("k, faces", [(1, (6, 8)), (2, (12, 14)), (3, (8, 6))])
def test_ky_fan_polytopes_are_drawn_face_by_face_on_the_unit_spheres(k, faces):
    """Cube/octahedron, rhombic dodecahedron/cuboctahedron, octahedron/cube: every corner and the centre of
    every face on the norm's unit sphere, so each drawn face is a flat piece of the sphere."""
    for vertices, norm, count in zip(nb.ky_fan_vertices(k), nb.ky_fan_pair(k), faces):
        drawn = nb.polytope_faces(vertices)
        assert len(drawn) == count
        for face in drawn:
            points = torch.cat([face, face.mean(0, keepdim=True)])
            assert torch.allclose(norm(torch.diag_embed(points)), torch.ones(len(points), dtype=points.dtype))


def test_table_1_lists_every_registered_lmo_a_users_too():
    """The paper's Table 1 comes from the registry: every LMO with the set it searches and its value; a user's LMO
    appears with what it states, marked as the user's."""
    name = "rows-of-table-1"
    fanions.register_lmo(name, dual_norm=lambda M: M.norm(dim=-1).sum(-1), ball=r"\max_i \|X_{i:}\|_2 \le 1",
                         formula=r"M_{i:}/\|M_{i:}\|_2")(lambda M: M / M.norm(dim=-1, keepdim=True))
    fanions.register_mixture(f"{name}-mix", "muon", name)  # its direction is defined inside fanions, yet it is the user's
    try:
        table = nb.lmo_table(fanions.LMOS)
    finally:
        del fanions.LMOS[name], fanions.LMOS[f"{name}-mix"]
    for lmo in fanions.LMOS:  # other tests' LMOs too, marked as the user's
        assert rf"\texttt{{{report.tex_escape(lmo)}}}" in table
    assert r"$\alpha\{\|X\|_{\mathrm{op}} \le 1\} + (1-\alpha)\{\|X\|_F \le 1\}$" in table  # F-Muon: a Minkowski sum
    assert rf"\texttt{{{name}-mix}} (user)" in table and r"\texttt{f-muon} &" in table
    assert rf"\texttt{{{name}}} (user) & $\max_i \|X_{{i:}}\|_2 \le 1$ & $M_{{i:}}/\|M_{{i:}}\|_2$" in table


def test_a_users_lmo_name_reaches_tex_escaped():
    """A name with '_' (scaled_cols) made the paper fail in LaTeX: "Missing $ inserted"."""
    name = "my_norm&co"
    fanions.register_lmo(name, dual_norm=lambda M: M.abs().sum((-2, -1)))(lambda M: torch.sign(M))
    try:
        table = nb.lmo_table(fanions.LMOS)
    finally:
        del fanions.LMOS[name]
    assert r"\texttt{my\_norm\&co} (user)" in table
    assert report.tex_label("my_norm α=0.5") == r"my\_norm $\alpha=0.5$"


def test_appendix_c_checks_find_the_lemmas_ball_and_the_l1_radius_k():
    """F-Muon's LMO points lie on α·B_op + (1−α)·B_F (the Lemma), not on α·B_nuc + (1−α)·B_F (the text), except at
    α = 0 where both are the Frobenius ball; the Ky Fan k-norm's dual ball reaches ℓ₁ radius k."""
    checks = nb.appendix_c_checks([0.0, 0.5, 1.0], 400, 3).set_index(["check", "alpha"])["value"]
    assert checks["fmuon_ball_lemma"].max() < 1e-9
    assert checks[("fmuon_ball_text", 0.0)] < 1e-9 and checks[("fmuon_ball_text", 0.5)] > 0.3
    assert checks[("fmuon_ball_text", 1.0)] == pytest.approx(1.0)  # ‖diag(1, 1)‖_op-ball point (1, 1) has nuclear norm 2
    assert checks["fneon_ball_lemma"].max() < 1e-9 and checks[("fneon_ball_text", 0.5)] > 0.1
    assert checks[("fneon_ball_text", 1.0)] < 1e-9  # Neon's points (±1, 0), (0, ±1) lie on both balls' boundaries
    assert checks["ky_fan_dual_l1_radius"].item() == pytest.approx(3, rel=0.05)  # measured on 400 directions


def test_the_ky_fan_figure_never_reads_the_padding_of_its_ragged_faces(monkeypatch):
    """matplotlib pads faces of unequal length (the cuboctahedron's triangles and squares) with np.empty and
    autoscaled from that memory: one CI run in many drew an axis to -inf and died. Here the padding is made the most negative float."""
    import numpy as np
    empty = np.empty
    monkeypatch.setattr(np, "empty", lambda shape, *args, **kwargs: np.full(shape, -np.finfo(float).max) if len(np.atleast_1d(shape)) == 3
                        else empty(shape, *args, **kwargs))
    fig = nb.figure_ky_fan_balls({"ky_fan_k": 2})
    assert all(ax.get_zlim() == (-1, 1) for ax in fig.axes)


def test_the_3d_figures_axis_labels_lie_inside_it():
    """Constrained layout does not see a 3D axis's labels: σ₃ on the right panel of the Ky Fan figure was cut."""
    fig = nb.figure_ky_fan_balls({"ky_fan_k": 2})
    fig.canvas.draw()
    renderer, page = fig.canvas.get_renderer(), fig.bbox
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
            box = axis.label.get_window_extent(renderer)
            assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1, axis.label


def test_table_1_pairs_the_papers_rows_and_its_note_spans_its_four_columns():
    """v2's rows from the registry, each with its measured error; the note spans the 4 columns of a preamble with
    p{} widths (it once spanned len(preamble) = 82 columns, and LaTeX laid the table out 374 pt too wide)."""
    table = nb.lmo_table(fanions.LMOS, nb.table_1_checks(fanions.LMOS))
    assert r"$1$ & \texttt{gauss-southwell}" in table and r"& \texttt{neon}: $u_1 v_1^\top$ &" in table
    assert r"$\infty$ & \texttt{sign}: $\operatorname{sign}(M)$ & \texttt{muon}: $UV^\top$" in table
    assert r"\multicolumn{4}{l}" in table and report.column_count(r"l>{\raggedright}p{2cm}l") == 3


def test_the_lr_balls_are_each_methods_lmo_ball_times_the_lr_it_runs_at():
    """v2's CIFAR ball figure: Muon's ball at lr 0.24 is the square max(|σ₁|, |σ₂|) = 0.24; F-Muon α = ½ at lr 0.4
    reaches 0.4 on the axes, and on the diagonal 0.4·(½ + ½/√2) per coordinate."""
    balls = {"muon": {"lmo": "muon", "lr": 0.24}, "f-muon": {"lmo": "f-muon", "alpha": 0.5, "lr": 0.4}}
    muon, fmuon = nb.lr_ball_boundaries(balls, 400).values()
    assert muon.abs().amax(-1).sub(0.24).abs().max() < 1e-12
    axis = fmuon[fmuon[:, 1].abs().argmin()]  # on an axis both parts point the same way
    assert axis.abs().tolist() == pytest.approx([0.4, 0.0], abs=1e-3)
    diagonal = fmuon[(fmuon[:, 0] - fmuon[:, 1]).abs().argmin()]
    assert diagonal[0] == pytest.approx(0.4 * (0.5 + 0.5 / math.sqrt(2)), rel=1e-3)
