"""The fine-tuning experiment: GPT-2 loaded through our loader against transformers, refusals of bad
checkpoints, files and config before any training, the TinyStories reader and tokenizer on the real
fixture, a short run on a tiny GPT-2 (learning, divergence), the robustness width and the permutation
test, the full-scale grid and the pre-train → fine-tune edge in the DAG, and the quick build."""
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import REPO, job_counts, snakemake

sys.path.insert(0, str(REPO / "workflow/scripts"))
import report  # noqa: E402
import finetune  # noqa: E402
from gpt.checkpoint import gpt2_problems, load_gpt2, load_model, save_model  # noqa: E402
from gpt.data import write_shard  # noqa: E402
from gpt.model import EOT, GPT, GPTConfig  # noqa: E402

SHARED = REPO.parent / "shared" / "data"  # beside the clone in CI; absent in a user's clone
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"no shared data folder at {SHARED} (CI has one)")
FIXTURE = SHARED / "tinystories/tinystories_sample.txt"


def tiny_gpt2(folder, seed=0, **config):
    """A random GPT-2 of transformers (every weight, bias and gain perturbed), saved with save_pretrained."""
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(seed)
    sizes = {"vocab_size": 50257, "n_positions": 64, "n_embd": 32, "n_layer": 2, "n_head": 4} | config
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(**sizes)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(folder)
    return model


# ---------------------------------------------------------------- the loader
@pytest.mark.parametrize("with_eot", [False, True])
def test_loader_gives_transformers_logits(tmp_path, with_eot):
    """Logits of our GPT with the GPT-2 options equal GPT2LMHeadModel's to 1e-5 in float32. With an
    <|endoftext|> at the start the sequence is one document, positions from 0, as transformers counts."""
    hf = tiny_gpt2(tmp_path)
    ours = load_gpt2(tmp_path).eval()
    idx = torch.randint(0, 50257, (48,), generator=torch.Generator().manual_seed(1))
    if with_eot:
        idx[0] = EOT
    with torch.no_grad():
        expected = hf(idx[None]).logits[0]
        got = ours.logits(idx, torch.tensor(64))[0]
    assert expected.abs().max() > 1.0  # not a trivially small output
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_positions_restart_at_each_document(tmp_path):
    """Two stories packed in one sequence give the logits that each gives alone (the document mask and
    the positions counted from each <|endoftext|>)."""
    tiny_gpt2(tmp_path)
    model = load_gpt2(tmp_path).eval()
    g = torch.Generator().manual_seed(2)
    a, b = (torch.cat([torch.tensor([EOT]), torch.randint(0, 50000, (n,), generator=g)]) for n in (20, 30))
    with torch.no_grad():
        packed = model.logits(torch.cat([a, b]), torch.tensor(64))[0]
        alone = [model.logits(x, torch.tensor(64))[0] for x in (a, b)]
    torch.testing.assert_close(packed, torch.cat(alone), atol=1e-5, rtol=1e-5)


def test_saved_model_round_trip(tmp_path):
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=32, vocab_size=50304))
    save_model(model, tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")
    assert loaded.config == model.config
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    torch.save({"weights": 1}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="bad.pt: not a model saved by"):
        load_model(tmp_path / "bad.pt")


# ---------------------------------------------------------------- refusals
def rewrite_config(folder, **changes):
    path = folder / "config.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | changes))


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "model.safetensors").unlink(), "no model.safetensors"),
    (lambda f: rewrite_config(f, n_embd=64), r"wte.weight has shape \[50257, 32\], config.json implies \[50257, 64\]"),
    (lambda f: rewrite_config(f, n_layer=3), "no tensor h.2.ln_1.weight"),
    (lambda f: rewrite_config(f, model_type="llama"), r"model_type='llama' is not GPT-2.*\['gpt2'\]"),
    (lambda f: rewrite_config(f, activation_function="relu"), "activation_function='relu'"),
    (lambda f: (f / "model.safetensors").write_bytes(b"\x05\0\0\0\0\0\0\0hello"), "not a safetensors file"),
])
def test_a_bad_checkpoint_is_refused_naming_the_file(tmp_path, damage, message):
    tiny_gpt2(tmp_path)
    assert gpt2_problems(tmp_path) == []
    damage(tmp_path)
    problems = gpt2_problems(tmp_path)
    assert problems and any(str(tmp_path) in p for p in problems)
    assert any(__import__("re").search(message, p) for p in problems), problems
    with pytest.raises(ValueError, match=message):
        load_gpt2(tmp_path)


