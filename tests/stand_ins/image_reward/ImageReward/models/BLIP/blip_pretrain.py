"""A tiny BLIP: a one-convolution patch encoder with a [CLS] token, and a text encoder whose
tokens read the prompt both ways (transformers' BertModel, configured by med_config.json) and then
attend to the image, called as BLIP's multimodal encoder is."""
import torch
from torch import nn
from transformers import BertConfig, BertModel
from transformers.modeling_outputs import BaseModelOutput

from .blip import init_tokenizer


class PatchEncoder(nn.Module):
    def __init__(self, width: int, patch_size: int = 32):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, width, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.randn(1, 1, width) * 0.02)

    def forward(self, x):
        patches = self.patch_embed(x).flatten(2).transpose(1, 2)
        return torch.cat([self.cls_token.expand(len(x), -1, -1), patches], dim=1)


class MultimodalEncoder(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=False)
        self.cross = nn.MultiheadAttention(config.hidden_size, config.num_attention_heads, batch_first=True)

    def forward(self, input_ids, attention_mask, encoder_hidden_states, encoder_attention_mask, return_dict=True):
        text = self.bert(input_ids, attention_mask=attention_mask).last_hidden_state
        seen, _ = self.cross(text, encoder_hidden_states, encoder_hidden_states,
                             key_padding_mask=encoder_attention_mask == 0)
        return BaseModelOutput(last_hidden_state=text + seen)


class BLIP_Pretrain(nn.Module):
    def __init__(self, med_config: str = 'med_config.json', image_size: int = 224, vit: str = 'base',
                 embed_dim: int = 8):
        super().__init__()
        config = BertConfig.from_json_file(med_config)
        self.visual_encoder = PatchEncoder(config.hidden_size)
        self.tokenizer = init_tokenizer()
        self.text_encoder = MultimodalEncoder(config)
        self.vision_proj = nn.Linear(config.hidden_size, embed_dim)
        self.text_proj = nn.Linear(config.hidden_size, embed_dim)
