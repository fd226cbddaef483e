"The `dpti` executable, run in a subprocess as users run it: outputs, exit codes and one-line errors."
import json, os, subprocess, sys, shutil
from pathlib import Path
import pytest

DPTI = shutil.which('dpti') or pytest.fail('the dpti console script is not installed')

def dpti(*args, env=None, cwd=None):
    "Run `dpti args...` and return the completed process (text output)."
    return subprocess.run([DPTI, *map(str, args)], capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=cwd, timeout=600)

def assert_one_line_error(res, code, *needles):
    "`res` failed with exit `code`, one line on stderr containing every needle, no traceback."
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('dpti: error:'), res.stderr
    assert 'Traceback' not in res.stderr
    for n in needles: assert n in lines[0], (n, lines[0])

def test_help_and_version():
    res = dpti('--help')
    assert res.returncode == 0 and 'account' in res.stdout
    res = dpti('--version')
    assert res.returncode == 0 and res.stdout.startswith('dpti ')

def test_account_dp_ti_reference_point():
    "q=0.01, σ=4, T=1e4, δ=1e-5: PRV 0.957, PLD 0.947, RDP 1.035 (DESIGN.md §6)."
    for accountant, expected in [('prv', 0.957), ('pld', 0.947), ('rdp', 1.035)]:
        res = dpti('account', '--method', 'dp-ti', '--n', 1000, '--sample-rate', 0.01, '--steps', 10000,
                   '--noise-multiplier', 4, '--delta', 1e-5, '--accountant', accountant, '--json')
        assert res.returncode == 0, res.stderr
        out = json.loads(res.stdout.strip().splitlines()[-1])
        assert abs(out['epsilon'] - expected) < 0.005, (accountant, out['epsilon'])
        assert {'epsilon', 'delta', 'noise_multiplier', 'sample_rate', 'steps', 'accountant'} <= set(out)

def test_account_calibrates_dp_ti():
    res = dpti('account', '--method', 'dp-ti', '--n', 100, '--batch-size', 10, '--steps', 1000, '--epsilon', 1, '--delta', 1e-5, '--json')
    out = json.loads(res.stdout)
    assert 0.99 <= out['epsilon'] <= 1.0 and abs(out['noise_multiplier'] - 12.03) < 0.15

def test_account_dpagg_reference_points():
    "n=100, m=20, δ=1e-4: σ=1 → 2.50, σ=2 → 0.78, σ=4 → 0.25 (dp-accounting, replace-one)."
    for sigma, expected in [(1, 2.50), (2, 0.78), (4, 0.25)]:
        res = dpti('account', '--method', 'dpagg-ti', '--n', 100, '--m', 20, '--noise-multiplier', sigma, '--delta', 1e-4, '--norm', 3,
                   '--accountant', 'rdp', '--json')
        out = json.loads(res.stdout)
        assert abs(out['epsilon'] - expected) < 0.01, (sigma, out)
        assert out['adjacency'] == 'replace-one' and abs(out['sensitivity'] - 2 * 3 / 20) < 1e-12
        assert abs(out['noise_std'] - sigma * out['sensitivity']) < 1e-12
        assert {'n', 'm', 'accountant', 'delta', 'noise_multiplier'} <= set(out)

def test_account_tiny_epsilon_calibrates():
    "The exact accountant reaches every ε > 0 (RDP-WOR answered 'unreachable' here): the price is a huge noise multiplier."
    out = json.loads(dpti('account', '--method', 'dpagg-ti', '--n', 8, '--m', 8, '--epsilon', 1e-4, '--delta', 1e-3, '--json').stdout)
    assert out['epsilon'] <= 1e-4 and out['noise_multiplier'] > 100 and out['accountant'] == 'profile'

def test_account_compare_dpagg():
    "The default DPAgg accountant is the exact one: between the realisable lower bound and RDP, at the bound (issue 17)."
    res = dpti('account', '--method', 'dpagg-ti', '--n', 100, '--m', 20, '--epsilon', 1, '--delta', 1e-4, '--compare', '--json')
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out['pld'].startswith('n/a') and out['prv'].startswith('n/a')
    assert out['profile']['noise_multiplier'] < 0.85 * out['rdp']['noise_multiplier']          # less noise for the same ε
    assert abs(out['realisable lower bound']['epsilon'] - out['profile']['epsilon']) < 1e-3
    plain = json.loads(dpti('account', '--method', 'dpagg-ti', '--n', 100, '--m', 20, '--epsilon', 1, '--delta', 1e-4, '--json').stdout)
    assert plain['accountant'] == 'profile' and abs(plain['noise_multiplier'] - out['profile']['noise_multiplier']) < 1e-12

