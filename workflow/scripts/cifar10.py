"""CIFAR-10 as one uint8 tensor file, made once: the real data set, real digits brought to its shape, or
synthetic CIFAR-shaped data.

The cache (``torch.load``) holds ``{"source", "classes", "train": {"images", "labels"}, "test": …}``
with images uint8 (N, 32, 32, 3) and labels int64 (N,), as torchvision's ``CIFAR10.data``/``targets``.

Real data: ``cifar-10-python.tar.gz`` (from config ``airbench.data.url``, or a local copy) is checked against its md5,
then its pickled batches are read straight out of the archive (nothing is unpacked to disk) and
saved. A wrong checksum raises and leaves nothing behind; every write is a temporary file renamed
into place. Digits (``source: digits``, the quick profile's) are scikit-learn's ``load_digits``, bundled
with the package: real images, so a broken optimizer shows, but not the paper's data. Synthetic data
(``source: synthetic``) has learnable classes and exists only to time and test the pipeline: its
accuracies are never CIFAR-10 results.
"""
import hashlib
import pickle
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path

import torch

from job import BadResult, atomic_write, run_rule

TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCH = "test_batch"
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


# ---------------------------------------------------------------- the real data set
def md5sum(path):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(tarball, md5):
    found = md5sum(tarball)
    if found != md5:
        raise ValueError(f"{tarball}: md5 {found}, expected {md5}; the file is not cifar-10-python.tar.gz "
                         "(truncated download or another file); nothing was written")


def read_tarball(tarball):
    """The data set from the archive's pickles (``data``: N×3072 uint8, the R, G, B planes of 32×32)."""
    def batch(archive, name):
        member = next(m for m in archive.getmembers() if m.name.endswith(f"cifar-10-batches-py/{name}"))
        entry = pickle.load(archive.extractfile(member), encoding="bytes")
        images = torch.from_numpy(entry[b"data"]).view(-1, 3, 32, 32).permute(0, 2, 3, 1).contiguous()
        return images, torch.tensor(entry[b"labels"], dtype=torch.int64)

    with tarfile.open(tarball, "r:gz") as archive:
        train = [batch(archive, name) for name in TRAIN_BATCHES]
        test_images, test_labels = batch(archive, TEST_BATCH)
    train_images, train_labels = zip(*train)
    return {"source": "cifar10", "classes": CLASSES,
            "train": {"images": torch.cat(train_images), "labels": torch.cat(train_labels)},
            "test": {"images": test_images, "labels": test_labels}}


def prepare(cache, md5, url=None, local_copy=None):
    """Make the cache from ``local_copy`` (a path to the tar.gz) or else a download of ``url`` (config
    airbench.data holds both, and the md5)."""
    Path(cache).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=Path(cache).parent) as tmp:  # the download goes when this ends
        tarball = local_copy
        if tarball is None:
            tarball = Path(tmp) / "cifar-10-python.tar.gz"
            with urllib.request.urlopen(url) as response, open(tarball, "wb") as f:
                shutil.copyfileobj(response, f)
        verify(tarball, md5)
        with atomic_write(cache, "wb") as f:
            torch.save(read_tarball(tarball), f)


# ---------------------------------------------------------------- real digits in CIFAR's shape
DIGITS_TEST_PER_CLASS = 50  # the training set then holds 124 (the 8s) to 133 of each class


def digits(seed=0):
    """scikit-learn's 1,797 handwritten digits (8×8, values 0..16) as CIFAR-10 is stored: each value × 255/16,
    rounded to uint8, each pixel a 4×4 block (8 → 32) and the same image in the 3 channels.

    Fixed split, stratified by class: of each class in a seeded shuffle, the first 50 are the test set (500
    images), the rest (124 to 133 a class, 1,297 images) the training set.
    """
    from sklearn.datasets import load_digits
    bunch = load_digits()
    images = torch.from_numpy(bunch.images * 255 / 16).round().to(torch.uint8)
    images = images.repeat_interleave(4, 1).repeat_interleave(4, 2)[..., None].expand(-1, -1, -1, 3).contiguous()
    labels = torch.from_numpy(bunch.target).to(torch.int64)
    test = balanced_subset(labels, DIGITS_TEST_PER_CLASS, seed)
    train = torch.ones(len(labels), dtype=torch.bool).index_fill_(0, test, False).nonzero().squeeze(1)
    return {"source": "digits", "classes": [str(c) for c in range(10)],
            "train": {"images": images[train], "labels": labels[train]},
            "test": {"images": images[test], "labels": labels[test]}}


# ---------------------------------------------------------------- synthetic CIFAR-shaped data
def synthetic(train_per_class, test_per_class, seed=0):
    """Images = 128 + one smooth random template per class (shifted by up to 4 pixels) + pixel noise.

    The classes are learnable but not separable by a single pixel; only for timing and plumbing.
    """
    g = torch.Generator().manual_seed(seed)
    templates = torch.nn.functional.interpolate(torch.randn(10, 3, 8, 8, generator=g), size=40, mode="bicubic")

    def split(per_class):
        labels = torch.arange(10).repeat_interleave(per_class)
        shifts = torch.randint(0, 9, (len(labels), 2), generator=g)
        rows = (shifts[:, :1] + torch.arange(32))[:, None, :, None]
        cols = (shifts[:, 1:] + torch.arange(32))[:, None, None, :]
        images = templates[labels][torch.arange(len(labels))[:, None, None, None], torch.arange(3)[:, None, None],
                                   rows, cols]
        images = 128 + 40 * images + 40 * torch.randn(images.shape, generator=g)
        images = images.clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
        order = torch.randperm(len(labels), generator=g)
        return {"images": images[order], "labels": labels[order]}

    return {"source": "synthetic", "classes": CLASSES,
            "train": split(train_per_class), "test": split(test_per_class)}


# ---------------------------------------------------------------- reading it
def balanced_subset(labels, per_class, seed=0):
    """Indices of the first ``per_class`` examples of each class in a seeded shuffle (all if None)."""
    if per_class is None:
        return torch.arange(len(labels))
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    keep = torch.cat([order[labels[order] == c][:per_class] for c in range(int(labels.max()) + 1)])
    return keep.sort().values


def load(cache, train_per_class=None, test_per_class=None):
    """The cache, each split cut to a class-balanced subset when asked."""
    try:
        data = torch.load(cache)
        for split in ("train", "test"):
            assert len(data[split]["images"]) == len(data[split]["labels"]) > 0
            assert data[split]["images"].shape[1:] == (32, 32, 3) and data[split]["images"].dtype == torch.uint8
    except Exception as error:  # any unreadable or malformed cache: say which file and how to rebuild it
        raise BadResult(cache, f"not a CIFAR-10 cache of uint8 (N, 32, 32, 3) images with labels ({error!r})",
                        "airbench_data") from None
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        keep = balanced_subset(data[split]["labels"], per_class)
        data[split] = {key: value[keep] for key, value in data[split].items()}
    return data


def data_job(snakemake):
    settings = snakemake.params.settings
    if settings["source"] == "cifar10":
        prepare(snakemake.output[0], settings["md5"], settings["url"], settings["local_copy"])
    else:
        data = synthetic(**settings["synthetic"]) if settings["source"] == "synthetic" else digits()
        with atomic_write(snakemake.output[0], "wb") as f:
            torch.save(data, f)


if __name__ == "__main__":
    run_rule(snakemake, {"airbench_data": data_job})  # noqa: F821 (set by Snakemake)
