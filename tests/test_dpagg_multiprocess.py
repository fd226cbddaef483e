"DPAgg-TI across two CPU processes (torch.distributed, gloo): the images are sharded, the gathered per-image embeddings and the release equal one process's, and the noise is drawn once, on rank 0."
import warnings
import pytest, torch
from spawn_ranks import run_ranks
import dpti.dpagg, dpti.ti
from dpti.core import PrivacyRNG
from dpti.dpagg import make_dpagg_plan, train_dpagg_ti
from dpti.models import load_pipeline
from dpti.ti import TIConfig, TrainingOptions, train_per_image_ti

WORLD = 2
CONFIG = dict(placeholder_token='<mp>', resolution=32, max_train_steps=2, learning_rate=0.05, num_views=2, seed=5)
PLAN = dict(m=5, noise_multiplier=2.0, delta=1e-3)

def dpagg(pipe, rng=None, **plan) -> torch.Tensor:
    "The DPAgg-TI release of the 7 images (per-image groups of 2)."
    config = TIConfig(**CONFIG)
    return train_dpagg_ti(pipe, images(), config, make_dpagg_plan(pipe, config, 7, **PLAN | plan),
                          TrainingOptions(progress=False, privacy_rng=rng, per_image_batch_size=2)).embedding

def insecure(seed: int) -> PrivacyRNG:
    "Reproducible privacy randomness, so that two processes can be compared with one (tests only)."
    with warnings.catch_warnings():
        warnings.simplefilter('ignore'); return PrivacyRNG(insecure_seed=seed)

def images() -> list[torch.Tensor]:
    return list(torch.rand(7, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1)

def counting(fn, calls: list):
    "`fn`, recording each call's first argument in `calls`."
    def wrapper(*args, **kwargs):
        calls.append(args[0] if args else None); return fn(*args, **kwargs)
    return wrapper

def worker(rank: int) -> dict[str, torch.Tensor]:
    "One process: per-image TI of all 7 images, a seeded and a secure DPAgg-TI run; what it trained, its noise draws and its results."
    trained, noise_draws = [], []
    dpti.ti.train_record_group = counting(dpti.ti.train_record_group, trained)
    dpti.dpagg.gaussian_noise = counting(dpti.dpagg.gaussian_noise, noise_draws)
    pipe = load_pipeline('tiny-random', device='cpu')
    per_image = train_per_image_ti(pipe, images(), TIConfig(**CONFIG), batch_size=2, progress=False)
    seeded = dpagg(pipe, insecure(11))
    secure = dpagg(pipe)
    return {'per_image': per_image, 'seeded': seeded, 'secure': secure, 'groups': torch.tensor([len(trained)]),
            'noise_draws': torch.tensor([len(noise_draws)])}

@pytest.fixture(scope='module')
def ranks(tmp_path_factory):
    return run_ranks(worker, tmp_path_factory.mktemp('mp'), WORLD)

@pytest.fixture(scope='module')
def single():
    pipe = load_pipeline('tiny-random', device='cpu')
    return dict(per_image=train_per_image_ti(pipe, images(), TIConfig(**CONFIG), batch_size=2, progress=False),
                seeded=dpagg(pipe, insecure(11)),
                noiseless=dpagg(pipe, insecure(11), noise_multiplier=1e-9))

def test_images_are_sharded(ranks):
    # groups of 2 of each rank's share: per-image TI of 7 images (rank 0: positions 0 2 4 6 → 2 groups; rank 1: 1 3 5 → 2),
    # then two DPAgg runs of m=5 (rank 0: 0 2 4 → 2 groups each; rank 1: 1 3 → 1 each)
    assert [int(r['groups']) for r in ranks] == [2 + 2 + 2, 2 + 1 + 1]

def test_per_image_embeddings_equal_single_process(ranks, single):
    for r in ranks: torch.testing.assert_close(r['per_image'], single['per_image'], atol=1e-5, rtol=0)
    assert (single['per_image'][0] - single['per_image'][1]).abs().max() > 1e-4     # the rows differ, so the equality says something

def test_release_equals_single_process_and_noise_is_drawn_once(ranks, single):
    for r in ranks: torch.testing.assert_close(r['seeded'], single['seeded'], atol=1e-5, rtol=0)
    assert (single['seeded'] - single['noiseless']).abs().max() > 1e-2              # the noise is there (twice, the equality above would fail)
    assert [int(r['noise_draws']) for r in ranks] == [2, 0]                          # one draw per release, on rank 0 only

def test_secure_release_is_shared(ranks):
    torch.testing.assert_close(ranks[0]['secure'], ranks[1]['secure'], atol=0, rtol=0)
    assert not torch.equal(ranks[0]['secure'], ranks[0]['seeded'])