@pytest.mark.parametrize('args,needles', [
    (['--method', 'dp-ti', '--n', 100, '--batch-size', 10, '--steps', 100, '--epsilon', 0, '--delta', 1e-5], ['epsilon']),
    (['--method', 'dp-ti', '--n', 100, '--batch-size', 10, '--steps', 100, '--epsilon', -1, '--delta', 1e-5], ['epsilon']),
    (['--method', 'dp-ti', '--n', 100, '--batch-size', 10, '--steps', 100, '--epsilon', 'nan', '--delta', 1e-5], ['epsilon']),
    (['--method', 'dp-ti', '--n', 100, '--batch-size', 10, '--steps', 100, '--epsilon', 1, '--delta', 1.5], ['delta']),
    (['--method', 'dp-ti', '--n', 100, '--batch-size', 10, '--steps', 100, '--epsilon', 1, '--delta', 0.05], ['delta', '1/n']),
    (['--method', 'dp-ti', '--n', 100, '--sample-rate', 1.5, '--steps', 100, '--epsilon', 1, '--delta', 1e-5], ['sample_rate']),
    (['--method', 'dp-ti', '--n', 100, '--batch-size', 10, '--steps', 0, '--epsilon', 1, '--delta', 1e-5], ['steps']),
    (['--method', 'dp-ti', '--n', 100, '--batch-size', 10, '--steps', 100, '--noise-multiplier', 'inf', '--delta', 1e-5], ['noise_multiplier']),
    (['--method', 'dpagg-ti', '--n', 10, '--m', 20, '--epsilon', 1, '--delta', 1e-4], ['m=20', 'n=10']),
    (['--method', 'dpagg-ti', '--n', 100, '--epsilon', 1, '--delta', 1e-4], ['--m']),
])
def test_account_bad_input(args, needles):
    assert_one_line_error(dpti('account', *args), 2, *needles)

def test_large_delta_override():
    res = dpti('account', '--method', 'dp-ti', '--n', 100, '--batch-size', 10, '--steps', 100, '--epsilon', 1, '--delta', 0.05, '--allow-large-delta', '--json')
    assert res.returncode == 0 and json.loads(res.stdout.strip().splitlines()[-1])['delta'] == 0.05

def test_ledger_empty(tmp_path):
    res = dpti('ledger', '--ledger-dir', tmp_path / 'ledgers', '--json')
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out['releases'] == [] and out['total']['epsilon'] == 0.0

# ---- train / generate on tiny-random: the real pipeline, the real files ----

@pytest.fixture(scope='module')
def image_folder(tmp_path_factory):
    "Eight 32×32 striped images, a private style made in code."
    from PIL import Image
    folder = tmp_path_factory.mktemp('data')
    for i in range(8):
        im = Image.new('RGB', (32, 32), (200 + 6 * i, 40, 30))
        for x in range(0, 32, 4):
            for y in range(32): im.putpixel((x, y), (20, 20, 200))
        im.save(folder / f'{i}.png')
    return folder

@pytest.fixture()
def env(tmp_path):
    return {'DPTI_LEDGER_DIR': str(tmp_path / 'ledger')}

TRAIN = ['--model', 'tiny-random', '--steps', 2, '--batch-size', 2, '--num-views', 1, '--quiet', '--json']

def _load_in_diffusers(embeds, token):
    "Load `embeds` into a tiny pipeline with diffusers' own `load_textual_inversion` in a fresh process; returns the row's max error."
    code = f'''
import torch
from safetensors.torch import load_file
from dpti.models import load_pipeline
pipe = load_pipeline("tiny-random")
pipe.load_textual_inversion({str(embeds)!r})
tid = pipe.tokenizer.convert_tokens_to_ids({token!r})
row = pipe.text_encoder.get_input_embeddings().weight[tid]
print(float((row - load_file({str(embeds)!r})[{token!r}][0]).abs().max()))
'''
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return float(res.stdout.strip().splitlines()[-1])

