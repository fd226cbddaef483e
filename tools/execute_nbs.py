"""Execute notebooks on the CPU with execnb and keep the outputs a reader should see.

Usage: `python tools/execute_nbs.py [NOTEBOOK ...]`. Without arguments: the chapters `nbs/0*.ipynb`, the tutorials
except `01_sd15_gpu` (its outputs come from a GPU) and the explanation pages.

Cells flagged `#| slow` or `#| gpu`, cells with `#| eval: false` and the `nbdev_export()` cell are not run (they keep
whatever outputs they had). Progress bars and library warnings are silenced, stderr outputs are dropped, and absolute
paths of this machine are shortened, so a committed page shows no progress-bar flood, no warning and no `/tmp/...`.
A notebook whose cell raises is left unchanged (exit code 1). Each written notebook is cleaned with `nbdev_clean`.
"""
import os, re, subprocess, sys, time
from pathlib import Path

QUIET_ENV = {'TQDM_DISABLE': '1', 'HF_HUB_DISABLE_PROGRESS_BARS': '1', 'DIFFUSERS_VERBOSITY': 'error',
             'TRANSFORMERS_VERBOSITY': 'error', 'PYTHONWARNINGS': 'ignore', 'TOKENIZERS_PARALLELISM': 'false'}
os.environ.update(QUIET_ENV)        # before any library is imported: the notebooks run in this process

from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'
SKIP_FLAGS = {'slow', 'gpu'}
NOT_EXECUTED = {'tutorials/01_sd15_gpu.ipynb'}
DIRECTIVE = re.compile(r'^\s*#\s*\|\s*(.*?)\s*$')
ABS_PATH = re.compile(r'''(?<![\w.])(?:/work|/tmp|/root|/home|/Users|/private/var)(?:/[^\s'"`,;:()\[\]{}<>]*)?''')

def default_notebooks() -> list[Path]:
    "The chapters, the tutorials that run on a CPU and the explanation pages."
    tutorials = [p for p in sorted((NBS / 'tutorials').glob('*.ipynb')) if str(p.relative_to(NBS)) not in NOT_EXECUTED]
    return sorted(NBS.glob('0*.ipynb')) + tutorials + sorted((NBS / 'explanations').glob('*.ipynb'))

def directives(source: str) -> dict[str, str]:
    "The leading `#| key: value` / `#| flag` lines of a code cell, as {key: value} (flags map to '')."
    out = {}
    for line in source.splitlines():
        if not line.strip(): continue
        m = DIRECTIVE.match(line)
        if not m: break
        words = m.group(1).split()
        if not words: continue
        key, value = m.group(1).split(':', 1) if ':' in words[0] else (words[0], '')
        out[key.strip()] = value.strip()
    return out

def skipped(cell) -> bool:
    "True for cells that are not run: markdown, `#| slow`/`#| gpu`, `#| eval: false`, and the `nbdev_export()` cell."
    if cell.cell_type != 'code': return True
    d = directives(cell.source)
    return bool(SKIP_FLAGS & d.keys()) or d.get('eval', '').lower() == 'false' or 'nbdev_export' + '(' in cell.source

def shorten_paths(text: str) -> str:
    "Paths inside the repository relative to it; other absolute paths of this machine reduced to `…/name`."
    def repl(m):
        p = m.group(0).rstrip('.')
        tail = m.group(0)[len(p):]
        try: return str(Path(p).relative_to(ROOT)) + tail
        except ValueError: return ('…/' + Path(p).name if Path(p).name else '…') + tail
    return ABS_PATH.sub(repl, text)

def _clean_text(value):
    if isinstance(value, list): return [shorten_paths(v) for v in value]
    return shorten_paths(value) if isinstance(value, str) else value

def clean_outputs(outputs: list) -> list:
    "Drop stderr streams; shorten absolute paths in text outputs (images are left alone)."
    out = []
    for o in outputs:
        if o.get('output_type') == 'stream':
            if o.get('name') == 'stderr': continue
            o['text'] = _clean_text(o['text'])
        if 'data' in o:
            for mime in list(o['data']):
                if mime.startswith('text/') or mime in ('application/json',): o['data'][mime] = _clean_text(o['data'][mime])
        out.append(o)
    return out

def execute(path: Path) -> bool:
    "Run `path`'s cells (except the skipped ones) in a fresh shell and write the outputs back; False if a cell raised."
    nb = read_nb(path)
    shell = CaptureShell(path)
    shell.run("import warnings; warnings.filterwarnings('ignore')")
    def pre(cell):
        if skipped(cell): return True
        cell.outputs = []
        return False
    cwd = os.getcwd()
    os.chdir(path.parent)
    try: shell.run_all(nb, exc_stop=True, preproc=pre)
    except BaseException as e:
        print(f'{path.relative_to(ROOT)}: cell {getattr(shell, "_cell_idx", "?")} raised {type(e).__name__}: {e}; notebook left unchanged', file=sys.stderr)
        return False
    finally: os.chdir(cwd)
    for cell in nb.cells:
        if cell.cell_type == 'code': cell.outputs = clean_outputs([dict(o) for o in cell.get('outputs', [])])
    write_nb(nb, path)
    subprocess.run(['nbdev_clean', '--fname', str(path)], check=True, cwd=ROOT)
    return True

def main(args: list[str]) -> int:
    paths = [Path(a).resolve() for a in args] or default_notebooks()
    missing = [str(p) for p in paths if not p.exists()]
    if missing: print(f'no such notebook: {", ".join(missing)}', file=sys.stderr); return 2
    failed = []
    for path in paths:
        start = time.time()
        ok = execute(path)
        print(f'{"ok    " if ok else "FAILED"} {path.relative_to(ROOT)} ({time.time() - start:.0f} s)')
        if not ok: failed.append(path)
    return 1 if failed else 0

if __name__ == '__main__': sys.exit(main(sys.argv[1:]))
