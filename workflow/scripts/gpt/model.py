"""The GPT of modded-nanogpt's 2024-11-24 record "WindowWarmup" (KellerJordan/modded-nanogpt,
records/track_1_short/2024-11-24_WindowWarmup), written again for this repository. Model only:
the training loop is train_gpt.py.

    x₀ = rms(embed(idx))
    block i:  x ← λᵢ₀·x + λᵢ₁·x₀;  x ← x + attn(rms(x));  x ← x + mlp(rms(x))
    U-net:    the second half of the blocks adds the first half's outputs, last first, times skip_weights
    logits  = 30·tanh(lm_head(rms(x)) / 30)

Attention: 6 heads of 128 (768 wide), RMS-normed queries and keys, rotary positions, and the
values of block 1 mixed into every block's (value residual, weight `lamb`). One sequence holds
many documents; a token attends to the earlier tokens of its own document within `window`
tokens (documents start at the token 50256, <|endoftext|>). On CUDA that mask is a FlexAttention
block mask; elsewhere the same mask function gives a dense mask for scaled_dot_product_attention.
The MLP is 4× wide with ReLU². The head and every output projection start at zero.

GPT-2 (Radford et al. 2019; the fine-tuning experiment loads its weights, gpt/checkpoint.py) is the
same class with the options where it differs: learned positions (counted from each document's
start), LayerNorm with bias and a bias in every linear layer, GELU (tanh approximation), the head
tied to the embedding, and none of the record's extras (speedrun=False):

    x = wte(idx) + wpe(pos);  block:  x ← x + attn(ln₁(x));  x ← x + mlp(ln₂(x));  logits = ln_f(x)·wteᵀ
"""
from dataclasses import dataclass
from functools import cache

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention

EOT = 50256  # GPT-2's <|endoftext|>: the first token of every document
SOFTCAP = 30.0
ROTARY_BASE = 10000


@dataclass
class GPTConfig:
    vocab_size: int = 50304  # 50257 GPT-2 tokens, padded to a multiple of 128
    n_layer: int = 12
    n_head: int = 6
    n_embd: int = 768
    # GPT-2's choices, each an option (the defaults are the record's)
    positions: str = "rotary"  # or "learned": a table of block_size positions
    block_size: int = 1024  # learned positions: the longest document
    norm: str = "rms"  # or "layernorm": LayerNorm with weight and bias (eps 1e-5)
    bias: bool = False  # a bias in every linear layer
    activation: str = "relu2"  # or "gelu_tanh"
    tie_head: bool = False  # the head is the embedding's transpose
    speedrun: bool = True  # value residual, x₀ mixing, U-net skips, QK-norm, logit softcap

    def __post_init__(self):
        for key, allowed in (("positions", ("rotary", "learned")), ("norm", ("rms", "layernorm")),
                             ("activation", ("relu2", "gelu_tanh"))):
            if getattr(self, key) not in allowed:
                raise ValueError(f"GPTConfig.{key}={getattr(self, key)!r}; allowed: {list(allowed)}")


GPT2 = {"positions": "learned", "norm": "layernorm", "bias": True, "activation": "gelu_tanh", "tie_head": True,
        "speedrun": False}  # GPTConfig(**GPT2, n_layer=..., ...) is GPT-2


def rms_norm(x):
    return F.rms_norm(x, (x.size(-1),))


def norm_layer(config):
    """The blocks' normalisation: parameter-free RMS norm (the record) or LayerNorm with weight and bias (GPT-2)."""
    if config.norm == "layernorm":
        return nn.LayerNorm(config.n_embd, eps=1e-5)
    return nn.RMSNorm(config.n_embd, eps=None, elementwise_affine=False)  # = rms_norm


def document_positions(idx):
    """Each token's distance from the start of its document (its last <|endoftext|>, else the sequence start)."""
    t = torch.arange(len(idx), device=idx.device)
    return t - torch.where(idx == EOT, t, 0).cummax(0).values


# ---------------------------------------------------------------- attention mask
def document_causal_mask(idx, window):
    """mask_mod(b, h, q, kv) of FlexAttention: q sees kv iff kv ≤ q, q − kv < window, same document."""
    docs = (idx == EOT).cumsum(0)

    def mask_mod(b, h, q, kv):
        return (q >= kv) & (q - kv < window) & (docs[q] == docs[kv])
    return mask_mod


def attention_mask(idx, window):
    """The mask of a sequence idx (T,): a FlexAttention BlockMask on CUDA, a dense (T, T) bool mask elsewhere."""
    mask_mod, T = document_causal_mask(idx, window), len(idx)
    if idx.is_cuda:
        return create_block_mask(mask_mod, None, None, T, T, device=idx.device, _compile=True)
    positions = torch.arange(T, device=idx.device)
    return mask_mod(None, None, positions[:, None], positions[None, :])


@cache
def compiled_flex_attention():
    """flex_attention under torch.compile, wrapped on the first CUDA call: importing the compiler stack costs
    seconds that a CPU job, or the Snakefile's config check that imports this module, does not need."""
    return torch.compile(flex_attention, dynamic=False)


def attend(q, k, v, mask):
    """softmax(qkᵀ/√d + mask)·v for q, k, v (1, heads, T, d): FlexAttention for a BlockMask, else SDPA.
    q and k take v's dtype (under autocast a norm may return float32)."""
    q, k = q.to(v.dtype), k.to(v.dtype)
    if isinstance(mask, BlockMask):
        flex = compiled_flex_attention() if q.is_cuda else flex_attention  # eager flex: a reference on CPU
        return flex(q, k, v, block_mask=mask)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


