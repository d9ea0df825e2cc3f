"""airbench on fanions: CIFAR-10 to 94% in 8 epochs, the conv filters stepped by any LMO (paper §6.2).

Written after KellerJordan/cifar10-airbench ``airbench94_muon.py`` (94.01% mean over 200 runs,
2.59 s per run on an A100) with its settings; only the filter optimizer differs: ``fanions.Fanion``
with the LMO of the method (``muon`` is that script's Muon, ``f-muon`` α = ½ the paper's F-Muon).
The six 3×3 conv filters are (out, in·9) matrices, each rescaled to Frobenius norm √out before
every step; whitening bias, BatchNorm biases and head take Nesterov SGD.

A Snakemake job trains one block of seeds and writes one row per run: accuracy (with TTA), time
without evaluation, and the step of divergence if the loss became non-finite. On CUDA the model
runs in fp16, channels_last, optionally compiled, and is timed with CUDA events; on CPU in float32.
The command-line timing (the GPU comparison with airbench94_muon.py) is benchmarks/bench_airbench.py.
"""
import math
import time

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

import cifar10
from job import provenance, run_rule, write_csv
from report import method_label
import fanions  # this commit's lib/fanions (job.py puts it first on the path)

#############################################
#                  Setup                    #
#############################################

CIFAR_MEAN = torch.tensor((0.4914, 0.4822, 0.4465))
CIFAR_STD = torch.tensor((0.2470, 0.2435, 0.2616))


