"""The toy world's hyper-parameter sweep reads public styles only (issue #16 item 3): every icon it renders is
recorded, and none may be of a private style — not the styles it scores, not the public scales' style."""
import dataclasses, tempfile
from pathlib import Path
import pytest
import dpti.toy.demo, dpti.toy.model, dpti.toy.score, dpti.toy.world
from dpti.toy.world import PRIVATE_STYLES, PUBLIC_STYLES, ToyStyleError
from dpti.toy.demo import ToyDemoConfig, public_hparam_sweep, run_toy_demo

TINY = dict(n=4, seeds=1, steps=1, batch_size=2, dp_steps=1, dp_batch_size=2, per_image_steps=1, images_per_prompt=1,
            num_inference_steps=1, public_images=2)

@pytest.fixture
def rendered(monkeypatch):
    "The name of the style of every icon rendered while the test runs."
    names, render = [], dpti.toy.world.render_icon
    def recording(shape, style, *args, **kwargs):
        names.append(style.name)
        return render(shape, style, *args, **kwargs)
    for module in (dpti.toy.world, dpti.toy.model, dpti.toy.score, dpti.toy.demo):   # wherever a toy module holds it
        if hasattr(module, 'render_icon'): monkeypatch.setattr(module, 'render_icon', recording)
    return names

def test_sweep_touches_only_public_styles(rendered):
    trials = [dict(method='ti'), dict(method='dp-ti'), dict(method='dpagg-ti', per_image_learning_rate=2e-2)]
    rows = public_hparam_sweep(trials, styles=('public-03',), config=ToyDemoConfig(**TINY), epsilon=4.0)
    assert rendered and set(rendered) <= {s.name for s in PUBLIC_STYLES}
    assert set(rendered) == {'public-03', ToyDemoConfig().public_style}
    assert {r['style'] for r in rows} == {'public-03'} and {r['method'] for r in rows} == {'ti', 'dp-ti', 'dpagg-ti'}

@pytest.mark.parametrize('style', [s.name for s in PRIVATE_STYLES])
def test_sweep_refuses_a_private_style_before_rendering(rendered, style):
    with pytest.raises(ToyStyleError, match='public styles only'):
        public_hparam_sweep([dict(method='ti')], styles=('public-03', style))
    assert rendered == []

def test_demo_in_two_processes_matches_one():
    "`run_toy_demo` with one process per style: the same rows in the same order; non-private cells equal to the last digit."
    cfg = ToyDemoConfig(n=4, seeds=1, epsilons=(4.0,), steps=2, batch_size=2, dp_steps=2, dp_batch_size=2, per_image_steps=2,
                        images_per_prompt=1, num_inference_steps=2, reference_images=8, public_images=2)
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        one = run_toy_demo(a, dataclasses.replace(cfg, workers=1), progress=False)
        two = run_toy_demo(b, dataclasses.replace(cfg, workers=2), progress=False)
        assert (Path(b) / 'results.csv').exists() and (Path(b) / 'privacy_utility.png').exists()
    assert [(r['style'], r['method'], r['epsilon']) for r in one] == [(r['style'], r['method'], r['epsilon']) for r in two]
    for x, y in zip(one, two):
        if x['method'] in ('base', 'ti'): assert x['style_distance'] == y['style_distance'], (x, y)
