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
        res = dpti('account', '--method', 'dpagg-ti', '--n', 100, '--m', 20, '--noise-multiplier', sigma, '--delta', 1e-4, '--norm', 3, '--json')
        out = json.loads(res.stdout)
        assert abs(out['epsilon'] - expected) < 0.01, (sigma, out)
        assert out['adjacency'] == 'replace-one' and abs(out['sensitivity'] - 2 * 3 / 20) < 1e-12
        assert abs(out['noise_std'] - sigma * out['sensitivity']) < 1e-12
        assert {'n', 'm', 'accountant', 'delta', 'noise_multiplier'} <= set(out)

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
    data = tmp_path / 'data'; data.mkdir(); (data / 'a.png').write_bytes(b'not really an image, fingerprint only')
    res = dpti('ledger', '--data', data, '--ledger-dir', tmp_path / 'ledgers', '--json')
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out['releases'] == [] and out['total']['epsilon'] == 0.0
