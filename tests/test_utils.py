"""What several folders share: freezing, atomic writes, open_clip models."""
import copy
import logging
import os

import pytest
from torch import nn

from argrpo.utils import atomic_write, create_open_clip, frozen


def test_frozen_parts_stay_frozen_under_train_and_copies():
    model = nn.Sequential(nn.Linear(2, 2), frozen(nn.Sequential(nn.Linear(2, 2), nn.Dropout())))
    for module in (model, copy.deepcopy(model)):
        module.train()
        assert module.training and module[0].training
        assert not module[1].training and not module[1][1].training
        assert not any(p.requires_grad for p in module[1].parameters()) and module[0].weight.requires_grad


def test_atomic_write_keeps_the_previous_file_when_writing_fails(tmp_path):
    path = tmp_path / 'sub' / 'file.bin'
    atomic_write(path, lambda f: f.write(b'previous'))

    def broken(f):
        f.write(b'half')
        raise RuntimeError('killed')
    with pytest.raises(RuntimeError, match='killed'):
        atomic_write(path, broken)
    assert path.read_bytes() == b'previous' and os.listdir(tmp_path / 'sub') == ['file.bin']


def test_open_clip_models_are_built_without_the_random_weights_warning(caplog):
    """argrpo builds open_clip models with pretrained=None on purpose; open_clip's warning about
    it would be noise in every run log. Other warnings still pass."""
    from projects.shapes_world.shapes_world import register_open_clip_configs
    register_open_clip_configs()
    with caplog.at_level(logging.WARNING):
        model = create_open_clip('ShapesCLIP-Tiny')
        logging.warning('another warning')
    assert model.visual is not None
    assert [r.getMessage() for r in caplog.records] == ['another warning']
