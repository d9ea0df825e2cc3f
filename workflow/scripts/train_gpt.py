"""Train the GPT of gpt/model.py on token shards with fanions.Fanion (paper §6.3, issue 5).

    torchrun --standalone --nproc_per_node=N workflow/scripts/train_gpt.py SETTINGS CURVE SUMMARY CHECKPOINT MOMENTUM

SETTINGS is a JSON file (the rule nanogpt_train writes its settings there; keys as read below).
The schedule is modded-nanogpt's 2024-11-24 record: per step `batch_size` sequences of `seq_len`
tokens (one per rank per micro-step, so batch_size / N accumulation steps); the hidden matrices
to Fanion (Nesterov momentum warmed up linearly over the first steps, Newton–Schulz polar,
scale √max(1, rows/cols)), embedding, head and scalars to its Adam; the learning rates constant,
then linear to 0 over the last `cooldown_steps`; the attention window growing linearly.

Writes CURVE (validation loss every `val_every` steps and at the end) and SUMMARY (final loss,
ms/step, compile time). Every `checkpoint_every` steps the whole state goes atomically to
CHECKPOINT, and a rerun with the same settings resumes there and ends as an uninterrupted run;
the checkpoint is removed when the run completes. Under DDP each rank solves the LMOs of its
share of the matrices (fanions.Fanion does it when a process group exists).
MOMENTUM gets the momentum of one matrix (`momentum_snapshot.parameter`) after each of the last
`momentum_snapshot.steps` steps: real momenta for the top-k timing and its warm-start study.
A sixth argument MODEL, when given, gets the trained model (gpt.checkpoint.save_model): the fine-tuning experiment's
starting model when it names this run.
"""
import fcntl
import json
import os
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path

import pandas as pd
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

sys.path.insert(0, str(Path(__file__).parent))
from job import atomic_write, device_name, load_extra_lmos, provenance_record, write_csv, write_json  # noqa: E402
import fanions  # this commit's lib/fanions (job.py puts it first on the path)
from gpt.checkpoint import save_model  # noqa: E402
from gpt.data import ShardLoader  # noqa: E402
from gpt.model import GPT, CastedLinear, GPTConfig, hidden_matrix  # noqa: E402


# ---------------------------------------------------------------- schedules
def cooldown(step, steps, cooldown_steps):
    """1 until the cooldown, then linearly to 0 at the last step."""
    return min(1.0, (steps - step) / cooldown_steps)


def momentum_at(step, start, end, warmup_steps):
    frac = min(step / warmup_steps, 1.0)
    return (1 - frac) * start + frac * end


