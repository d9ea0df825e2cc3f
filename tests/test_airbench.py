"""The airbench pieces on CPU: whitening, the filter step against fanions.lmo, the lr schedule, the
CIFAR-10 archive (checksum, download, conversion) on a fixture in the real format, the digits, a tiny
training run and divergence, a run on the digits that a wrong-way optimizer fails; then the airbench DAG
at full scale (dry run) and at quick scale."""
import io
import math
import pickle
import sys
import tarfile
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow/scripts"))
sys.path.append(str(Path(__file__).resolve().parents[1] / "workflow"))  # experiments
import airbench  # noqa: E402
import airbench_report  # noqa: E402
import cifar10  # noqa: E402
import experiments  # noqa: E402
import fanions  # this commit's lib/fanions (job.py puts it first on the path)
from conftest import REPO, job_counts, snakemake  # noqa: E402

# airbench's settings on a narrow net, 200 images: 4 steps per epoch.
TRAIN = {"widths": [8, 8, 8], "batch_size": 50, "epochs": 2, "whiten_images": 100, "whiten_eps": 5e-4,
         "whiten_bias_epochs": 1, "bias_lr": 0.053, "head_lr": 0.67, "sgd_momentum": 0.85, "weight_decay": 2e-6,
         "label_smoothing": 0.2, "bn_momentum": 0.6, "bn_eps": 1e-12, "flip": True, "translate": 2, "tta_level": 2,
         "ns_steps": 3}
REFERENCE = {"lr": 0.24, "momentum": 0.6, "nesterov": True}


# ---------------------------------------------------------------- the network
def test_whitening_filters_whiten_a_known_covariance():
    g = torch.Generator().manual_seed(0)
    Q = torch.linalg.qr(torch.randn(12, 12, generator=g, dtype=torch.float64)).Q
    eigenvalues = torch.logspace(-3, 1, 12, dtype=torch.float64)
    C = Q @ torch.diag(eigenvalues) @ Q.T
    filters = airbench.whitening_filters(C, 2, eps=5e-4)
    assert filters.shape == (24, 3, 2, 2)
    W = filters[:12].reshape(12, 12)
    assert torch.allclose(filters[12:], -filters[:12])
    assert torch.allclose(W @ C @ W.T, torch.diag(eigenvalues / (eigenvalues + 5e-4)), atol=1e-10)


def test_patch_covariance_is_the_mean_outer_product_of_conv_patches():
    images = torch.randn(3, 3, 5, 6, dtype=torch.float64)
    patches = torch.nn.functional.unfold(images, 2).transpose(1, 2).reshape(-1, 12)  # (c, row, col) order
    assert torch.allclose(airbench.patch_covariance(images, 2).double(), patches.T @ patches / len(patches), atol=1e-5)


@pytest.mark.parametrize("method", [{"lmo": "muon"}, {"lmo": "f-muon", "alpha": 0.5},
                                    {"lmo": "s-muon", "alpha": 0.3}, {"lmo": "fanion", "k": 2, "backend": "svd"}])
def test_filter_step_is_the_lmo_of_the_flattened_filter(method):
    torch.manual_seed(0)
    model = airbench.build_model(TRAIN, torch.device("cpu"), torch.float32, compile=False)
    model.reset()
    _, fanion = airbench.optimizers(model, method, REFERENCE, TRAIN)
    filters = model.filters()
    assert len(filters) == 6 and fanion.param_groups[0]["params"] == filters
    for p in filters:
        p.grad = torch.randn_like(p)
    with torch.no_grad():
        airbench.normalize_filters(filters)
    assert all(math.isclose(p.norm().item(), len(p) ** 0.5, rel_tol=1e-5) for p in filters)
    before = [p.detach().clone() for p in filters]
    fanion.step()
    options = {key: value for key, value in method.items() if key != "lmo"}
    if "polar" in fanions.LMOS[method["lmo"]].options:
        options.update(polar="newton-schulz", polar_steps=TRAIN["ns_steps"])  # 3 steps, as airbench
    for p, p0 in zip(filters, before):
        direction = fanions.lmo(p.grad.reshape(len(p), -1), method["lmo"], **options).view_as(p)
        torch.testing.assert_close(p.detach(), p0 - REFERENCE["lr"] * direction, atol=2e-5, rtol=1e-4)


