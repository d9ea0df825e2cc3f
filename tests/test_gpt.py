"""The NanoGPT experiment on CPU: the shard format and loader, the GPT-2 converter on the TinyStories
fixture, the attention mask and the SDPA fallback against FlexAttention, the model at init, a
checkpoint-resume equal to an uninterrupted run, a 2-process gloo DDP run equal to one process,
and the nanogpt DAG (full-scale dry run, quick build)."""
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"  # beside the clone in CI; absent in a user's clone
sys.path.insert(0, str(REPO / "workflow/scripts"))
import nanogpt  # noqa: E402
import train_gpt  # noqa: E402
from job import read_csv  # noqa: E402
from gpt.data import MAGIC, ShardLoader, gpt2_encoding, read_shard, write_shard  # noqa: E402
from gpt.model import EOT, GPT, GPTConfig, attend, document_causal_mask  # noqa: E402
from torch.nn.attention.flex_attention import create_block_mask  # noqa: E402

from conftest import copy_build, job_counts, snakemake  # noqa: E402

needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"no shared data folder at {SHARED} (CI has one)")
TINY = {"n_layer": 2, "n_head": 2, "n_embd": 32, "vocab_size": 50304}


# ---------------------------------------------------------------- shards
def test_shard_round_trip_in_the_fineweb_layout(tmp_path):
    tokens = np.array([EOT, 1, 2, 65535, 0, EOT, 7], dtype=np.uint16)
    write_shard(tmp_path / "a.bin", tokens)
    raw = (tmp_path / "a.bin").read_bytes()
    assert len(raw) == 1024 + 2 * len(tokens)
    assert np.frombuffer(raw[:12], "<i4").tolist() == [MAGIC, 1, len(tokens)]
    assert not np.frombuffer(raw[12:1024], "<i4").any()
    assert np.array_equal(read_shard(tmp_path / "a.bin"), tokens)
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]  # no temporary file left


@pytest.mark.parametrize("damage, message", [
    (lambda raw: np.int32(1234).tobytes() + raw[4:], "not a token shard"),
    (lambda raw: raw[:4] + np.int32(2).tobytes() + raw[8:], "shard version 2"),
    (lambda raw: raw[:-2], "header counts 3 tokens, the file holds 2"),
    (lambda raw: raw + b"\0", "header counts 3 tokens, the file holds 3.5"),
    (lambda raw: raw[:100], "not a token shard"),
])
def test_bad_shards_are_refused_saying_why(tmp_path, damage, message):
    write_shard(tmp_path / "a.bin", [1, 2, 3])
    (tmp_path / "a.bin").write_bytes(damage((tmp_path / "a.bin").read_bytes()))
    with pytest.raises(ValueError, match=message):
        read_shard(tmp_path / "a.bin")


def test_token_ids_must_fit_uint16(tmp_path):
    with pytest.raises(ValueError, match="65536"):
        write_shard(tmp_path / "a.bin", [1, 70000])


def test_ranks_read_consecutive_slices_and_the_state_resumes(tmp_path):
    files = [tmp_path / "0.bin", tmp_path / "1.bin"]
    write_shard(files[0], np.arange(0, 20))
    write_shard(files[1], np.arange(100, 120))
    single = ShardLoader(files, 4)
    sequences = [single.next_batch("cpu") for _ in range(10)]
    assert torch.equal(sequences[0][0], torch.arange(0, 4)) and torch.equal(sequences[0][1], torch.arange(1, 5))
    assert torch.equal(sequences[4][0], torch.arange(100, 104))  # 0..19 holds four sequences of 4 (+1)
    ranks = [ShardLoader(files, 4, rank, 2) for rank in range(2)]
    for step in range(5):
        for rank, loader in enumerate(ranks):
            x, y = loader.next_batch("cpu")
            assert torch.equal(x, sequences[2 * step + rank][0]) and torch.equal(y, sequences[2 * step + rank][1])
    resumed = ShardLoader(files, 4)
    resumed.load_state_dict(ShardLoader(files, 4).state_dict() | {"shard": 1, "position": 4})
    assert torch.equal(resumed.next_batch("cpu")[0], sequences[5][0])


