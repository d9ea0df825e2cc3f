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
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention

EOT = 50256  # GPT-2's <|endoftext|>: the first token of every document
SOFTCAP = 30.0
ROTARY_BASE = 10000
compiled_flex_attention = torch.compile(flex_attention, dynamic=False)  # compiled on first CUDA call


@dataclass
class GPTConfig:
    vocab_size: int = 50304  # 50257 GPT-2 tokens, padded to a multiple of 128
    n_layer: int = 12
    n_head: int = 6
    n_embd: int = 768


def rms_norm(x):
    return F.rms_norm(x, (x.size(-1),))


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


def attend(q, k, v, mask):
    """softmax(qkᵀ/√d + mask)·v for q, k, v (1, heads, T, d): FlexAttention for a BlockMask, else SDPA."""
    if isinstance(mask, BlockMask):
        flex = compiled_flex_attention if q.is_cuda else flex_attention  # eager flex: a reference on CPU
        return flex(q, k, v, block_mask=mask)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


# ---------------------------------------------------------------- layers
class CastedLinear(nn.Linear):
    """A bias-free linear layer whose weight stays float32 and is cast to the input's dtype."""

    def __init__(self, fan_in, fan_out, zero=False):
        super().__init__(fan_in, fan_out, bias=False)
        if zero:
            nn.init.zeros_(self.weight)

    def forward(self, x):
        return F.linear(x, self.weight.to(x.dtype))


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
        self.n_head, d = config.n_head, config.n_embd
        self.c_q, self.c_k, self.c_v = CastedLinear(d, d), CastedLinear(d, d), CastedLinear(d, d)
        self.c_proj = CastedLinear(d, d, zero=True)
        self.lamb = nn.Parameter(torch.tensor(0.5))  # value residual: v ← (1 − λ)v + λv₁

    def forward(self, x, v1, mask):
        B, T, C = x.shape
        q, k, v = (layer(x).view(B, T, self.n_head, -1) for layer in (self.c_q, self.c_k, self.c_v))
        v1 = v if v1 is None else v1
        v = (1 - self.lamb) * v + self.lamb * v1
        q, k = rotate(rms_norm(q)), rotate(rms_norm(k))
        y = attend(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), mask)
        return self.c_proj(y.transpose(1, 2).reshape(B, T, C)), v1


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = CastedLinear(config.n_embd, 4 * config.n_embd)
        self.c_proj = CastedLinear(4 * config.n_embd, config.n_embd, zero=True)

    def forward(self, x):
        return self.c_proj(F.relu(self.c_fc(x)).square())


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attn, self.mlp = CausalSelfAttention(config), MLP(config)
        self.lambdas = nn.Parameter(torch.tensor([1.0, 0.0]))  # x ← λ₀x + λ₁x₀

    def forward(self, x, v1, x0, mask):
        x = self.lambdas[0] * x + self.lambdas[1] * x0
        y, v1 = self.attn(rms_norm(x), v1, mask)
        x = x + y
        return x + self.mlp(rms_norm(x)), v1


# ---------------------------------------------------------------- the model
class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_encoder = config.n_layer // 2
        self.embed = nn.Embedding(config.vocab_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.skip_weights = nn.Parameter(torch.ones(config.n_layer - self.n_encoder))
        self.lm_head = CastedLinear(config.n_embd, config.vocab_size, zero=True)  # untied

    def forward(self, idx, targets, window):
        """Mean cross-entropy of next-token prediction over one sequence idx (T,) of token ids."""
        mask = attention_mask(idx, window)
        x = x0 = rms_norm(self.embed(idx[None]))
        v1, skips = None, []
        for i, block in enumerate(self.blocks):
            if i >= self.n_encoder:
                x = x + self.skip_weights[i - self.n_encoder] * skips.pop()
            x, v1 = block(x, v1, x0, mask)
            if i < self.n_encoder:
                skips.append(x)
        logits = self.lm_head(rms_norm(x))
        logits = SOFTCAP * torch.tanh(logits / SOFTCAP)
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.view(-1))
