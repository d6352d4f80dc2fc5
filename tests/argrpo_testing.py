"""Helpers shared by the tests (importable thanks to ``pythonpath = tests`` in pytest.ini)."""
import torch

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

