"""Batched per-image Textual Inversion vs sequential single-image runs (issue 6).

m=16 per-image TIs on `tiny-random`: one batched run (all 16 rows in one step) against 16 separate
single-image runs with the same seeds and steps; `speedup` = sequential time / batched time (goal ≥ 4).
Then the batched run's time for m = 8, 16, 32, 64 (batch = m), to show it grows linearly in m
(`linear_fit_r2`, and seconds per image-step). The last line printed is one JSON object.
Per-image embeddings stay in memory; nothing is written. Runs in about 1.5 minutes on 2 shared CPU cores (1 thread).
"""
from __future__ import annotations
import argparse, json, time, warnings
import torch
from dpti.models import load_pipeline
from dpti.ti import TIConfig, train_per_image_ti

def toy_images(n: int, size: int = 32, seed: int = 0) -> list[torch.Tensor]:
    "n images [3, size, size]: a solid colour with a stripe pattern each."
    g = torch.Generator().manual_seed(seed)
    colours = torch.rand(n, 3, 1, 1, generator=g) * 2 - 1
    stripes = (torch.arange(size) // (2 + torch.arange(n)[:, None] % 7) % 2).float()[:, None, None, :]
    return list((colours * (0.5 + 0.5 * stripes)).expand(n, 3, size, size).clone())

def timed(fn) -> tuple[float, torch.Tensor]:
    "Wall time of `fn()` and its result."
    start = time.perf_counter(); out = fn(); return time.perf_counter() - start, out

def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--m', type=int, default=16)
    parser.add_argument('--steps', type=int, default=10)
    parser.add_argument('--multiplicity', type=int, default=1)
    parser.add_argument('--sizes', type=int, nargs='*', default=[8, 16, 32, 64])
    parser.add_argument('--threads', type=int, default=1, help='torch threads; 0: torch\'s choice (on a 2-core machine shared with other jobs, '
                        'two threads make timings erratic, so the default is 1)')
    args = parser.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    warnings.filterwarnings('ignore')
    pipe = load_pipeline('tiny-random', device='cpu')
    images = toy_images(max([args.m, *args.sizes]))
    config = TIConfig(placeholder_token='<bench>', resolution=32, max_train_steps=args.steps, learning_rate=5e-3,
                      augmentation_multiplicity=args.multiplicity, num_views=4, seed=0)
    train_per_image_ti(pipe, images, config, indices=range(2), batch_size=2, progress=False)          # warm-up
    t_batched, batched = timed(lambda: train_per_image_ti(pipe, images, config, indices=range(args.m), batch_size=args.m, progress=False))
    t_sequential, sequential = timed(lambda: torch.cat([train_per_image_ti(pipe, images, config, indices=[i], batch_size=1, progress=False)
                                                         for i in range(args.m)]))
    max_diff = (batched - sequential).abs().max().item()
    times = {m: timed(lambda: train_per_image_ti(pipe, images, config, indices=range(m), batch_size=m, progress=False))[0] for m in args.sizes}
    xs, ys = torch.tensor(list(times), dtype=torch.float64), torch.tensor(list(times.values()), dtype=torch.float64)
    slope, intercept = torch.linalg.lstsq(torch.stack([xs, torch.ones_like(xs)], 1), ys[:, None]).solution.flatten().tolist()
    r2 = 1 - ((ys - (slope * xs + intercept)) ** 2).sum().item() / ((ys - ys.mean()) ** 2).sum().item()
    result = dict(model='tiny-random', m=args.m, steps=args.steps, multiplicity=args.multiplicity, threads=torch.get_num_threads(),
                  batched_s=round(t_batched, 3), sequential_s=round(t_sequential, 3), speedup=round(t_sequential / t_batched, 2),
                  max_abs_diff_batched_vs_sequential=max_diff, time_vs_m={str(m): round(t, 3) for m, t in times.items()},
                  seconds_per_image_step={str(m): round(t / (m * args.steps), 5) for m, t in times.items()},
                  linear_fit_slope_s_per_image=round(slope, 4), linear_fit_intercept_s=round(intercept, 4), linear_fit_r2=round(r2, 4))
    for k, v in result.items(): print(f'{k}: {v}')
    print(json.dumps(result))
    return result

if __name__ == '__main__':
    main()
