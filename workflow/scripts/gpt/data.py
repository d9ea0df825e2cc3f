"""GPT data: token shards in the binary format of modded-nanogpt's fineweb10B files (one reader, one loader),
the GPT-2 tokenizer, a generated stand-in corpus, and the checked download from the Hugging Face hub.

A shard is 256 little-endian int32 (magic 20240520, version 1, the token count, then zeros),
followed by the tokens as little-endian uint16 (GPT-2 ids < 65536). Every document starts with
<|endoftext|> (50256), which the model's document mask uses as the boundary.
"""
import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch

from job import atomic_write, file_sha256

MAGIC, VERSION, HEADER_INTS = 20240520, 1, 256


def read_shard(path):
    """The tokens of a shard (a read-only uint16 memmap), after checking its header and size."""
    header = np.fromfile(path, dtype="<i4", count=HEADER_INTS)
    if len(header) < HEADER_INTS or header[0] != MAGIC:
        raise ValueError(f"{path}: not a token shard (no magic number {MAGIC} in a {HEADER_INTS}-int32 header)")
    if header[1] != VERSION:
        raise ValueError(f"{path}: shard version {header[1]}, only version {VERSION} is known")
    held = (os.path.getsize(path) - 4 * HEADER_INTS) / 2
    if held != header[2]:
        raise ValueError(f"{path}: the header counts {header[2]} tokens, the file holds {held:g}")
    return np.memmap(path, dtype="<u2", mode="r", offset=4 * HEADER_INTS, shape=(int(held),))


def write_shard(path, tokens):
    """Write tokens (ids < 65536, at least one) as a shard, atomically: a temporary file renamed into place."""
    tokens = np.asarray(tokens)
    if tokens.size == 0 or tokens.min() < 0 or tokens.max() >= 2**16:
        raise ValueError(f"{path}: a shard holds at least one token, each id in [0, 65536) (uint16)")
    header = np.zeros(HEADER_INTS, dtype="<i4")
    header[:3] = MAGIC, VERSION, len(tokens)
    with atomic_write(path, "wb") as f:
        f.write(header.tobytes() + tokens.astype("<u2").tobytes())


class ShardLoader:
    """Sequences of seq_len tokens (and their next tokens) for rank r of w, cycling over the shards:
    step by step the ranks read consecutive slices [p + r·T, p + (r+1)·T + 1) and p moves on by w·T;
    a shard too short for the next w·T + 1 tokens is left for the next one. Its state resumes it."""

    def __init__(self, files, seq_len, rank=0, world=1):
        self.files, self.seq_len, self.rank, self.world = list(files), seq_len, rank, world
        self.load_state_dict({"shard": 0, "position": 0})

    def state_dict(self):
        return {"shard": self.shard, "position": self.position}

    def load_state_dict(self, state):
        self.shard, self.position = state["shard"], state["position"]
        self.tokens = read_shard(self.files[self.shard])
        if len(self.tokens) < self.world * self.seq_len + 1:
            raise ValueError(f"{self.files[self.shard]}: {len(self.tokens)} tokens, fewer than one step "
                             f"of {self.world} × {self.seq_len} + 1")

    def next_batch(self, device):
        if self.position + self.world * self.seq_len + 1 > len(self.tokens):
            self.load_state_dict({"shard": (self.shard + 1) % len(self.files), "position": 0})
        start = self.position + self.rank * self.seq_len
        chunk = torch.from_numpy(self.tokens[start:start + self.seq_len + 1].astype(np.int64)).to(device)
        self.position += self.world * self.seq_len
        return chunk[:-1], chunk[1:]


def hub_download(repo, filename, path, sha256=None, repo_type="dataset", revision=None, check=None):
    """One file of a Hugging Face repo to path, kept only if ``check(file)`` passes (e.g. it reads as a shard)
    and it matches its pinned sha256 (an unpinned file is kept and its hash logged, to pin); written by a
    rename, so path is never a partial file."""
    from huggingface_hub import hf_hub_download
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=Path(path).parent) as tmp:
        local = hf_hub_download(repo, filename, repo_type=repo_type, revision=revision, local_dir=tmp)
        if check:
            check(local)
        digest = file_sha256(local)
        print(f"{repo}/{filename}: sha256 {digest}" + ("" if sha256 else " (no sha256 for it in the config: pin this one)"))
        if sha256 and digest != sha256:
            raise ValueError(f"{repo}/{filename}: sha256 {digest}, the config pins {sha256}; nothing was written")
        os.replace(local, path)


def generated_corpus(documents, seed):
    """Short stories from a small grammar (deterministic in seed): a learnable stand-in for TinyStories."""
    rng = random.Random(seed)
    names, animals = ["Tom", "Lily", "Max", "Sue", "Ben", "Mia"], ["cat", "dog", "bird", "fox", "frog", "bear"]
    places, things = ["park", "garden", "forest", "river", "house"], ["ball", "kite", "hat", "apple", "box"]
    feelings, verbs = ["happy", "sad", "tired", "brave", "curious"], ["played", "ran", "jumped", "sang", "slept"]
    stories = []
    for _ in range(documents):
        name, animal, place, thing = (rng.choice(words) for words in (names, animals, places, things))
        sentences = [f"Once upon a time, there was a {rng.choice(feelings)} {animal} named {name}.",
                     f"{name} lived near the {place}."]
        for _ in range(rng.randint(2, 5)):
            sentences.append(rng.choice([
                f"One day, {name} found a {thing} in the {rng.choice(places)}.",
                f"{name} {rng.choice(verbs)} with the {thing} all day.",
                f"The {thing} made {name} feel {rng.choice(feelings)}.",
                f"{name} met a {rng.choice(animals)} who {rng.choice(verbs)} by the {rng.choice(places)}."]))
        sentences.append(f"At night, {name} went home and felt {rng.choice(feelings)}. The end.")
        stories.append(" ".join(sentences))
    return "\n<|endoftext|>\n".join(stories) + "\n<|endoftext|>\n"


def gpt2_encoding(tiktoken_cache):
    """tiktoken's GPT-2 encoding, from the offline cache when that folder exists (else tiktoken downloads it)."""
    if tiktoken_cache and Path(tiktoken_cache).is_dir():
        os.environ["TIKTOKEN_CACHE_DIR"] = str(Path(tiktoken_cache).resolve())
    else:
        print(f"no tokenizer cache at {tiktoken_cache}: tiktoken downloads GPT-2's BPE files (offline, point "
              "the section's tiktoken_cache at a folder holding them)")
    import tiktoken
    return tiktoken.get_encoding("gpt2")
