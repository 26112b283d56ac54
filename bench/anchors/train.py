"""PyTorch CPU anchor for the `train` suite: tokens/s and peak RSS of one full training step.

One step = the objective's draw (times, noise, relaxation), the DiT forward (models.py's network: the Forward
maths of the shared fixtures' README) and the mean loss over B·L tokens, loss.backward(), global-norm clipping
(clip_grad_norm_, 1.0) and torch.optim.AdamW (lr 3e-4, betas 0.9/0.999, eps 1e-8, no weight decay) — the step of
@duality/train's trainer. Objectives, written here from the papers' formulas (and the fixtures' README):

  mdlm           x_t = mask (id K−1) where u < 1 − α_t (log-linear α), σ = 0 (no time conditioning), SUBS
                 (mask logit −∞), loss α'/(1 − α)·log x_θ[x0] at masked positions (MDLM eq. 10)
  udlm           x_t = r ~ U{0…K−1} where u < 1 − α_t, σ = −log α_t, the Duo / UDLM NELBO integrand (Duo eq. 8)
  duo            Duo curriculum (Duo I §4.1): γ_t = γmin + t(γmax − γmin), w = α̃·onehot(x0) + σ̃·ε over all K,
                 x_t = argmax w, input softmax(w/τ)·E (dense, τ = 1e-3), the Duo integrand
  duo-efficient  Chapter II: the top-k order statistics of the K − 1 other latents (cumulative log-uniforms +
                 ndtri), the true token's latent, the truncated-normal tail (log_ndtr), k distinct random ids,
                 weights exp(v/τ − logsumexp), input Σ_k w_k E[i_k] (embedding bag); x_t the true argmax

α_t of the curricula is a per-row stand-in (sigmoid(−γ), its exact derivative in t): the diffusion transformation
operator is a per-row scalar whose cost does not depend on the network, so only the shapes matter here.

Usage: python3 train.py --objective mdlm|udlm|duo|duo-efficient --config '<json>' [--k 8] [--reps N] [--quick]
Prints one JSON object: per-step timing (median/min ms, CPU ms), the median of each phase (draw, forward,
backward, optimizer), tokens/s, the process's peak RSS.
"""
import json
import math
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from autograd import leaves
from common import emit, torch_info
from models import backbone, make_weights, rotary  # models sets torch.set_num_threads(2)

EPS_T = 1e-3  # sampling_eps and the log-linear schedule's eps
GAMMA_MIN, GAMMA_MAX, TAU = -3.5, -1.75, 1e-3


def times(batch, gen):
    """Stratified (antithetic) t over the batch in [eps, 1]."""
    u = (torch.arange(batch, dtype=torch.float64) + torch.rand(batch, generator=gen, dtype=torch.float64)) / batch
    return EPS_T + (1 - EPS_T) * u


def log_linear(t):
    """α = 1 − (1 − eps)t and dα/dt."""
    return 1 - (1 - EPS_T) * t, torch.full_like(t, -(1 - EPS_T))


def curriculum(t):
    """γ(t), α̃ = √sigmoid(−γ), σ̃ = √sigmoid(γ), and the stand-in α_t = sigmoid(−γ) with its dα/dt."""
    gamma = GAMMA_MIN + t * (GAMMA_MAX - GAMMA_MIN)
    s = torch.sigmoid(-gamma)
    return gamma, s.sqrt(), torch.sigmoid(gamma).sqrt(), s, -(GAMMA_MAX - GAMMA_MIN) * s * (1 - s)