def test_lr_decays_linearly_to_zero_and_stays_there():
    factors = [airbench.linear_decay(step, 200) for step in (0, 50, 100, 199, 200, 250)]
    assert factors == pytest.approx([1, 0.75, 0.5, 0.005, 0, 0])


def test_reference_run_has_200_steps_and_75_whitening_bias_steps():
    train = yaml.safe_load((REPO / "config.yaml").read_text())["airbench"]["train"]
    steps_per_epoch = 50000 // train["batch_size"]
    assert (train["epochs"] * steps_per_epoch, train["whiten_bias_epochs"] * steps_per_epoch) == (200, 75)


# ---------------------------------------------------------------- the data
def cifar_archive(path, per_batch=20, seed=0):
    """A cifar-10-python.tar.gz in the real format (protocol-2 pickles, bytes keys), per_batch images each."""
    g = torch.Generator().manual_seed(seed)
    batches = {}
    with tarfile.open(path, "w:gz") as archive:
        def add(name, entry):
            data = pickle.dumps(entry, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))

        add("batches.meta", {b"label_names": [c.encode() for c in cifar10.CLASSES], b"num_vis": 3072})
        for name in cifar10.TRAIN_BATCHES + [cifar10.TEST_BATCH]:
            data = torch.randint(0, 256, (per_batch, 3072), generator=g, dtype=torch.uint8).numpy()
            labels = torch.randint(0, 10, (per_batch,), generator=g).tolist()
            batches[name] = (data, labels)
            add(name, {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                       b"filenames": [f"{i}.png".encode() for i in range(per_batch)]})
    return batches


def test_archive_converts_to_uint8_nhwc_tensors(tmp_path):
    batches = cifar_archive(tmp_path / "cifar-10-python.tar.gz")
    cache = tmp_path / "data" / "cifar10.pt"
    cache.parent.mkdir()
    cifar10.prepare(cache, cifar10.md5sum(tmp_path / "cifar-10-python.tar.gz"),
                    local_copy=tmp_path / "cifar-10-python.tar.gz")
    data = torch.load(cache)
    assert data["source"] == "cifar10" and data["train"]["images"].shape == (100, 32, 32, 3)
    assert data["train"]["images"].dtype == torch.uint8 and data["test"]["images"].shape == (20, 32, 32, 3)
    raw, labels = batches["data_batch_2"]
    image = data["train"]["images"][20 + 3]  # the 4th image of the 2nd batch: R plane, then G, then B
    assert image[0, 1, 0] == raw[3, 1] and image[1, 0, 1] == raw[3, 1024 + 32] and image[31, 31, 2] == raw[3, 3071]
    assert data["train"]["labels"][20:40].tolist() == labels
    assert sorted(p.name for p in cache.parent.iterdir()) == ["cifar10.pt"]


@pytest.mark.parametrize("download", [True, False])
def test_bad_checksum_stops_and_leaves_nothing(tmp_path, download):
    tarball = tmp_path / "cifar-10-python.tar.gz"
    cifar_archive(tarball)
    out = tmp_path / "data"
    out.mkdir()
    source = dict(url=tarball.as_uri()) if download else dict(local_copy=tarball)  # file:// runs the real download
    with pytest.raises(ValueError, match=f"md5 {cifar10.md5sum(tarball)}, expected {'0' * 32}"):
        cifar10.prepare(out / "cifar10.pt", "0" * 32, **source)
    assert list(out.iterdir()) == []


def test_download_with_the_right_checksum_makes_the_cache(tmp_path):
    tarball = tmp_path / "cifar-10-python.tar.gz"
    cifar_archive(tarball)
    cifar10.prepare(tmp_path / "cifar10.pt", cifar10.md5sum(tarball), url=tarball.as_uri())
    assert torch.load(tmp_path / "cifar10.pt")["test"]["labels"].shape == (20,)


def test_balanced_subset_takes_per_class_of_each_class():
    labels = torch.arange(10).repeat(30)[torch.randperm(300)]
    keep = cifar10.balanced_subset(labels, 7)
    assert torch.bincount(labels[keep]).tolist() == [7] * 10 and len(keep.unique()) == 70


