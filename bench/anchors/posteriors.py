"""PyTorch CPU anchor for the `posteriors` suite: one Ψ-sampler step (posterior + κ-mix + categorical sample).

The step is written here the way the reference code (s-sahoo/duo, trainer_base / algo.py) evaluates it: the
approximate posterior q(x_s | x_t, x̂0) as a dense [B, L, K] expression with a one-hot of x_t, the same
expression at alpha_s = 1 for q(x_0 | x_t, x̂0), the forward process back to s, the κ-mix, and Gumbel sampling
(p / (1e-10 − log(u + 1e-10))).argmax. Formulas: Duo eq. 5 (uniform), MDLM eq. 7 (masked), Chapter II Ψ.

Usage: python3 posteriors.py [--quick] [--case large|small] [--process uniform|masked]
Prints one JSON object: per (case, process), median/min ms per step and the process's peak RSS.
"""
import resource
import sys

import torch
import torch.nn.functional as F

from common import emit, timeit, torch_info

torch.set_num_threads(2)

CASES = {"large": (1, 1024, 50257), "small": (64, 256, 27)}
ALPHA_S, ALPHA_T, KAPPA = 0.6, 0.3, 0.4


def uniform_posterior(x, xt, alpha_s, alpha_t):
    """Duo eq. 5 with soft x̂0, dense over K as the reference's _compute_posterior."""
    k = x.shape[-1]
    alpha_ts = alpha_t / alpha_s
    xt_one_hot = F.one_hot(xt, k).to(x.dtype)
    num = (alpha_t * k * x * xt_one_hot + (alpha_ts - alpha_t) * xt_one_hot + (alpha_s - alpha_t) * x
           + (1 - alpha_ts) * (1 - alpha_s) / k)
    return num / (alpha_t * k * torch.gather(x, -1, xt[..., None]) + (1 - alpha_t))


def uniform_forward(x, alpha):
    return alpha * x + (1 - alpha) / x.shape[-1]


def masked_posterior(x, xt, alpha_s, alpha_t, mask):
    """MDLM eq. 7 as the reference's AbsorbingState._posterior_from_x0 (boolean-mask writes)."""
    unmasked = (xt[:, :, None] != mask).expand(-1, -1, x.shape[-1])
    keep = x[unmasked]
    q = ((alpha_s - alpha_t) / (1 - alpha_t)) * x
    q[..., mask] = (1 - alpha_s) / (1 - alpha_t)
    q[unmasked] = keep
    return q


def masked_forward(x, alpha, mask):
    out = alpha * x
    out[..., mask] = 1 - alpha
    return out


def sample_categorical(p):
    gumbel_norm = 1e-10 - (torch.rand_like(p) + 1e-10).log()
    return (p / gumbel_norm).argmax(dim=-1)


def psi_step(process, x, xt):
    if process == "uniform":
        q_xs = uniform_posterior(x, xt, ALPHA_S, ALPHA_T)
        q_x0 = uniform_posterior(x, xt, 1.0, ALPHA_T)
        pc = uniform_forward(q_x0, ALPHA_S)
    else:
        mask = x.shape[-1] - 1
        q_xs = masked_posterior(x, xt, ALPHA_S, ALPHA_T, mask)
        q_x0 = masked_posterior(x, xt, 1.0, ALPHA_T, mask)
        pc = masked_forward(q_x0, ALPHA_S, mask)
    return sample_categorical(KAPPA * q_xs + (1 - KAPPA) * pc)


def inputs(shape, process, gen):
    b, l, k = shape
    x = torch.softmax(torch.randn(b, l, k, generator=gen) * 2, dim=-1)
    if process == "masked":
        x[..., k - 1] = 0
        x = x / x.sum(-1, keepdim=True)
        xt = torch.where(torch.rand(b, l, generator=gen) < 0.5, k - 1, torch.randint(0, k - 1, (b, l), generator=gen))
    else:
        xt = torch.randint(0, k, (b, l), generator=gen)
    return x, xt


def main(argv):
    quick = "--quick" in argv
    cases = [argv[argv.index("--case") + 1]] if "--case" in argv else list(CASES)
    processes = [argv[argv.index("--process") + 1]] if "--process" in argv else ["uniform", "masked"]
    gen = torch.Generator().manual_seed(0)
    out = {"suite": "posteriors", "info": torch_info(torch), "alpha_s": ALPHA_S, "alpha_t": ALPHA_T,
           "kappa": KAPPA, "dtype": "float32", "step": {}}
    for name in cases:
        for process in processes:
            x, xt = inputs(CASES[name], process, gen)
            with torch.no_grad():
                timing = timeit(lambda: psi_step(process, x, xt), warmup=1, reps=3 if quick else 7)
            timing["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            out["step"][f"{name}/{process}"] = timing
            del x, xt
    emit(out)


if __name__ == "__main__":
    main(sys.argv[1:])
