"""What the config asks of each experiment, in plain Python (the rules' helpers; tests import them).

Before validation: the profile's config files under the user's, a strict schema (numbers finite, counts
integers), null removing an entry. Each other function takes the validated config. The cross-key checks say what the schema cannot (a key that
must name another key, sizes that must fit each other); the expansions turn a config section into
the jobs' wildcards (airbench's swept methods and seed blocks, fine-tuning's learning-rate grid,
NanoGPT's shard files); the pre-run checks refuse a plan this machine cannot run (GPU jobs without
a GPU, a cuda device or cupy backend without CUDA, arrays beyond its memory, downloads without a network).
"""
import functools
import glob
import itertools
import math
import os
import re
import socket
import sys
from pathlib import Path
from urllib.parse import urlparse

import jsonschema


# ---------------------------------------------------------------- the config files and the schema
def read_yaml(path):
    """A YAML file's content, parsed once per Snakemake start by libyaml where PyYAML has it (the claims register
    is read by several rules and checks: 0.3 s each with the pure-Python parser); a fresh copy each call."""
    import copy
    path = Path(path).resolve()
    stat = path.stat()
    return copy.deepcopy(_parsed_yaml(path, stat.st_mtime_ns, stat.st_size))


@functools.cache
def _parsed_yaml(path, mtime_ns, size):
    import yaml
    return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def profile_configfiles(argv, environ, workdir):
    """The config files of the profile this command uses (its last --profile that lists any, else
    $SNAKEMAKE_PROFILE's): a profile is a folder holding config.yaml, or the YAML file itself, and its paths are
    relative to ``workdir``, where snakemake runs."""
    import yaml
    profiles = [arg.partition("=")[2] if arg.startswith("--profile=") else value
                for arg, value in zip(argv, [*argv[1:], ""]) if arg == "--profile" or arg.startswith("--profile=")]
    if not profiles and environ.get("SNAKEMAKE_PROFILE"):
        profiles = [environ["SNAKEMAKE_PROFILE"]]
    files = []
    for profile in profiles:
        path = Path(workdir, profile)
        path = path / "config.yaml" if path.is_dir() else path
        settings = yaml.safe_load(path.read_text()) if path.is_file() else {}
        listed = settings.get("configfiles", settings.get("configfile")) or files
        files = [listed] if isinstance(listed, str) else listed
    return [Path(workdir, file) for file in files]


def strict_validator(schema):
    """The schema's validator, its types strict: a number is finite (NaN and infinity pass every bound, as
    nan > 0 is False) and an integer is an int (JSON Schema takes the float 1e12 for an integer, which
    torch.empty does not)."""
    checker = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine_many({
        "number": lambda _, value: (isinstance(value, (int, float)) and not isinstance(value, bool)
                                    and (isinstance(value, int) or math.isfinite(value))),
        "integer": lambda _, value: isinstance(value, int) and not isinstance(value, bool)})
    return jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=checker)(schema)


TYPE_NOTES = {"number": "type number, finite", "integer": "type integer, in digits (1000000, not 1e6 or 1.0e6)"}


def explain(error):
    """One line per schema violation: the key path, the bad value and what is allowed there."""
    path = ".".join(map(str, error.absolute_path)) or "(top level)"
    check, limit = error.validator, error.validator_value
    allowed = {
        "enum": f"one of {limit}", "minimum": f">= {limit}", "maximum": f"<= {limit}",
        "exclusiveMinimum": f"> {limit}", "exclusiveMaximum": f"< {limit}", "minItems": f"at least {limit} items",
        "uniqueItems": "no repeated items", "pattern": f"names matching {limit}", "required": f"keys {limit}",
        "additionalProperties": f"the keys {sorted(error.schema.get('properties', {}))}",
        "minProperties": f"at least {limit} entries",
    }.get(check, f"{check} {limit}")
    if check == "type":
        names = [limit] if isinstance(limit, str) else limit
        allowed = " or ".join(TYPE_NOTES.get(name, f"type {name}") for name in names)
    return f"config key {path}: {error.message}; allowed: {allowed}"


def resolved(schema, root):
    """A schema node with its $ref followed (refs within the same file: #/$defs/name)."""
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rpartition("/")[2]]
    return schema


