"""Starting models of the fine-tuning experiment as the GPT of gpt/model.py: GPT-2 from a Hugging Face
checkpoint folder (config.json + model.safetensors), or a model that train_gpt.py saved.

safetensors (the format, read here without the package): 8 bytes, the little-endian length n of a
JSON header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the
tensors' bytes, row-major little-endian, at those offsets after the header.

GPT-2's tensors (named with or without "transformer."): wte (vocab, d), wpe (positions, d), ln_f,
and per block h.i: ln_1, ln_2 (weight, bias), attn.c_attn (d, 3d) = [q | k | v], attn.c_proj (d, d),
mlp.c_fc (d, 4d), mlp.c_proj (4d, d), each with a bias. Its Conv1D layers compute x·W + b, so W is
the transpose of our Linear's weight; the head is wte (tied).
"""
import json
import struct
from pathlib import Path

import numpy as np
import torch

from job import BadResult, atomic_write
from gpt.model import GPT, GPT2, GPTConfig

DTYPES = {"F32": np.float32, "F16": np.float16}
IGNORED = (".attn.bias", ".attn.masked_bias", "lm_head.weight")  # causal-mask buffers; the tied head


# ---------------------------------------------------------------- safetensors
def safetensors_header(path):
    """{name: {dtype, shape, data_offsets}} of a safetensors file (its metadata dropped)."""
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise ValueError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
        (length,) = struct.unpack("<Q", raw)
        if length > 100_000_000:
            raise ValueError(f"{path}: not a safetensors file (a header of {length} bytes)")
        try:
            header = json.loads(f.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path}: not a safetensors file (its header is not JSON: {error})") from None
    header.pop("__metadata__", None)
    return header


def read_safetensors(path):
    """{name: float32 tensor} of a safetensors file."""
    header, data = safetensors_header(path), np.memmap(path, dtype=np.uint8, mode="r")
    start = 8 + struct.unpack("<Q", data[:8].tobytes())[0]
    tensors = {}
    for name, info in header.items():
        if info["dtype"] not in DTYPES:
            raise ValueError(f"{path}: tensor {name} is {info['dtype']}; readable: {sorted(DTYPES)}")
        begin, end = (start + offset for offset in info["data_offsets"])
        array = data[begin:end].view(DTYPES[info["dtype"]]).reshape(info["shape"])
        tensors[name] = torch.from_numpy(array.astype(np.float32))
    return tensors


# ---------------------------------------------------------------- GPT-2 (Hugging Face)
def gpt2_config(folder):
    """The GPTConfig of a Hugging Face GPT-2 config.json, refusing what our GPT-2 options do not compute."""
    path = Path(folder) / "config.json"
    hf = json.loads(path.read_text())
    checks = {"model_type": (hf.get("model_type"), ["gpt2"]),
              "activation_function": (hf.get("activation_function", "gelu_new"), ["gelu_new", "gelu_pytorch_tanh"]),
              "layer_norm_epsilon": (hf.get("layer_norm_epsilon", 1e-5), [1e-5]),
              "tie_word_embeddings": (hf.get("tie_word_embeddings", True), [True]),
              "scale_attn_weights": (hf.get("scale_attn_weights", True), [True]),
              "scale_attn_by_inverse_layer_idx": (hf.get("scale_attn_by_inverse_layer_idx", False), [False]),
              "n_inner": (hf.get("n_inner"), [None, 4 * hf.get("n_embd", 0)])}
    for key, (value, allowed) in checks.items():
        if value not in allowed:
            raise ValueError(f"{path}: {key}={value!r} is not GPT-2 as our model computes it; allowed: {allowed}")
    if hf["n_embd"] % hf["n_head"]:
        raise ValueError(f"{path}: n_embd={hf['n_embd']} is not a multiple of n_head={hf['n_head']}")
    return GPTConfig(**GPT2, vocab_size=hf["vocab_size"], n_layer=hf["n_layer"], n_head=hf["n_head"],
                     n_embd=hf["n_embd"], block_size=hf.get("n_positions", hf.get("n_ctx", 1024)))


def gpt2_shapes(config):
    """{name: shape} of every tensor a GPT-2 checkpoint of this config holds."""
    d = config.n_embd
    shapes = {"wte.weight": [config.vocab_size, d], "wpe.weight": [config.block_size, d], "ln_f.weight": [d],
              "ln_f.bias": [d]}
    for i in range(config.n_layer):
        for name, shape in {"ln_1": [d], "ln_2": [d], "attn.c_attn": [d, 3 * d], "attn.c_proj": [d, d],
                            "mlp.c_fc": [d, 4 * d], "mlp.c_proj": [4 * d, d]}.items():
            bias = shape[-1:] if len(shape) == 2 else [d]
            shapes |= {f"h.{i}.{name}.weight": shape, f"h.{i}.{name}.bias": bias}
    return shapes


