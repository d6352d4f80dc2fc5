import pytest
from mmengine.config import Config

from argrpo.registry import ALGORITHMS, GENERATORS, SAMPLERS, TOKENIZERS


def test_config_builds_components_without_imports(tmp_path):
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(
        "generator = dict(type='LlamaGenGPT', n_layer=1, n_head=2, dim=32, multiple_of=32,\n"
        "                 vocab_size=16, block_size=4, num_classes=3)\n"
        "sampler = dict(type='TokenSampler', top_k=5)\n")
    cfg = Config.fromfile(str(cfg_file))
    gen = GENERATORS.build(cfg.generator)
    assert type(gen).__name__ == 'LlamaGenGPT' and gen.block_size == 4
    assert SAMPLERS.build(cfg.sampler).top_k == 5


def test_unknown_type_names_registry_and_contents():
    with pytest.raises(KeyError) as err:
        TOKENIZERS.build(dict(type='NoSuchTokenizer'))
    msg = str(err.value)
    assert 'NoSuchTokenizer' in msg and 'tokenizer' in msg and 'LlamaGenVQ' in msg


def test_each_registry_knows_its_location():
    for reg, pkg in ((TOKENIZERS, 'argrpo.tokenizers'), (ALGORITHMS, 'argrpo.algorithms')):
        assert reg._locations == [pkg]