def drop_removed_entries(node, schema, root=None):
    """An entry set to null in an override is removed where the schema maps ids to settings (an object whose
    additionalProperties are objects: methods, runs, optimizers, tuned methods, experiments, sweeps):
    --config 'nanogpt={runs: {muon-lr0.07: null}}'. Elsewhere null is a value, for the schema to judge."""
    root = root or schema
    schema = resolved(schema, root)
    if not isinstance(node, dict):
        return
    entries = schema.get("additionalProperties")
    entries = resolved(entries, root) if isinstance(entries, dict) else None
    if entries is not None and entries.get("type") == "object":
        for key in [key for key, value in node.items() if value is None and key not in schema.get("properties", {})]:
            del node[key]
    for key, value in node.items():
        drop_removed_entries(value, schema.get("properties", {}).get(key) or entries or {}, root)


# ---------------------------------------------------------------- expansions
def swept(section, name):
    """{id: spec} of one method of an airbench experiment section: each value of a swept option is one method,
    "f-muon_alpha0.5" (unswept: the method itself)."""
    spec, sweep = section["methods"][name], section.get("sweep", {}).get(name, {})
    methods = {}
    for values in itertools.product(*sweep.values()):
        option = dict(zip(sweep, values))
        methods[name + "".join(f"_{key}{value:g}" for key, value in option.items())] = spec | option
    return methods


def airbench_methods(config, experiment):
    """{id: spec} of an airbench experiment, its swept methods expanded."""
    section = config["airbench"]["experiments"][experiment]
    return {id: spec for name in section["methods"] for id, spec in swept(section, name).items()}


def airbench_hyper(config, experiment, method):
    """The name of the filter optimizer's settings (a key of airbench.hyper) for one method id of an experiment:
    its base method's entry in ``method_hyper``, else the experiment's ``hyper``."""
    section = config["airbench"]["experiments"][experiment]
    name = next(name for name in section["methods"] if method in swept(section, name))
    return section.get("method_hyper", {}).get(name, section["hyper"])


def lr_ball_methods(config):
    """v2's CIFAR ball figure: the airbench table's methods named by norm_balls.lr_balls, each with the lr it runs
    at: {id: spec | {lr}}."""
    table = config["airbench"]["experiments"]["table"]["methods"]
    return {method: table[method] | {"lr": config["airbench"]["hyper"][airbench_hyper(config, "table", method)]["lr"]}
            for method in config["norm_balls"]["lr_balls"]}


def airbench_seeds(config, experiment, block):
    """The seeds of one airbench job: block ``block`` of ``seeds_per_job``."""
    per_job, runs = config["airbench"]["seeds_per_job"], config["airbench"]["experiments"][experiment]["runs"]
    return list(range(int(block) * per_job, min(runs, (int(block) + 1) * per_job)))


def nanogpt_shards(config, split):
    """The NanoGPT shards of a split (train or val) for the configured source."""
    data = config["nanogpt"]["data"]
    if data["source"] == "fineweb":
        return [f"data/fineweb10B/{name}" for name in data["fineweb"][split]]
    if data["source"] == "local":
        return sorted(glob.glob(data["local"][split])) or [data["local"][split]]  # none: a missing input
    return [f"results/nanogpt/shards/{data['source']}/{split}.bin"]


def finetune_grid(config):
    """{optimizer: {lr as written in file names: lr}}: ``lr_grid.points`` learning rates log-spaced over
    ``lr_grid.decades`` decades centred on the optimizer's own lr (one point: that lr), each rounded to 3
    significant digits."""
    ft = config["finetune"]
    points, decades = ft["lr_grid"]["points"], ft["lr_grid"]["decades"]
    offsets = [decades * (i / (points - 1) - 0.5) for i in range(points)] if points > 1 else [0.0]
    return {name: {f"{lr:.3g}": float(f"{lr:.3g}") for lr in (ft["optimizers"][name]["lr"] * 10**offset
                                                                for offset in offsets)}
            for name in ft["compare"]}


