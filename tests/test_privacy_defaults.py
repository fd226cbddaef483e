"Private by default: the ε dpti prints holds against whoever reads every file a default run writes (issue 14)."
import json, math, os, shutil, subprocess, warnings
from pathlib import Path
import numpy as np, pytest, torch
from dpti.audit import dpagg_canary, epsilon_lower_bound
from dpti.core import PrivacyRNG
from dpti.dpagg import aggregate, select_images
from dpti.privacy import DPAggConfig

DPTI = shutil.which('dpti') or pytest.fail('the dpti console script is not installed')
TRAIN = ['--model', 'tiny-random', '--steps', 2, '--batch-size', 2, '--num-views', 1]
PRIVACY_SEED = 73519842                                   # distinctive, so that a grep for it means something

def dpti(*args, env=None):
    return subprocess.run([DPTI, *map(str, args)], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=600)

def make_images(folder: Path, colours) -> Path:
    "32×32 striped images, one per colour."
    from PIL import Image
    folder.mkdir(parents=True)
    for i, c in enumerate(colours):
        im = Image.new('RGB', (32, 32), c)
        for x in range(0, 32, 4):
            for y in range(32): im.putpixel((x, y), (20, 20, 200))
        im.save(folder / f'{i}.png')
    return folder

COLOURS = [(200 + 6 * i, 40, 30) for i in range(8)]

@pytest.fixture()
def env(tmp_path): return {'DPTI_LEDGER_DIR': str(tmp_path / 'ledger')}

def written_text(*folders: Path) -> str:
    "Every byte dpti wrote under `folders`, decoded leniently (safetensors headers, JSON, configs, ledger)."
    return '\n'.join(p.read_bytes().decode('latin-1') for f in folders for p in Path(f).rglob('*') if p.is_file())

@pytest.mark.parametrize('method,extra', [('dp-ti', ['--epsilon', 4, '--delta', 1e-3]),
                                          ('dpagg-ti', ['--m', 4, '--epsilon', 4, '--delta', 1e-3])])
def test_two_default_cli_runs_differ_and_nothing_seeds_them(method, extra, tmp_path, env):
    data = make_images(tmp_path / 'data', COLOURS)
    outs = [tmp_path / f'out{i}' for i in range(2)]
    for out in outs:
        res = dpti('train', '--method', method, '--data', data, '--out', out, *TRAIN, *extra, '--quiet', env=env)
        assert res.returncode == 0, res.stderr
    a, b = ((o / 'learned_embeds.safetensors').read_bytes() for o in outs)
    assert a != b, 'two default runs wrote the same release: the privacy randomness is reproducible'
    report = json.loads((outs[0] / 'privacy_report.json').read_text())
    assert report['private'] is True and report['privacy_randomness'] == 'os-csprng'
    text = written_text(*outs, tmp_path / 'ledger')
    for leak in ('secure_rng', 'insecure', '"rng"', 'privacy_seed', 'seeded'): assert leak not in text, leak

def test_insecure_seed_is_loud_and_written_nowhere(tmp_path, env):
    data = make_images(tmp_path / 'data', COLOURS)
    outs = [tmp_path / f'out{i}' for i in range(2)]
    for out in outs:
        res = dpti('train', '--method', 'dpagg-ti', '--data', data, '--out', out, *TRAIN, '--m', 4, '--epsilon', 4, '--delta', 1e-3,
                   '--insecure-privacy-seed', PRIVACY_SEED, '--quiet', env=env)
        assert res.returncode == 0, res.stderr
        assert 'NOT private' in res.stderr
    from safetensors.torch import load_file
    a, b = (load_file(o / 'learned_embeds.safetensors') for o in outs)
    assert all(torch.equal(a[k], b[k]) for k in a)                         # reproducible, as asked
    report = json.loads((outs[0] / 'privacy_report.json').read_text())
    assert report['private'] is False and report['privacy_randomness'] == 'insecure-seeded'
    assert str(PRIVACY_SEED) not in written_text(*outs, tmp_path / 'ledger')

