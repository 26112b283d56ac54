"""PyTorch CPU anchor for the `models` suite: forward tokens/s of the DiT (MDLM/Duo architecture) in eval mode.

The network is written here from the maths in packages/models/README.md (adaLN DiT, rotary attention, GELU-tanh
MLP), with random weights N(0, 0.02²) and LayerNorm weights 1 — the same network `@duality/models` runs. Torch
1.13 (Debian) has no scaled_dot_product_attention, so attention is matmul + softmax, as on our side.

Usage: python3 models.py [--quick] [--config tiny|small]   (default: both)
Prints one JSON object: per config, timing (median/min ms per forward), tokens/s and the process's peak RSS.
"""
import math
import resource
import sys

import torch
import torch.nn.functional as F

from common import emit, timeit, torch_info

torch.set_num_threads(2)

CONFIGS = {
    # name: (vocab, hidden, cond, heads, blocks, length, batch)
    "tiny": dict(vocab=27, hidden=256, cond=128, heads=8, blocks=8, length=256, batch=4),
    "small": dict(vocab=50257, hidden=768, cond=128, heads=12, blocks=12, length=1024, batch=1),
}


def make_weights(c, gen):
    D, C, V = c["hidden"], c["cond"], c["vocab"]

    def w(*shape):
        return torch.randn(*shape, generator=gen) * 0.02

    blocks = []
    for _ in range(c["blocks"]):
        blocks.append(
            dict(
                norm1=torch.ones(D), qkv=w(3 * D, D), out=w(D, D), norm2=torch.ones(D),
                mlp1=w(4 * D, D), mlp1_b=w(4 * D), mlp2=w(D, 4 * D), mlp2_b=w(D),
                ada=w(6 * D, C), ada_b=w(6 * D),
            )
        )
    return dict(
        embed=w(V, D), t1=w(C, 256), t1_b=w(C), t2=w(C, C), t2_b=w(C), blocks=blocks,
        norm_f=torch.ones(D), head=w(V, D), head_b=w(V), ada_f=w(2 * D, C), ada_f_b=w(2 * D),
    )


def timestep_features(sigma, size=256, max_period=10000.0):
    half = size // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = sigma[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def rotary(length, head_dim):
    inv = 1.0 / (10000 ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    ang = torch.arange(length, dtype=torch.float32)[:, None] * inv[None]
    return torch.cat([ang.cos(), ang.cos()], -1), torch.cat([ang.sin(), ang.sin()], -1)


def rope(x, cos, sin):  # x [B, H, L, Dh]; non-interleaved halves
    h = x.shape[-1] // 2
    rotated = torch.cat([-x[..., h:], x[..., :h]], dim=-1)
    return x * cos + rotated * sin


def layer_norm(x, w):
    return F.layer_norm(x, (x.shape[-1],)) * w


def forward(p, c, tokens, sigma, cos, sin):
    return backbone(p, c, p["embed"][tokens], sigma, cos, sin)


def backbone(p, c, h, sigma, cos, sin):
    """Logits [B, L, V] from the input embedding h [B, L, D] (tokens, soft top-k or dense softmax input)."""
    B, L = h.shape[0], h.shape[1]
    D, H = c["hidden"], c["heads"]
    Dh = D // H
    cond = F.silu(F.linear(F.silu(F.linear(timestep_features(sigma), p["t1"], p["t1_b"])), p["t2"], p["t2_b"]))
    for b in p["blocks"]:
        sh1, sc1, g1, sh2, sc2, g2 = F.linear(cond, b["ada"], b["ada_b"])[:, None].chunk(6, dim=2)
        a = layer_norm(h, b["norm1"]) * (1 + sc1) + sh1
        qkv = F.linear(a, b["qkv"]).view(B, L, 3, H, Dh).permute(2, 0, 3, 1, 4)
        q, k, v = rope(qkv[0], cos, sin), rope(qkv[1], cos, sin), qkv[2]
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(Dh), dim=-1) @ v
        h = h + g1 * F.linear(att.transpose(1, 2).reshape(B, L, D), b["out"])
        m = layer_norm(h, b["norm2"]) * (1 + sc2) + sh2
        h = h + g2 * F.linear(F.gelu(F.linear(m, b["mlp1"], b["mlp1_b"]), approximate="tanh"), b["mlp2"], b["mlp2_b"])
    sh, sc = F.linear(cond, p["ada_f"], p["ada_f_b"])[:, None].chunk(2, dim=2)
    return F.linear(layer_norm(h, p["norm_f"]) * (1 + sc) + sh, p["head"], p["head_b"])


def bench_config(name, reps):
    c = CONFIGS[name]
    gen = torch.Generator().manual_seed(0)
    p = make_weights(c, gen)
    tokens = torch.randint(0, c["vocab"], (c["batch"], c["length"]), generator=gen)
    sigma = torch.rand(c["batch"], generator=gen) * 5
    cos, sin = rotary(c["length"], c["hidden"] // c["heads"])
    with torch.inference_mode():
        t = timeit(lambda: forward(p, c, tokens, sigma, cos, sin), warmup=1, reps=reps)
    t["tokens_per_s"] = c["batch"] * c["length"] / (t["median_ms"] / 1e3)
    t["config"] = c
    t["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return t


def main():
    quick = "--quick" in sys.argv
    names = list(CONFIGS)
    if "--config" in sys.argv:
        names = [sys.argv[sys.argv.index("--config") + 1]]
    results = {}
    for name in names:
        reps = (2 if quick else 3) if name == "small" else (3 if quick else 7)
        results[name] = bench_config(name, reps)
    emit({"info": torch_info(torch), "forward": results})


if __name__ == "__main__":
    main()
