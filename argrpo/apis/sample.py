"""The generation part of a config, for sampling (tools/sample.py)."""
from argrpo.models import ARGenerationModel
from argrpo.registry import MODELS

GENERATION_PARTS = ('generator', 'tokenizer', 'text_encoder', 'sampler')


def build_generation_model(model_cfg: dict) -> ARGenerationModel:
    """An ``ARGenerationModel`` of the generator, tokenizer, text encoder and sampler of any
    model config (an ``ARGRPOModel``'s too: sampling builds neither rewards nor a reference)."""
    parts = {key: model_cfg[key] for key in GENERATION_PARTS if model_cfg.get(key) is not None}
    return MODELS.build(dict(type='ARGenerationModel', **parts))