# ---------------------------------------------------------------- layers
class CastedLinear(nn.Linear):
    """A linear layer (bias-free unless asked) whose parameters stay float32 and are cast to the input's dtype."""

    def __init__(self, fan_in, fan_out, zero=False, bias=False):
        super().__init__(fan_in, fan_out, bias=bias)
        if zero:
            nn.init.zeros_(self.weight)

    def forward(self, x):
        return F.linear(x, self.weight.to(x.dtype), None if self.bias is None else self.bias.to(x.dtype))


def rotate(x):
    """Rotary embedding of x (B, T, heads, d): the two halves of each head turned by angle t·θⱼ."""
    T, d = x.size(1), x.size(-1)
    theta = ROTARY_BASE ** -(torch.arange(0, d, 2, device=x.device, dtype=torch.float32) / d)
    angles = torch.outer(torch.arange(T, device=x.device, dtype=torch.float32), theta)
    cos, sin = angles.cos().to(x.dtype)[None, :, None, :], angles.sin().to(x.dtype)[None, :, None, :]
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([x1 * cos + x2 * sin, x2 * cos - x1 * sin], dim=-1)


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_head, d, bias = config.n_head, config.n_embd, config.bias
        self.c_q, self.c_k, self.c_v = (CastedLinear(d, d, bias=bias) for _ in range(3))
        self.c_proj = CastedLinear(d, d, zero=True, bias=bias)
        self.speedrun, self.rotary = config.speedrun, config.positions == "rotary"
        if self.speedrun:
            self.lamb = nn.Parameter(torch.tensor(0.5))  # value residual: v ← (1 − λ)v + λv₁

    def forward(self, x, v1, mask):
        B, T, C = x.shape
        q, k, v = (layer(x).view(B, T, self.n_head, -1) for layer in (self.c_q, self.c_k, self.c_v))
        if self.speedrun:
            v1 = v if v1 is None else v1
            v = (1 - self.lamb) * v + self.lamb * v1
            q, k = rms_norm(q), rms_norm(k)
        if self.rotary:
            q, k = rotate(q), rotate(k)
        y = attend(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), mask)
        return self.c_proj(y.transpose(1, 2).reshape(B, T, C)), v1


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = CastedLinear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = CastedLinear(4 * config.n_embd, config.n_embd, zero=True, bias=config.bias)
        self.gelu = config.activation == "gelu_tanh"

    def forward(self, x):
        h = self.c_fc(x)
        return self.c_proj(F.gelu(h, approximate="tanh") if self.gelu else F.relu(h).square())


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attn, self.mlp = CausalSelfAttention(config), MLP(config)
        self.norm1, self.norm2 = norm_layer(config), norm_layer(config)
        self.speedrun = config.speedrun
        if self.speedrun:
            self.lambdas = nn.Parameter(torch.tensor([1.0, 0.0]))  # x ← λ₀x + λ₁x₀

    def forward(self, x, v1, x0, mask):
        if self.speedrun:
            x = self.lambdas[0] * x + self.lambdas[1] * x0
        y, v1 = self.attn(self.norm1(x), v1, mask)
        x = x + y
        return x + self.mlp(self.norm2(x)), v1


# ---------------------------------------------------------------- the model
class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.n_encoder = config.n_layer // 2 if config.speedrun else 0  # U-net halves
        self.embed = nn.Embedding(config.vocab_size, config.n_embd)
        if config.positions == "learned":
            self.positions = nn.Embedding(config.block_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        if config.speedrun:
            self.skip_weights = nn.Parameter(torch.ones(config.n_layer - self.n_encoder))
        self.norm_f = norm_layer(config)
        if not config.tie_head:
            self.lm_head = CastedLinear(config.n_embd, config.vocab_size, zero=True)

    def logits(self, idx, window):
        """Next-token logits (1, T, vocab) of one sequence idx (T,) of token ids."""
        mask = attention_mask(idx, window)
        x = self.embed(idx[None])
        if self.config.positions == "learned":
            x = x + self.positions(document_positions(idx))
        x0 = x = rms_norm(x) if self.config.speedrun else x
        v1, skips = None, []
        for i, block in enumerate(self.blocks):
            if self.config.speedrun and i >= self.n_encoder:
                x = x + self.skip_weights[i - self.n_encoder] * skips.pop()
            x, v1 = block(x, v1, x0, mask)
            if i < self.n_encoder:
                skips.append(x)
        x = self.norm_f(x)
        if self.config.tie_head:
            return F.linear(x, self.embed.weight.to(x.dtype))
        logits = self.lm_head(x)
        return SOFTCAP * torch.tanh(logits / SOFTCAP) if self.config.speedrun else logits

    def forward(self, idx, targets, window):
        """Mean cross-entropy of next-token prediction over one sequence idx (T,) of token ids."""
        logits = self.logits(idx, window)
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.view(-1))


def hidden_matrix(model, name, key):
    """The hidden matrix ``name`` of the model (a 2-D parameter of a block), or an error naming the config
    ``key`` that chose it and the names allowed."""
    matrices = {label: p for label, p in model.named_parameters() if label.startswith("blocks.") and p.ndim == 2}
    if name not in matrices:
        raise ValueError(f"{key}={name!r} is not a hidden matrix of this model; allowed: {sorted(matrices)}")
    return matrices[name]
