"""The config (the Snakefile calls these before any rule): a YAML syntax check naming the line, the user's config
files layered over the profile's, command-line values retyped, validation against the schema, every LMO and every
key that must agree with another checked (workflow/experiments.py); the settings each job is given; and, before
the first job, the check that this machine can run the plan.

Runs before any rule is defined, so a bad config stops the run before any job, with a message that
names the key and what it allows.
"""
import copy
import os
import re
import sys
from pathlib import Path

import yaml
from snakemake.common.configfile import load_configfile
from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config, validate

REPO = Path(workflow.basedir)
sys.path[:0] = [str(REPO / "workflow"), str(REPO / "workflow/scripts")]
import experiments  # the experiments' helpers (plain Python)
from job import code_version, git_commit, load_extra_lmos, stale_results  # the scripts' module: this commit's library

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


def rebuild_stale_results(root="results"):
    """A result made from an input whose content has changed since (job.stale_results: an input edited, or
    restored with its old time) is dated to the epoch, so that Snakemake's mtime trigger rebuilds it: a derived
    file never outlives a change of what it was made from, and its rebuild reads the input checked."""
    import os
    for result, source in stale_results(REPO / root):
        os.utime(result, (0, 0))
        print(f"{result.relative_to(REPO)} was made from {source}, whose content has changed since: it will be "
              "rebuilt", file=sys.stderr)


def refuse(title, problems):
    """End the run before any job: the title, then one line per problem; no traceback, as the cause is the config
    or the machine, not the code."""
    sys.exit(f"{title}:\n  " + "\n  ".join(problems))


def check_yaml(path):
    """A syntax error in a YAML file, named with its file, line and column (Snakemake's message names none)."""
    try:
        experiments.read_yaml(path)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        refuse("Invalid config", [f"{path}{where}: {getattr(error, 'problem', None) or error}"])


LOGS, BENCHMARKS, ENVS = "results/logs", "results/benchmarks", "../../envs"


SCIENTIFIC = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")  # 1e-3: a string to PyYAML (YAML 1.1 wants 1.0e-3)


def retype(node):
    """--config parses nested values as strings ('0.3'): read each string leaf again as YAML (0.3), and a number
    in scientific notation without a dot (1e-3), which PyYAML leaves a string in config files too, as a float."""
    if isinstance(node, dict):
        return {key: retype(value) for key, value in node.items()}
    if isinstance(node, list):
        return [retype(value) for value in node]
    if isinstance(node, str):
        if SCIENTIFIC.fullmatch(node.strip()):
            return float(node)
        value = yaml.safe_load(node) if node.strip() else node
        return value if value is None or isinstance(value, (int, float, bool)) else node
    return node


def layer_over_profile(config):
    """A user's config file goes over the profile's: config.yaml, the profile's files, the user's, then --config.
    Snakemake's --configfile replaces the profile's configfiles (as any option replaces the profile's), so
    `--profile profiles/quick --configfile my.yaml` once dropped the quick overrides and planned the full scale.
    The jobs Snakemake starts elsewhere (a cluster) are given the same files."""
    given = workflow.config_settings
    profile = experiments.profile_configfiles(sys.argv, os.environ, Path.cwd())
    if given.replace_workflow_config or set(profile) <= set(map(Path.absolute, given.configfiles)):
        return
    given.configfiles = [*profile, *(path for path in given.configfiles if path not in profile)]
    workflow.configfiles[:] = given.configfiles  # the files the report names (a cluster's jobs get given's)
    given.overwrite_config = {}
    for path in given.configfiles:
        update_config(given.overwrite_config, load_configfile(path))
    update_config(given.overwrite_config, dict(given.config))
    config.clear()
    config.update(copy.deepcopy(given.overwrite_config))


