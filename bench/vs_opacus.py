"Our per-example gradients vs the Opacus route (GradSampleModule + DPOptimizer over the token-embedding table) on the SD-1.5-sized text encoder with a tiny UNet (CPU): `python bench/vs_opacus.py [--batch 4 --repeats 20]`; JSON on the last line."
import argparse, copy, json, sys
from pathlib import Path
import torch
from transformers import CLIPTextModel
sys.path.insert(0, str(Path(__file__).parent))
from dp_steps import OpacusSteps, Steps, median_seconds, peak_bytes, tiny_unet
from dpti.data import STYLE_TEMPLATES
from dpti.models import clip_text_config, add_placeholder_tokens, make_clip_tokenizer
from dpti.ti import tokenize_templates

def sd15_text_encoder(seed: int = 0):
    "The SD-1.5-shaped tokenizer (49408 tokens) and CLIP text encoder (12 layers, 768 wide), as in `dpti.models.sd15_random_pipeline`, without the UNet and VAE."
    tokenizer = make_clip_tokenizer(vocab_size=49408)
    torch.manual_seed(seed)
    return tokenizer, CLIPTextModel(clip_text_config(tokenizer, 768, 12, 12, 3072, 768)).eval()

def main(batch: int = 4, repeats: int = 20, warmup: int = 1) -> dict:
    device = torch.device('cpu')
    tokenizer, text_encoder = sd15_text_encoder()
    info = add_placeholder_tokens((tokenizer, text_encoder), '<bench>', 1, 'style')
    text_encoder.requires_grad_(False)
    unet = tiny_unet(768).requires_grad_(False)
    input_ids = tokenize_templates(tokenizer, STYLE_TEMPLATES, info.tokens)
    latents = torch.randn(batch, 1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    ours = Steps(text_encoder, unet, tokenizer, info.token_ids[0], input_ids, latents)
    theirs = OpacusSteps(copy.deepcopy(text_encoder), unet, tokenizer, info.token_ids[0], input_ids, latents)
    times = median_seconds({'ours': ours.dp, 'opacus': theirs.opacus}, repeats, warmup, device)
    memory = {name: peak_bytes(step, device) for name, step in [('plain', ours.plain), ('ours', ours.dp), ('opacus', theirs.opacus)]}
    vocab, width = theirs.table.shape
    return dict(opacus_time_ratio=times['opacus'] / times['ours'], opacus_memory_ratio=memory['opacus'] / memory['ours'],
                ours_over_plain_memory=memory['ours'] / memory['plain'], ours_step_s=times['ours'], opacus_step_s=times['opacus'],
                plain_peak_bytes=memory['plain'], ours_peak_bytes=memory['ours'], opacus_peak_bytes=memory['opacus'],
                opacus_optimizer_state_bytes=2 * vocab * width * 4, ours_optimizer_state_bytes=2 * width * 4,
                batch=batch, repeats=repeats, warmup=warmup, text_encoder='sd15-random (123M, vocab 49409 x 768)', unet='tiny (32/64 channels, 16x16 latents)',
                threads=torch.get_num_threads(), device='cpu',
                memory_measure='torch.profiler profile_memory: peak of the running sum of CPU allocations/frees within one step, after warm-up (persistent optimizer state excluded; listed separately)')

if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--batch', type=int, default=4); parser.add_argument('--repeats', type=int, default=20); parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--threads', type=int, default=1, help='torch CPU threads (1: steadier timings on a shared machine)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(json.dumps(main(args.batch, args.repeats, args.warmup)))
