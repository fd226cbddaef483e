"""Per-image captions on disk (`name.txt` beside the image, 🤗 ImageFolder's `metadata.jsonl`): what is read, and
every bad input refused with a message that names the file and the fix."""
import json, re, warnings
from pathlib import Path
import pytest
from PIL import Image
from dpti.data import CaptionError, load_images, record_hashes, record_prompts

def _image(path: Path, colour=(255, 0, 0)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new('RGB', (12, 12), colour).save(path)
    return path

def _jsonl(path: Path, *entries) -> Path:
    "Write `entries` (dicts, or raw strings for malformed lines) one per line."
    path.write_text(''.join((e if isinstance(e, str) else json.dumps(e)) + '\n' for e in entries), encoding='utf-8')
    return path

def _captions(folder: Path, **kwargs) -> list:
    return load_images(folder, 8, **kwargs).captions

# ---- name.txt beside name.png ----

def test_txt_caption_bom_crlf_and_lines_normalised(tmp_path):
    _image(tmp_path / 'a.png')
    (tmp_path / 'a.txt').write_bytes('\ufeff  a red square,\r\nseen\tfrom above \r\n'.encode('utf-8'))
    ds = load_images(tmp_path, 8)
    assert ds.captions == ['a red square, seen from above'] and ds[0].caption == 'a red square, seen from above'
    assert (ds.summary.num_captions, ds.summary.num_non_image_ignored) == (1, 0)

@pytest.mark.parametrize('data', ['café'.encode('latin-1'), 'a cat'.encode('utf-16')], ids=['latin-1', 'utf-16'])
def test_txt_not_utf8(tmp_path, data):
    _image(tmp_path / 'a.png'); (tmp_path / 'a.txt').write_bytes(data)
    with pytest.raises(CaptionError, match=r'caption file a\.txt is not valid UTF-8 .*save it as UTF-8'):
        load_images(tmp_path, 8)

def test_txt_empty_or_with_braces(tmp_path):
    _image(tmp_path / 'a.png'); _image(tmp_path / 'b.png', (0, 0, 255))
    (tmp_path / 'a.txt').write_text('a cat'); (tmp_path / 'b.txt').write_text(' \n\t ')
    with pytest.raises(CaptionError, match=r'caption file b\.txt: the caption is empty'): load_images(tmp_path, 8)
    (tmp_path / 'b.txt').write_text('a {} dog')
    with pytest.raises(CaptionError, match=r'caption file b\.txt: the caption contains \{ or \}.*remove the braces'):
        load_images(tmp_path, 8)

def test_txt_without_its_image(tmp_path):
    _image(tmp_path / 'a.png'); (tmp_path / 'a.txt').write_text('a cat')
    (tmp_path / 'gone.txt').write_text('a deleted picture')
    (tmp_path / 'sub').mkdir(); (tmp_path / 'sub' / 'a.txt').write_text('the image is one folder up')
    message = r'no image of the same name beside them in .*: gone\.txt, sub/a\.txt; add the images'
    with pytest.raises(CaptionError, match=message): load_images(tmp_path, 8)

def test_stray_txt_ignored_when_folder_has_no_captions(tmp_path):
    _image(tmp_path / 'a.png'); (tmp_path / 'README.txt').write_text('x'); (tmp_path / 'metadata.csv').write_text('x')
    ds = load_images(tmp_path, 8)
    assert ds.captions is None and ds[0].caption is None
    assert (ds.summary.num_captions, ds.summary.num_non_image_ignored) == (0, 2)

def test_txt_matching_two_images(tmp_path):
    _image(tmp_path / 'a.png'); _image(tmp_path / 'a.jpg', (0, 0, 255)); (tmp_path / 'a.txt').write_text('a cat')
    with pytest.raises(CaptionError, match=r'caption file a\.txt matches several images \(a\.jpg, a\.png\)'):
        load_images(tmp_path, 8)

def test_all_or_none(tmp_path):
    for i in range(8): _image(tmp_path / f'{i}.png', (30 * i, 0, 0))
    (tmp_path / '0.txt').write_text('a dark square')
    with pytest.raises(CaptionError, match=r'7 of 8 images in .* have no caption \(1\.png, 2\.png, 3\.png, 4\.png, '
                                           r'5\.png, \.\.\.\); captions are all-or-none'):
        load_images(tmp_path, 8)

def test_hidden_folders_hold_no_captions(tmp_path):
    _image(tmp_path / 'a.png')
    _image(tmp_path / '.cache' / 'b.png'); (tmp_path / '.cache' / 'b.txt').write_text('x')
    _jsonl(tmp_path / '.cache' / 'metadata.jsonl', {'file_name': 'b.png', 'text': 'x'})
    assert _captions(tmp_path) is None

def test_skipped_image_takes_its_caption_along(tmp_path):
    _image(tmp_path / 'good.png'); (tmp_path / 'good.txt').write_text('a red square')
    (tmp_path / 'broken.png').write_bytes((tmp_path / 'good.png').read_bytes()[:40])
    (tmp_path / 'broken.txt').write_text('x')
    with pytest.warns(UserWarning, match='skipping unreadable image broken.png'):
        ds = load_images(tmp_path, 8, skip_bad=True)
    assert ds.captions == ['a red square'] and (ds.summary.num_bad_skipped, ds.summary.num_non_image_ignored) == (1, 0)

# ---- metadata.jsonl ----

def test_metadata_jsonl_root_and_sub_folders(tmp_path):
    _image(tmp_path / 'a.png'); _image(tmp_path / 'x' / 'b.png', (0, 255, 0))
    _image(tmp_path / 'y' / 'c.png', (0, 0, 255))
    _jsonl(tmp_path / 'metadata.jsonl', {'file_name': 'a.png', 'text': 'a red\nsquare', 'extra': 1},
           {'file_name': 'x/b.png', 'text': 'a green square'})
    _jsonl(tmp_path / 'y' / 'metadata.jsonl', '', {'file_name': 'c.png', 'text': 'a blue\u2028square'})
    ds = load_images(tmp_path, 8)
    assert ds.captions == ['a red square', 'a green square', 'a blue square']
    assert (ds.summary.num_captions, ds.summary.num_non_image_ignored) == (3, 0)

@pytest.mark.parametrize('line, message', [
    ('{"file_name": "a.png", "text": "a cat"', r'metadata\.jsonl, line 2 is not valid JSON \(.*column.*like \{"file'),
    ('"a.png"', r'line 2 is not a JSON object'),
    ('{"text": "a cat"}', r'line 2 has no "file_name"'),
    ('{"file_name": "a.png", "caption": "a cat"}', r'line 2 has no "text"'),
    ('{"file_name": "a.png", "text": ["a cat"]}', r'line 2: "text" must be a string, not list'),
    ('{"file_name": null, "text": "a cat"}', r'line 2: "file_name" must be a string, not NoneType'),
    ('{"file_name": "a.png", "text": "  "}', r'metadata\.jsonl, line 2: the caption is empty'),
    ('{"file_name": "a.png", "text": "a {caption}"}', r'metadata\.jsonl, line 2: the caption contains \{ or \}'),
], ids=['not-json', 'not-object', 'no-file_name', 'no-text', 'text-list', 'file_name-null', 'empty', 'braces'])
def test_metadata_bad_line(tmp_path, line, message):
    _image(tmp_path / 'a.png'); _image(tmp_path / 'b.png', (0, 0, 255))
    _jsonl(tmp_path / 'metadata.jsonl', {'file_name': 'b.png', 'text': 'a blue square'}, line)
    with pytest.raises(CaptionError, match=message): load_images(tmp_path, 8)

def test_metadata_duplicate_file_name(tmp_path):
    _image(tmp_path / 'a.png')
    _jsonl(tmp_path / 'metadata.jsonl', {'file_name': 'a.png', 'text': 'x'}, {'file_name': 'a.png', 'text': 'x'})
    message = r'metadata\.jsonl, line 2 repeats the image of metadata\.jsonl, line 1; keep one line per image'
    with pytest.raises(CaptionError, match=message): load_images(tmp_path, 8)

@pytest.mark.parametrize('file_name', ['gone.png', 'notes.md', '.hidden.png', '../a.png', 'sub/a.png'])
def test_metadata_entry_for_no_image(tmp_path, file_name):
    _image(tmp_path / 'a.png'); (tmp_path / 'notes.md').write_text('x'); _image(tmp_path / '.hidden.png')
    _jsonl(tmp_path / 'metadata.jsonl', {'file_name': 'a.png', 'text': 'a cat'}, {'file_name': file_name, 'text': 'x'})
    message = rf"line 2: file_name '{re.escape(file_name)}' is not an image in .*relative to the folder of metadata"
    with pytest.raises(CaptionError, match=message): load_images(tmp_path, 8)

def test_metadata_not_utf8_or_empty(tmp_path):
    _image(tmp_path / 'a.png')
    (tmp_path / 'metadata.jsonl').write_bytes('{"file_name": "a.png", "text": "café"}'.encode('latin-1'))
    with pytest.raises(CaptionError, match=r'metadata\.jsonl is not valid UTF-8'): load_images(tmp_path, 8)
    (tmp_path / 'metadata.jsonl').write_text('\n\n')
    with pytest.raises(CaptionError, match=r'metadata\.jsonl holds no captions; add one line per image or remove'):
        load_images(tmp_path, 8)

def test_txt_and_metadata_must_agree(tmp_path):
    _image(tmp_path / 'a.png'); (tmp_path / 'a.txt').write_text('a red  square\n')
    _jsonl(tmp_path / 'metadata.jsonl', {'file_name': 'a.png', 'text': 'a red square'})
    assert _captions(tmp_path) == ['a red square']           # equal after whitespace is normalised: fine
    _jsonl(tmp_path / 'metadata.jsonl', {'file_name': 'a.png', 'text': 'a blue square'})
    message = r'a\.png has two different captions, in caption file a\.txt and metadata\.jsonl, line 1; keep one'
    with pytest.raises(CaptionError, match=message): load_images(tmp_path, 8)

# ---- contributors, identity, and what is never printed ----

def test_contributor_captions_and_prompts(tmp_path):
    for i, (caption, colour) in enumerate([('a red square', (255, 0, 0)), ('a green square', (0, 255, 0))]):
        _image(tmp_path / 'ann' / f'{i}.png', colour); (tmp_path / 'ann' / f'{i}.txt').write_text(caption)
    _image(tmp_path / 'bob' / 'z.png', (0, 0, 255))
    _jsonl(tmp_path / 'bob' / 'metadata.jsonl', {'file_name': 'z.png', 'text': 'a blue square'})
    ds = load_images(tmp_path, 8, unit='contributor')
    assert ds.captions == [['a red square', 'a green square'], ['a blue square']]
    with pytest.raises(CaptionError, match='holds 2 images'): ds[0].caption
    assert record_prompts(['{caption}, {} style'], '<s>', ds.captions, [0, 0, 1], [0, 0, 0], views=[2, 1, 7]) == [
        'a red square, <s> style', 'a green square, <s> style', 'a blue square, <s> style']
    before = record_hashes(ds)
    (tmp_path / 'ann' / '1.txt').write_text('a lime square')
    after = record_hashes(load_images(tmp_path, 8, unit='contributor'))
    assert after[0] != before[0] and after[1] == before[1]

def test_captions_never_printed(tmp_path):
    _image(tmp_path / 'a.png'); (tmp_path / 'a.txt').write_text('patient zebra-417 at clinic')
    (tmp_path / 'copy.png').write_bytes((tmp_path / 'a.png').read_bytes())
    (tmp_path / 'copy.txt').write_text('patient zebra-417')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        ds = load_images(tmp_path, 8)
    shown = repr(ds) + repr(ds.records) + str(ds.summary) + ''.join(str(w.message) for w in caught)
    assert 'weakens per-image DP' in shown and 'zebra' not in shown