def least_squares_tuned_runs(config):
    """{group: {run id: (tuned method, method spec, k)}} of the traced least-squares runs, one job per group:
    "tuned", the tuned methods themselves; then per k family its Fanion-k ("fanion-2") at its family's tuned
    (lr, momentum)."""
    section = config["least_squares_tuned"]
    groups = {"tuned": {method: (method, entry["method"], None) for method, entry in section["tuned"].items()}}
    for family, entry in section["k_runs"].items():
        groups[family] = {f"{family}-{k}": (entry["tuned"], {**entry["method"], "k": k}, k) for k in section["ks"]}
    return groups


def lr_grid_problems(path, grid):
    """An lr grid {start, stop, step} (the schema has checked each is > 0) that steps from start to stop."""
    if grid["stop"] < grid["start"]:
        return [f"config key {path}.stop: {grid['stop']} is below start = {grid['start']}; allowed: stop >= start"]
    count = (grid["stop"] - grid["start"]) / grid["step"]
    if abs(count - round(count)) > 1e-6:
        return [f"config key {path}.step: {grid['step']} does not step from start = {grid['start']} to stop = "
                f"{grid['stop']} ({count:.3g} steps); allowed: (stop - start) / step a whole number"]
    return []


# ---------------------------------------------------------------- checks across keys
def method_specs(node, path=()):
    """Every method spec in the config (a mapping with an 'lmo' key), with its key path."""
    if isinstance(node, dict):
        if "lmo" in node:
            yield ".".join(path), node
        for key, value in node.items():
            yield from method_specs(value, (*path, str(key)))


def method_problems(config):
    """Every method, swept ones included, checked against the library's LMOs (the user's registered) and
    their options."""
    import fanions
    specs = list(method_specs(config))
    for name in config["airbench"]["experiments"]:
        specs += [(f"airbench.experiments.{name}.sweep.{method}", spec)
                  for method, spec in airbench_methods(config, name).items()]
    problems = []
    for path, spec in specs:
        try:
            fanions.check_options(spec["lmo"], {key: value for key, value in spec.items() if key != "lmo"})
        except ValueError as error:
            unknown = spec["lmo"] not in fanions.LMOS
            problems.append(f"config key {path}: {error}" + ("; an LMO of your own: list its file in the config key "
                                                            "extra_lmos" if unknown else ""))
    options = sorted(set().union(*(lmo.options for lmo in fanions.LMOS.values())))
    for section in ("least_squares", "least_squares_tuned"):
        for key, value in config[section]["lmo_options"].items():  # given to every LMO that takes them
            takers = [name for name, lmo in fanions.LMOS.items() if key in lmo.options]
            try:
                if not takers:
                    raise ValueError(f"no LMO takes option {key!r}; allowed: {options}")
                fanions.check_options(takers[0], {key: value})
            except ValueError as error:
                problems.append(f"config key {section}.lmo_options.{key}: {error}")
    return problems