def gpt2_problems(folder):
    """What is wrong with a GPT-2 checkpoint folder, read from config.json and the safetensors header only
    (cheap: run before any job): missing files, an unsupported config, missing, extra or misshapen tensors."""
    folder = Path(folder)
    missing = [name for name in ("config.json", "model.safetensors") if not (folder / name).is_file()]
    if missing:
        return [f"{folder}: no {' and no '.join(missing)}"]
    try:
        config = gpt2_config(folder)
        header = safetensors_header(folder / "model.safetensors")
    except (ValueError, KeyError, json.JSONDecodeError) as error:
        return [f"{error}" if str(folder) in str(error) else f"{folder}/config.json: {error!r}"]
    found = {name.removeprefix("transformer."): info for name, info in header.items() if not name.endswith(IGNORED)}
    expected, problems = gpt2_shapes(config), []
    for name, shape in expected.items():
        if name not in found:
            problems.append(f"{folder}/model.safetensors: no tensor {name} (a GPT-2 of {config.n_layer} layers)")
        elif found[name]["shape"] != shape:
            problems.append(f"{folder}/model.safetensors: {name} has shape {found[name]['shape']}, config.json "
                            f"implies {shape}")
        elif found[name]["dtype"] not in DTYPES:
            problems.append(f"{folder}/model.safetensors: {name} is {found[name]['dtype']}; readable: {sorted(DTYPES)}")
    extra = sorted(set(found) - set(expected))
    if extra:
        problems.append(f"{folder}/model.safetensors: tensors a GPT-2 does not have: {extra[:5]}")
    return problems


def load_gpt2(folder):
    """Our GPT (float32) with the weights of a Hugging Face GPT-2 checkpoint folder, checked first."""
    problems = gpt2_problems(folder)
    if problems:
        raise ValueError("; ".join(problems))
    config = gpt2_config(folder)
    hf = {name.removeprefix("transformer."): tensor
          for name, tensor in read_safetensors(Path(folder) / "model.safetensors").items()
          if not name.endswith(IGNORED)}
    d, state = config.n_embd, {"embed.weight": hf["wte.weight"], "positions.weight": hf["wpe.weight"],
                               "norm_f.weight": hf["ln_f.weight"], "norm_f.bias": hf["ln_f.bias"]}
    for i in range(config.n_layer):
        h, ours = f"h.{i}.", f"blocks.{i}."
        q, k, v = hf[h + "attn.c_attn.weight"].split(d, dim=1)
        bq, bk, bv = hf[h + "attn.c_attn.bias"].split(d)
        for name, weight, bias in (("attn.c_q", q, bq), ("attn.c_k", k, bk), ("attn.c_v", v, bv),
                                   ("attn.c_proj", hf[h + "attn.c_proj.weight"], hf[h + "attn.c_proj.bias"]),
                                   ("mlp.c_fc", hf[h + "mlp.c_fc.weight"], hf[h + "mlp.c_fc.bias"]),
                                   ("mlp.c_proj", hf[h + "mlp.c_proj.weight"], hf[h + "mlp.c_proj.bias"])):
            state |= {ours + name + ".weight": weight.T.contiguous(), ours + name + ".bias": bias}
        for norm, ln in (("norm1", "ln_1"), ("norm2", "ln_2")):
            state |= {ours + norm + ".weight": hf[h + ln + ".weight"], ours + norm + ".bias": hf[h + ln + ".bias"]}
    model = GPT(config)
    model.load_state_dict(state)
    return model


# ---------------------------------------------------------------- our own checkpoints
def save_model(model, path):
    """The model and its GPTConfig, for load_model (written by a rename, never a partial file)."""
    with atomic_write(path, "wb") as f:
        torch.save({"config": vars(model.config), "model": model.state_dict()}, f)


def load_model(path):
    """A GPT saved by save_model: its config rebuilds the model, whose every tensor must match the file's."""
    try:
        saved = torch.load(path, map_location="cpu")
    except Exception as error:  # a cut or foreign file
        raise BadResult(path, f"it does not load ({error!r})", "nanogpt_train") from None
    if not isinstance(saved, dict) or set(saved) != {"config", "model"}:
        raise BadResult(path, "not a model saved by gpt.checkpoint.save_model (keys 'config' and 'model')",
                        "nanogpt_train")
    model = GPT(GPTConfig(**saved["config"]))
    try:
        model.load_state_dict(saved["model"])
    except RuntimeError as error:
        raise ValueError(f"{path}: its tensors do not fit its config {saved['config']}: {error}") from None
    return model
