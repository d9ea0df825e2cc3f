"""Config first: retype command-line values, validate against the schema, check every LMO; then shared helpers.

Runs before any rule is defined, so a bad config stops the run before any job, with a message that
names the key and what it allows.
"""
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
    if problems:
        raise WorkflowError("Invalid config:\n  " + "\n  ".join(problems))


check_config(config)

def settings(section, *keys, **extra):
    """The keys of a config section that a job uses, as its params (so changing one reruns just those jobs)."""
    return {**{key: section[key] for key in keys}, **extra}


# What each experiment gives the paper: EXPERIMENTS[name] = files (each experiment's .smk registers itself).
EXPERIMENTS = {}


def paper_inputs():
    return [path for files in EXPERIMENTS.values() for path in files]
