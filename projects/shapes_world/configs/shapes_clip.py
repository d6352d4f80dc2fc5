# Stage 2c: a small CLIP (open_clip's own model classes, ShapesCLIP-Tiny in
# shapes_world/model_configs) trained contrastively on (image, caption) pairs of the world:
# single shapes and two-shape scenes, the captions of both tasks. Exported as a plain open_clip
# state dict -> clip/clip.pth. Both tasks use it (the class-to-image reward, and the text
# encoder and reward of text-to-image).
_base_ = ['./_base_/shapes_stage.py']
model = dict(type='CLIPTrainer', arch='ShapesCLIP-Tiny')
train_dataloader = dict(dataset=dict(mode='mixed'))
train_cfg = dict(max_iters=600)
# the token embedding (open_clip's 49 408-token vocabulary, of which the world's captions use a few
# dozen rows: the rest keep their random initialisation) in float16: 6 MB less in the model zoo
custom_hooks = [dict(type='ExportWeightsHook', module='model', path='clip.pth', wrap_key=None,
                     half=['token_embedding.weight'])]
