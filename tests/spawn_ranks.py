"Run a test's worker on several CPU processes (torch.distributed over gloo) and collect the tensors each rank returns."
from pathlib import Path
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

def _entry(rank: int, worker, tmp: str, world: int) -> None:
    "One process: join the group, run `worker(rank)`, save its dict of tensors as rank{rank}.safetensors."
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{tmp}/rendezvous', rank=rank, world_size=world)
    try: save_file(worker(rank), f'{tmp}/rank{rank}.safetensors')
    finally: dist.destroy_process_group()

def run_ranks(worker, tmp: str | Path, world: int = 2) -> list[dict[str, torch.Tensor]]:
    "Spawn `world` processes running `worker(rank) -> dict of tensors` (a module-level function); returns each rank's dict."
    mp.spawn(_entry, args=(worker, str(tmp), world), nprocs=world, join=True)
    return [load_file(Path(tmp) / f'rank{r}.safetensors') for r in range(world)]
