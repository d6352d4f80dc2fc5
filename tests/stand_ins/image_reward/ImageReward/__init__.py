"""A stand-in for the ``image-reward`` package (THUDM/ImageReward 1.5) in tests: its module layout
and the API argrpo uses (``ImageReward(med_config, device)`` with ``blip.visual_encoder``,
``blip.text_encoder``, ``blip.tokenizer``, ``mlp``, ``mean``, ``std``; BLIP's tokenizer built by
``models.BLIP.blip.init_tokenizer`` from 'bert-base-uncased'), with tiny random networks."""
from .ImageReward import ImageReward

__all__ = ['ImageReward']