def test_a_checksum_mismatch_writes_nothing(tmp_path, monkeypatch):
    """The real download code, with the hub replaced by a local file in TinyStories' format."""
    import huggingface_hub
    from gpt.data import hub_download
    from job import file_sha256
    source = tmp_path / "hub.txt"
    source.write_text("Once upon a time.\n<|endoftext|>\n")

    def fake_download(repo, filename, repo_type, revision, local_dir):
        target = Path(local_dir) / filename
        target.write_bytes(source.read_bytes())
        return str(target)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    out = tmp_path / "data/valid.txt"
    with pytest.raises(ValueError, match="valid.txt: sha256 .*, the config pins 0000"):
        hub_download("roneneldan/TinyStories", "valid.txt", out, "0" * 64)
    assert not out.exists() and list(out.parent.iterdir()) == []  # no partial file, no temporary folder
    hub_download("roneneldan/TinyStories", "valid.txt", out, file_sha256(source))
    assert out.read_bytes() == source.read_bytes()


# ---------------------------------------------------------------- data
@needs_shared
def test_stories_and_tokens_of_the_tinystories_fixture(tmp_path):
    text = FIXTURE.read_text(encoding="utf-8")
    expected = [s.strip() for s in text.split("<|endoftext|>") if s.strip()]
    assert list(finetune.stories(FIXTURE)) == expected and len(expected) == 5
    assert list(finetune.stories(FIXTURE, limit=2)) == expected[:2]
    encoding = finetune.gpt2_encoding(SHARED / "gpt2_tokenizer/tiktoken_cache")
    tokens = finetune.tokenize(finetune.stories(FIXTURE), encoding, max_tokens=10_000)
    starts = np.flatnonzero(tokens == EOT)
    assert len(starts) == 5 and starts[0] == 0
    assert [encoding.decode(doc[1:].tolist()) for doc in np.split(tokens, starts[1:])] == expected
    cut = finetune.tokenize(finetune.stories(FIXTURE), encoding, max_tokens=50)
    assert len(cut) == 5 * 50 and finetune.longest_document(cut) == 50
    (tmp_path / "empty.txt").write_text("\n<|endoftext|>\n  \n")
    with pytest.raises(ValueError, match="empty.txt: no stories"):
        finetune.tokenize(finetune.stories(tmp_path / "empty.txt"), encoding, 50, source=tmp_path / "empty.txt")


# ---------------------------------------------------------------- a run
TRAIN = {"seq_len": 32, "batch_size": 2, "steps": 8, "warmup_steps": 2, "cooldown_steps": 3, "val_every": 4,
         "val_tokens": 64, "momentum": 0.95, "weight_decay": 0.0,
         "adam": {"lr": 3e-3, "betas": [0.9, 0.95], "eps": 1e-8},
         "diverged_above": 1.5, "spectra": {"steps": [1, 8], "parameter": "blocks.1.mlp.c_fc.weight"}}


def shards(tmp_path, story_tokens=20, seed=0):
    rng = np.random.default_rng(seed)
    for split, count in (("train", 2000), ("val", 200)):
        tokens = rng.integers(0, 60, count)  # a small alphabet: learnable unigram statistics
        tokens[::story_tokens] = EOT
        write_shard(tmp_path / f"{split}.bin", tokens)
    return str(tmp_path / "train.bin"), str(tmp_path / "val.bin")


def settings(method, lr, **train):
    return {"optimizer": "x", "method": method, "lr": lr, "seed": 0, "model_source": "local", "window": 64,
            "train": TRAIN | train}