def consistency_problems(config):
    """What the schema cannot say: keys that must name other keys, sizes that must fit each other."""
    problems = []
    ab, ng, tt = config["airbench"], config["nanogpt"], config["topk_timing"]
    runs = sorted(ng["runs"])
    for path, run in (("nanogpt.baseline", ng["baseline"]), ("topk_timing.momentum_run", tt["momentum_run"])):
        if run not in runs:
            problems.append(f"config key {path}: {run!r} is not a nanogpt run; allowed: {runs}")
    table = sorted(ab["experiments"].get("table", {}).get("methods", {}))
    for method in [m for m in config["norm_balls"]["lr_balls"] if m not in table]:
        problems.append(f"config key norm_balls.lr_balls: {method!r} is not a method of airbench.experiments.table; "
                        f"allowed: {table}")
    for name, experiment in ab["experiments"].items():
        for path, hyper in [("hyper", experiment["hyper"]),
                            *((f"method_hyper.{m}", h) for m, h in experiment.get("method_hyper", {}).items())]:
            if hyper not in ab["hyper"]:
                problems.append(f"config key airbench.experiments.{name}.{path}: {hyper!r} is not a key of "
                                f"airbench.hyper; allowed: {sorted(ab['hyper'])}")
        for method in sorted(set(experiment.get("method_hyper", {})) - set(experiment["methods"])):
            problems.append(f"config key airbench.experiments.{name}.method_hyper.{method}: no method {method!r}; "
                            f"allowed: {sorted(experiment['methods'])}")
        for method in sorted(set(experiment.get("sweep", {})) - set(experiment["methods"])):
            problems.append(f"config key airbench.experiments.{name}.sweep.{method}: no method {method!r} to sweep; "
                            f"allowed: {sorted(experiment['methods'])}")
        for method, sweep in experiment.get("sweep", {}).items():
            for option, values in sweep.items():  # swept() names each value by its 6 significant digits
                ids = [f"{value:g}" for value in values]
                if len(set(ids)) < len(ids):
                    problems.append(f"config key airbench.experiments.{name}.sweep.{method}.{option}: {values} name "
                                    f"one run twice ({', '.join(ids)}); allowed: values that differ in their first 6 "
                                    "significant digits")
    lst = config["least_squares_tuned"]
    for name, entry in lst["tuned"].items():
        problems += lr_grid_problems(f"least_squares_tuned.tuned.{name}.lr", entry["lr"])
    for name, entry in lst["k_runs"].items():
        if entry["tuned"] not in lst["tuned"]:
            problems.append(f"config key least_squares_tuned.k_runs.{name}.tuned: {entry['tuned']!r} is not a tuned "
                            f"method; allowed: {sorted(lst['tuned'])}")
    if "tuned" in lst["k_runs"]:
        problems.append("config key least_squares_tuned.k_runs.tuned: 'tuned' names the tuned methods' own runs; "
                        "allowed: any other family id")
    if max(tt["ks"]) >= tt["size"]:
        problems.append(f"config key topk_timing.ks: k = {max(tt['ks'])} is not below topk_timing.size = {tt['size']}; "
                        f"allowed: 1 to {tt['size'] - 1}")
    model, train = ng["model"], ng["train"]
    if model["n_embd"] % (2 * model["n_head"]):
        problems.append(f"config key nanogpt.model.n_embd: {model['n_embd']} is not a multiple of 2 × n_head = "
                        f"{2 * model['n_head']} (rotary halves of each head)")
    if train["val_tokens"] % (train["seq_len"] * max(ng["resources"]["gpu"], 1)):
        problems.append(f"config key nanogpt.train.val_tokens: {train['val_tokens']} is not a positive multiple of "
                        f"seq_len × GPUs = {train['seq_len'] * max(ng['resources']['gpu'], 1)}")
    if train["window"]["start"] > train["window"]["end"]:
        problems.append(f"config key nanogpt.train.window.start: {train['window']['start']} is above window.end = "
                        f"{train['window']['end']}; allowed: start <= end")
    watched, layers = train["momentum_snapshot"]["parameter"], model["n_layer"]
    if int(watched.split(".")[1]) >= layers:
        problems.append(f"config key nanogpt.train.momentum_snapshot.parameter: {watched!r} is not in the model; "
                        f"allowed: blocks.0 to blocks.{layers - 1}")
    return problems


CIFAR10_PER_CLASS = {"train_per_class": 5000, "test_per_class": 1000}
DIGITS_PER_CLASS = {"train_per_class": 124, "test_per_class": 50}  # the fewest of a class (cifar10.digits's split)


def bound_problems(config):
    """Sizes that must not exceed another (the schema checks each alone): a cool-down within the steps, a subset
    within the data, a batch within the training set. One line per size above its bound, naming both."""
    ng, ft, ab = config["nanogpt"]["train"], config["finetune"]["train"], config["airbench"]
    data = ab["data"]
    source = {"synthetic": ("airbench.data.synthetic", data["synthetic"]), "digits": ("digits", DIGITS_PER_CLASS),
              "cifar10": ("CIFAR-10", CIFAR10_PER_CLASS)}[data["source"]]
    train_images = 10 * min(data["train_per_class"] or math.inf, source[1]["train_per_class"])
    bounds = [  # (key, its value, what bounds it, the bound)
        ("nanogpt.train.cooldown_steps", ng["cooldown_steps"], "nanogpt.train.steps", ng["steps"]),
        ("nanogpt.train.momentum_snapshot.steps", ng["momentum_snapshot"]["steps"], "nanogpt.train.steps",
         ng["steps"]),
        ("finetune.train.warmup_steps + cooldown_steps", ft["warmup_steps"] + ft["cooldown_steps"],
         "finetune.train.steps", ft["steps"]),
        *((f"airbench.data.{split}", data[split], f"{source[0]}.{split}", source[1][split])
          for split in ("train_per_class", "test_per_class") if data[split] is not None),
        *((f"airbench.train.{key}", ab["train"][key], "the training images (10 classes × per class)", train_images)
          for key in ("batch_size", "whiten_images")),
    ]
    return [f"config key {key}: {value} is above {bound_key} = {bound}; allowed: at most {bound}"
            for key, value, bound_key, bound in bounds if value > bound]


