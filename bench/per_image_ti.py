"""Batched per-image Textual Inversion vs sequential single-image runs (issue 6).

m=16 per-image TIs on `tiny-random`: one batched run (all 16 rows in one step) against 16 separate single-image
runs with the same seeds, steps and work; `speedup` = sequential time / batched time (goal >= 4 on 2 CPU cores).
Each side is timed at every thread count of `--threads` (default 1 and 2, the machine's two cores), best of
`--repeats`, and `speedup` compares each side at its *own* fastest setting: one image's tiny operations run
fastest on one thread (a second thread only adds hand-off cost), a batch of 16 spreads over two. The ratios at
equal thread counts are reported too (`speedup_same_threads`). Then the batched run's time for m = 8, 16, 32, 64
(batch = m, at the batched side's best thread count), to show it grows linearly in m (`linear_fit_r2`, seconds
per image-step). The last line printed is one JSON object. Per-image embeddings stay in memory; nothing is
written. About 2 minutes on 2 shared CPU cores.

`--gpu`: the same on `sd15-random` (SD-1.5 shaped, random weights) on CUDA at 512 px under bf16 autocast,
m = 16, sizes 8, 16, 32; it exits with a clear message when no CUDA device is visible. `--batch-size` caps the
rows trained together (default m) for smaller GPUs.
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
    "Wall time of `fn()` (CUDA work finished) and its result."
    start = time.perf_counter(); out = fn()
    if torch.cuda.is_available(): torch.cuda.synchronize()
    return time.perf_counter() - start, out

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--gpu', action='store_true', help='sd15-random on CUDA at 512 px, bf16 autocast')
    parser.add_argument('--m', type=int, default=16)
    parser.add_argument('--steps', type=int, default=None, help='TI steps per image (default 10 on CPU, 5 with --gpu)')
    parser.add_argument('--multiplicity', type=int, default=1)
    parser.add_argument('--sizes', type=int, nargs='*', default=None, help='m values of the time-vs-m run (default 8 16 32 64; 8 16 32 with --gpu)')
    parser.add_argument('--batch-size', type=int, default=None, help='rows trained together (default: m)')
    parser.add_argument('--threads', type=int, nargs='*', default=[1, 2], help='torch thread counts to time each side at (CPU)')
    parser.add_argument('--repeats', type=int, default=2, help='timings per side and thread count; the best is kept')
    return parser.parse_args()

def setup(args: argparse.Namespace) -> tuple:
    "The pipeline, images and TI config of the CPU or GPU variant."
    if args.gpu and not torch.cuda.is_available():
        raise SystemExit('--gpu needs a CUDA device, and none is visible (torch.cuda.is_available() is False); run without --gpu for the CPU benchmark')
    model, device, resolution = ('sd15-random', 'cuda', 512) if args.gpu else ('tiny-random', 'cpu', 32)
    args.steps = args.steps or (5 if args.gpu else 10)
    args.sizes = args.sizes or ([8, 16, 32] if args.gpu else [8, 16, 32, 64])
    args.threads = [torch.get_num_threads()] if args.gpu else args.threads
    pipe = load_pipeline(model, device=device)
    config = TIConfig(placeholder_token='<bench>', resolution=resolution, max_train_steps=args.steps, learning_rate=5e-3,
                      augmentation_multiplicity=args.multiplicity, num_views=4, seed=0, mixed_precision='bf16' if args.gpu else 'no')
    return model, pipe, toy_images(max([args.m, *args.sizes]), size=resolution), config

def best_times(runs: dict, threads: list[int], repeats: int) -> tuple[dict, dict]:
    "Best wall time of each run at each thread count (runs interleaved, so load from other jobs hits both alike), and each run's output."
    times, outputs = {(name, t): float('inf') for name in runs for t in threads}, {}
    for _ in range(repeats):
        for t in threads:
            torch.set_num_threads(t)
            for name, fn in runs.items():
                seconds, outputs[name] = timed(fn)
                times[name, t] = min(times[name, t], seconds)
    return times, outputs

def main() -> dict:
    args = parse_args()
    warnings.filterwarnings('ignore')
    model, pipe, images, config = setup(args)
    per_image = lambda indices, batch: train_per_image_ti(pipe, images, config, indices=indices, batch_size=batch, progress=False)
    batch = lambda m: min(m, args.batch_size or m)
    for t in args.threads: torch.set_num_threads(t); per_image(range(2), 2)                          # warm-up
    runs = {'batched': lambda: per_image(range(args.m), batch(args.m)),
            'sequential': lambda: torch.cat([per_image([i], 1) for i in range(args.m)])}
    times, outputs = best_times(runs, args.threads, args.repeats)
    best = {name: min(args.threads, key=lambda t: times[name, t]) for name in runs}
    t_batched, t_sequential = times['batched', best['batched']], times['sequential', best['sequential']]
    torch.set_num_threads(best['batched'])
    sizes = {m: min(timed(lambda: per_image(range(m), batch(m)))[0] for _ in range(args.repeats)) for m in args.sizes}
    xs, ys = torch.tensor(list(sizes), dtype=torch.float64), torch.tensor(list(sizes.values()), dtype=torch.float64)
    slope, intercept = torch.linalg.lstsq(torch.stack([xs, torch.ones_like(xs)], 1), ys[:, None]).solution.flatten().tolist()
    r2 = 1 - ((ys - (slope * xs + intercept)) ** 2).sum().item() / ((ys - ys.mean()) ** 2).sum().item()
    result = dict(model=model, device=str(pipe.unet.device), m=args.m, steps=args.steps, multiplicity=args.multiplicity, batch_size=batch(args.m),
                  batched_s=round(t_batched, 3), sequential_s=round(t_sequential, 3), speedup=round(t_sequential / t_batched, 2),
                  batched_threads=best['batched'], sequential_threads=best['sequential'],
                  speedup_same_threads={str(t): round(times['sequential', t] / times['batched', t], 2) for t in args.threads},
                  seconds={f'{name}@{t}': round(s, 3) for (name, t), s in times.items()},
                  max_abs_diff_batched_vs_sequential=(outputs['batched'] - outputs['sequential']).abs().max().item(),
                  time_vs_m={str(m): round(t, 3) for m, t in sizes.items()},
                  seconds_per_image_step={str(m): round(t / (m * args.steps), 5) for m, t in sizes.items()},
                  linear_fit_slope_s_per_image=round(slope, 4), linear_fit_intercept_s=round(intercept, 4), linear_fit_r2=round(r2, 4))
    for k, v in result.items(): print(f'{k}: {v}')
    print(json.dumps(result))
    return result

if __name__ == '__main__':
    main()