@pytest.mark.parametrize("method", [None, {"lmo": "f-muon", "alpha": 0.5}])
def test_a_short_run_learns_and_records_spectra(tmp_path, method):
    torch.set_num_threads(1)
    tiny_gpt2(tmp_path / "gpt2")
    rows, summary, spectra = finetune.run(settings(method, 3e-3 if method is None else 0.02),
                                          [tmp_path / "gpt2/config.json"], *shards(tmp_path), torch.device("cpu"))
    assert [r["step"] for r in rows] == [0, 4, 8]
    assert rows[-1]["val_loss"] < rows[0]["val_loss"] and not summary["diverged"]
    assert summary["final_val_loss"] == rows[-1]["val_loss"]
    spectra = pd.DataFrame(spectra)
    assert set(spectra["step"]) == {1, 8} and set(spectra["matrix"]) == {"embedding", "blocks.1.mlp.c_fc.weight"}
    assert len(spectra.query("step == 1 and matrix == 'embedding'")) == 32  # min(50257, 32) singular values


def test_a_diverging_run_is_recorded_with_its_step(tmp_path):
    tiny_gpt2(tmp_path / "gpt2")
    huge = {"adam": TRAIN["adam"] | {"lr": 10.0}}  # AdamW at lr 10 everywhere: the tied head's logits explode
    _, summary, _ = finetune.run(settings(None, 10.0, **huge), [tmp_path / "gpt2/config.json"],
                                 *shards(tmp_path), torch.device("cpu"))
    assert summary["diverged"] and 1 <= summary["diverged_step"] <= TRAIN["steps"]
    assert math.isnan(summary["final_val_loss"])


def test_a_story_longer_than_the_positions_is_refused_before_training(tmp_path):
    tiny_gpt2(tmp_path / "gpt2")  # 64 positions
    with pytest.raises(ValueError, match=r"train.bin: a story of 100 tokens, more than the model's 64 positions"):
        finetune.run(settings({"lmo": "muon"}, 0.02), [tmp_path / "gpt2/config.json"],
                     *shards(tmp_path, story_tokens=100), torch.device("cpu"))


def test_a_spectra_matrix_not_in_the_model_is_refused(tmp_path):
    tiny_gpt2(tmp_path / "gpt2")
    with pytest.raises(ValueError, match="finetune.train.spectra.parameter='blocks.5.mlp.c_fc.weight'"):
        finetune.run(settings({"lmo": "muon"}, 0.02, spectra={"steps": [1], "parameter": "blocks.5.mlp.c_fc.weight"}),
                     [tmp_path / "gpt2/config.json"], *shards(tmp_path), torch.device("cpu"))


# ---------------------------------------------------------------- report
def grid(means, lrs=(0.01, 0.1, 1.0, 10.0)):
    return pd.DataFrame({"optimizer": "x", "lr": lrs, "mean": means, "std": 0.0})


def test_robustness_width_interpolates_the_band_edges_in_log_lr():
    best = finetune.robustness(grid([1.5, 1.0, 1.005, 1.03]), 0.01).iloc[0]
    # from lr 0.1: left, 1.0 → 1.5 crosses 1.01 at 2% of the decade; right, a decade to lr 1 (1.005), then
    # 1.005 → 1.03 crosses it at 20% of the next
    assert best.best_lr == 0.1 and best.best == 1.0 and not best.censored
    assert best.width == pytest.approx(0.02 + 1.0 + 0.2)
    diverged = finetune.robustness(grid([math.nan, 1.0, 1.005, 1.03]), 0.01).iloc[0]
    assert diverged.width == pytest.approx(1.20) and not diverged.censored  # the band stops at a diverged point
    edge = finetune.robustness(grid([1.0, 1.001, 1.002, 1.003]), 0.01).iloc[0]
    assert edge.width == pytest.approx(3.0) and edge.censored  # a lower bound: the whole grid