@needs_shared
def test_converter_on_the_tinystories_fixture(tmp_path):
    text = (SHARED / "tinystories/tinystories_sample.txt").read_text(encoding="utf-8")
    stories = [s.strip() for s in text.split("<|endoftext|>") if s.strip()]
    encoding = gpt2_encoding(SHARED / "gpt2_tokenizer/tiktoken_cache")
    assert encoding.encode("Hello world") == [15496, 995]
    train, val = nanogpt.convert(text, 1, encoding)
    write_shard(tmp_path / "train.bin", train)
    tokens = np.concatenate([val, read_shard(tmp_path / "train.bin")])
    starts = np.flatnonzero(tokens == EOT)
    assert starts.tolist()[0] == 0 and len(starts) == len(stories) == 5
    decoded = [encoding.decode(doc[1:].tolist()) for doc in np.split(tokens, starts[1:])]
    assert decoded == stories
    assert len(val) == starts[1]
    with pytest.raises(ValueError, match="5 documents, not more than val_documents=5"):
        nanogpt.convert(text, 5, encoding)


# ---------------------------------------------------------------- attention and model
def document_sequence(T, seed=0):
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, 1000, (T,), generator=g)
    idx[torch.randperm(T, generator=g)[:T // 20]] = EOT
    return idx


def test_mask_is_causal_within_documents_and_the_window():
    idx, window = document_sequence(200), 24
    mask_mod = document_causal_mask(idx, torch.tensor(window))
    positions = torch.arange(len(idx))
    dense = mask_mod(None, None, positions[:, None], positions[None, :])
    doc = [int((idx[:i + 1] == EOT).sum()) for i in range(len(idx))]
    expected = torch.tensor([[kv <= q and q - kv < window and doc[q] == doc[kv] for kv in range(len(idx))]
                             for q in range(len(idx))])
    assert torch.equal(dense, expected)


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")  # eager flex: the reference
@pytest.mark.parametrize("window", [16, 64, 256])
def test_sdpa_fallback_equals_flex_attention(window):
    T, heads, d = 256, 2, 16
    idx = document_sequence(T, seed=window)
    q, k, v = torch.randn(3, 1, heads, T, d, generator=torch.Generator().manual_seed(1)).unbind(0)
    mask_mod = document_causal_mask(idx, torch.tensor(window))
    positions = torch.arange(T)
    fallback = attend(q, k, v, mask_mod(None, None, positions[:, None], positions[None, :]))
    flex = attend(q, k, v, create_block_mask(mask_mod, None, None, T, T, device="cpu"))
    torch.testing.assert_close(fallback, flex, atol=1e-5, rtol=1e-5)


def test_model_at_init_predicts_uniformly_and_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    model = GPT(GPTConfig(**TINY))
    idx = document_sequence(65)
    loss = model(idx[:-1], idx[1:], torch.tensor(16))
    torch.testing.assert_close(loss, torch.tensor(np.log(TINY["vocab_size"]), dtype=torch.float32))  # zero head
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


# ---------------------------------------------------------------- training: resume and DDP
def settings_for(tmp_path, steps=6):
    rng = np.random.default_rng(0)
    for split, count in (("train", 4000), ("val", 400)):
        tokens = rng.integers(0, 500, count)
        tokens[rng.random(count) < 0.03] = EOT
        write_shard(tmp_path / f"{split}.bin", tokens)
    return {"model": TINY, "train_files": [str(tmp_path / "train.bin")], "val_files": [str(tmp_path / "val.bin")],
            "seq_len": 32, "batch_size": 2, "steps": steps, "cooldown_steps": 3, "val_every": 2, "val_tokens": 64,
            "window": {"start": 8, "end": 32, "block": 8}, "momentum": 0.95,
            "momentum_warmup": {"start": 0.85, "steps": 3},
            "adam": {"betas": [0.8, 0.95], "eps": 1e-8, "embed_lr": 0.6, "head_lr": 0.008, "scalar_lr": 0.04},
            "method": {"lmo": "f-muon", "alpha": 0.5}, "lr": 0.07, "seed": 0, "compile": False,
            "checkpoint_every": 2, "data_source": "synthetic", "scale": "quick", "extra_lmos": [],
            "momentum_snapshot": {"parameter": "blocks.0.mlp.c_fc.weight", "steps": 3}}


def run(settings, out, **kwargs):
    out.mkdir(exist_ok=True)
    model = train_gpt.train(settings, out / "curve.csv", out / "summary.json", out / "ckpt.pt", out / "momentum.pt",
                            **kwargs)
    return model, read_csv(out / "curve.csv")


def test_a_killed_run_resumes_from_its_checkpoint_to_the_same_result(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    settings = settings_for(tmp_path)
    whole, whole_curve = run(settings, tmp_path / "whole")
    real_step = train_gpt.train_step

    def killed_at_step_5(step, *args):
        if step == 5:
            raise KeyboardInterrupt("killed")
        return real_step(step, *args)
    monkeypatch.setattr(train_gpt, "train_step", killed_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        run(settings, tmp_path / "parts")
    assert torch.load(tmp_path / "parts/ckpt.pt")["step"] == 4
    monkeypatch.setattr(train_gpt, "train_step", real_step)
    resumed, resumed_curve = run(settings, tmp_path / "parts")
    assert not (tmp_path / "parts/ckpt.pt").exists()
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert whole_curve["val_loss"].tolist() == resumed_curve["val_loss"].tolist()
    assert whole_curve["step"].tolist() == [0, 2, 4, 6]
    whole_momenta, resumed_momenta = (torch.load(tmp_path / run / "momentum.pt") for run in ("whole", "parts"))
    assert whole_momenta["steps"] == resumed_momenta["steps"] == [4, 5, 6]  # the last 3, across the kill
    assert whole_momenta["momenta"].shape == (3, 4 * TINY["n_embd"], TINY["n_embd"])
    assert torch.equal(whole_momenta["momenta"], resumed_momenta["momenta"])


def test_a_second_trainer_of_the_same_run_stops_naming_the_first(tmp_path):
    held = train_gpt.lock_run(tmp_path / "ckpt.pt")
    with pytest.raises(RuntimeError, match=f"another trainer \\(pid {os.getpid()}\\) holds .*ckpt.pt.lock"):
        run(settings_for(tmp_path), tmp_path)
    held.close()
    run(settings_for(tmp_path), tmp_path)  # the lock goes with its holder
    assert not (tmp_path / "ckpt.pt.lock").exists()


def test_a_momentum_snapshot_of_no_such_matrix_names_the_allowed_ones(tmp_path):
    settings = {**settings_for(tmp_path), "momentum_snapshot": {"parameter": "blocks.7.mlp.c_fc.weight", "steps": 3}}
    with pytest.raises(ValueError, match=r"momentum_snapshot.parameter='blocks.7.mlp.c_fc.weight'.*blocks.0.attn.c_k"):
        run(settings, tmp_path / "bad")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ddp_worker(rank, world, port, settings, out):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    model = train_gpt.train(settings, out / "curve.csv", out / "summary.json", out / "ckpt.pt", out / "momentum.pt")
    if rank == 0:
        torch.save(model.state_dict(), out / "model.pt")


def test_two_gloo_processes_train_as_one(tmp_path):
    """Each rank reads its half of every step's sequences, DDP averages the gradients and fanions.Fanion
    shares the LMOs between the ranks: the parameters and validation losses match one process."""
    torch.set_num_threads(1)
    settings = settings_for(tmp_path, steps=4)
    single, single_curve = run(settings, tmp_path / "single")
    (tmp_path / "ddp").mkdir()
    torch.multiprocessing.spawn(ddp_worker, args=(2, free_port(), settings, tmp_path / "ddp"), nprocs=2)
    sharded = torch.load(tmp_path / "ddp/model.pt")
    for name, value in single.state_dict().items():
        torch.testing.assert_close(sharded[name], value, atol=1e-5, rtol=1e-4, msg=name)
    np.testing.assert_allclose(read_csv(tmp_path / "ddp/curve.csv")["val_loss"], single_curve["val_loss"], rtol=1e-5)


# ---------------------------------------------------------------- the DAG


def test_full_scale_dry_run_lists_every_nanogpt_run(workdir):
    import yaml
    config = yaml.safe_load((REPO / "config.yaml").read_text())["nanogpt"]
    result = snakemake(workdir, "-n", "--cores", "1", "results/values/nanogpt.tex")
    counts = job_counts(result.stdout)
    assert counts["nanogpt_train"] == len(config["runs"]) * len(config["seeds"]) == 7 * 3
    assert counts["nanogpt_download"] == 11 and counts["nanogpt_report"] == 1
    for run in config["runs"]:
        assert f"run={run}, seed=2" in result.stdout
    assert "gpu=8, cpus_per_gpu=8, runtime=60" in result.stdout


@needs_shared
@pytest.mark.slow
def test_quick_nanogpt_builds_its_table_figure_and_values(quick_build):
    table = (quick_build / "results/tables/nanogpt_table.tex").read_text()
    assert "F-Muon $\\alpha=0.5$, lr 0.07" in table and "$3.281$" in table
    values = (quick_build / "results/values/nanogpt.tex").read_text()
    assert "nanogpt.f-muon-a0.5.loss" in values
    assert re.search(r"nanogpt.sign_note\}\{ S-Muon \$\\alpha=0.5\$, lr 0.07, ends at \$\d\.\d{4}\$", values)  # S-Muon's step
    assert (quick_build / "results/figures/nanogpt_figure.pdf").stat().st_size > 0
    assert not list((quick_build / "results/nanogpt").glob("checkpoints/*/*"))  # removed when runs complete


def trainers(settings_path):
    """The pids of the train_gpt.py processes whose command line names this build (from /proc)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        if "train_gpt.py" in command and str(settings_path) in command and "torch.distributed.run" not in command:
            pids.append(int(proc.name))
    return pids


@needs_shared
@pytest.mark.slow
def test_a_killed_training_job_leaves_no_trainer_and_resumes_from_its_checkpoint(quick_build, tmp_path):
    build = copy_build(quick_build, tmp_path / "build")
    run_dir = "results/nanogpt/runs/corpus/muon-lr0.05"
    (build / f"{run_dir}/seed0.csv").unlink()
    checkpoint = build / "results/nanogpt/checkpoints/corpus/muon-lr0.05_seed0.pt"
    process = subprocess.Popen([sys.executable, "-m", "snakemake", "--profile", "profiles/quick", "--cores", "2",
                                f"{run_dir}/seed0.csv", "--config", "nanogpt={train: {checkpoint_every: 5}}"],
                               cwd=build, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                               env={**os.environ, "TIKTOKEN_CACHE_DIR": str(SHARED / "gpt2_tokenizer/tiktoken_cache")})
    deadline = time.time() + 600
    while not checkpoint.exists() and time.time() < deadline:
        time.sleep(0.2)
    assert checkpoint.exists(), "no checkpoint within 10 minutes"
    assert trainers(build), "no trainer process found"
    os.killpg(process.pid, signal.SIGKILL)  # Snakemake, the job and torchrun; the worker has its own session
    process.wait()
    deadline = time.time() + 10
    while trainers(build) and time.time() < deadline:
        time.sleep(0.2)
    assert not trainers(build), "the trainer outlived its job"
    saved = torch.load(checkpoint)["step"]
    snakemake(build, "--unlock")
    snakemake(build, "--profile", "profiles/quick", "--cores", "2", f"{run_dir}/seed0.csv",
              "--config", "nanogpt={train: {checkpoint_every: 5}}")
    log = (build / "results/logs/nanogpt_train/corpus/muon-lr0.05_seed0.log").read_text()
    assert f"resumed at step {saved}" in log
    assert not checkpoint.exists()
