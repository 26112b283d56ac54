"""PyTorch CPU anchor for the `samplers` suite: one sampler step of the reference, the denoiser excluded.

Given the network's log-probabilities log x̂0 [B, L, K] (precomputed, as the forward pass is not timed), one step
is what the reference's `generate_samples` loop does around the forward call, written here from the formulas:

- ancestral (`_ancestral_update`): p = exp(log x̂0), q(x_s | x_t, x̂0) (MDLM eq. 7 masked with boolean-mask
  writes, Duo eq. 5 uniform as a dense one-hot expression), Gumbel sampling (p / (1e-10 − log(u + 1e-10))).argmax;
- Ψ (`_psi_update`, Chapter II): the same posterior at α_s and at α = 1, the forward process back to α_s, the κ-mix,
  the same sampling.

Usage: python3 samplers.py [--quick]. Prints one JSON object: median/min ms per (case, process, sampler).
"""
import sys

import torch
import torch.nn.functional as F

from common import emit, timeit, torch_info

torch.set_num_threads(2)

CASES = {"small": (8, 256, 27), "large": (1, 1024, 50257)}
ALPHA_S, ALPHA_T, KAPPA = 0.6, 0.3, 0.5


def uniform_posterior(p, xt, a_s, a_t):
    k = p.shape[-1]
    ratio = a_t / a_s
    onehot = F.one_hot(xt, k).to(p.dtype)
    numerator = a_t * k * p * onehot + (ratio - a_t) * onehot + (a_s - a_t) * p + (1 - ratio) * (1 - a_s) / k
    return numerator / (a_t * k * torch.gather(p, -1, xt[..., None]) + (1 - a_t))


def masked_posterior(p, xt, a_s, a_t, mask):
    revealed = (xt[:, :, None] != mask).expand(-1, -1, p.shape[-1])
    kept = p[revealed]
    q = ((a_s - a_t) / (1 - a_t)) * p
    q[..., mask] = (1 - a_s) / (1 - a_t)
    q[revealed] = kept
    return q


def forward(q, a, process, mask):
    if process == "uniform":
        return a * q + (1 - a) / q.shape[-1]
    out = a * q
    out[..., mask] = 1 - a
    return out


def gumbel_argmax(q):
    return (q / (1e-10 - (torch.rand_like(q) + 1e-10).log())).argmax(dim=-1)


def step(process, sampler, log_x0, xt):
    p = log_x0.exp()
    mask = p.shape[-1] - 1

    def post(a_s):
        return uniform_posterior(p, xt, a_s, ALPHA_T) if process == "uniform" else masked_posterior(p, xt, a_s, ALPHA_T, mask)

    q = post(ALPHA_S)
    if sampler == "psi":
        q = KAPPA * q + (1 - KAPPA) * forward(post(1.0), ALPHA_S, process, mask)
    return gumbel_argmax(q)


def inputs(shape, process, gen):
    b, l, k = shape
    logits = torch.randn(b, l, k, generator=gen) * 2
    if process == "masked":
        logits[..., k - 1] = float("-inf")
        xt = torch.where(torch.rand(b, l, generator=gen) < 0.5, k - 1, torch.randint(0, k - 1, (b, l), generator=gen))
    else:
        xt = torch.randint(0, k, (b, l), generator=gen)
    return logits.log_softmax(-1), xt


def main(argv):
    quick = "--quick" in argv
    gen = torch.Generator().manual_seed(0)
    out = {"suite": "samplers", "info": torch_info(torch), "alpha_s": ALPHA_S, "alpha_t": ALPHA_T, "kappa": KAPPA,
           "dtype": "float32", "step": {}}
    for name, shape in CASES.items():
        for process in ("masked", "uniform"):
            log_x0, xt = inputs(shape, process, gen)
            for sampler in ("ancestral", "psi"):
                with torch.no_grad():
                    reps = 3 if quick or name == "large" else 7
                    out["step"][f"{name}/{process}/{sampler}"] = timeit(lambda: step(process, sampler, log_x0, xt), 1, reps)
            del log_x0, xt
    emit(out)


if __name__ == "__main__":
    main(sys.argv[1:])
