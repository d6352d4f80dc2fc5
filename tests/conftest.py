"""Shared fixtures: tiny LlamaGen-layout checkpoints written by the tests themselves."""
import pytest
import torch
from argrpo_testing import TINY_GPT, TINY_T2I, TINY_VQ


@pytest.fixture
def tiny_gpt_cfg():
    return dict(TINY_GPT)


@pytest.fixture
def tiny_t2i_cfg():
    return dict(TINY_T2I)


@pytest.fixture
def tiny_vq_cfg():
    return dict(TINY_VQ)


@pytest.fixture
def save_llamagen(tmp_path):
    """Write a module's weights as LlamaGen does: ``{'model': state_dict}``."""
    def save(module, name='model.pt', wrapper='model'):
        path = tmp_path / name
        state = module.state_dict()
        torch.save({wrapper: state} if wrapper else state, path)
        return str(path)
    return save