def test_default_dp_ti_progress_shows_no_loss(tmp_path, env):
    data = make_images(tmp_path / 'data', COLOURS)
    res = dpti('train', '--method', 'dp-ti', '--data', data, '--out', tmp_path / 'out', *TRAIN, '--epsilon', 4, '--delta', 1e-3, env=env)
    assert res.returncode == 0, res.stderr
    assert 'DP-TI' in res.stderr, 'the progress bar was expected on stderr'
    assert 'loss' not in res.stderr.lower(), res.stderr[-500:]

def seed_subtraction_scores(config: DPAggConfig, embeddings, direction, trials: int, insecure: bool) -> np.ndarray:
    "The attack of the review: regenerate the subsample and noise from the seed a reader believes in, subtract, project."
    scores = np.empty(trials)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for t in range(trials):
            rng = PrivacyRNG(insecure_seed=t) if insecure else PrivacyRNG()
            release = aggregate(embeddings[select_images(config.n, config.m, config.sampling, rng)], config, rng)
            replay = PrivacyRNG(insecure_seed=t)                      # the attacker's guess: the seed it read or expects
            select_images(config.n, config.m, config.sampling, replay)
            noise = aggregate(torch.zeros_like(embeddings[:config.m]), config, replay, scaling='clip')
            scores[t] = float(((release.double() - noise.double()) * direction).sum())
    return scores

@pytest.mark.parametrize('insecure', [False, True])
def test_seed_subtraction_attack(insecure):
    "Against a default release the attack certifies no more than the claim; against a seeded one, far more (the test has power)."
    config = DPAggConfig.for_epsilon(1.0, 1e-5, n=10, m=8, norm=1.0)
    without, with_canary, direction = dpagg_canary(config.n)
    trials = 2000
    s_in = seed_subtraction_scores(config, with_canary, direction, trials, insecure)
    s_out = seed_subtraction_scores(config, without, direction, trials, insecure)
    bound = epsilon_lower_bound(s_in, s_out, config.delta)
    if insecure: assert bound.epsilon_lower > 2 * config.epsilon, bound
    else: assert bound.epsilon_lower <= config.epsilon, bound

def test_ledger_charges_overlapping_folders_per_image(tmp_path, env):
    "Folder B shares 7 of folder A's 8 images: those 7 carry both releases, and `dpti ledger` says so."
    a = make_images(tmp_path / 'A', COLOURS)
    b = make_images(tmp_path / 'B', COLOURS[1:] + [(10, 200, 10)])
    for folder in (a, b):
        res = dpti('train', '--method', 'dpagg-ti', '--data', folder, '--out', tmp_path / f'out-{folder.name}', *TRAIN,
                   '--m', 8, '--epsilon', 1, '--delta', 1e-3, '--quiet', env=env)
        assert res.returncode == 0, res.stderr
    single = json.loads((tmp_path / 'out-A' / 'privacy_report.json').read_text())['epsilon']
    led = json.loads(dpti('ledger', '--json', env=env).stdout)
    assert len(led['releases']) == 2 and led['total']['releases'] == 2
    assert led['total']['epsilon'] > 1.3 * single, (led['total'], single)
    assert set(led['folders']) == {'A', 'B'}
    only_a = json.loads(dpti('ledger', '--data', a, '--json', env=env).stdout)
    assert only_a['total']['epsilon'] == led['total']['epsilon'] and only_a['total']['records'] == 8

def test_resume_on_another_folder_is_refused(tmp_path, env):
    a = make_images(tmp_path / 'A', COLOURS)
    b = make_images(tmp_path / 'B', [(30, 40, 200 + 6 * i) for i in range(8)])      # same size, other images
    ck = tmp_path / 'ck'
    dp = ['--method', 'dp-ti', *TRAIN, '--epsilon', 4, '--delta', 1e-3, '--quiet', '--checkpoint-dir', ck]
    assert dpti('train', '--data', a, '--out', tmp_path / 'o1', *dp, env=env).returncode == 0
    res = dpti('train', '--data', b, '--out', tmp_path / 'o2', *dp, '--resume', env=env)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 1 and len(lines) == 1 and 'differs in dataset' in lines[0], res.stderr
    assert not (tmp_path / 'o2' / 'learned_embeds.safetensors').exists()