def check_config(config):
    """Validate (setting the schema's defaults; numbers finite, counts integers), load the user's LMOs, check every
    method and the keys that must agree with each other."""
    config.update(retype(config))
    schema = experiments.read_yaml(SCHEMA)
    experiments.drop_removed_entries(config, schema)
    try:
        validate(config, str(SCHEMA))
    except WorkflowError:
        pass  # each violation is listed below, naming its key
    problems = sorted(map(experiments.explain, experiments.strict_validator(schema).iter_errors(config)))
    if problems:
        refuse("Invalid config", problems)
    if "scale" in workflow.config_settings.config:  # a label, not a setting: it must come with the settings
        refuse("Invalid config", ["config key scale: set with --config, it would print that scale on the paper and "
                                  "change no setting; allowed: the scale of the config files (config.yaml: full, "
                                  "profiles/quick/overrides.yaml: quick), so for the paper's full scale drop --profile "
                                  "profiles/quick"])
    missing = [path for path in config["extra_lmos"] if not (REPO / path).is_file()]
    if missing:
        refuse("Invalid config", [f"config key extra_lmos: no file {missing} (a relative path is read from {REPO}); "
                                  "allowed: Python files that call fanions.register_lmo"])
    import fanions
    load_extra_lmos(config["extra_lmos"])
    USER_LMOS.update(set(fanions.LMOS) - fanions.BUILTIN_LMOS)
    problems = experiments.config_problems(config)
    if problems:
        refuse("Invalid config", problems)


USER_LMOS = set()  # the names the user's LMO files register (check_config)


def repo_path(path):
    """A config path relative to the repository (or absolute) as a job's input: a relative one stays relative (to
    the working directory), so a copied or moved build with the folder beside it records the same input files and
    reruns nothing."""
    return Path(path) if Path(path).is_absolute() else Path(os.path.relpath(REPO / path))


def authors_dir():
    """The folder of the authors' numeric results (config authors_runs.dir), which may be absent: the rules that
    read it then say so."""
    return repo_path(config["authors_runs"]["dir"])


def settings(section, *keys, **extra):
    """The keys of a config section that a job uses, and the scale, as its params: changing one reruns just
    those jobs, and no result of one scale is reused at another."""
    return {"scale": config["scale"], **{key: section[key] for key in keys}, **extra}


def user_lmo_files(settings):
    """The user's LMO files (config ``extra_lmos``) that a job with these settings runs: all of them where the
    settings name an LMO they register or list the files themselves, else none (adding a norm for one experiment
    reruns no other)."""
    def mentions(node):
        if isinstance(node, dict):
            return bool(node.get("extra_lmos")) or any(map(mentions, node.values()))
        if isinstance(node, (list, tuple)):
            return any(map(mentions, node))
        return isinstance(node, str) and node in USER_LMOS
    return list(config["extra_lmos"]) if mentions(settings) else []


def track_code(workflow_rule):
    """A job that computes (its params carry ``settings``) also carries the version of the code it runs
    (job.code_version: its script, what it imports from this repository and the user's LMO files it uses,
    docstrings and comments aside). Snakemake's code trigger looks at the script alone; through the params
    trigger a change to lib/fanions reruns every job that uses it, where Snakemake would reuse the old results as
    up to date. Rules that download data carry no settings: their files are keyed by what they fetch."""
    if workflow_rule.is_script and "settings" in workflow_rule.params.keys():
        script = (REPO / "workflow/rules" / workflow_rule.script).resolve()
        job_settings = workflow_rule.params.settings

        def code(wildcards):
            values = job_settings(wildcards) if callable(job_settings) else job_settings
            return code_version(script, *user_lmo_files(values))

        workflow_rule.set_params(code=code)


# What each experiment gives the paper: EXPERIMENTS[name] = files (each experiment's .smk registers itself).
EXPERIMENTS = {}


def paper_inputs():
    return [path for files in EXPERIMENTS.values() for path in files]


# ---------------------------------------------------------------- before the first job (not in a dry run)
def refuse_what_cannot_run(jobs):
    """Snakefile's onstart: stop if the planned jobs need a GPU, a device, memory or a download this machine cannot
    give them, or if the cluster's executor could not see its jobs end."""
    jobs = list(jobs)
    gpu_rules = {job.rule.name for job in jobs if job.resources.get("gpu", 0) > 0}
    executor = workflow.executor_plugin.name if workflow.executor_plugin is not None else None
    rules = {job.rule.name for job in jobs}
    problems = (experiments.gpu_problems(config, gpu_rules, workflow.local_exec)
                + experiments.download_problems(config, rules)
                + experiments.slurm_status_problems(executor, getattr(workflow, "executor_settings", None)))
    if workflow.local_exec:  # the jobs run on this machine: its devices and its memory
        import torch
        sections = experiments.planned_sections(config, rules)
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        problems += (experiments.device_problems(config, sections, torch.cuda.is_available())
                     + experiments.memory_problems(config, sections, ram))
    if problems:
        refuse("Nothing was run", problems)