def test_permutation_p_is_exact():
    assert finetune.permutation_p(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])) == 1.0
    assert finetune.permutation_p(np.array([1.0, 1.1, 1.2]), np.array([2.0, 2.1, 2.2])) == pytest.approx(2 / 20)


def test_the_claim_is_stated_either_way():
    runs = pd.DataFrame({"optimizer": ["muon"] * 3 + ["s-muon"] * 3, "lr": 0.1, "seed": [0, 1, 2] * 2,
                         "final_val_loss": [1.0, 1.01, 0.99, 1.2, 1.21, 1.19]})
    best = pd.DataFrame([{"optimizer": "muon", "best_lr": 0.1, "best": 1.0, "width": 1.0, "censored": False},
                         {"optimizer": "f-muon", "best_lr": 0.1, "best": 1.0, "width": 0.5, "censored": False},
                         {"optimizer": "s-muon", "best_lr": 0.1, "best": 1.2, "width": 1.0, "censored": False}])
    text = finetune.claim(best, runs, "muon", 0.01)["claim"]
    assert "0.50 decades against Muon's 1.00: no wider than Muon's" in text
    assert "within 0.2000 (20.00\\%) of Muon's 1.0000" in text and "$p = 0.1$" in text and "falls short of" in text
    edge = best.assign(censored=best.optimizer == "f-muon")  # F-Muon's band reaches the grid's edge: a lower bound
    assert ("at least 0.50 decades against Muon's 1.00: not decided on this grid, whose edge cuts F-Muon's band"
            in finetune.claim(edge, runs, "muon", 0.01)["claim"])
    no_smuon = finetune.claim(best[best.optimizer != "s-muon"], runs, "muon", 0.01)["claim"]
    assert no_smuon.endswith("; S-Muon was not run in this build.")


# ---------------------------------------------------------------- the DAG
def test_full_scale_dry_run_lists_the_grid(workdir):
    config = yaml.safe_load((REPO / "config.yaml").read_text())["finetune"]
    result = snakemake(workdir, "-n", "--cores", "1", "results/values/finetune.tex")
    counts = job_counts(result.stdout)
    runs = len(config["compare"]) * config["lr_grid"]["points"] * len(config["seeds"])
    assert counts["finetune_run"] == runs == 5 * 9 * 3 and counts["finetune_report"] == 1
    assert counts["finetune_download_model"] == 2 and counts["finetune_download_data"] == 2
    assert config["lr_grid"]["points"] >= 7 and config["lr_grid"]["decades"] >= 2
    for name in config["compare"]:
        assert f"optimizer={name}, lr=" in result.stdout
    assert "lr=0.002, seed=2" in result.stdout and "lr=0.2, seed=2" in result.stdout  # muon: 0.02 / 10 … × 10
    assert "gpu=1, cpus_per_gpu=8" in result.stdout


def test_pre_train_then_fine_tune_is_one_dag(workdir):
    result = snakemake(workdir, "-n", "--cores", "1", "results/values/finetune.tex", "--config",
                       "finetune={model: {source: nanogpt, nanogpt: {run: f-muon-a0.5, seed: 1}}}")
    counts = job_counts(result.stdout)
    assert counts["nanogpt_train"] == 1 and "finetune_download_model" not in counts
    assert "results/nanogpt/runs/fineweb/f-muon-a0.5/seed1_model.pt" in result.stdout


