"""The end-to-end audit catches bugs planted inside the shipped training functions (issue #18), at its default settings.

Each bug is patched where the shipped function looks it up (`dpti.dp_ti.gaussian_noise`, `dpti.dp_ti.clip_per_sample`,
`dpti.privacy.dpagg_sensitivity`, `dpti.dp_ti.PrivacyRNG`, `dpti.dp_ti.PoissonSteps`, `dpti.dp_ti.noisy_mean`), so the
audit meets it inside `train_dp_ti` / `train_dpagg_ti` exactly as a user's run would. The tests that take minutes run only
with `DPTI_SLOW_TESTS=1`, like the wheel's demo test."""
import os, warnings
from unittest import mock
import pytest, torch
import dpti.dp_ti, dpti.dpagg, dpti.privacy
from spawn_ranks import run_ranks
from dpti.audit import audit_dp_ti, audit_dpagg, audit_one_run
from dpti.core import PrivacyRNG, allreduce_sum, world_size
from dpti.privacy import gaussian_noise

slow = pytest.mark.skipif(os.environ.get('DPTI_SLOW_TESTS') != '1', reason='slow: set DPTI_SLOW_TESTS=1 to run it')
CLAIM = dict(epsilon=2.0, delta=1e-5)            # the README's setting; every other audit argument at its default
PUBLISHED_SEED = 0                               # TIConfig.seed, written into every privacy report

def summary(report) -> str:
    return (f'{report.method}: ε_lower {report.epsilon_lower:.3f} (any mechanism {report.epsilon_lower_cp:.3f}) against ε_claimed '
            f'{report.epsilon_claimed:.3f}, score {report.score}, {report.training_runs} training runs, {report.seconds:.0f} s')

def flagged(report) -> None:
    print(summary(report))
    assert report.end_to_end and report.privacy_randomness == 'os-csprng', report.to_dict()
    assert report.violated, f'not flagged: ε_lower {report.epsilon_lower:.3f} ≤ claimed {report.epsilon_claimed:.3f} ({report.to_dict()})'

def seeded(seed: int) -> PrivacyRNG:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore'); return PrivacyRNG(insecure_seed=seed)

def scaled_noise(factor: float):
    "`gaussian_noise` with its standard deviation multiplied by `factor`."
    real = dpti.dp_ti.gaussian_noise
    return lambda shape, std, *args, **kwargs: real(shape, std * factor, *args, **kwargs)

# ---- DP-TI ----

def test_sigma_halved_in_dp_ti_loop(monkeypatch):
    monkeypatch.setattr(dpti.dp_ti, 'gaussian_noise', scaled_noise(0.5))
    flagged(audit_dp_ti(**CLAIM))

def test_one_run_audit_flags_sigma_over_4_and_not_correct_code(monkeypatch):
    correct = audit_one_run(**CLAIM)
    print(f'one run, correct: ε_lower {correct.epsilon_lower:.3f} against {correct.epsilon_claimed:.3f} ({correct.correct}/{correct.guesses})')
    assert not correct.violated and correct.end_to_end, correct.to_dict()
    monkeypatch.setattr(dpti.dp_ti, 'gaussian_noise', scaled_noise(0.25))
    bug = audit_one_run(**CLAIM)
    print(f'one run, σ/4: ε_lower {bug.epsilon_lower:.3f} against {bug.epsilon_claimed:.3f} ({bug.correct}/{bug.guesses})')
    assert bug.violated, bug.to_dict()

@slow
def test_clipping_skipped(monkeypatch):
    monkeypatch.setattr(dpti.dp_ti, 'clip_per_sample', lambda grads, max_norm: grads)
    flagged(audit_dp_ti(**CLAIM))

@slow
@pytest.mark.parametrize('module,audit', [(dpti.dp_ti, audit_dp_ti), (dpti.dpagg, audit_dpagg)], ids=['dp-ti', 'dpagg-ti'])
def test_seeded_privacy_randomness_with_the_seed_published(monkeypatch, module, audit):
    "Privacy randomness seeded with a published seed: the replay attack subtracts the noise."
    monkeypatch.setattr(module, 'PrivacyRNG', lambda *args, **kwargs: seeded(PUBLISHED_SEED))
    report = audit(**CLAIM)
    print(summary(report))
    assert report.violated and report.score == 'replay', report.to_dict()

class TwiceInAStep(dpti.dp_ti.PoissonSteps):
    "The sampler with every drawn image in its batch twice (two examples, each clipped to C: sensitivity 2C)."
    def __call__(self, step):
        batch, draws, rng = super().__call__(step)
        return torch.cat([batch, batch]), list(draws) + list(draws), rng

@slow
def test_same_image_twice_in_one_step(monkeypatch):
    monkeypatch.setattr(dpti.dp_ti, 'PoissonSteps', TwiceInAStep)
    flagged(audit_dp_ti(**CLAIM))

def per_process_noisy_mean(summed, noise_multiplier, max_grad_norm, expected_batch_size, rng=None):
    "The bug: each process adds its own N(0, (σC/W)²) and the sum of them is used — variances add, so the noise is σC/√W."
    noise = allreduce_sum(gaussian_noise(summed.shape, noise_multiplier * max_grad_norm / world_size(), rng or PrivacyRNG(), dtype=torch.float64))
    return ((summed.double() + noise.to(summed.device)) / expected_batch_size).float()

def per_process_noise_worker(rank: int) -> dict[str, torch.Tensor]:
    with mock.patch.object(dpti.dp_ti, 'noisy_mean', per_process_noisy_mean):
        report = audit_dp_ti(**CLAIM)
    return {'lower': torch.tensor(report.epsilon_lower), 'claimed': torch.tensor(report.epsilon_claimed),
            'violated': torch.tensor(report.violated), 'end_to_end': torch.tensor(report.end_to_end)}

@slow
def test_per_process_noise_summed_in_two_processes(tmp_path):
    ranks = run_ranks(per_process_noise_worker, tmp_path, 2)
    print({k: v.item() for k, v in ranks[0].items()})
    for r in ranks: assert r['end_to_end'].item() and r['violated'].item(), {k: v.item() for k, v in r.items()}
    assert ranks[0]['lower'].item() == ranks[1]['lower'].item()

@slow
def test_correct_dp_ti_never_flagged():
    reports = [audit_dp_ti(**CLAIM) for _ in range(5)]
    for r in reports: print(summary(r))
    assert not any(r.violated for r in reports), [(r.epsilon_lower, r.epsilon_claimed) for r in reports]
    assert min(r.epsilon_lower for r in reports) > 0.5 * reports[0].epsilon_claimed, [r.epsilon_lower for r in reports]

# ---- DPAgg-TI ----

@slow
def test_dpagg_sensitivity_c_over_m(monkeypatch):
    real = dpti.privacy.dpagg_sensitivity
    monkeypatch.setattr(dpti.privacy, 'dpagg_sensitivity', lambda norm, m, *args, **kwargs: real(norm, m, *args, **kwargs) / 2)
    flagged(audit_dpagg(**CLAIM))

@slow
def test_correct_dpagg_never_flagged_and_tight():
    reports = [audit_dpagg(**CLAIM) for _ in range(5)]
    for r in reports: print(summary(r))
    assert not any(r.violated for r in reports), [(r.epsilon_lower, r.epsilon_claimed) for r in reports]
    assert all(0.5 * r.epsilon_claimed <= r.epsilon_lower for r in reports), [r.epsilon_lower for r in reports]
