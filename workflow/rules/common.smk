"""Config first: retype command-line values, validate against the schema, check every LMO; then shared helpers.

Runs before any rule is defined, so a bad config stops the run before any job, with a message that
names the key and what it allows.
"""
import glob
import itertools
import sys
from pathlib import Path

import jsonschema
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

REPO = Path(workflow.basedir)
sys.path.insert(0, str(REPO / "workflow/scripts"))
from common import fanions, git_commit, load_extra_lmos  # the scripts' module: this commit's library

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
LOGS, BENCHMARKS, ENVS = "results/logs", "results/benchmarks", "../../envs"


def retype(node):
    """--config parses nested values as strings ('0.3'): read each string leaf again as YAML (0.3)."""
    if isinstance(node, dict):
        return {key: retype(value) for key, value in node.items()}
    if isinstance(node, list):
        return [retype(value) for value in node]
    if isinstance(node, str):
        value = yaml.safe_load(node) if node.strip() else node
        return value if isinstance(value, (int, float, bool)) else node
    return node


def explain(error):
    """One line per schema violation: the key path, the bad value and what is allowed there."""
    path = ".".join(map(str, error.absolute_path)) or "(top level)"
    check, limit = error.validator, error.validator_value
    allowed = {
        "enum": f"one of {limit}", "type": f"type {limit}", "minimum": f">= {limit}", "maximum": f"<= {limit}",
        "exclusiveMinimum": f"> {limit}", "exclusiveMaximum": f"< {limit}", "minItems": f"at least {limit} items",
        "uniqueItems": "no repeated items", "pattern": f"names matching {limit}", "required": f"keys {limit}",
        "additionalProperties": f"the keys {sorted(error.schema.get('properties', {}))}",
        "minProperties": f"at least {limit} entries",
    }.get(check, f"{check} {limit}")
    return f"config key {path}: {error.message}; allowed: {allowed}"


def method_specs(node, path=()):
    """Every method spec in the config (a mapping with an 'lmo' key), with its key path."""
    if isinstance(node, dict):
        if "lmo" in node:
            yield ".".join(path), node
        for key, value in node.items():
            yield from method_specs(value, (*path, str(key)))


def check_config(config):
    """Validate (setting the schema's defaults), load the user's LMOs, check every method against fanions."""
    config.update(retype(config))
    try:
        validate(config, str(SCHEMA))
    except WorkflowError:
        schema = yaml.safe_load(SCHEMA.read_text())
        errors = jsonschema.Draft202012Validator(schema).iter_errors(config)
        raise WorkflowError("Invalid config:\n  " + "\n  ".join(sorted(map(explain, errors))))
    load_extra_lmos(config["extra_lmos"])
    problems = []
    for path, spec in method_specs(config):
        try:
            fanions.check_options(spec["lmo"], {key: value for key, value in spec.items() if key != "lmo"})
        except ValueError as error:
            problems.append(f"config key {path}: {error}")
    runs = sorted(config["nanogpt"]["runs"])
    for path, run in (("nanogpt.baseline", config["nanogpt"]["baseline"]),
                      ("topk_timing.momentum_run", config["topk_timing"]["momentum_run"])):
        if run not in runs:
            problems.append(f"config key {path}: {run!r} is not a nanogpt run; allowed: {runs}")
    watched = config["nanogpt"]["train"]["momentum_snapshot"]["parameter"]
    layers = config["nanogpt"]["model"]["n_layer"]
    if int(watched.split(".")[1]) >= layers:
        problems.append(f"config key nanogpt.train.momentum_snapshot.parameter: {watched!r} is not in the model; "
                        f"allowed: blocks.0 to blocks.{layers - 1}")
    problems += finetune_problems(config)
    if problems:
        raise WorkflowError("Invalid config:\n  " + "\n  ".join(problems))