def finetune_problems(config):
    """The fine-tuning section against the rest: optimizer ids, the NanoGPT run it starts from, the local
    checkpoint (files, config, every tensor's shape, from its header) and text files, steps in range."""
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
        from gpt.checkpoint import gpt2_problems  # torch: only for a local checkpoint
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


CLAIM_KEYS = {"id", "version", "where", "words", "paper", "test", "needs"}
OPTIONAL_CLAIM_KEYS = {"superseded_by",  # {id: the later version's claim that replaced it, why: how they relate}
                       "authors",        # the authors' runs behind its number: a filter of their logs, or grad_norms
                       "code"}           # {ran: what the authors' script ran instead, source: the script, at a commit}
PAPER_VERSIONS = ("drafts", "v2")  # the early drafts; arXiv v2 (2025-12) and the journal version, which keeps its experiments


def register_problems(path):
    """The claims register (config verdicts.register): a list of claims, each with CLAIM_KEYS and perhaps
    OPTIONAL_CLAIM_KEYS, ids unique; a test with tolerances says where they come from (its basis)."""
    if not Path(path).is_file():
        return [f"config key verdicts.register: no file {path!r}"]
    claims, problems = read_yaml(path), []
    if not isinstance(claims, list):
        return [f"config key verdicts.register: {path} is not a list of claims"]
    for i, claim in enumerate(claims):
        keys = set(claim) if isinstance(claim, dict) else set()
        if not CLAIM_KEYS <= keys <= CLAIM_KEYS | OPTIONAL_CLAIM_KEYS:
            problems.append(f"{path}, claim {i + 1}: keys {sorted(keys)}; allowed: {sorted(CLAIM_KEYS)} and "
                            f"optionally {sorted(OPTIONAL_CLAIM_KEYS)}")
        elif not (isinstance(claim["version"], list) and claim["version"] and set(claim["version"]) <= set(PAPER_VERSIONS)):
            problems.append(f"{path}, claim {claim['id']!r}: version {claim['version']!r}; allowed: a list of "
                            f"{list(PAPER_VERSIONS)}, the versions of the paper that make the claim")
        elif isinstance(claim["paper"], dict) and set(claim["paper"]) != set(claim["version"]):
            problems.append(f"{path}, claim {claim['id']!r}: paper {claim['paper']!r}; allowed: one text, or one per "
                            f"version it lists ({claim['version']})")
        elif not isinstance(claim["test"], dict) or (set(claim["test"]) - {"basis"} and
                                                      not isinstance(claim["test"].get("basis"), str)):
            problems.append(f"{path}, claim {claim['id']!r}: test {claim['test']!r}; allowed: {{}}, or the tolerances "
                            "the verdict reads with a basis: <where they come from: the paper's words or rounding, a "
                            "seed spread, a published σ>")
    ids = [claim.get("id") for claim in claims if isinstance(claim, dict)]
    problems += [f"{path}: claim id {id!r} is used twice" for id in sorted({i for i in ids if ids.count(i) > 1})]
    later = {claim["id"] for claim in claims if isinstance(claim, dict) and "v2" in (claim.get("version") or [])}
    for claim in claims:
        successor = claim.get("superseded_by") if isinstance(claim, dict) else None
        if successor is not None and not (isinstance(successor, dict) and set(successor) == {"id", "why"}
                                          and successor["id"] in later and "v2" not in claim["version"]):
            problems.append(f"{path}, claim {claim['id']!r}: superseded_by {successor!r}; allowed: {{id: <a v2 claim's "
                            f"id>, why: <how it replaces this one>}} on a claim that v2 does not make")
        code = claim.get("code") if isinstance(claim, dict) else None
        if code is not None and not (isinstance(code, dict) and set(code) == {"ran", "source"}
                                     and all(isinstance(v, str) and v for v in code.values())):
            problems.append(f"{path}, claim {claim['id']!r}: code {code!r}; allowed: {{ran: <what the authors' script "
                            "ran instead of what the paper says>, source: <the script, at a commit>}")
        authors = claim.get("authors") if isinstance(claim, dict) else None
        if authors is not None and authors != "grad_norms" and not (isinstance(authors, dict) and authors):
            problems.append(f"{path}, claim {claim['id']!r}: authors {authors!r}; allowed: grad_norms, or a filter of "
                            "the authors' logs ({steps: ..., optimizer: [...], name: <regex>, <setting>: <value>})")
    return problems


