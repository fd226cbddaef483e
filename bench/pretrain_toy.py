"Reproduce the packaged toy model: `python bench/pretrain_toy.py [OUT_DIR]` (single thread; ~30 min on a shared 2-core CPU)."
import sys, time, torch
torch.set_num_threads(1)
from dpti.models import toy_model_dir
from dpti.toy.model import pretrain_toy

if __name__ == '__main__':
    out = sys.argv[1] if len(sys.argv) > 1 else str(toy_model_dir())
    report = pretrain_toy(out, steps=3500, vae_steps=1500, batch_size=32, seed=0, log_every=50, progress=False, verbose=True)
    print(report, flush=True)
