"""Helpers shared by the tests (importable thanks to ``pythonpath = tests`` in pytest.ini)."""
import json

import numpy as np
import torch

from argrpo.registry import MODELS

TINY_GPT = dict(type='LlamaGenGPT', n_layer=2, n_head=4, dim=64, multiple_of=32,
                vocab_size=64, block_size=16, num_classes=10)
TINY_T2I = dict(TINY_GPT, model_type='t2i', caption_dim=24, cls_token_num=6)
TINY_VQ = dict(type='LlamaGenVQ', ch=32, ch_mult=(1, 2), z_channels=32, codebook_size=64,
               codebook_embed_dim=4)


def randomize(module: torch.nn.Module, std: float = 0.3, seed: int = 0) -> torch.nn.Module:
    """Non-trivial weights (LlamaGen zero-initialises the output layer)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * std)
    return module



def tiny_grpo_model(**kwargs):
    """A small ``ARGRPOModel`` (one-layer GPT, random VQ) rewarded by ``GradientReward``; any
    argument replaces the default (components may be named by class, ``type=SomeReward``)."""
    kwargs.setdefault('algorithm', dict(type='GRPO', group_size=2, beta=0.1))
    kwargs.setdefault('generator', dict(type='LlamaGenGPT', n_layer=1, n_head=2, dim=32, multiple_of=32,
                                        vocab_size=64, block_size=16, num_classes=4))
    kwargs.setdefault('reward', dict(type='GradientReward'))
    kwargs.setdefault('sampler', dict(type='TokenSampler'))
    return MODELS.build(dict(type='ARGRPOModel', tokenizer=TINY_VQ, **kwargs))


def save_tiny_open_clip(folder, arch: str, filename: str = 'clip.pth', embed_dim: int = 32):
    """A tiny open_clip architecture ``arch`` (32 px, one layer a tower) registered from a JSON
    config written in ``folder``, and its random weights (seed 0) saved there as ``filename``:
    ``(arch, weights file, model in eval mode)``."""
    import open_clip
    (folder / f'{arch}.json').write_text(json.dumps(dict(
        embed_dim=embed_dim, vision_cfg=dict(image_size=32, layers=1, width=32, patch_size=8, head_width=16),
        text_cfg=dict(context_length=16, vocab_size=49408, width=32, heads=2, layers=1))))
    open_clip.add_model_config(folder)
    torch.manual_seed(0)
    model = open_clip.create_model(arch, pretrained=None).eval()
    torch.save(model.state_dict(), folder / filename)
    return arch, str(folder / filename), model


# independent computations the distribution rewards are checked against
def direct_fd(mu1, s1, mu2, s2):
    """Fréchet distance with tr((s1 s2)^1/2) from the eigenvalues of the product itself."""
    root_trace = np.sqrt(np.linalg.eigvals(s1 @ s2).real.clip(min=0)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * root_trace)


def mixture(a, running, batch):
    """Moments of a * running + (1 - a) * batch through the raw second moments."""
    (mu_r, c_r), (mu_b, c_b) = running, batch
    mu = a * mu_r + (1 - a) * mu_b
    second = a * (c_r + np.outer(mu_r, mu_r)) + (1 - a) * (c_b + np.outer(mu_b, mu_b))
    return mu, second - np.outer(mu, mu)
