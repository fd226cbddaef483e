"DP-TI step / plain TI step on an SDXL pipeline (tiny-random-xl; on a GPU: --model sdxl-random --device cuda)."
import argparse, json, sys
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parent))
from dp_steps import median_seconds
from dpti.dp_ti import dp_noisy_gradient
from dpti.models import encoder_dims, load_pipeline, pipeline_info
from dpti.ti import TIConfig, cache_latents, draw_examples, per_example_grads, per_example_loss, prepare_ti

class SDXLSteps:
    "A conventional TI step (batch-mean loss, one backward into the shared embedding) and a DP-TI step on one batch."
    def __init__(self, pipe, inputs, latents, noise_multiplier: float = 1.0, max_grad_norm: float = 1.0,
                 lr: float = 5e-3):
        self.pipe, self.inputs, self.latents, self.B, self.t = pipe, inputs, latents, len(latents), 0
        self.sigma, self.C = noise_multiplier, max_grad_norm
        self.embedding = inputs.init_embedding.to(pipe.unet.device).clone().requires_grad_(True)   # joint, float32
        self.optimizer = torch.optim.AdamW([self.embedding], lr=lr)
        self.rows = torch.zeros(self.B, dtype=torch.long)

    def generators(self) -> list[torch.Generator]:
        "Per-example draw generators of the current step (the same for both routes)."
        return [torch.Generator().manual_seed(1000 * self.t + j) for j in range(self.B)]

    def plain(self) -> None:
        self.t += 1
        ids, sched = self.inputs.input_ids, self.inputs.noise_scheduler
        draws = draw_examples(self.generators(), 1, self.latents.shape[1], ids.shape[-2], self.latents.shape[2:],
                              sched.config.num_train_timesteps)
        loss = per_example_loss(self.pipe, self.embedding[None], self.rows, self.latents, ids, draws,
                                self.inputs.placeholder_ids, sched).mean()
        (self.embedding.grad,) = torch.autograd.grad(loss, self.embedding)
        self.optimizer.step(); self.optimizer.zero_grad(set_to_none=True)

    def dp(self) -> None:
        self.t += 1
        grads, _ = per_example_grads(self.pipe, self.embedding[None], self.rows, self.latents, self.inputs.input_ids,
                                     self.generators(), 1, placeholder_ids=self.inputs.placeholder_ids,
                                     noise_scheduler=self.inputs.noise_scheduler)
        self.embedding.grad = dp_noisy_gradient(grads, self.C, self.sigma, self.B)   # OS-CSPRNG noise, as in training
        self.optimizer.step(); self.optimizer.zero_grad(set_to_none=True)

def main(repeats: int = 30, warmup: int = 5, batch: int = 8, num_vectors: int = 1, model: str = 'tiny-random-xl',
         device: str = 'cpu', dtype: str | None = None) -> dict:
    pipe = load_pipeline(model, device=device, dtype=dtype)
    R = pipeline_info(pipe).resolution
    inputs = prepare_ti(pipe, TIConfig(placeholder_token='<bench>', num_vectors=num_vectors, resolution=R))
    images = torch.rand(batch, 3, R, R, generator=torch.Generator().manual_seed(0)) * 2 - 1
    steps = SDXLSteps(pipe, inputs, cache_latents(pipe.vae, images, 2, torch.Generator().manual_seed(0)))
    times = median_seconds({'plain': steps.plain, 'dp': steps.dp}, repeats, warmup, torch.device(device))
    return dict(time_ratio=times['dp'] / times['plain'], plain_step_s=times['plain'], dp_step_s=times['dp'],
                batch=batch,
                repeats=repeats, warmup=warmup, model=model, device=device, dtype=dtype,
                encoder_dims=list(encoder_dims(pipe)),
                dimension=int(inputs.init_embedding.numel()), resolution=R, threads=torch.get_num_threads(),
                goal='time_ratio <= 1.10')

if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--repeats', type=int, default=30); parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--batch', type=int, default=8); parser.add_argument('--num-vectors', type=int, default=1)
    parser.add_argument('--model', default='tiny-random-xl'); parser.add_argument('--device', default='cpu')
    parser.add_argument('--dtype', help='weights dtype, e.g. bf16 (the embedding stays float32)')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch CPU threads (1: steadier timings on a shared machine)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(json.dumps(main(args.repeats, args.warmup, args.batch, args.num_vectors, args.model, args.device,
                          args.dtype)))