def test_digits_are_cifar_shaped_with_a_fixed_stratified_split():
    data = cifar10.digits()
    assert data["source"] == "digits" and data["classes"] == [str(c) for c in range(10)]
    train, test = data["train"], data["test"]
    assert train["images"].shape == (1297, 32, 32, 3) and test["images"].shape == (500, 32, 32, 3)
    assert train["images"].dtype == test["images"].dtype == torch.uint8
    assert torch.bincount(test["labels"]).tolist() == [50] * 10
    fewest = {f"{split}_per_class": int(torch.bincount(data[split]["labels"]).min()) for split in ("train", "test")}
    assert fewest == experiments.DIGITS_PER_CLASS  # the bounds the config check sets on a subset
    from sklearn.datasets import load_digits
    raw = load_digits()
    images, labels = torch.cat([train["images"], test["images"]]), torch.cat([train["labels"], test["labels"]])
    assert (images == images[..., :1]).all()  # one grey image in the 3 channels
    assert torch.equal(images, images[:, ::4, ::4].repeat_interleave(4, 1).repeat_interleave(4, 2))  # 4×4 blocks
    values = (images[:, ::4, ::4, 0].double() * 16 / 255).round().to(torch.uint8)  # 0..255 back to 0..16
    pairs = sorted(zip(map(bytes, values.numpy()), labels.tolist()))
    assert pairs == sorted(zip(map(bytes, raw.images.astype("uint8")), raw.target.tolist()))  # every digit, once
    again = cifar10.digits()
    assert all(torch.equal(again[split][key], data[split][key]) for split in ("train", "test") for key in train)


# ---------------------------------------------------------------- training
def tiny_data():
    return cifar10.synthetic(train_per_class=20, test_per_class=5)


