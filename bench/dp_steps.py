"Shared pieces of the DP-TI benchmarks: one plain TI step, one DP-TI step, one Opacus DP-SGD step on the same batch, and how they are timed and their peak memory measured."
from __future__ import annotations
import statistics, time
from types import SimpleNamespace
from typing import Callable
import torch
from diffusers import DDPMScheduler, UNet2DConditionModel
from dpti.dp_ti import dp_noisy_gradient
from dpti.models import SD_SCHEDULE
from dpti.ti import diffusion_loss_per_example, draw_examples, per_example_grads, per_example_loss

def peak_bytes(step: Callable[[], None], device: torch.device) -> int:
    "Peak memory allocated during one `step` above what was allocated before it (CUDA: the allocator's peak; CPU: torch.profiler's allocation events)."
    if device.type == 'cuda':
        torch.cuda.synchronize(device); base = torch.cuda.memory_allocated(device); torch.cuda.reset_peak_memory_stats(device)
        step(); torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof: step()
    current = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        current += event.self_cpu_memory_usage; peak = max(peak, current)
    return peak

def median_seconds(steps: dict[str, Callable[[], None]], repeats: int, warmup: int, device: torch.device) -> dict[str, float]:
    "Median wall time of each step over `repeats` calls after `warmup`, the steps interleaved so that machine load hits all alike."
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == 'cuda' else (lambda: None)
    times = {name: [] for name in steps}
    for i in range(warmup + repeats):
        for name, step in steps.items():
            sync(); t = time.perf_counter(); step(); sync()
            if i >= warmup: times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}

def sd_noise_scheduler() -> DDPMScheduler:
    return DDPMScheduler(**SD_SCHEDULE)

def tiny_unet(cross_attention_dim: int, sample_size: int = 16, seed: int = 0) -> UNet2DConditionModel:
    "dpti's tiny UNet (32/64 channels) with a given cross-attention width."
    torch.manual_seed(seed)
    return UNet2DConditionModel(sample_size=sample_size, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
                                down_block_types=('DownBlock2D', 'CrossAttnDownBlock2D'), up_block_types=('CrossAttnUpBlock2D', 'UpBlock2D'),
                                cross_attention_dim=cross_attention_dim, attention_head_dim=(2, 4), norm_num_groups=32)

class Steps:
    "The same batch (latents [B, views, c, h, w], prompts, per-example draw seeds) through plain TI, DP-TI and Opacus."
    def __init__(self, text_encoder, unet, tokenizer, placeholder_ids, input_ids, latents, noise_multiplier=1.0, max_grad_norm=1.0,
                 lr=5e-3, autocast_dtype: torch.dtype | None = None):
        self.pipe = SimpleNamespace(text_encoder=text_encoder, unet=unet, tokenizer=tokenizer)
        self.ids, self.input_ids, self.latents, self.sched = placeholder_ids, input_ids, latents, sd_noise_scheduler()
        self.sigma, self.C, self.lr, self.B = noise_multiplier, max_grad_norm, lr, len(latents)
        self.device = unet.device
        table = text_encoder.get_input_embeddings().weight
        self.embedding = table[placeholder_ids].detach().float().clone().requires_grad_(True)
        self.optimizer = torch.optim.AdamW([self.embedding], lr=lr)
        self.noise_gen, self.t = torch.Generator().manual_seed(0), 0
        self.autocast = (lambda: torch.autocast(self.device.type, dtype=autocast_dtype)) if autocast_dtype else (lambda: torch.autocast(self.device.type, enabled=False))

    def generators(self) -> list[torch.Generator]:
        "Per-example draw generators of the current step (the same for every route)."
        return [torch.Generator().manual_seed(1000 * self.t + j) for j in range(self.B)]

    def draws(self):
        return draw_examples(self.generators(), 1, self.latents.shape[1], len(self.input_ids), self.latents.shape[2:], self.sched.config.num_train_timesteps)

    def plain(self) -> None:
        "Conventional TI step: batch-mean loss, one backward into the shared embedding, AdamW."
        self.t += 1
        with self.autocast():
            loss = per_example_loss(self.pipe, self.embedding[None], torch.zeros(self.B, dtype=torch.long), self.latents, self.input_ids, self.draws(),
                                    self.ids, self.sched).mean()
        (self.embedding.grad,) = torch.autograd.grad(loss, self.embedding)
        self.optimizer.step(); self.optimizer.zero_grad(set_to_none=True)

    def dp(self) -> None:
        "DP-TI step: per-example gradients from the leaves, clip, sum, noise, divide by the expected batch, AdamW."
        self.t += 1
        with self.autocast():
            grads, _ = per_example_grads(self.pipe, self.embedding[None], torch.zeros(self.B, dtype=torch.long), self.latents, self.input_ids,
                                         self.generators(), 1, placeholder_ids=self.ids, noise_scheduler=self.sched)
        self.embedding.grad = dp_noisy_gradient(grads, self.C, self.sigma, self.B, self.noise_gen).to(self.embedding.device)
        self.optimizer.step(); self.optimizer.zero_grad(set_to_none=True)

class OpacusSteps(Steps):
    "The Opacus route of the paper's baseline: the whole token-embedding table trainable under `GradSampleModule` + `DPOptimizer`, other rows restored after each step (diffusers' TI)."
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from opacus import GradSampleModule
        from opacus.optimizers import DPOptimizer
        te = self.pipe.text_encoder
        te.requires_grad_(False).train()   # Opacus records activations in training mode only (CLIP has no dropout at p=0)
        self.table = te.get_input_embeddings().weight
        self.table.requires_grad_(True)
        self.original = self.table.detach().clone()
        self.frozen = torch.ones(len(self.table), dtype=torch.bool, device=self.table.device); self.frozen[self.ids] = False
        self.gsm = GradSampleModule(te, loss_reduction='sum')
        self.dp_optimizer = DPOptimizer(torch.optim.AdamW([self.table], lr=self.lr), noise_multiplier=self.sigma, max_grad_norm=self.C,
                                        expected_batch_size=self.B, loss_reduction='sum', generator=torch.Generator(self.table.device).manual_seed(0))

    def opacus(self) -> None:
        self.t += 1
        draws = self.draws()
        z0 = self.latents[torch.arange(self.B)[:, None], draws.views].flatten(0, 1).to(self.device, self.pipe.unet.dtype)
        with self.autocast():
            hidden = self.gsm(self.input_ids[draws.templates.flatten()].to(self.device))[0]
            losses = diffusion_loss_per_example(self.pipe.unet, self.sched, z0, hidden.to(self.pipe.unet.dtype), draws.noise.flatten(0, 1).to(z0),
                                                draws.timesteps.flatten().to(self.device))
        losses.sum().backward()
        self.dp_optimizer.step(); self.dp_optimizer.zero_grad(set_to_none=True)
        with torch.no_grad(): self.table[self.frozen] = self.original[self.frozen]

    def restore(self) -> None:
        "Put the table back (so that our route sees the same starting rows) and detach Opacus' hooks' grad samples."
        with torch.no_grad(): self.table.copy_(self.original)
