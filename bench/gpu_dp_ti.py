"""GPU device check: plain TI, DP-TI and the Opacus route, one step each timed on `sd15-random` at 512 px (64x64 latents) in bf16.

`python bench/gpu_dp_ti.py --device cuda [--batch 4 --repeats 20]`; JSON on the last line. The UNet runs in bf16 weights, the
text encoder keeps fp32 weights (Opacus trains its token-embedding table) and both run under bf16 autocast, as diffusers'
textual_inversion.py does with --mixed_precision bf16. Smoke test on CPU: `--device cpu --model tiny-random --resolution 32 --repeats 2`.
"""
import argparse, copy, json, sys, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parent))
from dp_steps import OpacusSteps, Steps, median_seconds, peak_bytes
from dpti.models import add_placeholder_tokens, load_pipeline
from dpti.ti import TIConfig, tokenize_templates

def main(device: str = 'cuda', model: str = 'sd15-random', resolution: int = 512, batch: int = 4, repeats: int = 20, warmup: int = 3,
         dtype: str = 'bf16') -> dict:
    device = torch.device(device)
    if device.type == 'cuda' and not torch.cuda.is_available(): raise SystemExit('--device cuda: no CUDA device is visible')
    weight_dtype = {'bf16': torch.bfloat16, 'fp16': torch.float16, 'fp32': torch.float32}[dtype]
    t0 = time.perf_counter()
    pipe = load_pipeline(model, device='cpu')
    build_s = time.perf_counter() - t0
    info = add_placeholder_tokens(pipe, '<bench>', 1, 'style')
    unet = pipe.unet.to(device, weight_dtype).requires_grad_(False)
    text_encoder = pipe.text_encoder.to(device).requires_grad_(False)
    scale = 2 ** (len(pipe.vae.config.block_out_channels) - 1)
    del pipe.vae
    input_ids = tokenize_templates(pipe.tokenizer, TIConfig().template_list(), info.tokens)
    latents = torch.randn(batch, 1, unet.config.in_channels, resolution // scale, resolution // scale, generator=torch.Generator().manual_seed(0)).to(device)
    autocast = weight_dtype if weight_dtype != torch.float32 else None
    ours = Steps(text_encoder, unet, pipe.tokenizer, info.token_ids[0], input_ids, latents, autocast_dtype=autocast)
    theirs = OpacusSteps(copy.deepcopy(text_encoder), unet, pipe.tokenizer, info.token_ids[0], input_ids, latents, autocast_dtype=autocast)
    times = median_seconds({'plain': ours.plain, 'ours': ours.dp, 'opacus': theirs.opacus}, repeats, warmup, device)
    memory = {name: peak_bytes(step, device) for name, step in [('plain', ours.plain), ('ours', ours.dp), ('opacus', theirs.opacus)]}
    return dict(dp_time_ratio=times['ours'] / times['plain'], dp_memory_ratio=memory['ours'] / memory['plain'],
                opacus_time_ratio=times['opacus'] / times['ours'], opacus_memory_ratio=memory['opacus'] / memory['ours'],
                plain_step_s=times['plain'], ours_step_s=times['ours'], opacus_step_s=times['opacus'],
                plain_peak_bytes=memory['plain'], ours_peak_bytes=memory['ours'], opacus_peak_bytes=memory['opacus'],
                model=model, resolution=resolution, batch=batch, repeats=repeats, warmup=warmup, dtype=dtype, device=str(device),
                device_name=torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu', build_s=build_s,
                memory_measure='cuda: max_memory_allocated during one step minus memory allocated before it' if device.type == 'cuda' else 'cpu: torch.profiler')

if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cuda'); parser.add_argument('--model', default='sd15-random')
    parser.add_argument('--resolution', type=int, default=512); parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--repeats', '--steps', type=int, default=20); parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--dtype', default='bf16', choices=['bf16', 'fp16', 'fp32'])
    args = parser.parse_args()
    print(json.dumps(main(args.device, args.model, args.resolution, args.batch, args.repeats, args.warmup, args.dtype)))