def finetune_problems(config):
    """The fine-tuning section against the rest: optimizer ids, the NanoGPT run it starts from, the local
    checkpoint (files, config, every tensor's shape, from its header) and text files, steps in range."""
    from gpt.checkpoint import gpt2_problems
    ft, problems = config["finetune"], []
    defined = sorted(ft["optimizers"])
    for name in ft["compare"] + [ft["baseline"]]:
        if name not in defined:
            problems.append(f"config key finetune.compare/baseline: {name!r} is not in finetune.optimizers; "
                            f"allowed: {defined}")
    if ft["baseline"] not in ft["compare"]:
        problems.append(f"config key finetune.baseline: {ft['baseline']!r} does not run; allowed: {ft['compare']}")
    model, data, train = ft["model"], ft["data"], ft["train"]
    if model["source"] == "nanogpt":
        run, seed = model["nanogpt"]["run"], model["nanogpt"]["seed"]
        if run not in config["nanogpt"]["runs"]:
            problems.append(f"config key finetune.model.nanogpt.run: {run!r} is not a nanogpt run; "
                            f"allowed: {sorted(config['nanogpt']['runs'])}")
        if seed not in config["nanogpt"]["seeds"]:
            problems.append(f"config key finetune.model.nanogpt.seed: {seed} is not a nanogpt seed; "
                            f"allowed: {config['nanogpt']['seeds']}")
    if model["source"] == "local":
        found = gpt2_problems(model["local"]) if model["local"] else ["null: name a checkpoint folder"]
        problems += [f"config key finetune.model.local: {problem}" for problem in found]
    if data["source"] == "local":
        for split in ("train", "val"):
            path = data["local"][split]
            if not path or not Path(path).is_file():
                problems.append(f"config key finetune.data.local.{split}: no file {path!r}")
    late = [step for step in train["spectra"]["steps"] if step > train["steps"]]
    if late:
        problems.append(f"config key finetune.train.spectra.steps: {late} after the last step; allowed: "
                        f"1 to finetune.train.steps={train['steps']}")
    if train["val_tokens"] < train["seq_len"]:
        problems.append(f"config key finetune.train.val_tokens: {train['val_tokens']} is less than one sequence; "
                        f"allowed: >= finetune.train.seq_len={train['seq_len']}")
    return problems


check_config(config)

def settings(section, *keys, **extra):
    """The keys of a config section that a job uses, as its params (so changing one reruns just those jobs)."""
    return {**{key: section[key] for key in keys}, **extra}


# What each experiment gives the paper: EXPERIMENTS[name] = files (each experiment's .smk registers itself).
EXPERIMENTS = {}


def paper_inputs():
    return [path for files in EXPERIMENTS.values() for path in files]


# ---------------------------------------------------------------- experiment helpers
# (snakemake --lint wants the functions of the experiments' .smk files here, beside no rule)
def ab_methods(experiment):
    """{id: spec} of an airbench experiment; each value of a swept option is one method, "f-muon_alpha0.5"."""
    section = config["airbench"]["experiments"][experiment]
    methods = {}
    for name, spec in section["methods"].items():
        sweep = section.get("sweep", {}).get(name, {})
        for values in itertools.product(*sweep.values()):
            option = dict(zip(sweep, values))
            suffix = "".join(f"_{key}{value:g}" for key, value in option.items())
            methods[f"{name}{suffix}"] = spec | option
    return methods


def ab_seeds(experiment, block):
    """The seeds of one airbench job: block ``block`` of ``seeds_per_job``."""
    per_job, runs = config["airbench"]["seeds_per_job"], config["airbench"]["experiments"][experiment]["runs"]
    return list(range(int(block) * per_job, min(runs, (int(block) + 1) * per_job)))


def ab_settings(w):
    ab = config["airbench"]
    return {key: ab[key] for key in ("train", "data", "device", "compile")} | {
        "hyper": ab["hyper"][ab["experiments"][w.experiment]["hyper"]],
        "method": ab_methods(w.experiment)[w.method], "seeds": ab_seeds(w.experiment, w.block)}


def ng_shards(split):
    """The NanoGPT shards of a split (train or val) for the configured source."""
    data = config["nanogpt"]["data"]
    if data["source"] == "fineweb":
        return [f"data/fineweb10B/{name}" for name in data["fineweb"][split]]
    if data["source"] == "local":
        return sorted(glob.glob(data["local"][split])) or [data["local"][split]]  # none: a missing input
    return [f"results/nanogpt/shards/{data['source']}/{split}.bin"]


def ng_settings(w, input):
    """Everything train_gpt.py reads, for one run and seed."""
    ng, run = config["nanogpt"], config["nanogpt"]["runs"][w.run]
    return {**ng["train"], "model": ng["model"], "method": run["method"], "lr": run["lr"], "seed": int(w.seed),
            "data_source": w.source, "train_files": list(input.train), "val_files": list(input.val)}
