"""The reward model: BLIP's [CLS] text feature (cross-attending to the image) into an MLP."""
from torch import nn

from .models.BLIP.blip_pretrain import BLIP_Pretrain


class MLP(nn.Module):
    def __init__(self, input_size: int):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(input_size, 8), nn.Dropout(0.2), nn.Linear(8, 1))

    def forward(self, x):
        return self.layers(x)


class ImageReward(nn.Module):
    def __init__(self, med_config: str, device: str = 'cpu'):
        super().__init__()
        self.device = device
        self.blip = BLIP_Pretrain(image_size=224, vit='large', med_config=med_config)
        self.mlp = MLP(self.blip.text_encoder.config.hidden_size)
        # the real package's normalisation of the MLP's output
        self.mean = 0.16717362830052426
        self.std = 1.0333394966054072
