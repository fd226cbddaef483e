"""The package a user installs (issue #19): the sdist and the wheel build, pass `twine check`, carry the toy model, and the
installed wheel — not this checkout — runs `dpti` from a folder outside the repository.

The quick demo from the wheel is slow (47 s on two idle CPU cores, 4–6 min on two busy ones) and runs only with
`DPTI_SLOW_TESTS=1`, as `#| slow` notebook cells run only with `nbdev_test --flags slow`."""
import os, shutil, subprocess, sys, site, zipfile, tarfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ['setup.py', 'settings.ini', 'pyproject.toml', 'README.md', 'MANIFEST.in']

def _run(cmd, cwd, env=None, timeout=600) -> subprocess.CompletedProcess:
    res = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f'{" ".join(map(str, cmd))} exited {res.returncode}:\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}'
    return res

def _has(module: str) -> bool:
    return subprocess.run([sys.executable, '-c', f'import {module}'], capture_output=True).returncode == 0

@pytest.fixture(scope='module')
def dist(tmp_path_factory) -> Path:
    "The sdist and the wheel, built from a copy of the packaging inputs (the checkout is not touched)."
    tmp = tmp_path_factory.mktemp('build')
    src, out = tmp / 'src', tmp / 'dist'
    src.mkdir()
    for name in SOURCES: shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / 'dpti', src / 'dpti', ignore=shutil.ignore_patterns('__pycache__', '*.pyc', '.ipynb_checkpoints'))
    if _has('build'): _run([sys.executable, '-m', 'build', '--no-isolation', '--outdir', out, src], cwd=tmp)
    else: _run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '--wheel-dir', out, src], cwd=tmp)
    return out

def _wheel(dist: Path) -> Path:
    wheels = list(dist.glob('dpti-*.whl'))
    assert len(wheels) == 1, wheels
    return wheels[0]

def test_metadata_passes_twine_check(dist):
    if not _has('twine'): pytest.skip('twine is not installed (pip install -e ".[dev]")')
    files = sorted(dist.iterdir())
    assert any(f.suffix == '.whl' for f in files)
    _run([sys.executable, '-m', 'twine', 'check', '--strict', *files], cwd=dist)

def _package_files() -> set[str]:
    "The modules and the packaged toy model as paths inside the wheel."
    assets = {p.relative_to(ROOT).as_posix() for p in (ROOT / 'dpti' / 'assets').rglob('*') if p.is_file() and '__pycache__' not in p.parts}
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / 'dpti').rglob('*.py') if '__pycache__' not in p.parts}
    assert any(a.endswith('.safetensors') for a in assets), 'the toy model is missing from dpti/assets'
    return assets | modules

def test_wheel_carries_the_modules_and_the_toy_model(dist):
    names = set(zipfile.ZipFile(_wheel(dist)).namelist())
    assert sorted(_package_files() - names) == []
    assert not any('__pycache__' in n or n.endswith('.pyc') for n in names)

def test_sdist_can_rebuild_the_wheel(dist):
    sdists = list(dist.glob('dpti-*.tar.gz'))
    if not sdists: pytest.skip('no sdist: `build` is not installed (pip install -e ".[dev]")')
    names = {n.split('/', 1)[1] for n in tarfile.open(sdists[0]).getnames() if '/' in n}
    assert {'settings.ini', 'setup.py', 'README.md'} <= names, 'setup.py reads settings.ini: the sdist must carry it'
    assert sorted(_package_files() - names) == []

@pytest.fixture(scope='module')
def installed(dist, tmp_path_factory) -> tuple[Path, dict, Path]:
    "A fresh venv with the wheel installed (not editable); dependencies come from this environment through a .pth file."
    tmp = tmp_path_factory.mktemp('venv')
    venv = tmp / 'venv'
    _run([sys.executable, '-m', 'venv', '--without-pip', venv], cwd=tmp)
    python = venv / 'bin' / 'python'
    _run([sys.executable, '-m', 'pip', '--python', python, 'install', '--quiet', '--no-deps', '--no-index', _wheel(dist)], cwd=tmp)
    # `--system-site-packages` would expose the base interpreter's packages, not this venv's: point at ours explicitly,
    # as plain paths (their own .pth files, such as an editable install of this checkout, are not processed).
    purelib = Path(subprocess.run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                                  capture_output=True, text=True, check=True).stdout.strip())
    (purelib / 'zz_dpti_test_dependencies.pth').write_text('\n'.join(site.getsitepackages()) + '\n')
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV')}
    env |= {'PATH': f'{venv / "bin"}{os.pathsep}{env.get("PATH", "")}', 'HF_HUB_OFFLINE': '1', 'TQDM_DISABLE': '1'}
    outside = tmp / 'elsewhere'
    outside.mkdir()
    assert ROOT not in outside.parents
    return venv, env, outside

def test_import_comes_from_the_wheel(installed):
    venv, env, outside = installed
    path = Path(_run([venv / 'bin' / 'python', '-c', 'import dpti; print(dpti.__file__)'], cwd=outside, env=env).stdout.strip())
    assert venv in path.parents and ROOT not in path.parents, path

def test_console_script_runs(installed):
    venv, env, outside = installed
    assert 'usage: dpti' in _run([venv / 'bin' / 'dpti', '--help'], cwd=outside, env=env).stdout
    res = _run([venv / 'bin' / 'dpti', 'account', '--method', 'dpagg-ti', '--n', '100', '--m', '20', '--epsilon', '1', '--delta', '1e-4'],
               cwd=outside, env=env)
    assert 'epsilon' in res.stdout or 'σ' in res.stdout, res.stdout

slow = pytest.mark.skipif(os.environ.get('DPTI_SLOW_TESTS') != '1', reason='slow: set DPTI_SLOW_TESTS=1 to run it')

@slow
def test_quick_demo_runs_on_the_packaged_toy_model(installed):
    "`dpti demo --quick` (about a minute on two CPU cores) loads the toy model from the installed package."
    venv, env, outside = installed
    _run([venv / 'bin' / 'dpti', 'demo', '--quick', '--out', outside / 'demo'], cwd=outside, env=env, timeout=900)
    assert (outside / 'demo' / 'results.csv').exists()