def config_problems(config):
    """Everything the schema cannot check, one line per problem naming its key; the methods are checked
    once the keys they depend on agree."""
    problems = (consistency_problems(config) + bound_problems(config) + finetune_problems(config)
                + register_problems(config["verdicts"]["register"]))
    return problems or method_problems(config)


# ---------------------------------------------------------------- before the first job (not in a dry run)
def reachable(host):
    """Whether a download from host can start here (HF_HUB_OFFLINE=1 says no without asking)."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    try:
        socket.create_connection((host, 443), timeout=3).close()
        return True
    except OSError:
        return False


def download_problems(config, rules):
    """The downloads the planned jobs (their ``rules``) need that cannot be made from here, each with the key
    that avoids it."""
    cifar, env_cache = config["airbench"]["data"], os.environ.get("TIKTOKEN_CACHE_DIR")
    needs = []
    for planned, key, cache in (("nanogpt_convert", "nanogpt.data.corpus", config["nanogpt"]["data"]["corpus"]),
                             ("finetune_tokenize", "finetune.data", config["finetune"]["data"])):
        cached = any(path and Path(path).is_dir() for path in (cache["tiktoken_cache"], env_cache))
        if planned in rules and not cached:
            needs.append(("openaipublic.blob.core.windows.net", "GPT-2's tokenizer files", f"{key}.tiktoken_cache "
                          "to a folder holding tiktoken's cache files (or set TIKTOKEN_CACHE_DIR)"))
    hub = {"nanogpt_download": ("FineWeb shards", "nanogpt.data.source: local and nanogpt.data.local to the shards"),
           "finetune_download_model": ("GPT-2's weights", "finetune.model.source: local and finetune.model.local to "
                                       "a checkpoint folder"),
           "finetune_download_data": ("TinyStories", "finetune.data.source: local and finetune.data.local to the "
                                      "text files")}
    needs += [("huggingface.co", what, fix) for planned, (what, fix) in hub.items() if planned in rules]
    if "airbench_data" in rules and cifar["source"] == "cifar10" and not cifar["local_copy"]:
        needs.append((urlparse(cifar["url"]).hostname, "CIFAR-10", "airbench.data.local_copy to cifar-10-python.tar.gz"))
    return [f"{what}: the planned jobs download from {host}, which cannot be reached from here; offline, set "
            f"{fix} (README, 'Offline')" for host, what, fix in dict.fromkeys(needs) if not reachable(host)]


def gpu_problems(config, gpu_rules, local):
    """The rules whose jobs ask for a GPU, run ``local``ly on a machine that has none: the paper's full scale on
    a laptop."""
    import torch
    if not gpu_rules or not local or torch.cuda.is_available() or config["gpu_jobs_on_cpu"]:
        return []
    if config["scale"] == "quick":  # the user's own GPU keys, named by device_problems where they fail in the job
        return [f"the jobs of {sorted(gpu_rules)} ask for a GPU and this machine has none; set their sections' "
                "device to cpu (resources.gpu to 0 for nanogpt and finetune), or --config gpu_jobs_on_cpu=true"]
    return [f"the jobs of {sorted(gpu_rules)} ask for a GPU and this machine has none: this is the paper's full "
            "scale, meant for GPU nodes. On a CPU run --profile profiles/quick; on a SLURM cluster --profile "
            "profiles/slurm; to run them here anyway, --config gpu_jobs_on_cpu=true"]


def planned_sections(config, rules):
    """The config sections whose jobs are planned: a rule is named after its section (least_squares_tuned_grid)."""
    return {max((section for section in config if rule == section or rule.startswith(section + "_")), key=len,
                default=None) for rule in rules} - {None}


def config_leaves(node, path=()):
    """(key path, value) of every value in the config that is not a mapping."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from config_leaves(value, (*path, str(key)))
    else:
        yield ".".join(path), node