def duo_integrand(logits, xt, x0, alpha, dalpha):
    """Duo eq. 8 on log x_θ = log_softmax(logits) (the fixtures' README form); alpha, dalpha [B, 1]."""
    k = logits.shape[-1]
    a = alpha.to(logits.dtype)
    xbar = k * a[..., None] * logits.softmax(-1) + (1 - a)[..., None]
    x_eq = (xt == x0).to(logits.dtype)
    x_neq = 1 - x_eq
    xbar_xt = (1 - a) + k * a * x_eq
    xbt = xbar.gather(-1, xt[..., None])[..., 0]
    xbx = xbar.gather(-1, x0[..., None])[..., 0]
    term1 = k * (1 / xbar_xt - 1 / xbt)
    c = (1 - a) / (k * a + 1 - a)
    offset = ((k - 1) * c * x_eq - x_neq / c) * c.log()
    theta = -(c * x_eq + x_neq) * (xbar.log().sum(-1) - k * xbt.log()) - k * a / (1 - a) * (xbx.log() - xbt.log()) * x_neq
    return dalpha.to(logits.dtype) / (k * a) * (term1 - (theta + offset))


def distinct_ids(x0, n_others, k, gen):
    """k distinct ids ≠ x0 per position, uniformly at random (Floyd's sampling over the n_others other ids)."""
    ids = torch.empty((*x0.shape, k), dtype=torch.long)
    for slot, top in enumerate(range(n_others - k, n_others)):
        j = torch.randint(0, top + 1, x0.shape, generator=gen)
        seen = (ids[..., :slot] == j[..., None]).any(-1) if slot else torch.zeros_like(j, dtype=torch.bool)
        ids[..., slot] = torch.where(seen, torch.full_like(j, top), j)
    return ids + (ids >= x0[..., None]).long()


def topk_relaxation(x0, alpha_t, sigma_t, vocab, k, gen):
    """The top-k relaxation (float64): ids [B, L, k], weights [B, L, k] (f32) and x_t, never [B, L, K]."""
    n = vocab - 1
    beta = 1.0 / TAU
    s = sigma_t[:, None]
    log_v = torch.rand((*x0.shape, k), generator=gen, dtype=torch.float64).log()
    divisors = torch.arange(n, n - k, -1, dtype=torch.float64)
    g = torch.special.ndtri(torch.cumsum(log_v / divisors, -1).exp()) * s[..., None]  # decreasing top-k latents
    extra = alpha_t[:, None] + s * torch.randn(x0.shape, generator=gen, dtype=torch.float64)
    # keep the k largest of the k others and the true latent; the (k+1)-th is dropped but known, and the
    # N − k others below c = g_k are the tail: log((N − k)·E[exp(X/τ) | X < c]), X ~ N(0, s²)
    kept = extra > g[..., -1]
    values = torch.cat([g[..., :-1], torch.where(kept, extra, g[..., -1])[..., None]], -1)
    c = g[..., -1]
    log_tail = (math.log(n - k) + (s * beta) ** 2 / 2 + torch.special.log_ndtr((c - s**2 * beta) / s)
                - torch.special.log_ndtr(c / s))
    dropped = torch.where(kept, g[..., -1], extra) * beta
    logits = torch.cat([values * beta, log_tail[..., None], dropped[..., None]], -1)
    weights = (values * beta - torch.logsumexp(logits, -1, keepdim=True)).exp().float()
    ids = distinct_ids(x0, n, k, gen)
    ids[..., -1] = torch.where(kept, x0, ids[..., -1])
    xt = torch.where(extra > g[..., 0], x0, ids[..., 0])
    return ids, weights, xt


