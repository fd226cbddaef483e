"House rules that a reader of `dpti/` relies on (issue 15): no private name crosses a module, one atomic writer, line width."
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / 'dpti'
MODULES = sorted(p for p in PKG.rglob('*.py') if p.name not in ('_modidx.py', '__init__.py') and '__pycache__' not in p.parts)

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

def test_entry_points_take_few_parameters():
    "Public training entry points take at most 6 parameters; the rest is in configs, plans and options (issue 15)."
    import inspect
    from dpti.ti import train_ti, train_per_image_ti, train_record_group
    from dpti.dp_ti import train_dp_ti
    from dpti.dpagg import train_dpagg_ti
    from dpti.methods import Method
    counts = {f.__qualname__: len(inspect.signature(f).parameters)
              for f in (train_ti, train_per_image_ti, train_record_group, train_dp_ti, train_dpagg_ti, Method.run)}
    assert max(counts.values()) <= 6, counts

def test_one_training_loop():
    "One module steps an optimiser: `dpti.ti`'s `TILoop` (the toy model's pretraining trains other weights)."
    steppers = {p.relative_to(PKG).as_posix(): p.read_text().count('optimizer.step()') for p in MODULES}
    assert {k: v for k, v in steppers.items() if v} == {'ti.py': 1}, steppers

def test_cli_is_small():
    "The command line only parses, calls the library and prints: its options come from the library's signatures."
    assert len((PKG / 'cli.py').read_text().splitlines()) <= 350