def test_tiny_run_trains_and_records_its_data_source():
    settings = {"train": TRAIN, "hyper": REFERENCE, "method": {"lmo": "f-muon", "alpha": 0.5}, "seeds": [0, 1]}
    frame = airbench.run_block(settings, tiny_data(), torch.device("cpu"), compile=False)
    assert frame["seed"].tolist() == [0, 1] and (frame["data"] == "synthetic").all()
    assert (frame["steps"] == 2 * 200 // 50).all() and not frame["diverged"].any()
    assert frame["accuracy"].between(0, 1).all() and (frame["train_seconds"] > 0).all()


@pytest.mark.parametrize("method", [{"lmo": "f-muon", "alpha": 0.5}, {"lmo": "neon", "backend": "lanczos"}])
def test_non_finite_loss_is_recorded_as_diverged_with_its_step(method):
    data = tiny_data()
    train_set = airbench.to_device(data["train"], torch.device("cpu"), torch.float32)
    test_set = airbench.to_device(data["test"], torch.device("cpu"), torch.float32)
    train_set[0][TRAIN["whiten_images"]:] = math.nan  # every batch holds a NaN image: the first loss is NaN
    model = airbench.build_model(TRAIN, torch.device("cpu"), torch.float32, compile=False)
    row = airbench.train_run(model, train_set, test_set, method, REFERENCE, TRAIN, seed=0)
    assert row["diverged"] and row["diverged_step"] == 0 and math.isnan(row["accuracy"])
    assert row["steps"] == 200 // 50  # stopped at the end of the first epoch


@pytest.mark.parametrize("method, fallbacks", [({"lmo": "f-muon", "alpha": 0.5}, False),
                                              ({"lmo": "neon", "backend": "lanczos", "rtol": 1e-12}, True)])
def test_a_run_records_its_top_k_fallbacks(method, fallbacks):
    """A top-k solve that did not converge was redone by the exact SVD: its time is in the run's, so the row
    says how many there were (float32 cannot reach rtol 1e-12: every solve falls back)."""
    settings = {"train": TRAIN, "hyper": REFERENCE, "method": method, "seeds": [0]}
    frame = airbench.run_block(settings, tiny_data(), torch.device("cpu"), compile=False)
    assert (frame["topk_fallbacks"] > 0).all() == fallbacks and (frame["topk_fallbacks"] >= 0).all()


def test_on_real_digits_muon_learns_and_a_wrong_way_optimizer_does_not():
    """The quick profile's check that an optimizer works: 18 steps on 600 digits (its settings, 1 thread, a few
    seconds a run). Muon's test accuracy is far above chance (10%); the same step negated (−UVᵀ, gradient
    ascent on the filters) is not. On random images Muon fails the first half; a step of the right sign, the second."""
    data = cifar10.digits()
    data["train"] = {key: value[cifar10.balanced_subset(data["train"]["labels"], 60)] for key, value in data["train"].items()}
    train = TRAIN | {"widths": [16, 32, 32], "batch_size": 100, "epochs": 3, "whiten_images": 500,
                     "whiten_bias_epochs": 3, "flip": False, "tta_level": 0}
    fanions.register_lmo("neg-muon", dual_norm=fanions.norms.nuclear)(
        lambda M, polar="svd", polar_steps=5: -fanions.lmo(M, "muon", polar=polar, polar_steps=polar_steps))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        accuracy = {lmo: airbench.run_block({"train": train, "hyper": REFERENCE, "method": {"lmo": lmo}, "seeds": [0]},
                                            data, torch.device("cpu"), compile=False)["accuracy"][0]
                    for lmo in ("muon", "neg-muon")}
    finally:
        torch.set_num_threads(threads)
        del fanions.LMOS["neg-muon"]
    assert accuracy["muon"] > 0.6 and accuracy["neg-muon"] <= 0.3, accuracy


# ---------------------------------------------------------------- the report
def report_runs(source):
    rows = [{"experiment": "table", "method": method, "label": label, "lmo": method, "alpha": alpha, "k": None,
             "lr": lr, "momentum": momentum, "data": source, "seed": seed, "accuracy": 0.9 + 0.01 * seed,
             "diverged": False, "train_seconds": seconds, "eval_seconds": 0.1, "topk_fallbacks": 0}
            for method, label, alpha, lr, momentum, seconds in (("muon", "Muon", None, 0.24, 0.6, 2.0),
                                                               ("f-muon", "F-Muon α=0.5", 0.5, 0.4, 0.65, 2.1))
            for seed in range(3)]
    return pd.DataFrame(rows + [rows[-1] | {"seed": 3, "accuracy": math.nan, "diverged": True}])


def test_report_counts_diverged_runs_and_sets_the_paper_beside_ours():
    summary = airbench_report.summarize(report_runs("cifar10"))
    fmuon = summary.set_index("method").loc["f-muon"]
    assert (fmuon.runs, fmuon.diverged, fmuon["mean"]) == (4, 1, pytest.approx(91.0))
    table = airbench_report.table(summary, "cifar10")
    assert r"F-Muon $\alpha=0.5$ & 0.4, 0.65 & $91.00 \pm 1.00$ & 4 (1) & 2.10 & $94.01 \pm 0.14$ & $94.02 \pm 0.13$" in table
    assert r"Muon & 0.24, 0.6 & $91.00 \pm 1.00$" in table  # Muon at its own reference settings
    assert "synthetic" not in table
    settings = {"train": {"epochs": 8, "batch_size": 1024}, "experiments": {"table": {"runs": 4}}}
    assert airbench_report.values(summary, "cifar10", settings)["airbench.fallbacks"].startswith("No top-k solve")
    without_fmuon = summary[summary["method"] != "f-muon"]  # removed by a user: once a KeyError in the table job
    assert "airbench.table.time_ratio" not in airbench_report.values(without_fmuon, "cifar10", settings)
    summary.loc[0, "topk_fallbacks"] = 3
    assert airbench_report.values(summary, "cifar10", settings)["airbench.fallbacks"].startswith("3 top-k solves fell")


@pytest.mark.parametrize("source, words", [("synthetic", "synthetic CIFAR-shaped images"),
                                           ("digits", "scikit-learn's 8-by-8 handwritten digits")])
def test_results_on_other_data_are_marked_everywhere_and_sources_do_not_mix(source, words):
    runs = report_runs(source)
    summary = airbench_report.summarize(runs)
    note = airbench_report.NOTES[source]
    assert words in note and "not CIFAR-10" in note and "not the paper's data" in note
    assert note in airbench_report.table(summary, source)
    values = airbench_report.values(summary, source, {"train": TRAIN, "experiments": {"table": {"runs": 4}}})
    assert values["airbench.data"] == note
    assert values["airbench.mark"] == " [not the paper's data]"
    assert values["airbench.table.muon.mean"] == f"{float(values['airbench.table.muon.mean']):.2f}"  # a number
    with pytest.raises(ValueError, match="several data sources"):
        airbench_report.data_source(pd.concat([runs, report_runs("cifar10")]))


# ---------------------------------------------------------------- the DAG
def test_full_scale_dry_run_lists_every_airbench_run(workdir):
    config = yaml.safe_load((REPO / "config.yaml").read_text())["airbench"]
    counts = job_counts(snakemake(workdir, "-n", "--cores", "1").stdout)
    expected = sum(math.prod(len(values) for values in experiment.get("sweep", {}).get(method, {}).values())
                   * math.ceil(experiment["runs"] / config["seeds_per_job"])
                   for experiment in config["experiments"].values() for method in experiment["methods"])
    assert counts["airbench_run"] == expected == 18 + 3 * 20 + 9 + 28 + 9  # (a), (b) in blocks of 10, appendix, (c), (d)
    assert counts["airbench_data"] == 1 and counts["airbench_figure"] == 3 and counts["airbench_table"] == 1
    assert counts["airbench_grad_norms_run"] == 9 and counts["airbench_grad_norms_report"] == 1


@pytest.mark.slow
def test_quick_airbench_builds_every_figure_and_table_marked_digits(quick_build):
    """Read from the quick build (CI's first command): its tables, values and figures."""
    targets = [f"results/figures/airbench_figure_{name}.pdf"
               for name in ("alpha_reference", "alpha_tuned", "fanions")]
    for name in ("airbench_table", "airbench_appendix_table"):
        table = (quick_build / f"results/tables/{name}.tex").read_text()
        assert "handwritten digits, not CIFAR-10" in table and "94.01" in table
    appendix = (quick_build / "results/tables/airbench_appendix_table.tex").read_text()
    assert all(label in appendix for label in ("NSGD", "SignSGD", "5-Fanion", "F-Neon", "$69.80 \\pm 0.50$"))
    assert "handwritten digits, not CIFAR-10" in (quick_build / "results/values/airbench.tex").read_text()
    assert all((quick_build / target).stat().st_size > 0 for target in targets)


def test_a_method_runs_at_its_own_settings_where_the_experiment_says_so(workdir):
    """The 200-run table: F-Muon and S-Muon at v2's tuned settings, Muon at airbench94_muon's own (method_hyper); a
    method_hyper naming no method or no settings is refused before any job."""
    result = snakemake(workdir, "-n", "--cores", "1", "-p", "results/airbench/runs/table/muon/block0.csv",
                       "results/airbench/runs/table/f-muon/block0.csv", "--config", "gpu_jobs_on_cpu=true")
    assert result.returncode == 0
    sys.path.insert(0, str(REPO / "workflow"))
    import experiments
    import yaml
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    assert experiments.airbench_hyper(config, "table", "muon") == "reference"
    assert experiments.airbench_hyper(config, "table", "f-muon") == "f-muon_v2"  # v2's 0.4 / 0.6
    assert experiments.airbench_hyper(config, "table", "s-muon") == "s-muon_v2"  # v2's 0.42 / 0.63
    assert experiments.airbench_hyper(config, "alpha_tuned", "s-muon_alpha0.5") == "tuned"
    bad = snakemake(workdir, "-n", "--config", "airbench={experiments: {table: {method_hyper: {adam: reference, "
                    "muon: best}}}}", check=False)
    assert "config key airbench.experiments.table.method_hyper.adam: no method 'adam'" in bad.stdout
    assert "config key airbench.experiments.table.method_hyper.muon: 'best' is not a key of airbench.hyper" in bad.stdout
    bad = snakemake(workdir, "-n", "--config", "norm_balls={lr_balls: [muon, neon]}", check=False)
    assert "config key norm_balls.lr_balls: 'neon' is not a method of airbench.experiments.table; allowed: " in bad.stdout


# ---------------------------------------------------------------- gradient norms (v2's appendix)
def test_gradient_norms_are_each_parameters_matrix_norms_and_the_totals_of_the_block_diagonal():
    torch.manual_seed(0)
    model = airbench.build_model(TRAIN, torch.device("cpu"), torch.float32, compile=False)
    model(torch.randn(4, 3, 32, 32)).square().sum().backward()
    norms = airbench.gradient_norms(model)
    G = model.layers[2].conv1.weight.grad.double()
    s = torch.linalg.svdvals(G.reshape(len(G), -1))
    assert norms["layers.2.conv1.weight_spectral"] == pytest.approx(s[0].item(), rel=1e-12)
    assert norms["layers.2.conv1.weight_nuclear"] == pytest.approx(s.sum().item(), rel=1e-12)
    assert norms["layers.2.conv1.weight_frobenius"] == pytest.approx(G.norm().item(), rel=1e-12)
    grads = [p.grad.double() for p in model.parameters() if p.grad is not None]
    assert norms["total_frobenius"] == pytest.approx(torch.cat([g.flatten() for g in grads]).norm().item(), rel=1e-12)
    block = torch.block_diag(*(g.reshape(len(g) if g.ndim > 1 else 1, -1) for g in grads))  # the whole gradient
    assert norms["total_spectral"] == pytest.approx(torch.linalg.matrix_norm(block, 2).item(), rel=1e-9)
    assert norms["total_nuclear"] == pytest.approx(torch.linalg.matrix_norm(block, "nuc").item(), rel=1e-9)


def test_a_logged_run_without_weight_normalization_records_every_log_every_steps():
    data = tiny_data()
    train = TRAIN | {"weight_norm": False, "log_every": 3}
    log = []
    frame = airbench.run_block({"train": train, "hyper": REFERENCE, "method": {"lmo": "muon"}, "seeds": [0]},
                               data, torch.device("cpu"), compile=False, log=log)
    log = pd.DataFrame(log)
    assert log["step"].tolist() == list(range(0, frame["steps"].item(), 3))
    assert {"train_acc", "val_acc", "layers.1.conv2.weight_nuclear", "total_spectral"} <= set(log.columns)
    convs = [c for c in log.columns if ".conv" in c or c.startswith("total_") or c.endswith("_acc")]
    assert log[convs].notna().all().all()  # the whitening bias has no gradient once it is frozen (as in theirs)
    model = airbench.build_model(TRAIN, torch.device("cpu"), torch.float32, compile=False)
    for weight_norm in (True, False):  # airbench rescales the filters to √out before each step; off, it does not
        train = TRAIN | {"weight_norm": weight_norm, "epochs": 1}
        airbench.train_run(model, *(airbench.to_device(data[s], torch.device("cpu"), torch.float32)
                                    for s in ("train", "test")), {"lmo": "nsgd"}, REFERENCE | {"lr": 2.0}, train, seed=0)
        scale = [p.norm().item() / len(p) ** 0.5 for p in model.filters()]
        assert (max(abs(x - 1) for x in scale) < 0.5) == weight_norm, scale


def test_the_gradient_norm_verdict_fails_a_fall_over_ten_or_a_method_short_of_100_percent():
    import verdicts
    summary = pd.DataFrame([{"source": "cifar10", "method": m, "fall_frobenius": 6.0, "fall_spectral": 4.0,
                             "fall_nuclear": 8.0, "best_train_acc": 1.0} for m in ("muon", "f-muon")]
                           + [{"source": "authors", "method": "Muon", "fall_frobenius": 30.0, "fall_spectral": 1.0,
                               "fall_nuclear": 1.0, "best_train_acc": 0.5}])  # theirs are their evidence, not ours
    verdict = lambda frame: verdicts.grad_norm_verdicts(frame, {}, {"window": 5})["ab.grad_norms"].verdict  # noqa: E731
    assert verdict(summary) == "reproduced"
    assert verdict(summary.assign(fall_nuclear=[8.0, 12.0, 1.0])) == "not reproduced"
    assert verdict(summary.assign(best_train_acc=[1.0, 0.99, 1.0])) == "not reproduced"
    assert verdicts.grad_norm_verdicts(summary.assign(source="digits"), {}, {"window": 5}) == {}