def device_problems(config, sections, cuda):
    """The keys of the planned ``sections`` that put work on CUDA, on a machine without it (``cuda`` False): a
    device cuda (or cuda:N) and the top-k backend cupy. Each fails inside its job; gpu_jobs_on_cpu does not help."""
    if cuda:
        return []
    from fanions.topk import BACKENDS
    problems = []
    for key, value in config_leaves({section: config[section] for section in sorted(sections)}):
        if key.endswith(".device") and str(value).startswith("cuda"):
            problems.append(f"config key {key}: {value!r} needs a GPU and this machine has none; allowed here: cpu")
        if key.endswith(".backend") and value == "cupy":
            problems.append(f"config key {key}: 'cupy' needs a GPU and this machine has none; allowed here: one of "
                            f"{sorted(set(BACKENDS) - {'cupy'})}")
    return problems


def memory_estimates(config):
    """{key: bytes} of the largest array a job of each section holds, against the key that sizes it (rough: the
    arrays the scripts allocate, not the library's workspace)."""
    ls, lst, na, tt = (config[section] for section in ("least_squares", "least_squares_tuned", "norm_asymptotics",
                                                       "topk_timing"))
    cells = len(lst["momenta"]) * max(round((grid["lr"]["stop"] - grid["lr"]["start"]) / grid["lr"]["step"]) + 1
                                      for grid in lst["tuned"].values())
    return {  # bytes of the values × how many arrays of them
        "least_squares.iterations": 8 * 8 * (ls["iterations"] + 1) * len(ls["seeds"]),  # the trace (3), its table (5)
        "least_squares_tuned.size": {"float32": 4, "float64": 8}[lst["dtype"]] * 3 * cells * lst["size"] ** 2,  # X, B, ∇F
        "norm_asymptotics.sizes": 8 * 2 * max(na["aspects"]) * max(na["sizes"]) ** 2,  # the largest matrix, its SVD's copy
        "topk_timing.size": 4 * 3 * tt["size"] ** 2,  # the float32 matrix, its factors, a product
    }


def memory_problems(config, sections, ram):
    """The planned ``sections`` whose largest array (memory_estimates) exceeds this machine's ``ram`` bytes."""
    return [f"config key {key}: a job holds about {size / 2**30:.3g} GiB (estimated), above this machine's "
            f"{ram / 2**30:.3g} GiB of memory; allowed: settings whose arrays fit in it"
            for key, size in memory_estimates(config).items() if key.split(".")[0] in sections and size > ram]


def slurm_min_job_age():
    """slurm.conf's MinJobAge in seconds (how long slurmctld, and so squeue, lists a finished job), or None."""
    import subprocess
    try:
        shown = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"^MinJobAge\s*=\s*(\d+)", shown, flags=re.M)
    return int(match.group(1)) if match else None