@pytest.mark.parametrize('method,extra', [
    ('ti', []),
    ('dp-ti', ['--epsilon', 4, '--delta', 1e-3]),
    ('dpagg-ti', ['--m', 4, '--epsilon', 4, '--delta', 1e-3]),
])
def test_train_writes_loadable_files(method, extra, image_folder, tmp_path, env):
    out = tmp_path / 'out'
    res = dpti('train', '--method', method, '--data', image_folder, '--out', out, *TRAIN, *extra, env=env)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    files = {p.name for p in out.iterdir()}
    assert {'learned_embeds.safetensors', 'dpti_config.json'} <= files
    assert not any('per_image' in f for f in files), 'per-image embeddings must not be written by default'
    if method != 'ti':
        report = json.loads((out / 'privacy_report.json').read_text())
        assert report['method'] == method and report['epsilon'] <= 4 and abs(report['epsilon'] - summary['epsilon']) < 1e-12
        from dpti.privacy import PrivacyReport
        assert abs(PrivacyReport.from_dict(report).rederive_epsilon() - report['epsilon']) < 0.02 * report['epsilon']
        led = dpti('ledger', '--data', image_folder, '--json', env=env)
        assert json.loads(led.stdout)['releases'][0]['method'] == method
    assert _load_in_diffusers(out / 'learned_embeds.safetensors', '<my-style>') < 1e-6

def test_generate_and_existing_output(image_folder, tmp_path, env):
    out = tmp_path / 'out'
    assert dpti('train', '--method', 'ti', '--data', image_folder, '--out', out, *TRAIN, env=env).returncode == 0
    before = (out / 'learned_embeds.safetensors').read_bytes()
    res = dpti('train', '--method', 'ti', '--data', image_folder, '--out', out, *TRAIN, env=env)
    assert_one_line_error(res, 1, 'already holds a result', '--overwrite')
    assert (out / 'learned_embeds.safetensors').read_bytes() == before, 'an earlier result was lost'
    imgs = tmp_path / 'imgs'
    res = dpti('generate', '--model', 'tiny-random', '--embeds', out / 'learned_embeds.safetensors', '--prompt', 'a cup in the style of {}',
               '-n', 2, '--num-inference-steps', 2, '--out', imgs, '--quiet', '--json')
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)['prompt'] == 'a cup in the style of <my-style>'
    from PIL import Image
    assert [Image.open(imgs / f'000{i}.png').size for i in range(2)] == [(32, 32)] * 2

def test_config_file(image_folder, tmp_path, env):
    cfg = tmp_path / 'run.toml'
    cfg.write_text('method = "ti"\nsteps = 1\nbatch-size = 2\nnum-views = 1\nlearning-rate = 0.01\n')
    out = tmp_path / 'out'
    res = dpti('train', '--config', cfg, '--data', image_folder, '--out', out, '--quiet', env=env)
    assert res.returncode == 0, res.stderr
    used = json.loads((out / 'dpti_config.json').read_text())
    assert used['learning_rate'] == 0.01 and used['max_train_steps'] == 1
    cfg.write_text('stepz = 1\n')
    assert_one_line_error(dpti('train', '--config', cfg, '--method', 'ti', '--data', image_folder, '--out', out, env=env), 1, 'stepz')

def _bad_folder(tmp_path, kind):
    from PIL import Image
    folder = tmp_path / kind; folder.mkdir()
    if kind == 'corrupt':
        for i in range(3): Image.new('RGB', (32, 32)).save(folder / f'{i}.png')
        (folder / 'broken.png').write_bytes(b'\x89PNG not really')
    return folder

