"No Hub id that the Hub has removed (issue #19): the docs, the code, the benchmarks and the tests name live models only."
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
from dpti.models import REMOVED_MODEL_IDS as REMOVED      # removed from the Hub → where the model lives now

def scanned_files() -> list[Path]:
    "README, every notebook, the package, the benchmarks and the tests (this file names the removed ids on purpose)."
    files = [ROOT / 'README.md', *(ROOT / 'nbs').rglob('*.ipynb'), *(ROOT / 'dpti').rglob('*.py'),
             *(p for p in (ROOT / 'bench').rglob('*') if p.is_file()), *(ROOT / 'tests').rglob('*.py')]
    return sorted(p for p in files if p.resolve() != Path(__file__).resolve() and '.ipynb_checkpoints' not in p.parts
                  and '__pycache__' not in p.parts)

def removed_ids(text: str) -> list[tuple[int, str]]:
    "(line number, removed id) for each removed Hub id in `text` on a line that does not also name its replacement."
    return [(i, old) for i, line in enumerate(text.splitlines(), 1) for old, new in REMOVED.items() if old in line and new not in line]

def test_the_scan_finds_a_removed_id_and_spares_live_ones():
    assert removed_ids('a\nload_pipeline("runwayml/stable-diffusion-v1-5")') == [(2, 'runwayml/stable-diffusion-v1-5')]
    assert removed_ids('CompVis/stable-diffusion-v1-4 stable-diffusion-v1-5/stable-diffusion-v1-5 stabilityai/stable-diffusion-xl-base-1.0') == []
    assert removed_ids("'runwayml/stable-diffusion-v1-5': 'stable-diffusion-v1-5/stable-diffusion-v1-5'") == []   # pointing at the mirror

def test_loading_a_removed_id_names_its_replacement(monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')                     # no network here: the local cache is searched, and misses
    from dpti.models import ModelNotAvailableError, load_pipeline
    with pytest.raises(ModelNotAvailableError, match="use its mirror 'stable-diffusion-v1-5/stable-diffusion-v1-5'"):
        load_pipeline('runwayml/stable-diffusion-v1-5', device='cpu')

def test_no_removed_model_ids():
    found = [f'{p.relative_to(ROOT)}:{line}: {old} (use {REMOVED[old]})'
             for p in scanned_files() for line, old in removed_ids(p.read_text(errors='replace'))]
    assert not found, 'removed Hub ids:\n' + '\n'.join(found)
