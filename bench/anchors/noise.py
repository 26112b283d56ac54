"""PyTorch CPU anchors for the `noise` suite (Debian python3-torch, 2 threads). Written from the maths of the
Duo papers (not the reference's code):

  operator  the reference's two fast operator paths on 1e5 gammas in [-3.5, -1.75]: the cached-table lookup
            (nearest neighbour in a 1e5-point table, as DUO._gamma_to_alphat_integral does) and the Chapter II
            poly9 evaluation (alpha and dalpha/dt of a degree-9 polynomial in t). The tables' values are placeholders
            (timing only); the reference's exact path is scipy.integrate.quad per gamma, and this python3 has no
            scipy, so there is no exact anchor.
  tempered  the original relaxation at K = 50257, L = 1024: z = a*onehot(x0) + s*randn (f32), softmax(z/tau),
            argmax.
  topk      the memory-efficient relaxation at k = 64 in float64: top-k order statistics of K-1 N(0, s^2) by
            cumulative log-uniforms and ndtri, the true token's latent, the truncated-normal tail (log_ndtr), the
            approximate softmax over the kept entries, and k distinct random ids per position.

Usage: python3 noise.py --case operator|tempered|topk [--quick]
Prints one JSON object (timings in ms, the process's peak RSS in MB).
"""
import math
import resource
import sys

import torch

from common import emit, timeit, torch_info

torch.set_num_threads(2)

K = 50257
L = 1024
TOP_K = 64
GAMMA_MIN, GAMMA_MAX = -3.5, -1.75
TAU = 1e-3


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def operator_case(quick):
    n = 100_000
    gen = torch.Generator().manual_seed(0)
    gammas = GAMMA_MIN + torch.rand(n, generator=gen, dtype=torch.float64) * (GAMMA_MAX - GAMMA_MIN)
    points = 100_000
    table_alpha = torch.linspace(0.95, 0.05, points, dtype=torch.float64)

    def table_lookup():
        idx = ((points - 1) * (gammas - GAMMA_MIN) / (GAMMA_MAX - GAMMA_MIN)).round().long()
        alpha = table_alpha[idx]
        # Forward difference in gamma (step 1e-3), as the reference derives dalpha/dt from the table.
        idx2 = ((points - 1) * (gammas + 1e-3 - GAMMA_MIN) / (GAMMA_MAX - GAMMA_MIN)).round().long().clamp(max=points - 1)
        return alpha, (table_alpha[idx2] - alpha) * 1e3 * (GAMMA_MAX - GAMMA_MIN)

    coeffs = [0.93, -0.66, -1.96, -1.68, 9.12, 5.23, -40.2, 52.7, -30.1, 6.63]
    t = (gammas - GAMMA_MIN) / (GAMMA_MAX - GAMMA_MIN)

    def poly9():
        alpha = torch.full_like(t, coeffs[-1])
        for a in reversed(coeffs[:-1]):
            alpha = alpha * t + a
        dalpha = torch.full_like(t, 9 * coeffs[-1])
        for i in range(8, 0, -1):
            dalpha = dalpha * t + i * coeffs[i]
        return alpha, dalpha

    reps = 5 if quick else 15
    out = {}
    for name, fn in (("table", table_lookup), ("poly9", poly9)):
        r = timeit(fn, warmup=2, reps=reps)
        r["ns_per_gamma"] = r["median_ms"] * 1e6 / n
        out[name] = r
    out["exact"] = {"note": "reference uses scipy.integrate.quad per gamma; scipy is not installed for /usr/bin/python3"}
    return out


def tempered_case(quick):
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randint(0, K, (1, L), generator=gen)
    gamma = torch.tensor([-2.6])
    a = torch.sigmoid(-gamma).sqrt()[:, None, None]
    s = torch.sigmoid(gamma).sqrt()[:, None, None]

    def run():
        onehot = torch.nn.functional.one_hot(x0, K).float()
        z = a * onehot + s * torch.randn((1, L, K), generator=gen, dtype=torch.float32)
        weights = torch.softmax(z / TAU, dim=-1)
        xt = z.argmax(-1)
        return weights, xt

    return timeit(run, warmup=1, reps=1 if quick else 3)


def topk_case(quick):
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randint(0, K, (1, L), generator=gen)
    gamma = torch.tensor([-2.6], dtype=torch.float64)
    alpha = torch.sigmoid(-gamma).sqrt()
    sigma = torch.sigmoid(gamma).sqrt()
    beta = 1.0 / TAU
    n_others = K - 1

    def run():
        # Order statistics of n_others uniforms from the top: U_(j) = U_(j-1) * V_j^(1/(N-j+1)).
        log_v = torch.log(torch.rand((1, L, TOP_K), generator=gen, dtype=torch.float64))
        divisors = torch.arange(n_others, n_others - TOP_K, -1, dtype=torch.float64)
        g = torch.special.ndtri(torch.exp(torch.cumsum(log_v / divisors, dim=-1))) * sigma[:, None, None]
        extra = alpha[:, None] + sigma[:, None] * torch.randn((1, L), generator=gen, dtype=torch.float64)
        kept = extra > g[..., -1]
        values = g.clone()
        values[..., -1] = torch.where(kept, extra, g[..., -1])
        threshold = torch.where(kept, g[..., -2], g[..., -1])
        ss = sigma[:, None] * beta
        cc = threshold * beta
        log_tail = math.log(n_others - TOP_K) + ss**2 / 2 + torch.special.log_ndtr((cc - ss**2) / ss) - torch.special.log_ndtr(cc / ss)
        log_extra = torch.where(kept, torch.full_like(extra, -math.inf), extra * beta)
        logits = torch.cat([values * beta, log_tail[..., None], log_extra[..., None]], dim=-1)
        weights = torch.exp(values * beta - torch.logsumexp(logits, dim=-1, keepdim=True))
        # k distinct ids per position among the K-1 ids other than x0 (Floyd's sampling, vectorised over [1, L]).
        ids = torch.empty((1, L, TOP_K), dtype=torch.long)
        for slot, top in enumerate(range(n_others - TOP_K, n_others)):
            j = torch.randint(0, top + 1, (1, L), generator=gen)
            seen = (ids[..., :slot] == j[..., None]).any(-1) if slot else torch.zeros_like(j, dtype=torch.bool)
            ids[..., slot] = torch.where(seen, torch.full_like(j, top), j)
        ids = ids + (ids >= x0[..., None]).long()
        xt = torch.where(extra > g[..., 0], x0, ids[..., 0])
        return weights, ids, xt

    return timeit(run, warmup=1, reps=1 if quick else 3)


def main():
    args = sys.argv[1:]
    case = args[args.index("--case") + 1] if "--case" in args else "operator"
    quick = "--quick" in args
    fn = {"operator": operator_case, "tempered": tempered_case, "topk": topk_case}[case]
    result = fn(quick)
    if isinstance(result, dict) and "median_ms" in result:
        result["peak_rss_mb"] = peak_rss_mb()
    if case == "operator":
        result["peak_rss_mb"] = peak_rss_mb()
    emit({"case": case, **result, "info": torch_info(torch)})


if __name__ == "__main__":
    main()
