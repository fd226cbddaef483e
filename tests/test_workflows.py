"GitHub workflows (issue #19): every action pinned to an exact release or commit, nbdev only through the project's pinned dev extra."
import configparser, re, shlex
from pathlib import Path
import pytest, yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / '.github' / 'workflows').glob('*.y*ml'))
EXACT_REF = re.compile(r'^(v\d+\.\d+\.\d+|[0-9a-f]{40})$')   # an exact release tag or a full commit SHA
PIP_INSTALL = re.compile(r'\bpip3?\s+install\b(.*)')
NBDEV_REQ = re.compile(r'''^["']?nbdev(\[[^\]]*\])?(?P<spec>[<>=!~].*)?["']?$''')

def _steps(workflow: dict) -> list[dict]:
    "Every step of every job, plus each job that calls a reusable workflow (as a step-like dict with its `uses`)."
    out = []
    for job in (workflow.get('jobs') or {}).values():
        if 'uses' in job: out.append({'uses': job['uses']})
        out += job.get('steps') or []
    return out

def _uses_problems(uses: str) -> list[str]:
    "Why the action reference `uses` is not pinned (empty if it is)."
    if uses.startswith('./') or uses.startswith('docker://'): return []
    if 'fastai/workflows' in uses: return [f'{uses}: fastai/workflows installs the newest nbdev (nbdev 3 refuses settings.ini)']
    if '@' not in uses: return [f'{uses}: no ref; pin an exact release tag vX.Y.Z or a commit SHA']
    ref = uses.rsplit('@', 1)[1]
    if not EXACT_REF.match(ref): return [f'{uses}: {ref!r} moves (a branch or a major tag); pin an exact release tag vX.Y.Z or a commit SHA']
    return []

def _nbdev_install_problems(run: str) -> list[str]:
    "Why the shell script `run` installs an unpinned nbdev (empty if it does not install nbdev, or pins it with ==)."
    out = []
    for line in run.replace('\\\n', ' ').splitlines():
        for m in PIP_INSTALL.finditer(line):
            args = m.group(1).split('&&')[0].split(';')[0].split('|')[0]
            try: words = shlex.split(args)
            except ValueError: words = args.split()
            for word in words:
                req = NBDEV_REQ.match(word)
                if req and not (req.group('spec') or '').startswith('=='): out.append(f'unpinned nbdev in: {line.strip()}')
    return out

def workflow_problems(workflow: dict) -> list[str]:
    "Every unpinned action and every unpinned nbdev install in a parsed workflow."
    out = []
    for step in _steps(workflow):
        if 'uses' in step: out += _uses_problems(str(step['uses']))
        if 'run' in step: out += _nbdev_install_problems(str(step['run']))
    return out

def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())

def test_the_checker_catches_what_issue_19_found():
    bad = {'jobs': {'deploy': {'steps': [{'run': 'pip install -Uq nbdev'}, {'uses': 'fastai/workflows/quarto-ghp@master'},
                                         {'uses': 'actions/checkout@v4'}, {'uses': 'actions/checkout@main'},
                                         {'uses': 'actions/checkout'}, {'run': 'pip install "nbdev>=2" pytest'}]},
                    'ci': {'uses': 'fastai/workflows/.github/workflows/nbdev-ci.yaml@master'}}}
    assert len(workflow_problems(bad)) == 7, workflow_problems(bad)
    good = {'jobs': {'t': {'steps': [{'uses': 'actions/checkout@v5.0.0'}, {'uses': f'actions/setup-python@{"a" * 40}'},
                                     {'run': 'pip install -e ".[dev]" && pip install nbdev==2.4.14'}, {'uses': './.github/local'}]}}}
    assert workflow_problems(good) == []

def test_there_are_workflows():
    assert {p.name for p in WORKFLOWS} >= {'test.yaml', 'deploy.yaml', 'release.yaml'}

@pytest.mark.parametrize('path', WORKFLOWS, ids=lambda p: p.name)
def test_workflow_pins_actions_and_nbdev(path):
    workflow = _load(path)
    assert workflow.get('on', workflow.get(True)), f'{path.name}: no trigger (`on:`)'   # YAML 1.1 reads the key `on` as True
    assert workflow_problems(workflow) == []

def test_dev_extra_pins_nbdev():
    "The workflows get nbdev from `.[dev]`, so the pin lives in settings.ini."
    cfg = configparser.ConfigParser(); cfg.read(ROOT / 'settings.ini')
    assert re.search(r'(^|\s)nbdev==\d', cfg['DEFAULT']['dev_requirements']), 'dev_requirements must pin nbdev with =='

def _runs(path: Path) -> str:
    return '\n'.join(str(s.get('run', '')) for s in _steps(_load(path)))

def _uses(path: Path) -> list[str]:
    return [str(s['uses']) for s in _steps(_load(path)) if 'uses' in s]

def test_ci_runs_the_readme_command():
    runs = _runs(ROOT / '.github' / 'workflows' / 'test.yaml')
    assert 'README.md' in runs and 'nbdev_test' in runs

def test_deploy_builds_with_nbdev_2_and_a_pinned_quarto():
    path = ROOT / '.github' / 'workflows' / 'deploy.yaml'
    steps, runs = _steps(_load(path)), _runs(path)
    assert 'pip install -e ".[dev]"' in runs and 'nbdev_docs' in runs
    quarto = [s for s in steps if str(s.get('uses', '')).startswith('quarto-dev/quarto-actions/setup@')]
    assert quarto and quarto[0].get('with', {}).get('version'), 'set up Quarto with an explicit version'
    assert any(u.startswith('actions/deploy-pages@') for u in _uses(path))

def test_release_uses_trusted_publishing():
    path = ROOT / '.github' / 'workflows' / 'release.yaml'
    workflow = _load(path)
    assert workflow.get('on', workflow.get(True))['push']['tags'] == ['v*']
    runs = _runs(path)
    assert 'python -m build' in runs and 'twine check' in runs
    publish = [j for j in workflow['jobs'].values() if any(str(s.get('uses', '')).startswith('pypa/gh-action-pypi-publish@') for s in j.get('steps', []))]
    assert publish and publish[0].get('permissions', {}).get('id-token') == 'write'