@pytest.mark.parametrize('args,code,needles', [
    (['--method', 'ti', '--data', '{missing}'], 1, ['missing']),
    (['--method', 'ti', '--data', '{empty}'], 1, ['empty']),
    (['--method', 'ti', '--data', '{corrupt}'], 1, ['broken.png']),
    (['--method', 'ti', '--data', '{images}', '--model', 'no-such-model'], 1, ['no-such-model']),
    (['--method', 'ti', '--data', '{images}', '--model', 'nobody/nothing'], 1, ['nobody/nothing']),
    (['--method', 'ti', '--data', '{images}', '--placeholder-token', 'style'], 1, ['already in the vocabulary']),
    (['--method', 'dp-ti', '--data', '{images}', '--epsilon', 0, '--delta', 1e-3], 2, ['epsilon']),
    (['--method', 'dp-ti', '--data', '{images}', '--epsilon', 1, '--delta', 1.5], 2, ['delta']),
    (['--method', 'dpagg-ti', '--data', '{images}', '--m', 40, '--epsilon', 1, '--delta', 1e-3], 2, ['m=40', 'n=8']),
])
def test_train_errors(args, code, needles, image_folder, tmp_path, env):
    folders = {'missing': tmp_path / 'missing', 'empty': _bad_folder(tmp_path, 'empty'), 'corrupt': _bad_folder(tmp_path, 'corrupt'), 'images': image_folder}
    args = [a.format(**folders) if isinstance(a, str) else a for a in args]
    res = dpti('train', *args, '--out', tmp_path / 'out', '--steps', 1, '--batch-size', 2, '--num-views', 1, '--quiet',
               env={**env, 'HF_HUB_OFFLINE': '1'})
    assert_one_line_error(res, code, *needles)
    assert not (tmp_path / 'out' / 'learned_embeds.safetensors').exists()

def test_audit_lower_bound_below_claim():
    res = dpti('audit', '--method', 'dpagg-ti', '--epsilon', 4, '--delta', 1e-5, '--n', 10, '--m', 8, '--trials', 1000, '--json')
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert {'epsilon_claimed', 'epsilon_lower', 'confidence', 'trials'} <= set(out)
    assert 3.9 <= out['epsilon_claimed'] <= 4 and 0 <= out['epsilon_lower'] <= out['epsilon_claimed'] and out['trials'] == 1000

def test_audit_default_dpagg_is_end_to_end_and_tight():
    "The README's audit at its defaults: the shipped train_dpagg_ti ran every trial; 0.5 × claim ≤ ε_lower ≤ claim (#18)."
    res = dpti('audit', '--method', 'dpagg-ti', '--epsilon', 2, '--delta', 1e-5, '--json')
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out['end_to_end'] and out['trials'] > 0 and out['privacy_randomness'] == 'os-csprng', out
    assert 0.5 * out['epsilon_claimed'] <= out['epsilon_lower'] <= out['epsilon_claimed'], out

def test_audit_one_run_prints_a_bound_and_its_confidence():
    res = dpti('audit', '--method', 'dp-ti', '--epsilon', 2, '--delta', 1e-5, '--one-run', '--json')
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out['training_runs'] == 1 and out['confidence'] == 0.95 and out['canaries'] > 1000, out
    assert 0 <= out['epsilon_lower'] <= out['epsilon_claimed'], out

def test_audit_bad_input():
    assert_one_line_error(dpti('audit', '--method', 'dpagg-ti', '--epsilon', -1, '--delta', 1e-5), 2, 'epsilon')

def test_resume_with_different_config_is_refused(image_folder, tmp_path, env):
    ck, dp = tmp_path / 'ck', ['--method', 'dp-ti', '--data', image_folder, '--epsilon', 4, '--delta', 1e-3, *TRAIN]
    assert dpti('train', *dp, '--out', tmp_path / 'a', '--checkpoint-dir', ck, env=env).returncode == 0
    saved = (ck / 'dp_ti_checkpoint.safetensors').read_bytes() if (ck / 'dp_ti_checkpoint.safetensors').exists() else None
    res = dpti('train', *dp, '--out', tmp_path / 'b', '--checkpoint-dir', ck, '--resume', '--learning-rate', 0.01, env=env)
    assert_one_line_error(res, 1, 'belongs to another run', 'config.learning_rate')
    assert not (tmp_path / 'b' / 'learned_embeds.safetensors').exists()
    if saved is not None: assert (ck / 'dp_ti_checkpoint.safetensors').read_bytes() == saved, 'the checkpoint was changed'

def test_out_of_memory_gives_a_hint(image_folder, tmp_path, env):
    "A real allocation failure (address space capped with ulimit) ends in the one-line hint, not a traceback."
    res = subprocess.run(['bash', '-c', f'ulimit -v 6000000; exec "{DPTI}" train --method ti --model tiny-random --data "{image_folder}" '
                          f'--out "{tmp_path / "out"}" --steps 1 --batch-size 2 --num-views 1 --resolution 8192 --quiet'],
                         capture_output=True, text=True, env={**os.environ, **env}, timeout=600)
    assert_one_line_error(res, 1, 'out of memory', '--batch-size', '--gradient-checkpointing')
    assert not (tmp_path / 'out' / 'learned_embeds.safetensors').exists()

