"""The documentation site renders (issues #10, #19): nbdev's processors, nbconvert to HTML, headless Chromium screenshots;
every internal link and anchor resolves; the sidebar lists every page; every export documented; committed outputs clean."""
import importlib, inspect, json, re, shutil, subprocess, sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit
import pytest, yaml

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')
PAGES = {'index': 2, 'tutorials/02_privacy_utility': 2}   # page → at least this many embedded images (plots, grids)

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "The notebooks processed as `nbdev_proc_nbs` does (without Quarto), and the pages in PAGES as standalone HTML."
    d = tmp_path_factory.mktemp('site')
    shutil.copy(ROOT / 'settings.ini', d); shutil.copytree(ROOT / 'nbs', d / 'nbs')
    res = subprocess.run([sys.executable, '-c', 'from nbdev.serve import proc_nbs; proc_nbs(n_workers=0, force=True)'],
                         cwd=d, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    from nbconvert import HTMLExporter
    exporter = HTMLExporter(embed_images=True)
    for nb in _notebooks(d / '_proc'):
        html, _ = exporter.from_filename(str(nb), resources={'metadata': {'path': str(nb.parent)}})
        nb.with_suffix('.html').write_text(html)
    return d / '_proc'

def _notebooks(folder: Path) -> list[Path]:
    "The pages' notebooks under `folder` (not `_`-prefixed, not in hidden or `_` folders, no checkpoints)."
    return sorted(p for p in folder.rglob('*.ipynb') if not any(part.startswith(('_', '.')) for part in p.relative_to(folder).parts))

def test_every_notebook_is_processed(site):
    expected = {p.relative_to(ROOT / 'nbs').with_suffix('') for p in (ROOT / 'nbs').rglob('*.ipynb') if not p.name.startswith('_')}
    assert expected <= {p.relative_to(site).with_suffix('') for p in site.rglob('*.ipynb')}

def test_every_page_renders_without_errors(site):
    for nb in _notebooks(site):
        html = nb.with_suffix('.html').read_text()
        assert 'Traceback' not in html and 'data-mime-type="application/vnd.jupyter.stderr"' not in html, f'{nb.relative_to(site)}: an error shows'

def test_quarto_finds_the_sidebar(site):
    "nbdev copies `nbs/sidebar.yml` next to `_quarto.yml`, which reads it (`metadata-files`)."
    assert (site / 'sidebar.yml').exists()
    assert 'sidebar.yml' in yaml.safe_load((site / '_quarto.yml').read_text())['metadata-files']

def pandoc_id(text: str) -> str:
    "The identifier pandoc (and so Quarto) gives a heading: letters, digits, `_-.` kept, spaces to `-`, lower case, from the first letter."
    kept = ''.join(c for c in text.strip() if c.isalnum() or c in '_-.' or c.isspace())
    ident = re.sub(r'\s+', '-', kept).lower()
    ident = re.sub(r'^[^a-z\u00c0-\uffff]+', '', ident)
    return ident or 'section'

class _Page(HTMLParser):
    "The link targets (`<a href>`, `<img src>`), `id` attributes and heading ids (pandoc's rule) of one HTML page."
    def __init__(self):
        super().__init__(); self.links, self.ids, self._heading, self._skip, self._pandoc = [], set(), None, 0, set()
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get('id') and not re.fullmatch(r'h[1-6]', tag): self.ids.add(a['id'])   # headings: the id Quarto gives, below
        if tag == 'a' and a.get('href') and 'anchor-link' not in (a.get('class') or ''): self.links.append(a['href'])
        if tag == 'img' and a.get('src'): self.links.append(a['src'])
        if re.fullmatch(r'h[1-6]', tag): self._heading = []
        if tag == 'a' and 'anchor-link' in (a.get('class') or '') and self._heading is not None: self._skip += 1
    def handle_endtag(self, tag):
        if tag == 'a' and self._skip: self._skip -= 1
        if re.fullmatch(r'h[1-6]', tag) and self._heading is not None:
            base, n = pandoc_id(''.join(self._heading)), 1
            ident = base
            while ident in self._pandoc: ident, n = f'{base}-{n}', n + 1     # pandoc numbers repeated headings
            self._pandoc.add(ident); self.ids.add(ident); self._heading = None
    def handle_data(self, data):
        if self._heading is not None and not self._skip: self._heading.append(data)

def _parse(html_path: Path) -> _Page:
    page = _Page(); page.feed(html_path.read_text()); return page

def _output_files(site: Path) -> dict[str, Path]:
    "Each page's HTML name on the real site (nbdev's front matter `output-file`, relative to `site`) → its notebook."
    out = {}
    for nb in _notebooks(site):
        name = nb.with_suffix('.html').name
        for cell in json.loads(nb.read_text())['cells'][:1]:
            src = ''.join(cell['source'])
            if cell['cell_type'] == 'raw' and src.startswith('---'): name = (yaml.safe_load(src.strip().strip('-')) or {}).get('output-file', name)
        out[(nb.parent.relative_to(site) / name).as_posix()] = nb
    return out

def _doc_site() -> str:
    "The site's address as nbdev writes it into doc links (`doc_host` + `doc_baseurl`)."
    import configparser
    cfg = configparser.ConfigParser(); cfg.read(ROOT / 'settings.ini')
    d = cfg['DEFAULT']
    return (d['doc_host'] + d['doc_baseurl']).rstrip('/') + '/'

def broken_links(site: Path) -> list[str]:
    "Every internal link of every rendered page whose target page, file or anchor does not exist."
    html_of = _output_files(site)
    parsed = {nb: _parse(nb.with_suffix('.html')) for nb in _notebooks(site)}
    host, out = _doc_site(), []
    for nb, page in parsed.items():
        here = nb.relative_to(site)
        for link in page.links:
            if link.startswith(host): rel, base = link[len(host):], Path('.')
            elif urlsplit(link).scheme or link.startswith('//'): continue          # http(s), mailto, data: …
            else: rel, base = link, here.parent
            parts = urlsplit(rel)
            target, anchor = unquote(parts.path), unquote(parts.fragment)
            if not target: target_nb = nb
            else:
                resolved = _normalise((base / target).as_posix())
                if resolved.endswith(('.ipynb', '.md', '.qmd')): target_nb = site / Path(resolved).with_suffix('.ipynb')
                elif resolved.endswith('.html'): target_nb = html_of.get(resolved)
                else:
                    if not (site / resolved).exists(): out.append(f'{here}: {link} (no such file)')
                    continue
                if target_nb is None or not target_nb.exists(): out.append(f'{here}: {link} (no such page)'); continue
            if anchor and anchor not in parsed[target_nb].ids: out.append(f'{here}: {link} (no such anchor)')
    return out

def _normalise(path: str) -> str:
    "`a/../b` → `b` (a path that climbs above the site stays as it is, and will not exist)."
    parts = []
    for p in path.split('/'):
        if p == '..' and parts and parts[-1] != '..': parts.pop()
        elif p not in ('', '.'): parts.append(p)
    return '/'.join(parts)

def test_link_checker_catches_broken_links(tmp_path):
    (tmp_path / 'sub').mkdir()
    (tmp_path / 'a.ipynb').write_text(json.dumps({'cells': []}))
    (tmp_path / 'a.html').write_text('<h2 id="Threat-model">Threat model<a class="anchor-link" href="#Threat-model">¶</a></h2>')
    (tmp_path / 'sub' / 'b.ipynb').write_text(json.dumps({'cells': []}))
    (tmp_path / 'sub' / 'b.html').write_text('<a href="../a.ipynb#threat-model">ok</a> <a href="../a.ipynb#nope">bad anchor</a>'
                                              '<a href="../missing.ipynb">bad page</a> <a href="https://example.org/x">external</a>'
                                              '<a href="#">top</a> <img src="../none.png">')
    assert broken_links(tmp_path) == ['sub/b.ipynb: ../a.ipynb#nope (no such anchor)', 'sub/b.ipynb: ../missing.ipynb (no such page)',
                                      'sub/b.ipynb: ../none.png (no such file)']

def test_internal_links_and_anchors_resolve(site):
    broken = broken_links(site)
    assert not broken, 'broken links:\n' + '\n'.join(broken)

def _sidebar_entries(node) -> list[str]:
    "Every page named in a Quarto sidebar `contents` tree."
    if isinstance(node, str): return [node]
    if isinstance(node, list): return [e for n in node for e in _sidebar_entries(n)]
    if isinstance(node, dict): return ([node['href']] if 'href' in node else []) + _sidebar_entries(node.get('contents', []))
    return []

def sidebar_pages() -> list[str]:
    return _sidebar_entries(yaml.safe_load((ROOT / 'nbs' / 'sidebar.yml').read_text())['website']['sidebar']['contents'])

def test_sidebar_lists_every_page():
    pages = {p.relative_to(ROOT / 'nbs').as_posix() for p in _notebooks(ROOT / 'nbs')}
    listed = sidebar_pages()
    assert sorted(pages - set(listed)) == [], 'add these pages to nbs/sidebar.yml'
    assert len(listed) == len(set(listed)), 'a page is listed twice'
    explanations = {p for p in pages if p.startswith('explanations/')}
    assert {'explanations/privacy_guarantees.ipynb', 'explanations/formats.ipynb', 'explanations/cli.ipynb'} <= explanations

def test_sidebar_entries_exist():
    missing = [p for p in sidebar_pages() if not (ROOT / 'nbs' / p).exists()]
    assert not missing, f'nbs/sidebar.yml names pages that do not exist: {missing}'

def test_sidebar_is_committed_not_generated():
    "With custom_sidebar = False, nbdev_docs would overwrite nbs/sidebar.yml with a flat listing."
    import configparser
    cfg = configparser.ConfigParser(); cfg.read(ROOT / 'settings.ini')
    assert cfg['DEFAULT'].getboolean('custom_sidebar')
    assert 'sidebar.yml' not in (ROOT / '.gitignore').read_text()

@pytest.mark.parametrize('chapter', sorted(p.name for p in (ROOT / 'nbs').glob('0*.ipynb')))
def test_chapter_shows_outputs(chapter):
    "A rendered chapter shows values: at least one code cell keeps its outputs."
    cells = json.loads((ROOT / 'nbs' / chapter).read_text())['cells']
    assert any(c['cell_type'] == 'code' and c.get('outputs') for c in cells), f'{chapter}: no code cell has outputs; run tools/execute_nbs.py'

@pytest.mark.parametrize('page', PAGES)
def test_pages_show_plots_and_no_errors(site, page):
    html = (site / f'{page}.html').read_text()
    assert html.count('data:image/png;base64') >= PAGES[page], 'the plot images are missing'
    assert 'Traceback' not in html and 'data-mime-type="application/vnd.jupyter.stderr"' not in html

@pytest.mark.skipif(CHROMIUM is None, reason='Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)')
@pytest.mark.parametrize('page', PAGES)
def test_chromium_renders_page(site, page, tmp_path):
    from PIL import Image
    import numpy as np
    shot = tmp_path / 'page.png'
    flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
             '--disable-component-update', '--disable-sync', f'--user-data-dir={tmp_path / "profile"}', '--hide-scrollbars',
             '--window-size=1280,4000', f'--screenshot={shot}']
    res = subprocess.run([CHROMIUM, *flags, (site / f'{page}.html').as_uri()], capture_output=True, text=True, timeout=180)
    assert shot.exists(), res.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert('RGB')).astype(int)
    saturated = (pixels.max(-1) - pixels.min(-1) > 60).mean()     # coloured pixels: the plot's lines and the images
    assert saturated > 0.002, f'the rendered page shows almost no colour ({saturated:.4f}); is the plot missing?'

def test_every_exported_symbol_has_a_docstring():
    missing = []
    for path in sorted((ROOT / 'dpti').rglob('*.py')):
        if path.name.startswith('_') or '__pycache__' in path.parts: continue
        module = importlib.import_module('.'.join(('dpti', *path.relative_to(ROOT / 'dpti').with_suffix('').parts)))
        for name in getattr(module, '__all__', []):
            obj = getattr(module, name)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)): continue
            doc = obj.__doc__ or ''
            if not doc.strip() or doc.startswith(f'{name}('): missing.append(f'{module.__name__}.{name}')
    assert not missing, f'no docstring: {missing}'

def test_committed_outputs_have_no_errors_or_warning_floods():
    for path in sorted((ROOT / 'nbs').rglob('*.ipynb')):
        for cell in json.loads(path.read_text())['cells']:
            for out in cell.get('outputs', []):
                text = ''.join(out.get('text', ''))
                assert out['output_type'] != 'error', f'{path.name}: an error output'
                assert 'Traceback' not in text, f'{path.name}: a traceback'
                if out.get('name') == 'stderr': assert len(text.splitlines()) <= 3, f'{path.name}: {len(text.splitlines())} lines on stderr'