def window_at(step, steps, start, end, block):
    """The attention window: from `start` to `end` tokens linearly over training, in multiples of `block`."""
    return block * int((step / steps * (end - start) + start) // block)


# ---------------------------------------------------------------- setup
def die_with(parent_pid, every_s=1.0):
    """Exit at once when the process parent_pid (the Snakemake job that launched torchrun) is gone: a killed
    job leaves no trainer holding GPUs or writing files (torchrun's workers run in their own session)."""
    def watch():
        while True:
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                print(f"the launching job (pid {parent_pid}) is gone: stopping", flush=True)
                os._exit(1)
            time.sleep(every_s)
    threading.Thread(target=watch, daemon=True).start()


def lock_run(checkpoint_path):
    """Hold an exclusive lock on the run (CHECKPOINT.lock, holding this pid) until this process ends; a second
    trainer of the same run stops at once, naming the first."""
    lock = open(f"{checkpoint_path}.lock", "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        raise RuntimeError(f"another trainer (pid {lock.read().strip() or '?'}) holds {lock.name}: it is still "
                           "running this run; wait for it or stop it, then rerun") from None
    lock.truncate(0)
    lock.write(str(os.getpid()))
    lock.flush()
    return lock


def distributed_setup():
    """(rank, world, device); a process group when launched by torchrun (NCCL on CUDA, gloo on CPU)."""
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world, device


def build_model(settings, device):
    """The GPT; on CUDA in bfloat16 except the linear weights (float32, cast in forward), as the record."""
    torch.manual_seed(settings["seed"])
    model = GPT(GPTConfig(**settings["model"])).to(device)
    if device.type == "cuda":
        model.bfloat16()
        for module in model.modules():
            if isinstance(module, CastedLinear):
                module.float()
    return model


def build_optimizer(model, settings):
    """Fanion on the blocks' matrices; Adam (its use_lmo=False groups) on embedding, head and scalars."""
    adam, method = settings["adam"], dict(settings["method"])
    block_params = list(model.blocks.parameters())
    groups = [
        {"params": [p for p in block_params if p.ndim == 2], "use_lmo": True},
        {"params": [model.embed.weight], "use_lmo": False, "lr": adam["embed_lr"]},
        {"params": [model.lm_head.weight], "use_lmo": False, "lr": adam["head_lr"]},
        {"params": [p for p in block_params if p.ndim < 2] + [model.skip_weights], "use_lmo": False,
         "lr": adam["scalar_lr"]},
    ]
    return fanions.Fanion(groups, lr=settings["lr"], lmo=method.pop("lmo"), momentum=settings["momentum"],
                          nesterov=True, polar="newton-schulz", scale="muon", adam_betas=tuple(adam["betas"]),
                          adam_eps=adam["eps"], **method)


def clock(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


# ---------------------------------------------------------------- training and validation
def train_step(step, settings, ddp, optimizer, base_lrs, loader, window, world, device):
    """One optimizer step on batch_size sequences; the last micro-step's loss."""
    accumulation = settings["batch_size"] // world
    for i in range(accumulation):
        x, y = loader.next_batch(device)
        sync = i == accumulation - 1 or not isinstance(ddp, DDP)  # DDP all-reduces on the last one only
        with nullcontext() if sync else ddp.no_sync():
            loss = ddp(x, y, window)
            loss.backward()
    warmup = settings["momentum_warmup"]
    optimizer.param_groups[0]["momentum"] = momentum_at(step, warmup["start"], settings["momentum"], warmup["steps"])
    for group, base in zip(optimizer.param_groups, base_lrs):
        group["lr"] = base * cooldown(step, settings["steps"], settings["cooldown_steps"])
        for p in group["params"]:
            p.grad /= accumulation
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach()


@torch.no_grad()
def validate(model, settings, window, rank, world, device):
    """Mean loss over val_tokens tokens of the validation shards, the same tokens for every run."""
    loader = ShardLoader(settings["val_files"], settings["seq_len"], rank, world)
    steps = settings["val_tokens"] // (settings["seq_len"] * world)
    loss = sum(model(*loader.next_batch(device), window) for _ in range(steps)) / steps
    if world > 1:
        dist.all_reduce(loss)
        loss /= world
    return loss.item()


# ---------------------------------------------------------------- checkpoints
def save_checkpoint(path, state):
    """torch.save, atomically (a temporary file, then a rename)."""
    with atomic_write(path, "wb") as f:
        torch.save(state, f)


def load_checkpoint(path, settings, device):
    """The saved state if there is one made with these settings, else None."""
    if not Path(path).exists():
        return None
    state = torch.load(path, map_location=device)
    if state["settings"] != settings:
        print(f"{path} was made with other settings: starting afresh")
        return None
    return state


# ---------------------------------------------------------------- main
def resume(checkpoint_path, settings, device, model, optimizer, loader, log):
    """Model, optimizer and loader restored from the run's checkpoint, if there is one; the run's rows,
    timing, next step and saved momenta (empty, step 0 on a fresh start)."""
    state = load_checkpoint(checkpoint_path, settings, device)
    if state is None:
        return [], {"first_step_s": None, "train_s": 0.0, "timed_steps": 0}, 0, []
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    loader.load_state_dict(state["loader"])
    log(f"resumed at step {state['step']} from {checkpoint_path}")
    return state["rows"], state["timing"], state["step"], state["momenta"]


def train(settings, curve_path, summary_path, checkpoint_path, momentum_path, model_path=None):
    """Run (or resume) one training run; rank 0 writes CURVE, SUMMARY, MOMENTUM (and MODEL). Returns the raw model."""
    rank, world, device = distributed_setup()
    load_extra_lmos(settings["extra_lmos"])  # a user's LMO named in the run's method
    if "TRAIN_GPT_PARENT" in os.environ:
        die_with(int(os.environ["TRAIN_GPT_PARENT"]))
    run_lock = lock_run(checkpoint_path) if rank == 0 else None
    if settings["batch_size"] % world:
        raise ValueError(f"batch_size {settings['batch_size']} is not a multiple of the {world} processes")
    log = print if rank == 0 else (lambda *args: None)
    model = build_model(settings, device)
    optimizer = build_optimizer(model, settings)
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    loader = ShardLoader(settings["train_files"], settings["seq_len"], rank, world)
    snapshot = settings["momentum_snapshot"]
    watched = hidden_matrix(model, snapshot["parameter"], "nanogpt.train.momentum_snapshot.parameter")
    rows, timing, start, momenta = resume(checkpoint_path, settings, device, model, optimizer, loader, log)
    compiled = torch.compile(model, dynamic=False) if settings["compile"] else model
    ddp = DDP(compiled, device_ids=[device] if device.type == "cuda" else None) if world > 1 else compiled
    steps, w = settings["steps"], settings["window"]
    skip = min(10, steps // 4)  # steps not timed: compilation and warm-up
    for step in range(start, steps + 1):
        window = torch.tensor(window_at(step, steps, w["start"], w["end"], w["block"]), device=device)
        if step % settings["val_every"] == 0 or step == steps:
            rows.append({"step": step, "val_loss": validate(compiled, settings, window, rank, world, device),
                         "train_time_s": timing["train_s"]})
            log(f"step {step}/{steps} val_loss {rows[-1]['val_loss']:.4f} window {window.item()}")
        if step == steps:
            break
        t0 = clock(device)
        loss = train_step(step, settings, ddp, optimizer, base_lrs, loader, window, world, device)
        seconds = clock(device) - t0
        if step == 0:
            timing["first_step_s"] = seconds
        if step >= skip and step > start:  # the first step of a resumed run compiles again
            timing["train_s"] += seconds
            timing["timed_steps"] += 1
        log(f"step {step + 1}/{steps} train_loss {loss.item():.4f} {1000 * seconds:.0f} ms")
        if step >= steps - snapshot["steps"]:
            momenta.append(optimizer.state[watched]["momentum_buffer"].float().cpu())
        if (step + 1) % settings["checkpoint_every"] == 0 and step + 1 < steps and rank == 0:
            save_checkpoint(checkpoint_path, {"settings": settings, "step": step + 1, "model": model.state_dict(),
                                              "optimizer": optimizer.state_dict(), "loader": loader.state_dict(),
                                              "rows": rows, "timing": timing, "momenta": momenta})
    if rank == 0:
        write_outputs(settings, rows, timing, world, device, curve_path, summary_path)
        save_checkpoint(momentum_path, {"parameter": snapshot["parameter"], "momenta": torch.stack(momenta),
                                        "steps": list(range(steps - len(momenta) + 1, steps + 1))})
        if model_path:
            save_model(model, model_path)
        Path(checkpoint_path).unlink(missing_ok=True)
        Path(run_lock.name).unlink()
        run_lock.close()
    if world > 1:  # the DDP wrapper (its reducer) goes first: freed after the group, it can hang the rank
        del ddp
        dist.barrier()
        dist.destroy_process_group()
    return model


def write_outputs(settings, rows, timing, world, device, curve_path, summary_path):
    ms_per_step = 1000 * timing["train_s"] / max(timing["timed_steps"], 1)
    first = timing["first_step_s"]
    summary = {
        "final_val_loss": rows[-1]["val_loss"], "steps": settings["steps"], "processes": world,
        "ms_per_step": ms_per_step, "timed_steps": timing["timed_steps"], "first_step_s": first,
        "compile_s": None if first is None else max(first - ms_per_step / 1000, 0.0),
        "peak_memory_mib": torch.cuda.max_memory_allocated(device) // 2**20 if device.type == "cuda" else None,
    }
    prov = provenance_record("nanogpt_train", settings, settings["scale"], f"{world} × {device_name(device)}")
    write_csv(pd.DataFrame(rows), curve_path, prov)
    write_json({**summary, "provenance": prov}, summary_path)


if __name__ == "__main__":
    train(json.loads(Path(sys.argv[1]).read_text()), *sys.argv[2:])
