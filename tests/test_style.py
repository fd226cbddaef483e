"House rules that a reader of `dpti/` relies on (issue 15): no private name crosses a module, one atomic writer, line width."
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / 'dpti'
MODULES = sorted(p for p in PKG.glob('*.py') if p.name not in ('_modidx.py', '__init__.py'))

def private_imports(path: Path) -> list[str]:
    "`module._name` for every private name `path` imports from another dpti module."
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or '').startswith('dpti')):
            out += [f'{node.module}.{a.name}' for a in node.names if a.name.startswith('_') and not a.name.startswith('__')]
    return out

def test_no_private_name_crosses_a_module():
    found = {p.name: private_imports(p) for p in MODULES}
    assert not {k: v for k, v in found.items() if v}, found

def test_one_atomic_writer():
    "Only `dpti.core.atomic_write` renames a temporary file onto a target."
    assert [p.name for p in MODULES if 'os.replace(' in p.read_text()] == ['core.py']

def test_line_width_does_not_grow():
    "At most 3 % of lines over 120 columns, as in fastcore and nbdev (issue 15)."
    lines = [l for p in MODULES for l in p.read_text().splitlines()]
    share = sum(len(l) > 120 for l in lines) / len(lines)
    assert share <= 0.03, f'{share:.1%} of lines in dpti/ exceed 120 columns'
