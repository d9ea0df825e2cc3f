"""The CUDA paths, each against the float64 SVD on the CPU (marker ``cuda``: skipped without a GPU; ``pytest -m cuda``
runs them). Every backend's top k, the polar factor in bfloat16, a Fanion step on CUDA against the same step on the
CPU, and one airbench run in float16 with channels_last (the GPU path of the §6.2 runs)."""
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

import fanions
from conftest import matrix_with_spectrum

pytestmark = pytest.mark.cuda
CUDA = torch.device("cuda")
SPECTRUM = [10.0, 8.0, 6.0, 4.0, 3.0] + torch.linspace(1.0, 0.01, 200).tolist()


def factor_error(result, M, k):
    """‖U Vᵀ − P_k‖_F / ‖P_k‖_F against the exact factor of M (float64, CPU)."""
    U, _, Vh = torch.linalg.svd(M.double().cpu(), full_matrices=False)
    exact = U[:, :k] @ Vh[:k]
    return float((result.U.double().cpu() @ result.V.double().cpu().mT - exact).norm() / exact.norm())


@pytest.mark.parametrize("backend", ["svd", "lanczos", "power", "rsvd", "auto", "cupy"])
def test_every_top_k_backend_on_cuda_finds_the_float64_factor(backend):
    if backend == "cupy" and importlib.util.find_spec("cupy") is None:
        pytest.skip("cupy is not installed (pip install 'fanions[gpu]')")
    M = matrix_with_spectrum(SPECTRUM, 400, 300, seed=5).to(CUDA, torch.float32)
    options = {"niter": 8} if backend == "rsvd" else {"rtol": 1e-4}
    result = fanions.topk(M, 5, backend, **options)
    assert result.U.is_cuda and result.V.is_cuda
    assert factor_error(result, M, 5) < (1e-2 if backend == "rsvd" else 1e-3)


@pytest.mark.parametrize("method", ["newton-schulz", "polar-express"])
def test_the_bfloat16_polar_factor_on_cuda_is_close_to_u_v_transposed(method):
    """Newton–Schulz (5 steps) leaves the singular values of the result in about [0.7, 1.2], not at 1: what is tested
    is that its directions are UVᵀ's (⟨result, UVᵀ⟩ / ‖UVᵀ‖_F² near 1) and its spectrum stays in that band."""
    M = torch.randn(512, 256, generator=torch.Generator().manual_seed(0))
    X = fanions.polar(M.to(CUDA), method, steps=5, dtype=torch.bfloat16).float().cpu()
    exact = fanions.polar(M.double(), "svd").float()
    assert float((X * exact).sum() / exact.square().sum()) == pytest.approx(1.0, abs=0.15)
    S = torch.linalg.svdvals(X)
    assert S.min() > 0.5 and S.max() < 1.3


@pytest.mark.parametrize("lmo, options", [("muon", {"polar": "svd"}), ("f-muon", {"alpha": 0.5, "polar": "svd"}),
                                          ("neon", {"backend": "lanczos"}), ("fanion", {"k": 4, "backend": "lanczos"})])
def test_a_fanion_step_on_cuda_is_the_cpu_step(lmo, options):
    torch.manual_seed(0)
    W, G = torch.randn(96, 64, dtype=torch.float64), matrix_with_spectrum(SPECTRUM[:40], 96, 64, seed=1)
    steps = []
    for device in ("cpu", "cuda"):
        p = torch.nn.Parameter(W.clone().to(device))
        optimizer = fanions.Fanion([p], lmo=lmo, lr=0.1, momentum=0.9, **options, **({"rtol": 1e-10} if "backend" in options else {}))
        for _ in range(2):
            p.grad = G.to(device)
            optimizer.step()
        steps.append(p.detach().cpu())
    torch.testing.assert_close(steps[1], steps[0], rtol=1e-7, atol=1e-9)


def test_one_airbench_run_on_cuda_in_float16_trains():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow/scripts"))
    import airbench
    from test_airbench import TRAIN, tiny_data
    data = tiny_data()
    train_set, test_set = (airbench.to_device(data[split], CUDA, torch.float16) for split in ("train", "test"))
    model = airbench.build_model(TRAIN, CUDA, torch.float16, compile=False)
    row = airbench.train_run(model, train_set, test_set, {"lmo": "f-muon", "alpha": 0.5},
                             {"lr": 0.24, "momentum": 0.6, "nesterov": True}, TRAIN, seed=0)
    assert not row["diverged"] and 0.0 <= row["accuracy"] <= 1.0 and row["train_seconds"] > 0
