"""Noise saved by the tight DPAgg-TI accountant (`dpti.amplification`) over RDP without replacement.

`python bench/dpagg_sigma.py`; JSON on the last line."""
import json, math, time
import dp_accounting
from scipy import optimize
from dpti.amplification import wor_gaussian_epsilon, wor_gaussian_noise_multiplier

DEMO = dict(n=64, m=64, delta=1e-5)
POINTS = [(20, 10, 1e-3), (100, 20, 1e-4), (50, 50, 1e-5), (1000, 100, 1e-5)]
ORDERS = dp_accounting.rdp.rdp_privacy_accountant.DEFAULT_RDP_ORDERS

def rdp_wor_epsilon(noise_multiplier: float, n: int, m: int, delta: float) -> float:
    "dp-accounting's RDP ε of one Gaussian release on m of n without replacement, replace-one (dpti's old default)."
    acc = dp_accounting.rdp.RdpAccountant(ORDERS, dp_accounting.NeighboringRelation.REPLACE_ONE)
    acc.compose(dp_accounting.SampledWithoutReplacementDpEvent(n, m, dp_accounting.GaussianDpEvent(noise_multiplier)))
    return acc.get_epsilon(delta)

def rdp_wor_noise_multiplier(target: float, n: int, m: int, delta: float, lo: float) -> float:
    "σ where RDP-WOR's ε equals `target`: Brent's method on log σ over [lo, 2 lo], lo = the (smaller) tight σ."
    f = lambda log_s: rdp_wor_epsilon(math.exp(log_s), n, m, delta) - target
    return math.exp(optimize.brentq(f, math.log(lo), math.log(2 * lo), xtol=1e-8))

def seconds(fn, repeats: int) -> float:
    "Median wall time of `fn()` over `repeats` calls."
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]

def saving(target: float, n: int, m: int, delta: float) -> dict:
    tight = wor_gaussian_noise_multiplier(target, delta, n, m)
    rdp = rdp_wor_noise_multiplier(target, n, m, delta, tight)
    return dict(n=n, m=m, delta=delta, target_epsilon=target, sigma_rdp=rdp, sigma_tight=tight, ratio=tight / rdp)

def main() -> dict:
    t0 = time.perf_counter()
    print('| n | m | δ | target ε | σ RDP-WOR | σ tight | ratio | noise saved |\n|--:|--:|--:|--:|--:|--:|--:|--:|')
    rows = [saving(e, **DEMO) for e in (0.5, 1.0, 2.0, 4.0, 8.0)] + [saving(1.0, n, m, d) for n, m, d in POINTS]
    for r in rows:
        print(f"| {r['n']} | {r['m']} | {r['delta']:.0e} | {r['target_epsilon']} | {r['sigma_rdp']:.4f} "
              f"| {r['sigma_tight']:.4f} | {r['ratio']:.3f} | {1 - r['ratio']:.1%} |")
    demo = next(r for r in rows if r['n'] == 64 and r['target_epsilon'] == 1.0)
    timing = dict(epsilon_s=seconds(lambda: wor_gaussian_epsilon(1.3859, 100, 20, 1e-4), 50),
                  calibration_s=seconds(lambda: wor_gaussian_noise_multiplier(1.0, 1e-4, 100, 20), 20),
                  rdp_epsilon_s=seconds(lambda: rdp_wor_epsilon(1.3859, 100, 20, 1e-4), 3))
    print(f"one ε evaluation {timing['epsilon_s'] * 1e3:.2f} ms, one calibration {timing['calibration_s'] * 1e3:.2f} ms"
          f" (RDP without replacement: {timing['rdp_epsilon_s'] * 1e3:.0f} ms per ε), at n=100, m=20, δ=1e-4")
    return dict(sigma_rdp=demo['sigma_rdp'], sigma_tight=demo['sigma_tight'], ratio=demo['ratio'], n=64, m=64,
                delta=1e-5, target_epsilon=1.0, **timing, total_s=time.perf_counter() - t0)

if __name__ == '__main__':
    print(json.dumps(main()))