@pytest.mark.parametrize("overrides, expected", [
    (["finetune={optimizers: {muon: {lr: 0}}}"], ["config key finetune.optimizers.muon.lr", "allowed: > 0"]),
    (["finetune={optimizers: {muon: {lr: -0.1}}}"], ["config key finetune.optimizers.muon.lr", "allowed: > 0"]),
    (["finetune={compare: [muon, adam]}"], ["config key finetune.compare/baseline: 'adam'", "'muon'"]),
    (["finetune={model: {source: nanogpt, nanogpt: {run: adam}}}"], ["finetune.model.nanogpt.run: 'adam'"]),
    (["finetune={model: {source: local, local: no/such/folder}}"],
     ["config key finetune.model.local: no/such/folder: no config.json and no model.safetensors"]),
    (["finetune={data: {source: local, local: {train: no/such.txt}}}"], ["config key finetune.data.local.train"]),
    (["finetune={model: {hub: {name: gpt3}}}"], ["config key finetune.model.hub.name", "gpt2-large"]),
    (["finetune={train: {spectra: {steps: [5, 500]}}}"], ["config key finetune.train.spectra.steps: [500]"]),
])
def test_bad_finetune_config_stops_before_any_job(workdir, overrides, expected):
    result = snakemake(workdir, "-n", "--cores", "1", "results/values/finetune.tex", "--config", *overrides,
                       check=False)
    assert result.returncode != 0 and "Invalid config" in result.stdout
    for fragment in expected:
        assert fragment in result.stdout, f"{fragment!r} not in:\n{result.stdout}"
    assert not (workdir / "results").exists()


def test_a_misshapen_local_checkpoint_stops_before_any_job(workdir):
    tiny_gpt2(workdir / "ckpt")
    rewrite_config(workdir / "ckpt", n_head=4, n_embd=48)
    result = snakemake(workdir, "-n", "--cores", "1", "results/values/finetune.tex", "--config",
                       "finetune={model: {source: local, local: ckpt}}", check=False)
    assert result.returncode != 0
    assert "config key finetune.model.local: ckpt/model.safetensors: wte.weight has shape [50257, 32]" in result.stdout


@needs_shared
@pytest.mark.slow
def test_quick_finetune_builds_its_table_figures_and_values(quick_build):
    workdir = quick_build
    note = report.data_note("a generated corpus of short stories, not TinyStories")
    table = (workdir / "results/tables/finetune_table.tex").read_text()
    assert "Muon & " in table and r"F-Muon $\alpha=0.5$ &" in table and note in table
    values = (workdir / "results/values/finetune.tex").read_text()
    assert "F-Muon's robustness width" in values and "S-Muon was not run in this build" in values
    assert all(line.endswith("[not the paper's data]}") for line in values.splitlines()
               if line.startswith(r"\defval{finetune.muon."))
    for figure in ("lr", "curves", "spectra"):
        assert (workdir / f"results/figures/finetune_figure_{figure}.pdf").stat().st_size > 0
    summary = pd.read_csv(workdir / "results/finetune/summary.csv", skiprows=1)
    assert len(summary) == 2 * 3 and set(summary["optimizer"]) == {"muon", "f-muon"}
    assert (workdir / "results/nanogpt/runs/corpus/muon-lr0.05/seed0_model.pt").exists()  # the DAG edge


def test_the_width_has_a_bootstrap_interval_over_seeds():
    """Seeds resampled whole: the interval holds the width of the seeds' mean, is a point when every seed agrees,
    widens when they disagree, and is NaN with one seed."""
    lrs, curve = [0.001, 0.01, 0.1, 1.0], np.array([1.5, 1.0, 1.005, 1.03])
    def runs(offsets):
        return pd.DataFrame([{"optimizer": "f-muon", "lr": lr, "seed": s, "final_val_loss": loss + off,
                             "diverged": False} for s, off in enumerate(offsets) for lr, loss in zip(lrs, curve * (1 + off))])
    same = finetune.width_interval(runs([0.0, 0.0, 0.0]), "f-muon", 0.01)
    width = finetune.robustness(finetune.grid_summary(runs([0.0, 0.0, 0.0])), 0.01).width.iloc[0]
    assert same == pytest.approx((width, width))
    noisy = runs([0.0, 0.02, -0.01, 0.03])
    low, high = finetune.width_interval(noisy, "f-muon", 0.01)
    estimate = finetune.robustness(finetune.grid_summary(noisy), 0.01).width.iloc[0]
    assert low <= estimate <= high and high > low
    assert all(math.isnan(v) for v in finetune.width_interval(runs([0.0]), "f-muon", 0.01))