# ---- sweep, demo, toy pretrain ----

def test_sweep_tiny_random(image_folder, tmp_path, env):
    out = tmp_path / 'sweep'
    args = ['sweep', '--model', 'tiny-random', '--data', image_folder, '--out', out, '--methods', 'base,ti,dp-ti,dpagg-ti', '--epsilons', '4',
            '--seeds', 2, '--features', 'pixel', '--images-per-prompt', 2, '--num-inference-steps', 1, '--steps', 1, '--batch-size', 2,
            '--num-views', 1, '--m', 4, '--quiet', '--json']
    res = dpti(*args, env=env)
    assert res.returncode == 0, res.stderr
    out_json = json.loads(res.stdout.strip().splitlines()[-1])
    assert {p.name for p in out.iterdir()} >= {'results.csv', 'privacy_utility.png', 'grids.png', 'dpti_config.json'}
    import csv
    rows = list(csv.DictReader(open(out / 'results.csv')))
    assert [r['method'] for r in rows].count('base') == 1 and len(rows) == 1 + 2 + 2 * 2
    assert all(float(r['epsilon_spent']) <= 4 for r in rows if r['method'] in ('dp-ti', 'dpagg-ti')) and 'kid' in rows[0]
    assert out_json['comparison']['winner'] in ('dp-ti', 'dpagg-ti') and out_json['comparison']['dp-ti_seeds'] == 2
    before = (out / 'results.csv').read_bytes()
    assert_one_line_error(dpti(*args, env=env), 1, 'already holds a sweep', '--overwrite')
    assert (out / 'results.csv').read_bytes() == before
    assert_one_line_error(dpti(*args[:-2], '--epsilons', '0', '--out', tmp_path / 's2', env=env), 1, 'epsilon')

def test_toy_pretrain_then_sweep_with_toy_style(tmp_path, env):
    "A miniature `toy pretrain` writes a pipeline that `--model DIR` loads; a toy sweep scores the private style's palette."
    model = tmp_path / 'toy'
    res = dpti('toy', 'pretrain', '--out', model, '--steps', 2, '--vae-steps', 2, '--feature-steps', 2, '--images-per-pair', 1, '--batch-size', 2, '--quiet', '--json')
    assert res.returncode == 0, res.stderr
    assert {'model_index.json', 'loss.csv', 'loss.png', 'pretrain_report.json', 'features'} <= {p.name for p in model.iterdir()}
    assert_one_line_error(dpti('toy', 'pretrain', '--out', model, '--steps', 2), 1, 'already holds a model', '--overwrite')
    from dpti.toy.world import save_style_folder, get_style
    save_style_folder(get_style('private-b'), 6, tmp_path / 'icons')
    res = dpti('sweep', '--model', model, '--data', tmp_path / 'icons', '--out', tmp_path / 'sweep', '--methods', 'base,ti', '--seeds', 1,
               '--toy-style', 'private-b', '--features', 'pixel', '--images-per-prompt', 2, '--num-inference-steps', 2, '--steps', 1,
               '--batch-size', 2, '--num-views', 1, '--initializer-token', 'icon', '--quiet', '--json', env=env)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out['metric'] == 'style_distance' and all(0 <= r['style_distance'] <= 1 and 'kid' in r for r in out['rows'])

def test_demo_small(tmp_path):
    "The demo's code path at a small size (the full demo is timed in the toy chapter)."
    out = tmp_path / 'demo'
    res = dpti('demo', '--out', out, '--n', 6, '--seeds', 1, '--epsilons', 4, '--styles', 'private-a', '--quick', '--json')
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert {'results.csv', 'privacy_utility.png', 'grids.png', 'private-images'} <= {p.name for p in out.iterdir()}
    assert {r['method'] for r in summary['rows']} == {'base', 'ti', 'dp-ti', 'dpagg-ti'} and summary['comparison'] is not None
    assert_one_line_error(dpti('demo', '--out', out), 1, 'already holds a demo')
    assert_one_line_error(dpti('demo', '--out', tmp_path / 'd2', '--styles', 'public-01'), 1, 'is public')