def slurm_status_problems(executor, settings):
    """The SLURM executor's status checks on this cluster: the command it will use (``slurm-status-command``; it
    turns squeue into sacct itself where MinJobAge is below 3 × its first check interval and sacct exists) must
    answer. Without an accounting database sacct cannot, and the executor then waits forever for its jobs."""
    import shutil
    import subprocess
    if executor != "slurm" or settings is None:
        return []
    command = getattr(settings, "status_command", None) or "sacct"
    interval = getattr(settings, "init_seconds_before_status_checks", None) or 40
    min_job_age = slurm_min_job_age()
    if command == "squeue" and (min_job_age is None or min_job_age < 3 * interval) and shutil.which("sacct"):
        command = "sacct"
        why = f" (the executor uses sacct, not squeue, since this cluster's MinJobAge, {min_job_age} s, is below {3 * interval} s)"
    else:
        why = ""
    if command != "sacct" or not shutil.which("sacct"):
        return []
    try:
        answer = subprocess.run(["sacct", "-X", "-n", "-o", "JobID", "-S", "now-1minutes"], capture_output=True,
                                text=True, timeout=60)
        failed = answer.returncode != 0 or "disabled" in answer.stdout + answer.stderr
        message = (answer.stderr or answer.stdout).strip().splitlines()[-1:] or [f"exit {answer.returncode}"]
    except subprocess.TimeoutExpired:
        failed, message = True, ["no answer in 60 s"]
    if not failed:
        return []
    return [f"SLURM status checks: sacct cannot answer on this cluster ({message[0]}){why}, and the executor would "
            "wait for its jobs forever. Set slurm-status-command: squeue in profiles/slurm/config.yaml (it needs "
            f"slurm.conf's MinJobAge >= {3 * interval} s; `scontrol show config | grep MinJobAge`), or ask for "
            "accounting (slurmdbd)"]


# ---------------------------------------------------------------- after a failed run on SLURM (Snakefile's onerror)
SLURM_FAILURES = [  # (what the cluster wrote in the job's SLURM log, what happened, the resource to raise)
    (re.compile(r"exceeded memory limit|Exceeded job memory limit|oom-kill|OUT_OF_MEMORY"), "ran out of memory",
     "mem_mb"),
    (re.compile(r"DUE TO TIME LIMIT|status is: 'TIMEOUT'"), "ran out of time", "runtime"),
    (re.compile(r"CANCELLED AT|status is: 'CANCELLED'"), "was cancelled (scancel, or an administrator)", None),
]
CONFIG_RESOURCES = {"nanogpt_train": "nanogpt.resources", "finetune_run": "finetune.resources"}


def failed_slurm_jobs(logs):
    """[(rule, SLURM job id, its SLURM log, Snakemake's error message)] of the failed jobs of Snakemake's log(s)."""
    logs = [logs] if isinstance(logs, (str, Path)) else list(logs or [])
    lines = [line for log in logs if Path(log).is_file() for line in Path(log).read_text(errors="replace").splitlines()]
    failures, block = [], None
    for line in lines:
        start = re.match(r"Error in rule (\w+):", line)
        if start:
            block = {"rule": start.group(1), "lines": []}
            failures.append(block)
        elif block is not None and line.startswith("    "):
            block["lines"].append(line.strip())
        else:
            block = None
    jobs = []
    for failure in failures:
        text = "\n".join(failure["lines"])
        jobid = re.search(r"^external_jobid: (\d+)", text, flags=re.M)
        slurm_log = re.search(r"(\S+/slurm_logs/\S+\.log)", text)
        if jobid:
            jobs.append((failure["rule"], jobid.group(1), slurm_log.group(1).rstrip(",") if slurm_log else None, text))
    return jobs


def explain_slurm_failures(log):
    """Snakefile's onerror: for each job that SLURM killed, what happened and the setting that changes it (the
    executor's own message says only 'FAILED' without an accounting database)."""
    for rule, jobid, slurm_log, message in failed_slurm_jobs(log):
        cluster_log = Path(slurm_log).read_text(errors="replace") if slurm_log and Path(slurm_log).exists() else ""
        written = f"{message}\n{cluster_log}"
        for pattern, what, resource in SLURM_FAILURES:
            if not pattern.search(written):
                continue
            where = f"SLURM job {jobid}" + (f", log {slurm_log}" if slurm_log else "")
            if resource is None:
                fix = "run the same command again: finished jobs are kept, this one is redone"
            elif rule in CONFIG_RESOURCES:
                fix = f"raise {resource} in config.yaml's {CONFIG_RESOURCES[rule]}"
            else:
                fix = (f"raise {resource} of {rule} under set-resources in profiles/slurm/config.yaml (or "
                       f"--set-resources {rule}:{resource}=<{'MB' if resource == 'mem_mb' else 'minutes'}>)")
            print(f"Rule {rule} {what} on SLURM ({where}): {fix}.", file=sys.stderr)
            break
