"""Config that would reach a job, or run the wrong thing (issue 27), refused before any job naming its key:
numbers finite and counts integers, sizes bounded by what they index, null removing an entry;
a user's config file layered over the profile's;
the plan checked against the machine (its devices, its memory) before its first job."""
import math
import sys

import pytest
import yaml

from conftest import REPO, job_counts, snakemake

sys.path.insert(0, str(REPO / "workflow"))
import experiments  # noqa: E402

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())


def merge(base, over):
    """``over`` merged into ``base`` key by key, as Snakemake merges config files."""
    for key, value in over.items():
        base[key] = merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return base


def quick_config():
    """config.yaml with the quick profile's overrides merged over it."""
    return merge(yaml.safe_load((REPO / "config.yaml").read_text()),
                 yaml.safe_load((REPO / "profiles/quick/overrides.yaml").read_text()))


def test_a_users_config_file_is_layered_over_the_profiles(workdir):
    # --configfile once replaced the profile's config files: the quick overrides vanished and the full scale was planned
    (workdir / "my.yaml").write_text("finetune: {seeds: [0, 1]}\n")
    out = snakemake(workdir, "-n", "--cores", "1", "--profile", "profiles/quick", "--configfile", "my.yaml").stdout
    counts = job_counts(out)
    assert counts["nanogpt_train"] == 7  # the quick profile's one seed per run
    assert counts["finetune_run"] == 2 * 3 * 2  # its 2 optimizers × 3 lrs, with my.yaml's 2 seeds


def test_profile_configfiles_reads_the_last_profile_given():
    argv = ["snakemake", "-n", "--profile", "profiles/slurm", "--profile=profiles/quick", "--configfile", "my.yaml"]
    quick = [REPO / "config.yaml", REPO / "profiles/quick/overrides.yaml"]
    assert experiments.profile_configfiles(argv, {}, REPO) == quick
    environ = {"SNAKEMAKE_PROFILE": str(REPO / "profiles/quick")}
    assert experiments.profile_configfiles(["snakemake"], environ, REPO) == quick
    assert experiments.profile_configfiles(["snakemake", "--profile", "profiles/slurm"], {}, REPO) == []


@pytest.mark.parametrize("section, key, value, allowed", [
    ("norm_asymptotics", "sigma", math.inf, "type number, finite"),
    ("norm_asymptotics", "level", math.nan, "type number, finite"),
    ("topk_timing", "reps", 3.0, "type integer, in digits"),
    ("least_squares_tuned", "record_every", 1e3, "type integer, in digits"),
])
def test_numbers_are_finite_and_counts_integers(section, key, value, allowed):
    config = quick_config()
    config[section][key] = value
    problems = [experiments.explain(error) for error in experiments.strict_validator(SCHEMA).iter_errors(config)]
    assert len(problems) == 1 and f"config key {section}.{key}" in problems[0] and allowed in problems[0], problems


def test_every_list_in_the_schema_holds_no_repeats():
    """A repeated value runs twice and draws twice (a doubled legend): every list of values is uniqueItems, but
    the fixed-length tuples (betas, widths)."""
    def arrays(node, path=()):
        if isinstance(node, dict):
            if node.get("type") == "array":
                yield path, node
            for key, value in node.items():
                yield from arrays(value, (*path, key))
    repeatable = {"widths", "betas"}
    assert [".".join(path) for path, node in arrays(SCHEMA)
            if not node.get("uniqueItems") and path[-1] not in repeatable] == []


@pytest.mark.parametrize("changes, keys", [
    ({"nanogpt": {"train": {"momentum_snapshot": {"steps": 60}}}},
     ["nanogpt.train.momentum_snapshot.steps", "nanogpt.train.steps = 50"]),
    ({"finetune": {"train": {"warmup_steps": 12, "cooldown_steps": 9}}},
     ["finetune.train.warmup_steps + cooldown_steps", "finetune.train.steps = 20"]),
    ({"airbench": {"data": {"test_per_class": 51}}}, ["airbench.data.test_per_class", "digits.test_per_class = 50"]),
    ({"airbench": {"data": {"source": "synthetic", "test_per_class": 1001}}},
     ["airbench.data.test_per_class", "airbench.data.synthetic.test_per_class = 1000"]),
    ({"airbench": {"train": {"whiten_images": 601}}}, ["airbench.train.whiten_images", "600"]),
    ({"airbench": {"data": {"source": "cifar10", "train_per_class": 5001}}}, ["airbench.data.train_per_class", "5000"]),
])
def test_a_size_above_what_it_indexes_is_refused_naming_both_keys(changes, keys):
    assert experiments.bound_problems(quick_config()) == []
    problems = experiments.bound_problems(merge(quick_config(), changes))
    assert len(problems) == 1 and "allowed: at most" in problems[0], problems
    assert all(key in problems[0] for key in keys), problems


