"""mmdet's Mask2Former (Swin backbone, COCO instances) as transformers' Mask2Former.

GenEval's detector is an mmdet v2.0 model-zoo file
(``mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco``); this module turns such a state dict into
a ``Mask2FormerConfig`` and a state dict for ``Mask2FormerForUniversalSegmentation``, so that
the official weights run without mmcv. Both of mmdet's layouts are read:

- mmdet 2.x (mmcv 1.x ``BaseTransformerLayer``): sub-modules in lists named by the layer's
  operation order. The pixel decoder's encoder layers are (self_attn, norm, ffn, norm):
  ``attentions.0``, ``ffns.0``, ``norms.0/1``. The transformer decoder's layers are (cross_attn,
  norm, self_attn, norm, ffn, norm): ``attentions.0`` is the *cross* attention,
  ``attentions.1`` the self attention, ``norms.0/1/2`` follow them.
- mmdet 3.x: the same weights named ``self_attn``, ``cross_attn``, ``ffn``; ``norms.i`` as in 2.x.
  Everything else (the Swin backbone, the pixel decoder's convolutions, the queries, the class
  and mask heads) is named alike in both.

What differs between mmdet and transformers beyond names:

- Swin attention: mmdet fuses q, k, v in one ``qkv`` linear layer; transformers has three.
- Swin patch merging: mmdet gathers each 2 x 2 patch with ``nn.Unfold`` (channel-major: index
  ``c * 4 + 2 * row + col``), transformers concatenates the four shifted grids (index
  ``(row + 2 * col) * C + c``), so the merge's norm and reduction are permuted.
- The decoder's self attention: mmdet's ``nn.MultiheadAttention`` packs ``in_proj``;
  transformers has q, k, v projections (its cross attention keeps ``nn.MultiheadAttention``).
- Unused by transformers' backbone: mmdet's ``relative_position_index`` buffers (recomputed, and
  checked equal), the final Swin ``layernorm`` (kept at its initial value).
"""
import math
import re
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor

# COCO's 80 instance classes in mmdet's label order, spelt as GenEval's object_names.txt (which
# says "computer mouse", "tv remote" and "computer keyboard" for COCO's mouse, remote, keyboard)
COCO_CLASSES = (
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat',
    'traffic light', 'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog',
    'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella',
    'handbag', 'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball', 'kite',
    'baseball bat', 'baseball glove', 'skateboard', 'surfboard', 'tennis racket', 'bottle',
    'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich',
    'orange', 'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch',
    'potted plant', 'bed', 'dining table', 'toilet', 'tv', 'laptop', 'computer mouse',
    'tv remote', 'computer keyboard', 'cell phone', 'microwave', 'oven', 'toaster', 'sink',
    'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear', 'hair drier',
    'toothbrush')

_BACKBONE = 'model.pixel_level_module.encoder.'
_PIXEL_DECODER = 'model.pixel_level_module.decoder.'
_TRANSFORMER = 'model.transformer_module.'
_NUM_LEVELS = 3  # transformers' Mask2Former: 3 feature levels, 4 sampling points per level
_NUM_POINTS = 4


def mmdet_layout(state_dict: Dict[str, Tensor]) -> str:
    """'2.x' or '3.x', from the transformer layers' key names."""
    if any('.attentions.' in key or '.ffns.' in key for key in state_dict):
        return '2.x'
    if any('.cross_attn.' in key for key in state_dict):
        return '3.x'
    raise KeyError('not an mmdet Mask2Former state dict: no transformer decoder layers found '
                   '(keys like panoptic_head.transformer_decoder.layers.0.cross_attn.* or '
                   '.attentions.0.*)')


