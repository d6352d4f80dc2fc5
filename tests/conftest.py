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


@pytest.fixture(scope='module')
def extractor_cfg(tmp_path_factory):
    """A timm feature extractor (test_resnet, 96-d pooled features) from a state dict file."""
    import timm
    path = tmp_path_factory.mktemp('timm') / 'test_resnet.pth'
    torch.manual_seed(0)
    torch.save(timm.create_model('test_resnet', pretrained=False, num_classes=5).state_dict(), path)
    return dict(type='TimmFeatures', model_name='test_resnet', checkpoint=str(path),
                model_options=dict(num_classes=5), image_size=64)
