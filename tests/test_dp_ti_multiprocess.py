"DP-TI across two CPU processes (torch.distributed, gloo) gives the single-process noisy gradient and embedding: the clipped sums are all-reduced and the noise is added exactly once."
import warnings
import pytest, torch
from spawn_ranks import run_ranks
from dpti.core import PrivacyRNG
from dpti.dp_ti import PoissonSteps, distributed_dp_noisy_gradient, dp_noisy_gradient, make_dp_ti_plan, noisy_mean, train_dp_ti
from dpti.models import load_pipeline
from dpti.ti import TIConfig, TrainingOptions

WORLD = 2
CONFIG = dict(placeholder_token='<mp>', resolution=32, train_batch_size=1, max_train_steps=3, learning_rate=0.01, scale_lr=False, num_views=2, seed=5)
PRIVACY = dict(noise_multiplier=0.5, sample_rate=0.6, delta=1e-3, max_grad_norm=0.05, accountant='rdp')

def plan():
    return make_dp_ti_plan(TIConfig(**CONFIG), 5, **PRIVACY)

def quiet(rng=None) -> TrainingOptions:
    return TrainingOptions(progress=False, privacy_rng=rng)

def per_example_grads_fixture() -> torch.Tensor:
    "Seven per-example gradients [7, 2, 3] of varied norms (some clipped, some not)."
    return torch.randn(7, 2, 3, generator=torch.Generator().manual_seed(0)) * torch.linspace(0.1, 3, 7)[:, None, None]

def seeded(seed: int) -> PrivacyRNG:
    "Reproducible privacy randomness, so that two processes can be compared with one (tests only)."
    with warnings.catch_warnings():
        warnings.simplefilter('ignore'); return PrivacyRNG(insecure_seed=seed)

def images() -> list[torch.Tensor]:
    return list(torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1)

def worker(rank: int) -> dict[str, torch.Tensor]:
    "One process: the distributed noisy gradient of its share, a seeded and a default private run, a default step's batch and noise."
    grads = per_example_grads_fixture()
    noisy = distributed_dp_noisy_gradient(grads[rank::WORLD], 1.0, 2.0, 3.5, seeded(7))
    pipe = load_pipeline('tiny-random', device='cpu')
    result = train_dp_ti(pipe, images(), TIConfig(**CONFIG), plan(), quiet(seeded(9)))
    default = train_dp_ti(pipe, images(), TIConfig(**CONFIG), plan(), quiet())
    batch, _, rng = PoissonSteps(100, 0.5, 0, PrivacyRNG())(0)
    secure = torch.cat([batch.float(), noisy_mean(torch.zeros(3), 1.0, 1.0, 1.0, rng)])   # the OS's, on rank 0, shared with rank 1
    return {'noisy': noisy, 'embedding': result.embedding, 'default': default.embedding, 'secure': secure,
            'epsilon': torch.tensor(result.report.epsilon, dtype=torch.float64)}

@pytest.fixture(scope='module')
def ranks(tmp_path_factory):
    return run_ranks(worker, tmp_path_factory.mktemp('mp'), WORLD)

def test_noisy_gradient_equals_single_process(ranks):
    single = dp_noisy_gradient(per_example_grads_fixture(), 1.0, 2.0, 3.5, seeded(7))
    for r in ranks: torch.testing.assert_close(r['noisy'], single, atol=1e-6, rtol=0)
    no_noise = dp_noisy_gradient(per_example_grads_fixture(), 1.0, 0.0, 3.5)
    assert (single - no_noise).abs().max() > 0.1          # the noise is there (once: the equality above would fail if twice)

def test_training_equals_single_process(ranks):
    single = train_dp_ti(load_pipeline('tiny-random', device='cpu'), images(), TIConfig(**CONFIG), plan(), quiet(seeded(9)))
    torch.testing.assert_close(ranks[0]['embedding'], ranks[1]['embedding'], atol=0, rtol=0)
    torch.testing.assert_close(ranks[0]['embedding'], single.embedding, atol=1e-5, rtol=0)
    assert ranks[0]['epsilon'].item() == single.report.epsilon

def test_default_privacy_randomness_keeps_processes_in_lockstep(ranks):
    torch.testing.assert_close(ranks[0]['secure'], ranks[1]['secure'], atol=0, rtol=0)
    torch.testing.assert_close(ranks[0]['default'], ranks[1]['default'], atol=0, rtol=0)   # one batch, one noise, on both
    assert not torch.equal(ranks[0]['default'], ranks[0]['embedding'])                       # and not the seeded run's
