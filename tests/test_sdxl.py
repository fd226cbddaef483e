"SDXL (issue 20): DP-TI and DPAgg-TI on the tiny SDXL pipeline, files diffusers loads in a fresh process, the CLI."
# The per-example independence test and DP-TI at ε = ∞ = TI on SDXL live in nbs/03_ti.ipynb and nbs/04_dp_ti.ipynb.
import json, os, shutil, subprocess, sys
from pathlib import Path
import pytest, torch
from PIL import Image
from dpti.dp_ti import clipped_sum, make_dp_ti_plan, train_dp_ti
from dpti.dpagg import initializer_ids, make_dpagg_plan, normalize_embeddings, public_center, train_dpagg_ti
from dpti.models import load_embeddings, load_pipeline, save_embeddings, split_embedding, tiny_pipeline
from dpti.privacy import PrivacyReport
from dpti.ti import TIConfig, TrainingOptions, cache_latents, per_example_grads, prepare_ti, train_ti

DIMS = (32, 48)          # the tiny SDXL pipeline's encoders (SDXL: 768 and 1280)
DPTI = shutil.which('dpti') or pytest.fail('the dpti console script is not installed')

def stripes(n: int = 6, size: int = 32) -> list[torch.Tensor]:
    "n images [3, size, size] in [-1, 1]: a colour with a stripe pattern each."
    g = torch.Generator().manual_seed(0)
    colours = torch.rand(n, 3, 1, 1, generator=g) * 2 - 1
    pattern = (torch.arange(size) // (2 + torch.arange(n)[:, None]) % 2).float()[:, None, None, :]
    return list((colours * (0.5 + 0.5 * pattern)).expand(n, 3, size, size).clone())

def config(**kw) -> TIConfig:
    base = dict(placeholder_token='<xl>', num_vectors=2, resolution=32, train_batch_size=2, max_train_steps=2,
                learning_rate=0.05, scale_lr=False, num_views=1, seed=3)
    return TIConfig(**(base | kw))

@pytest.fixture()
def xl():
    return load_pipeline('tiny-random-xl', device='cpu')

def test_dp_ti_clips_both_encoders_jointly(xl):
    "One example's gradient is its rows in both encoders side by side; clipping scales that one vector to C."
    inputs = prepare_ti(xl, config())
    latents = cache_latents(xl.vae, stripes(3), 1, torch.Generator().manual_seed(0))
    generators = [torch.Generator().manual_seed(j) for j in range(3)]
    rows = torch.zeros(3, dtype=torch.long)                              # DP-TI: every example reads the one embedding
    grads, _ = per_example_grads(xl, inputs.init_embedding[None], rows, latents, inputs.input_ids, generators,
                                 placeholder_ids=inputs.placeholder_ids)
    assert grads.shape == (3, 2, sum(DIMS)) and all(p.abs().max() > 0 for p in split_embedding(grads, DIMS))
    scaled = lambda g, C: (g / g.flatten(1).norm(dim=1).view(-1, 1, 1) * C).sum(0)
    C = 1e-3 * float(grads.flatten(1).norm(dim=1).min())                # every example is clipped
    torch.testing.assert_close(clipped_sum(grads, C), scaled(grads, C))
    per_encoder = torch.cat([scaled(p, C) for p in split_embedding(grads, DIMS)], -1)
    assert (clipped_sum(grads, C) - per_encoder).abs().max() > 1e-3 * C  # clipping each encoder to C: another mechanism

def private_dp_ti(pipe):
    "One private DP-TI step on the six stripe images (ε = 8, RDP for speed)."
    cfg = config(max_train_steps=1)
    plan = make_dp_ti_plan(cfg, 6, target_epsilon=8.0, delta=1e-3, accountant='rdp')
    return train_dp_ti(pipe, stripes(), cfg, plan, TrainingOptions(progress=False))

def test_dp_ti_report_states_dimension(xl):
    result = private_dp_ti(xl)
    assert result.report.extra['encoder_dims'] == list(DIMS) and result.report.extra['dimension'] == 2 * sum(DIMS)
    assert result.embedding.shape == (2, sum(DIMS)) and result.embedding.dtype == torch.float32

def test_dpagg_noise_off_is_the_normalised_mean(xl, tmp_path):
    "With m = n and negligible noise the release is c + the mean of the centred embeddings, each scaled to C jointly."
    cfg = config(max_train_steps=2)
    with pytest.warns(UserWarning, match='NOT differentially private'):
        plan = make_dpagg_plan(xl, cfg, 6, m=6, noise_multiplier=1e-6, delta=1e-3, norm=0.5, output_norm=None)
        options = TrainingOptions(progress=False, per_image_batch_size=6, save_per_image=tmp_path / 'per_image.safetensors')
        result = train_dpagg_ti(xl, stripes(), cfg, plan, options)
    per_image = load_embeddings(tmp_path / 'per_image.safetensors')[0]['per_image_embeddings']
    c = public_center('initializer', xl, initializer_ids(xl, cfg.initializer_token), cfg.num_vectors)
    assert per_image.shape == (6, 2, sum(DIMS)) and c.shape == (2, sum(DIMS))
    u = normalize_embeddings(per_image, 0.5, c)
    torch.testing.assert_close(u.flatten(1).norm(dim=1), torch.full((6,), 0.5))      # joint norm C, not C per encoder
    torch.testing.assert_close(result.embedding, c + u.mean(0), atol=1e-5, rtol=0)   # noise std σ·2C/m = 1.7e-7
    assert (result.report.extra['dimension'], result.report.extra['encoder_dims']) == (2 * sum(DIMS), list(DIMS))
    assert (result.embedding - c).abs().max() > 1e-3

LOAD_SDXL = """
import json, sys
from diffusers import StableDiffusionXLPipeline
from safetensors.torch import load_file
pipe = StableDiffusionXLPipeline.from_pretrained(sys.argv[1], local_files_only=True)
state, token = load_file(sys.argv[2]), sys.argv[3]
pipe.load_textual_inversion(state['clip_g'], token=token, text_encoder=pipe.text_encoder_2, tokenizer=pipe.tokenizer_2)
pipe.load_textual_inversion(state['clip_l'], token=token, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer)
rows = [enc.get_input_embeddings().weight[tok.convert_tokens_to_ids([token, token + '_1'])].tolist()
        for tok, enc in [(pipe.tokenizer, pipe.text_encoder), (pipe.tokenizer_2, pipe.text_encoder_2)]]
print(json.dumps(rows))
"""

def test_dp_ti_file_round_trips_through_fresh_sdxl_pipeline(tmp_path):
    "A DP-TI release on SDXL: clip_l [k, 32], clip_g [k, 48] and the report; diffusers' two-call load: the exact rows."
    pipe = tiny_pipeline(xl=True)
    pipe.save_pretrained(tmp_path / 'pipe')
    result = private_dp_ti(pipe)
    path = result.save(tmp_path / 'out')
    tensors, meta = load_embeddings(path)
    assert {k: tuple(v.shape) for k, v in tensors.items()} == {'clip_l': (2, 32), 'clip_g': (2, 48)}
    assert PrivacyReport.from_metadata(meta).epsilon == result.report.epsilon
    assert (tmp_path / 'out' / 'privacy_report.json').exists()
    res = subprocess.run([sys.executable, '-c', LOAD_SDXL, tmp_path / 'pipe', path, '<xl>'], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    rows = json.loads(res.stdout.strip().splitlines()[-1])
    for loaded, expected in zip(rows, split_embedding(result.embedding, DIMS), strict=True):
        assert torch.equal(torch.tensor(loaded), expected)

def test_mixed_precision_keeps_rows_fp32_and_validation_images(xl):
    validation = dict(validation_prompt='a cat in the style of {}', validation_steps=2, num_validation_images=1,
                      validation_inference_steps=2)
    result = train_ti(xl, stripes(), config(mixed_precision='bf16', **validation), progress=False)
    assert result.embedding.dtype == torch.float32 and torch.isfinite(result.embedding).all()
    (step, images), = result.validation_images
    assert step == 2 and images[0].size == (32, 32)

# ---- the CLI, as users run it ----

@pytest.fixture(scope='module')
def image_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp('data')
    for i in range(6):
        im = Image.new('RGB', (32, 32), (200 + 6 * i, 40, 30))
        for x in range(0, 32, 3 + i % 2):
            for y in range(32): im.putpixel((x, y), (20, 20, 200))
        im.save(folder / f'{i}.png')
    return folder

def dpti(*args, tmp_path):
    env = {**os.environ, 'DPTI_LEDGER_DIR': str(tmp_path / 'ledger')}
    return subprocess.run([DPTI, *map(str, args)], capture_output=True, text=True, env=env, timeout=300)

@pytest.mark.parametrize('method,extra', [('dp-ti', ['--epsilon', 8, '--delta', 1e-3, '--accountant', 'rdp']),
                                          ('dpagg-ti', ['--m', 4, '--epsilon', 4, '--delta', 1e-3])])
def test_cli_train_sdxl(method, extra, image_folder, tmp_path):
    "`dpti train --model tiny-random-xl` writes clip_l and clip_g rows; the report's dimension spans both encoders."
    out = tmp_path / 'out'
    res = dpti('train', '--method', method, '--model', 'tiny-random-xl', '--data', image_folder, '--out', out,
               '--steps', 2, '--batch-size', 2, '--num-views', 1, '--num-vectors', 2, '--quiet', '--json', *extra,
               tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    tensors, meta = load_embeddings(out)
    assert {k: tuple(v.shape) for k, v in tensors.items()} == {'clip_l': (2, 32), 'clip_g': (2, 48)}
    report = PrivacyReport.from_metadata(meta)
    assert report.method == method and report.extra['dimension'] == 2 * sum(DIMS)

def test_cli_generate_sdxl(tmp_path):
    "`dpti generate` loads an SDXL file into both encoders and writes the images."
    save_embeddings(tmp_path / 'embeds', {'<xl>': torch.randn(2, sum(DIMS))}, encoder_dims=DIMS)
    res = dpti('generate', '--model', 'tiny-random-xl', '--embeds', tmp_path / 'embeds',
               '--prompt', 'a cup in the style of {}', '-n', 1, '--num-inference-steps', 2, '--out', tmp_path / 'images',
               '--quiet', '--json', tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)['prompt'] == 'a cup in the style of <xl>'
    assert Image.open(tmp_path / 'images' / '0000.png').size == (32, 32)