class Step:
    """One training step of an objective on a fixed batch x0 (draws fresh randomness every call)."""

    def __init__(self, objective, c, k, gen):
        self.objective, self.c, self.k, self.gen = objective, c, k, gen
        self.p = make_weights(c, gen)
        self.params = leaves(self.p)
        for t in self.params:
            t.requires_grad_(True)
        self.opt = torch.optim.AdamW(self.params, lr=3e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
        b, length, v = c["batch"], c["length"], c["vocab"]
        self.x0 = torch.randint(0, v - 1, (b, length), generator=gen)  # never the MDLM mask id K − 1
        self.cos, self.sin = rotary(length, c["hidden"] // c["heads"])
        self.phases = {"draw": [], "forward": [], "backward": [], "optimizer": []}

    def draw(self):
        c, x0, gen = self.c, self.x0, self.gen
        b, v = c["batch"], c["vocab"]
        t = times(b, gen)
        if self.objective in ("mdlm", "udlm"):
            alpha, dalpha = log_linear(t)
            u = torch.rand(x0.shape, generator=gen, dtype=torch.float64)
            noise = torch.full_like(x0, v - 1) if self.objective == "mdlm" else torch.randint(0, v, x0.shape, generator=gen)
            xt = torch.where(u < (1 - alpha)[:, None], noise, x0)
            return {"xt": xt, "alpha": alpha, "dalpha": dalpha}
        gamma, a_t, s_t, alpha, dalpha = curriculum(t)
        if self.objective == "duo":
            eps = torch.randn((*x0.shape, v), generator=gen)
            w = a_t.float()[:, None, None] * F.one_hot(x0, v).float() + s_t.float()[:, None, None] * eps
            return {"xt": w.argmax(-1), "dense": w / TAU, "alpha": alpha, "dalpha": dalpha}
        ids, weights, xt = topk_relaxation(x0, a_t, s_t, v, self.k, gen)
        return {"xt": xt, "ids": ids, "weights": weights, "alpha": alpha, "dalpha": dalpha}

    def loss(self, d):
        p, c, x0 = self.p, self.c, self.x0
        v = c["vocab"]
        if "dense" in d:
            h = d["dense"].softmax(-1) @ p["embed"]
        elif "ids" in d:
            h = (d["weights"][..., None] * p["embed"][d["ids"]]).sum(-2)
        else:
            h = p["embed"][d["xt"]]
        alpha, dalpha = d["alpha"][:, None], d["dalpha"][:, None]
        sigma = torch.zeros(c["batch"]) if self.objective == "mdlm" else -d["alpha"].log().float()
        logits = backbone(p, c, h, sigma, self.cos, self.sin)
        if self.objective == "mdlm":
            subs = logits.masked_fill(F.one_hot(torch.tensor(v - 1), v).bool(), -math.inf)  # SUBS: no mass on mask
            logp = subs.log_softmax(-1).gather(-1, x0[..., None])[..., 0]
            weight = (dalpha / (1 - alpha)).float()
            per = torch.where(d["xt"] == v - 1, weight * logp, torch.zeros_like(logp))
        else:
            per = duo_integrand(logits, d["xt"], x0, alpha, dalpha)
        return per.mean()

    def __call__(self):
        t0 = time.perf_counter()
        self.opt.zero_grad(set_to_none=True)
        d = self.draw()
        t1 = time.perf_counter()
        loss = self.loss(d)
        t2 = time.perf_counter()
        loss.backward()
        t3 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        t4 = time.perf_counter()
        for name, dt in zip(self.phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            self.phases[name].append(dt * 1e3)
        return loss.item()


def main(argv):
    quick = "--quick" in argv
    objective = argv[argv.index("--objective") + 1]
    c = json.loads(argv[argv.index("--config") + 1])
    k = int(argv[argv.index("--k") + 1]) if "--k" in argv else 8
    reps = int(argv[argv.index("--reps") + 1]) if "--reps" in argv else (2 if quick else 5)
    step = Step(objective, c, k, torch.Generator().manual_seed(0))
    step()  # warm-up
    for ph in step.phases.values():
        ph.clear()
    wall, cpu, loss = [], [], 0.0
    for _ in range(reps):
        c0, t0 = time.process_time(), time.perf_counter()
        loss = step()
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    med = statistics.median(wall)
    emit({
        "info": torch_info(torch),
        "objective": objective,
        "config": c,
        "k": k if objective == "duo-efficient" else None,
        "median_ms": med,
        "min_ms": min(wall),
        "cpu_ms": statistics.median(cpu),
        "samples_ms": wall,
        "reps": reps,
        "phases_ms": {name: statistics.median(v) for name, v in step.phases.items()},
        "tokens_per_s": c["batch"] * c["length"] / (med / 1e3),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "loss": loss,
    })


if __name__ == "__main__":
    main(sys.argv[1:])
