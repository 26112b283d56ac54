"""PyTorch CPU anchor for the `autograd` suite: DiT forward + loss.backward() tokens/s, peak RSS and a per-op profile.

The network is models.py's (written from the Forward maths of the shared fixtures' README: adaLN DiT, rotary
attention, GELU-tanh MLP; random weights N(0, 0.02²), LayerNorm weights 1), with every parameter a leaf that
requires grad. One step: grads cleared (set to None), embedding of the token ids, backbone, mean cross-entropy of
the logits against the ids, loss.backward() — what our side does with valueAndGrad over model.parameters().

Usage: python3 autograd.py --config '<json: vocab, hidden, cond, heads, blocks, length, batch>' [--quick]
Prints one JSON object: timing of one step (median/min ms), tokens/s, the process's peak RSS (measured before the
profiled step) and the torch.autograd.profiler table of one step (self CPU time per op, largest first).
"""
import json
import resource
import sys

import torch
import torch.nn.functional as F

from common import emit, timeit, torch_info
from models import backbone, make_weights, rotary  # models sets torch.set_num_threads(2)


def leaves(p):
    """Every parameter tensor of the weights tree (dicts and lists)."""
    if isinstance(p, torch.Tensor):
        return [p]
    if isinstance(p, dict):
        return [t for v in p.values() for t in leaves(v)]
    return [t for v in p for t in leaves(v)]


def make_step(c, gen):
    p = make_weights(c, gen)
    params = leaves(p)
    for t in params:
        t.requires_grad_(True)
    tokens = torch.randint(0, c["vocab"], (c["batch"], c["length"]), generator=gen)
    sigma = torch.rand(c["batch"], generator=gen) * 5
    cos, sin = rotary(c["length"], c["hidden"] // c["heads"])

    def step():
        for t in params:
            t.grad = None
        logits = backbone(p, c, p["embed"][tokens], sigma, cos, sin)
        loss = F.cross_entropy(logits.reshape(-1, c["vocab"]), tokens.reshape(-1))
        loss.backward()
        return loss

    return step


def op_profile(step, top=20):
    """Self CPU time per op over one step (forward and backward ops; backward ones are named *Backward*)."""
    with torch.autograd.profiler.profile() as prof:
        step()
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in rows) / 1e3
    return {
        "self_cpu_total_ms": total,
        "ops": [
            {"name": e.key, "self_ms": e.self_cpu_time_total / 1e3, "total_ms": e.cpu_time_total / 1e3,
             "calls": e.count}
            for e in rows[:top]
        ],
    }


def main(argv):
    quick = "--quick" in argv
    c = json.loads(argv[argv.index("--config") + 1])
    gen = torch.Generator().manual_seed(0)
    step = make_step(c, gen)
    t = timeit(step, warmup=1, reps=3 if quick else 5)
    t["tokens_per_s"] = c["batch"] * c["length"] / (t["median_ms"] / 1e3)
    t["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t["config"] = c
    t["profile"] = op_profile(step)
    emit({"info": torch_info(torch), "step": t})


if __name__ == "__main__":
    main(sys.argv[1:])