def to_mmdet3_names(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """mmdet 2.x names -> 3.x names (3.x names are returned unchanged)."""
    renamed = {}
    for key, value in state_dict.items():
        if '.pixel_decoder.encoder.layers.' in key:
            key = key.replace('.attentions.0.', '.self_attn.')
        elif '.transformer_decoder.layers.' in key:
            key = key.replace('.attentions.0.', '.cross_attn.').replace(
                '.attentions.1.', '.self_attn.')
        renamed[key.replace('.ffns.0.', '.ffn.')] = value
    return renamed


def _count(state_dict: Dict[str, Tensor], pattern: str) -> int:
    found = {int(m.group(1)) for key in state_dict for m in [re.match(pattern, key)] if m}
    return max(found) + 1 if found else 0


def hf_config(state_dict: Dict[str, Tensor], num_heads: int = 8,
              classes: Optional[Sequence[str]] = None):
    """The ``Mask2FormerConfig`` of an mmdet 3.x-named state dict. Sizes come from the weights;
    ``num_heads`` (the decoder's and the pixel decoder's attention heads, 8 in every mmdet
    Mask2Former config) is not stored in them."""
    from transformers import Mask2FormerConfig, SwinConfig
    sd = state_dict
    depths = [_count(sd, rf'backbone\.stages\.{i}\.blocks\.(\d+)\.') for i in range(4)]
    if not all(depths) or 'backbone.stages.0.blocks.0.attn.w_msa.qkv.weight' not in sd:
        raise KeyError('not a Swin Mask2Former: expected backbone.stages.{0-3}.blocks.* '
                       '(mmdet SwinTransformer) keys')
    tables = [sd[f'backbone.stages.{i}.blocks.0.attn.w_msa.relative_position_bias_table']
              for i in range(4)]
    projection = sd['backbone.patch_embed.projection.weight']
    embed_dim = projection.shape[0]
    window = (math.isqrt(tables[0].shape[0]) + 1) // 2
    swin = SwinConfig(
        embed_dim=embed_dim, depths=depths, num_heads=[t.shape[1] for t in tables],
        window_size=window, patch_size=projection.shape[-1],
        mlp_ratio=sd['backbone.stages.0.blocks.0.ffn.layers.0.0.weight'].shape[0] / embed_dim,
        qkv_bias='backbone.stages.0.blocks.0.attn.w_msa.qkv.bias' in sd, drop_path_rate=0.0,
        out_features=['stage1', 'stage2', 'stage3', 'stage4'])
    encoder = 'panoptic_head.pixel_decoder.encoder.layers.0.'
    offsets = sd[encoder + 'self_attn.sampling_offsets.weight'].shape[0]
    if offsets != num_heads * _NUM_LEVELS * _NUM_POINTS * 2:
        raise ValueError(f'the pixel decoder samples {offsets // 2} points per query: '
                         f'transformers needs num_heads ({num_heads}) x {_NUM_LEVELS} levels x '
                         f'{_NUM_POINTS} points; pass the config\'s num_heads')
    if _count(sd, r'panoptic_head\.pixel_decoder\.lateral_convs\.(\d+)\.') != 1:
        raise ValueError('transformers\' Mask2Former has one FPN level beside the 3 encoder '
                         'levels (4 backbone stages)')
    num_labels = sd['panoptic_head.cls_embed.weight'].shape[0] - 1
    if classes is None:
        classes = COCO_CLASSES if num_labels == len(COCO_CLASSES) else [
            f'class_{i}' for i in range(num_labels)]
    if len(classes) != num_labels:
        raise ValueError(f'{len(classes)} class names for a model of {num_labels} classes')
    decoder = 'panoptic_head.transformer_decoder.layers.0.'
    return Mask2FormerConfig(
        backbone_config=swin,
        feature_size=sd['panoptic_head.pixel_decoder.input_convs.0.conv.weight'].shape[0],
        mask_feature_size=sd['panoptic_head.pixel_decoder.mask_feature.weight'].shape[0],
        hidden_dim=sd['panoptic_head.query_feat.weight'].shape[1],
        encoder_feedforward_dim=sd[encoder + 'ffn.layers.0.0.weight'].shape[0],
        encoder_layers=_count(sd, r'panoptic_head\.pixel_decoder\.encoder\.layers\.(\d+)\.'),
        decoder_layers=_count(sd, r'panoptic_head\.transformer_decoder\.layers\.(\d+)\.') + 1,
        dim_feedforward=sd[decoder + 'ffn.layers.0.0.weight'].shape[0],
        num_attention_heads=num_heads,
        num_queries=sd['panoptic_head.query_feat.weight'].shape[0],
        id2label=dict(enumerate(classes)))


def _unfold_to_concat(weight: Tensor, dim: int) -> Tensor:
    """Reorder a patch-merging axis from mmdet's unfold order to transformers' concat order."""
    channels = weight.shape[dim] // 4
    order = [c * 4 + 2 * (k % 2) + k // 2 for k in range(4) for c in range(channels)]
    return weight.index_select(dim, torch.tensor(order))


def _backbone(sd: Dict[str, Tensor], out: Dict[str, Tensor]) -> None:
    swin = _BACKBONE + 'swin.'
    for part in ('projection.weight', 'projection.bias'):
        out[swin + 'embeddings.patch_embeddings.' + part] = sd['backbone.patch_embed.' + part]
    for part in ('weight', 'bias'):
        out[swin + 'embeddings.norm.' + part] = sd['backbone.patch_embed.norm.' + part]
        for i in range(4):
            out[f'{_BACKBONE}hidden_states_norms.stage{i + 1}.{part}'] = sd[
                f'backbone.norm{i}.{part}']
    blocks = {'norm1': 'layernorm_before', 'norm2': 'layernorm_after',
              'attn.w_msa.proj': 'attention.o_proj', 'ffn.layers.0.0': 'mlp.fc1',
              'ffn.layers.1': 'mlp.fc2'}
    for i in range(4):
        for j in range(_count(sd, rf'backbone\.stages\.{i}\.blocks\.(\d+)\.')):
            src, dst = f'backbone.stages.{i}.blocks.{j}.', f'{swin}encoder.layers.{i}.blocks.{j}.'
            for old, new in blocks.items():
                for part in ('weight', 'bias'):
                    out[f'{dst}{new}.{part}'] = sd[f'{src}{old}.{part}']
            for part in ('weight', 'bias'):
                for name, chunk in zip(('q_proj', 'k_proj', 'v_proj'),
                                       sd[f'{src}attn.w_msa.qkv.{part}'].chunk(3)):
                    out[f'{dst}attention.{name}.{part}'] = chunk
            out[dst + 'attention.relative_position_bias.relative_position_bias_table'] = sd[
                src + 'attn.w_msa.relative_position_bias_table']
        src, dst = f'backbone.stages.{i}.downsample.', f'{swin}encoder.layers.{i}.downsample.'
        if src + 'reduction.weight' in sd:
            out[dst + 'reduction.weight'] = _unfold_to_concat(sd[src + 'reduction.weight'], 1)
            for part in ('weight', 'bias'):
                out[f'{dst}norm.{part}'] = _unfold_to_concat(sd[f'{src}norm.{part}'], 0)


def _pixel_decoder(sd: Dict[str, Tensor], out: Dict[str, Tensor]) -> None:
    src = 'panoptic_head.pixel_decoder.'
    names = {'level_encoding.weight': 'level_embed', 'mask_feature.weight':
             'mask_projection.weight', 'mask_feature.bias': 'mask_projection.bias',
             'lateral_convs.0.conv.weight': 'adapter_1.0.weight',
             'output_convs.0.conv.weight': 'layer_1.0.weight'}
    for part in ('weight', 'bias'):
        names[f'lateral_convs.0.gn.{part}'] = f'adapter_1.1.{part}'
        names[f'output_convs.0.gn.{part}'] = f'layer_1.1.{part}'
        for i in range(_NUM_LEVELS):
            names[f'input_convs.{i}.conv.{part}'] = f'input_projections.{i}.0.{part}'
            names[f'input_convs.{i}.gn.{part}'] = f'input_projections.{i}.1.{part}'
        for layer in range(_count(sd, r'panoptic_head\.pixel_decoder\.encoder\.layers\.(\d+)\.')):
            prefix = f'encoder.layers.{layer}.'
            for proj in ('sampling_offsets', 'attention_weights', 'value_proj', 'output_proj'):
                names[f'{prefix}self_attn.{proj}.{part}'] = f'{prefix}self_attn.{proj}.{part}'
            names[f'{prefix}norms.0.{part}'] = f'{prefix}self_attn_layer_norm.{part}'
            names[f'{prefix}ffn.layers.0.0.{part}'] = f'{prefix}fc1.{part}'
            names[f'{prefix}ffn.layers.1.{part}'] = f'{prefix}fc2.{part}'
            names[f'{prefix}norms.1.{part}'] = f'{prefix}final_layer_norm.{part}'
    for old, new in names.items():
        out[_PIXEL_DECODER + new] = sd[src + old]


def _transformer(sd: Dict[str, Tensor], out: Dict[str, Tensor]) -> None:
    src, dst = 'panoptic_head.', _TRANSFORMER
    out[dst + 'queries_embedder.weight'] = sd[src + 'query_embed.weight']
    out[dst + 'queries_features.weight'] = sd[src + 'query_feat.weight']
    out[dst + 'level_embed.weight'] = sd[src + 'level_embed.weight']
    for part in ('weight', 'bias'):
        out['class_predictor.' + part] = sd[src + 'cls_embed.' + part]
        out[f'{dst}decoder.layernorm.{part}'] = sd[f'{src}transformer_decoder.post_norm.{part}']
        for k, layer in enumerate((0, 2, 4)):
            out[f'{dst}decoder.mask_predictor.mask_embedder.{k}.0.{part}'] = sd[
                f'{src}mask_embed.{layer}.{part}']
    for layer in range(_count(sd, r'panoptic_head\.transformer_decoder\.layers\.(\d+)\.')):
        old = f'{src}transformer_decoder.layers.{layer}.'
        new = f'{dst}decoder.layers.{layer}.'
        for part in ('weight', 'bias'):
            out[f'{new}cross_attn.in_proj_{part}'] = sd[f'{old}cross_attn.attn.in_proj_{part}']
            out[f'{new}cross_attn.out_proj.{part}'] = sd[f'{old}cross_attn.attn.out_proj.{part}']
            for name, chunk in zip(('q_proj', 'k_proj', 'v_proj'),
                                   sd[f'{old}self_attn.attn.in_proj_{part}'].chunk(3)):
                out[f'{new}self_attn.{name}.{part}'] = chunk
            out[f'{new}self_attn.out_proj.{part}'] = sd[f'{old}self_attn.attn.out_proj.{part}']
            for norm, name in enumerate(('cross_attn', 'self_attn', 'final')):
                out[f'{new}{name}_layer_norm.{part}'] = sd[f'{old}norms.{norm}.{part}']
            out[f'{new}fc1.{part}'] = sd[f'{old}ffn.layers.0.0.{part}']
            out[f'{new}fc2.{part}'] = sd[f'{old}ffn.layers.1.{part}']


def convert_mmdet_mask2former(state_dict: Dict[str, Tensor], num_heads: int = 8,
                              classes: Optional[Sequence[str]] = None):
    """mmdet Mask2Former state dict (2.x or 3.x layout) -> transformers'
    ``Mask2FormerForUniversalSegmentation`` with those weights, in eval mode.

    Every weight of mmdet's model is used and every weight of transformers' is set, except
    transformers' unused final Swin norm and its loss's class weights; a key left over on either
    side is an error, and so is a Swin relative-position index that differs from transformers'.
    """
    from transformers import Mask2FormerForUniversalSegmentation
    state_dict = {k[len('module.'):] if k.startswith('module.') else k: v
                  for k, v in state_dict.items()}
    sd = to_mmdet3_names(state_dict) if mmdet_layout(state_dict) == '2.x' else state_dict
    config = hf_config(sd, num_heads, classes)
    source, converted = _Reads(sd), {}
    _backbone(source, converted)
    _pixel_decoder(source, converted)
    _transformer(source, converted)
    model = Mask2FormerForUniversalSegmentation(config).eval()
    _check_relative_position_index(sd, model)
    missing, unexpected = model.load_state_dict(converted, strict=False)
    allowed = {_BACKBONE + 'swin.layernorm.weight', _BACKBONE + 'swin.layernorm.bias',
               'criterion.empty_weight'}
    if set(missing) - allowed or unexpected:
        raise KeyError(f'conversion left transformers keys unset: {sorted(set(missing) - allowed)}'
                       f'; produced unknown keys: {sorted(unexpected)}')
    unused = sorted(k for k in sd if k not in source.read and k.startswith(
        ('backbone.', 'panoptic_head.')) and not k.endswith('relative_position_index'))
    if unused:
        raise KeyError(f'mmdet weights the conversion did not use: {unused}')
    return model


class _Reads(dict):
    """A state dict that remembers which keys were read."""

    def __init__(self, *args):
        super().__init__(*args)
        self.read = set()

    def __getitem__(self, key: str) -> Tensor:
        self.read.add(key)
        return super().__getitem__(key)


def _check_relative_position_index(sd: Dict[str, Tensor], model) -> None:
    """mmdet stores each window's relative-position index; transformers recomputes it. The
    bias tables are copied as they are, so both indices must agree."""
    ours = model.model.pixel_level_module.encoder.swin.encoder.layers[0].blocks[0].attention
    index = ours.relative_position_bias.relative_position_index.view(-1)
    theirs = sd.get('backbone.stages.0.blocks.0.attn.w_msa.relative_position_index')
    if theirs is not None and not torch.equal(theirs.flatten().to(index), index):
        raise ValueError('mmdet\'s Swin relative-position index differs from transformers\': '
                         'the bias tables would be read in another order')


def load_mmdet_checkpoint(path: str) -> Tuple[Dict[str, Tensor], dict]:
    """(state_dict, meta) of an mmdet checkpoint file, read with ``weights_only=True``."""
    checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    if 'state_dict' in checkpoint:
        return checkpoint['state_dict'], checkpoint.get('meta', {})
    return checkpoint, {}