def test_null_removes_an_entry_of_any_id_map_and_nothing_else():
    config = quick_config()
    config["nanogpt"]["runs"]["muon-lr0.07"] = None
    config["least_squares_tuned"]["tuned"]["sign"] = None
    config["finetune"]["model"]["hub"]["revision"]["gpt2"] = None  # a value: null is main
    config["finetune"]["optimizers"]["adamw"]["method"] = None     # a value: AdamW
    experiments.drop_removed_entries(config, SCHEMA)
    assert "muon-lr0.07" not in config["nanogpt"]["runs"] and "sign" not in config["least_squares_tuned"]["tuned"]
    assert config["finetune"]["model"]["hub"]["revision"] == {"gpt2": None}
    assert config["finetune"]["optimizers"]["adamw"]["method"] is None


def test_device_keys_that_need_cuda_are_named_on_a_machine_without_it():
    config = quick_config()
    config["topk_timing"]["device"] = "cuda"
    config["least_squares"]["methods"]["fanion"] = {"lmo": "fanion", "backend": "cupy"}
    config["nanogpt"]["runs"]["f-muon-a0.5"]["method"]["backend"] = "cupy"  # not planned: not named
    problems = experiments.device_problems(config, {"topk_timing", "least_squares"}, cuda=False)
    assert [problem.split(":")[0] for problem in problems] == ["config key least_squares.methods.fanion.backend",
                                                              "config key topk_timing.device"]
    assert "allowed here: cpu" in problems[1] and "'lanczos'" in problems[0]
    assert experiments.device_problems(config, {"topk_timing", "least_squares"}, cuda=True) == []


def test_an_allocation_above_the_machines_memory_is_named_with_its_estimate():
    config = quick_config()
    config["norm_asymptotics"]["sizes"] = [64, 16384]
    config["norm_asymptotics"]["aspects"] = [1, 64]
    problems = experiments.memory_problems(config, {"norm_asymptotics", "least_squares"}, ram=16 * 2**30)
    assert len(problems) == 1 and "config key norm_asymptotics.sizes" in problems[0] and "GiB" in problems[0], problems
    assert experiments.memory_problems(config, {"least_squares"}, ram=16 * 2**30) == []


def test_a_plan_this_machine_cannot_run_stops_before_any_job_naming_the_keys(workdir):
    # topk_timing={device: cuda} on a CPU once failed in the job, naming no key
    result = snakemake(workdir, "--cores", "1", "--profile", "profiles/quick", "--config",
                       "topk_timing={device: cuda}", "norm_asymptotics={sizes: [64, 16384], aspects: [1, 64]}",
                       check=False, env={"CUDA_VISIBLE_DEVICES": ""}, timeout=300)
    assert result.returncode != 0 and "Nothing was run" in result.stdout
    for fragment in ["config key topk_timing.device", "config key norm_asymptotics.sizes", "GiB"]:
        assert fragment in result.stdout, f"{fragment!r} not in:\n{result.stdout}"
    assert not (workdir / "results").exists()


def test_an_entry_set_to_null_is_removed_from_the_plan(workdir):
    # null once reached the schema as a run: "None is not of type 'object'"
    out = snakemake(workdir, "-n", "--cores", "1", "--profile", "profiles/quick", "--config",
                    "nanogpt={runs: {muon-lr0.07: null}}").stdout
    assert job_counts(out)["nanogpt_train"] == 6


def test_a_one_point_lr_grid_is_its_centre():
    """points: 1 once ran lr/10, the grid's lower end, whatever decades said."""
    config = quick_config()
    config["finetune"]["lr_grid"] = {"points": 1, "decades": 2}
    assert experiments.finetune_grid(config)["muon"] == {"0.02": 0.02}
