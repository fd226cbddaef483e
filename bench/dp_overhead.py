"DP-TI step / plain TI step on the tiny pipeline, batch 8, same batch and model: `python bench/dp_overhead.py [--repeats 30]`; JSON on the last line."
import argparse, json, sys
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parent))
from dp_steps import Steps, median_seconds, peak_bytes
from dpti.models import load_pipeline
from dpti.ti import TIConfig, cache_latents, prepare_ti

def main(repeats: int = 30, warmup: int = 5, batch: int = 8) -> dict:
    pipe = load_pipeline('tiny-random', device='cpu')
    inputs = prepare_ti(pipe, TIConfig(placeholder_token='<bench>', resolution=32))
    images = torch.rand(batch, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    latents = cache_latents(pipe.vae, images, 2, torch.Generator().manual_seed(0))
    steps = Steps(pipe.text_encoder, pipe.unet, pipe.tokenizer, inputs.placeholder_ids[0], inputs.input_ids, latents)
    times = median_seconds({'plain': steps.plain, 'dp': steps.dp}, repeats, warmup, torch.device('cpu'))
    memory = {name: sorted(peak_bytes(step, torch.device('cpu')) for _ in range(3))[1] for name, step in [('plain', steps.plain), ('dp', steps.dp)]}
    return dict(time_ratio=times['dp'] / times['plain'], memory_ratio=memory['dp'] / memory['plain'], plain_step_s=times['plain'], dp_step_s=times['dp'],
                plain_peak_bytes=memory['plain'], dp_peak_bytes=memory['dp'], batch=batch, repeats=repeats, warmup=warmup, model='tiny-random',
                resolution=32, threads=torch.get_num_threads(),
                memory_measure='torch.profiler profile_memory: peak of the running sum of CPU allocations/frees within one step (median of 3)')

if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--repeats', type=int, default=30); parser.add_argument('--warmup', type=int, default=5); parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--threads', type=int, default=1, help='torch CPU threads (1: steadier timings on a shared machine)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(json.dumps(main(args.repeats, args.warmup, args.batch)))