def device_of(name):
    """``auto``: CUDA when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class Stopwatch:
    """Seconds spent inside ``with stopwatch:`` blocks; CUDA events on a GPU (queued work counts)."""

    def __init__(self, device):
        self.cuda, self.seconds = device.type == "cuda", 0.0

    def __enter__(self):
        if self.cuda:
            self.start, self.end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            self.start.record()
        else:
            self.start = time.perf_counter()

    def __exit__(self, *_):
        if self.cuda:
            self.end.record()
            torch.cuda.synchronize()
            self.seconds += 1e-3 * self.start.elapsed_time(self.end)
        else:
            self.seconds += time.perf_counter() - self.start


#############################################
#                Optimizers                 #
#############################################

@torch.no_grad()
def normalize_filters(filters):
    """Rescale each filter tensor to Frobenius norm √out_channels (airbench's Muon does this before each step)."""
    for p in filters:
        p.mul_(len(p) ** 0.5 / p.norm())


def linear_decay(step, steps):
    """Linear decay from 1 at step 0 to 0 at ``steps`` (and 0 after)."""
    return max(0.0, 1 - step / steps)


def optimizers(model, method, hyper, train):
    """Nesterov SGD for whitening bias, BN biases, head (weight decay 2e-6·batch/lr); Fanion for the filters."""
    wd = train["weight_decay"] * train["batch_size"]
    norm_biases = [p for name, p in model.named_parameters() if "norm" in name and p.requires_grad]
    groups = [dict(params=[model.whiten.bias], lr=train["bias_lr"], weight_decay=wd / train["bias_lr"]),
              dict(params=norm_biases, lr=train["bias_lr"], weight_decay=wd / train["bias_lr"]),
              dict(params=[model.head.weight], lr=train["head_lr"], weight_decay=wd / train["head_lr"])]
    sgd = torch.optim.SGD(groups, momentum=train["sgd_momentum"], nesterov=True, fused=model.head.weight.is_cuda)
    lmo_options = {key: value for key, value in method.items() if key != "lmo"}
    fanion = fanions.Fanion(model.filters(), lmo=method["lmo"], lr=hyper["lr"], momentum=hyper["momentum"],
                            nesterov=hyper["nesterov"], polar="newton-schulz", polar_steps=train["ns_steps"], scale="none",
                            weight_decay=0.0, **lmo_options)
    for group in sgd.param_groups + fanion.param_groups:
        group["initial_lr"] = group["lr"]
    return sgd, fanion


#############################################
#                   Data                    #
#############################################

def to_device(split, device, dtype):
    """uint8 (N, 32, 32, 3) → normalized (N, 3, 32, 32) in ``dtype`` on ``device`` (channels_last on CUDA)."""
    images = split["images"].to(device).permute(0, 3, 1, 2).to(dtype) / 255
    images = (images - CIFAR_MEAN.to(device, dtype).view(1, 3, 1, 1)) / CIFAR_STD.to(device, dtype).view(1, 3, 1, 1)
    if device.type == "cuda":
        images = images.contiguous(memory_format=torch.channels_last)
    return images, split["labels"].to(device)


def random_flip(images):
    mask = torch.rand(len(images), device=images.device) < 0.5
    return torch.where(mask.view(-1, 1, 1, 1), images.flip(-1), images)


def random_crop(padded, size):
    """A size×size window of each (square) image at a uniformly random offset."""
    n, c, h, _ = padded.shape
    device = padded.device
    offset = torch.randint(0, h - size + 1, (n, 2), device=device)
    rows = (offset[:, :1] + torch.arange(size, device=device)).view(n, 1, size, 1)
    cols = (offset[:, 1:] + torch.arange(size, device=device)).view(n, 1, 1, size)
    return padded[torch.arange(n, device=device).view(n, 1, 1, 1), torch.arange(c, device=device).view(1, c, 1, 1),
                  rows, cols]


def augmentation_base(images, train):
    """Once per run: a random flip of each image and reflect padding by ``translate``."""
    if train["flip"]:
        images = random_flip(images)
    return F.pad(images, (train["translate"],) * 4, "reflect") if train["translate"] else images


def epoch_batches(base, labels, epoch, train):
    """The shuffled full batches of one epoch: translated by up to ``translate`` pixels, and on odd
    epochs every image mirrored (alternating flip: each image is seen both ways every two epochs)."""
    images = random_crop(base, base.size(-1) - 2 * train["translate"])
    if train["flip"] and epoch % 2 == 1:
        images = images.flip(-1)
    batch = train["batch_size"]
    order = torch.randperm(len(images), device=images.device)
    for idx in order[:len(images) // batch * batch].split(batch):
        yield images[idx], labels[idx]


#############################################
#                  Network                  #
#############################################

class BatchNorm(nn.BatchNorm2d):
    """Frozen weight 1, learned bias; ``momentum`` as airbench: the running stats keep that share."""

    def __init__(self, features, momentum, eps):
        super().__init__(features, eps=eps, momentum=1 - momentum)
        self.weight.requires_grad = False


class Conv(nn.Conv2d):
    """3×3, same padding, no bias; the first in_channels filters start as the identity (dirac)."""

    def __init__(self, channels_in, channels_out):
        super().__init__(channels_in, channels_out, kernel_size=3, padding="same", bias=False)

    def reset_parameters(self):
        super().reset_parameters()
        nn.init.dirac_(self.weight.data[:self.weight.size(1)])


class ConvGroup(nn.Module):
    def __init__(self, channels_in, channels_out, bn):
        super().__init__()
        self.conv1, self.pool = Conv(channels_in, channels_out), nn.MaxPool2d(2)
        self.norm1, self.activ = BatchNorm(channels_out, **bn), nn.GELU()
        self.conv2, self.norm2 = Conv(channels_out, channels_out), BatchNorm(channels_out, **bn)

    def forward(self, x):
        x = self.activ(self.norm1(self.pool(self.conv1(x))))
        return self.activ(self.norm2(self.conv2(x)))


def patch_covariance(images, size):
    """E[p pᵀ] over every size×size patch p of the images, flattened in (channel, row, col) order."""
    patches = images.unfold(2, size, 1).unfold(3, size, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, 3 * size * size)
    patches = patches.float()
    return patches.T @ patches / len(patches)


def whitening_filters(covariance, size, eps):
    """Filters W = Λ^{-1/2} Qᵀ for C = QΛQᵀ (so W C Wᵀ = Λ/(Λ + eps) ≈ I), stacked with −W (GELU follows)."""
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    filters = (eigenvectors.T / torch.sqrt(eigenvalues + eps).view(-1, 1)).view(-1, 3, size, size)
    return torch.cat((filters, -filters))


class CifarNet(nn.Module):
    """Frozen 2×2 whitening conv (+ learned bias) → 3 conv groups → max-pool → Linear(width, 10) / width."""

    def __init__(self, widths, bn, whiten_size=2):
        super().__init__()
        whiten_width = 2 * 3 * whiten_size ** 2
        self.whiten = nn.Conv2d(3, whiten_width, whiten_size, padding=0, bias=True)
        self.whiten.weight.requires_grad = False
        self.layers = nn.Sequential(nn.GELU(), ConvGroup(whiten_width, widths[0], bn),
                                    ConvGroup(widths[0], widths[1], bn), ConvGroup(widths[1], widths[2], bn),
                                    nn.MaxPool2d(3))
        self.head = nn.Linear(widths[2], 10, bias=False)

    def filters(self):
        return [p for p in self.parameters() if p.ndim == 4 and p.requires_grad]

    def reset(self):
        for module in self.modules():
            if type(module) in (nn.Conv2d, Conv, BatchNorm, nn.Linear):
                module.reset_parameters()
        self.head.weight.data /= self.head.weight.data.std()

    def init_whiten(self, images, eps):
        size = self.whiten.weight.size(-1)
        self.whiten.weight.data[:] = whitening_filters(patch_covariance(images, size), size, eps)

    def forward(self, x, whiten_bias_grad=True):
        bias = self.whiten.bias if whiten_bias_grad else self.whiten.bias.detach()
        x = self.layers(F.conv2d(x, self.whiten.weight, bias)).flatten(1)
        return self.head(x) / x.size(-1)


def build_model(train, device, dtype, compile):
    bn = {"momentum": train["bn_momentum"], "eps": train["bn_eps"]}
    model = CifarNet(train["widths"], bn).to(device, dtype)
    for module in model.modules():
        if isinstance(module, BatchNorm):
            module.float()
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        if compile:
            model.compile(mode="max-autotune")
    return model


#############################################
#                Evaluation                 #
#############################################

def infer(model, images, tta_level):
    """Logits; TTA level 1 averages the mirror image, level 2 also the ±1-pixel diagonal translations (6 views)."""
    def mirror(x):
        return 0.5 * model(x) + 0.5 * model(x.flip(-1))

    def mirror_translate(x):
        padded = F.pad(x, (1,) * 4, "reflect")
        translated = 0.5 * mirror(padded[:, :, 0:32, 0:32]) + 0.5 * mirror(padded[:, :, 2:34, 2:34])
        return 0.5 * mirror(x) + 0.5 * translated

    view = [lambda x: model(x), mirror, mirror_translate][tta_level]
    model.eval()
    with torch.no_grad():
        return torch.cat([view(batch) for batch in images.split(2000)])


def evaluate(model, images, labels, tta_level):
    return (infer(model, images, tta_level).argmax(1) == labels).float().mean().item()


#############################################
#                 Training                  #
#############################################

NORMS = ("frobenius", "spectral", "nuclear")


@torch.no_grad()
def gradient_norms(model):
    """{'<parameter>_<norm>': value} of each parameter's gradient as a matrix (a filter bank (out, in·h·w), a
    vector as one row), Frobenius, spectral and nuclear, and of the whole gradient, the block-diagonal matrix of
    them all: total_frobenius = √Σ‖Gᵢ‖²_F, total_spectral = max ‖Gᵢ‖_op, total_nuclear = Σ‖Gᵢ‖_nuc."""
    out, totals = {}, {"frobenius": [], "spectral": [], "nuclear": []}
    for name, p in model.named_parameters():
        if p.grad is None:
            continue
        s = torch.linalg.svdvals(p.grad.double().reshape(len(p) if p.ndim > 1 else 1, -1))
        for norm, value in zip(NORMS, (s.square().sum().sqrt(), s.max(), s.sum())):
            out[f"{name}_{norm}"] = value.item()
            totals[norm].append(value.item())
    return out | {"total_frobenius": math.sqrt(sum(v * v for v in totals["frobenius"])),
                  "total_spectral": max(totals["spectral"]), "total_nuclear": sum(totals["nuclear"])}


def log_record(model, step, epoch, loss, outputs, targets, test_set):
    """One row of a gradient-norm log, taken after backward and before the step: the batch's mean loss and
    accuracy, the test accuracy (no test-time views) and ``gradient_norms``."""
    train_acc = (outputs.argmax(1) == targets).float().mean().item()
    val_acc = evaluate(model, *test_set, tta_level=0)
    model.train()
    return {"step": step, "epoch": epoch, "loss": loss.item() / len(targets), "train_acc": train_acc,
            "val_acc": val_acc} | gradient_norms(model)


def train_run(model, train_set, test_set, method, hyper, train, seed, log=None):
    """One run from a fresh initialization: the result row (accuracy NaN and the step if it diverged). With
    ``log`` (a list) and train's ``log_every`` > 0, a ``log_record`` is appended every that many steps; train's
    ``weight_norm`` false leaves the filters' norms alone (airbench rescales them before each step)."""
    torch.manual_seed(seed)
    images, labels = train_set
    device = images.device
    steps_per_epoch = len(images) // train["batch_size"]
    total_steps = train["epochs"] * steps_per_epoch
    whiten_bias_steps = train["whiten_bias_epochs"] * steps_per_epoch
    stopwatch = Stopwatch(device)

    model.reset()
    sgd, fanion = optimizers(model, method, hyper, train)
    losses = torch.full((total_steps,), math.nan, device=device)
    step = 0
    with stopwatch:
        model.init_whiten(images[:train["whiten_images"]], train["whiten_eps"])
        base = augmentation_base(images, train)

    for epoch in range(train["epochs"]):
        with stopwatch:
            model.train()
            for inputs, targets in epoch_batches(base, labels, epoch, train):
                outputs = model(inputs, whiten_bias_grad=step < whiten_bias_steps)
                loss = F.cross_entropy(outputs, targets, label_smoothing=train["label_smoothing"], reduction="sum")
                loss.backward()
                if log is not None and train.get("log_every") and step % train["log_every"] == 0:
                    log.append({"seed": seed} | log_record(model, step, epoch, loss.detach(), outputs, targets, test_set))
                sgd.param_groups[0]["lr"] = sgd.param_groups[0]["initial_lr"] * linear_decay(step, whiten_bias_steps)
                for group in sgd.param_groups[1:] + fanion.param_groups:
                    group["lr"] = group["initial_lr"] * linear_decay(step, total_steps)
                if train.get("weight_norm", True):
                    normalize_filters(model.filters())
                sgd.step()
                losses[step] = loss.detach()
                try:
                    fanion.step()
                except torch.linalg.LinAlgError:  # an SVD-based LMO met a non-finite gradient
                    losses[step] = math.nan
                model.zero_grad(set_to_none=True)
                step += 1
        if not torch.isfinite(losses[:step]).all():
            break

    finite = torch.isfinite(losses[:step])
    diverged = not finite.all()
    eval_stopwatch = Stopwatch(device)
    with eval_stopwatch:
        accuracy = math.nan if diverged else evaluate(model, *test_set, train["tta_level"])
    return {"seed": seed, "accuracy": accuracy, "diverged": diverged,
            "diverged_step": int((~finite).nonzero()[0]) if diverged else None, "steps": step,
            "final_loss": losses[step - 1].item() / train["batch_size"],
            "train_seconds": stopwatch.seconds, "eval_seconds": eval_stopwatch.seconds,
            "topk_fallbacks": fanion.topk_fallbacks}  # unconverged top-k solves redone by the exact SVD, timed too


def run_block(settings, data, device, compile, log=None):
    """Train one run per seed (after an untimed warm-up run with random labels when compiled); ``log``: a list
    for their gradient-norm records (``train_run``)."""
    train, method, hyper = settings["train"], settings["method"], settings["hyper"]
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    train_set = to_device(data["train"], device, dtype)
    test_set = to_device(data["test"], device, dtype)
    model = build_model(train, device, dtype, compile)
    if compile and device.type == "cuda":
        train_run(model, (train_set[0], torch.randint_like(train_set[1], 10)), test_set, method, hyper, train, -1)
    rows = [train_run(model, train_set, test_set, method, hyper, train, seed, log) for seed in settings["seeds"]]
    frame = pd.DataFrame(rows)
    for i, (key, value) in enumerate({"lmo": method["lmo"], "alpha": method.get("alpha"), "k": method.get("k"),
                                      "label": method_label(method), "lr": hyper["lr"], "momentum": hyper["momentum"],
                                      "data": data["source"]}.items()):
        frame.insert(i, key, value)
    return frame


def run_job(snakemake):
    settings = snakemake.params.settings
    device = device_of(settings["device"])
    data = cifar10.load(snakemake.input.data, settings["data"]["train_per_class"], settings["data"]["test_per_class"])
    frame = run_block(settings, data, device, settings["compile"])
    frame.insert(0, "experiment", snakemake.wildcards.experiment)
    frame.insert(1, "method", snakemake.wildcards.method)
    write_csv(frame, snakemake.output[0], provenance(snakemake, device) | {"data": data["source"]})


def grad_norms_job(snakemake):
    """v2's gradient-norm runs: the method's runs without weight normalization, their logs as one CSV."""
    settings = snakemake.params.settings
    device = device_of(settings["device"])
    data = cifar10.load(snakemake.input.data, settings["data"]["train_per_class"], settings["data"]["test_per_class"])
    log = []
    run_block(settings, data, device, settings["compile"], log)
    frame = pd.DataFrame(log)
    frame.insert(0, "method", snakemake.wildcards.method)
    frame.insert(1, "label", method_label(settings["method"]))
    frame.insert(2, "data", data["source"])
    write_csv(frame, snakemake.output[0], provenance(snakemake, device) | {"data": data["source"]})


if __name__ == "__main__":
    run_rule(snakemake, {"airbench_run": run_job, "airbench_grad_norms_run": grad_norms_job})  # noqa: F821 (set by Snakemake)
