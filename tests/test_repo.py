"Repository hygiene: `dpti/` is the export of `nbs/`, notebooks are committed clean, README is `index.ipynb`."
import shutil, subprocess, sys, filecmp
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def _copy_repo(tmp: Path) -> Path:
    "Copy what nbdev reads and writes into `tmp`."
    for name in ['settings.ini', 'setup.py', 'pyproject.toml', 'README.md']: shutil.copy(ROOT/name, tmp/name)
    for name in ['nbs', 'dpti']: shutil.copytree(ROOT/name, tmp/name, ignore=shutil.ignore_patterns('__pycache__', '.ipynb_checkpoints'))
    return tmp

def _tree_diff(a: Path, b: Path) -> list[str]:
    "Relative paths of the files that differ between the trees `a` and `b` (ignoring caches)."
    cmp = filecmp.dircmp(a, b, ignore=['__pycache__', '.ipynb_checkpoints'])
    out = [str(Path(a.name)/n) for n in cmp.left_only + cmp.right_only + cmp.diff_files]
    for sub in cmp.common_dirs: out += _tree_diff(a/sub, b/sub)
    return out

def test_export_in_sync(tmp_path):
    "`nbdev_export` on a copy of the repo changes nothing in `dpti/`."
    repo = _copy_repo(tmp_path)
    subprocess.run(['nbdev_export'], cwd=repo, check=True, capture_output=True)
    assert _tree_diff(ROOT/'dpti', repo/'dpti') == [], 'dpti/ is out of sync with nbs/: run nbdev_export'

def test_notebooks_clean(tmp_path):
    "`nbdev_clean` on a copy of the notebooks changes none of them."
    repo = _copy_repo(tmp_path)
    subprocess.run(['nbdev_clean'], cwd=repo, check=True, capture_output=True)
    assert _tree_diff(ROOT/'nbs', repo/'nbs') == [], 'notebooks are not clean: run nbdev_clean'

def test_readme_from_index():
    "README.md is what `tools/make_readme.py` renders from `nbs/index.ipynb`."
    res = subprocess.run([sys.executable, str(ROOT/'tools'/'make_readme.py'), '--check'], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr

def test_ci_runs_readme_test_command():
    "`.ci/run` runs the README's test command, read from the README itself."
    readme = (ROOT/'README.md').read_text()
    assert 'pip install -e ".[dev]" && nbdev_test && pytest tests' in readme
    assert 'README.md' in (ROOT/'.ci'/'run').read_text()
