# Text-to-image stage 4 with a caption-conditional distribution reward (issue 22):
# shapes_grpo_t2i.py's instance rewards plus ConditionalLeaveOneOutFID, each sample's leave-one-out
# Frechet distance of its own caption's samples to real scenes of that caption alone, with running
# moments per caption. The real scenes: each caption of the GRPO prompt pool drawn 32 times as the
# world draws scenes (ShapesPromptScenes, a seed of its own); features: the world VQ tokenizer's
# codebook vectors pooled to a 4 x 4 layout (TokenizerFeatures; never the held-out judge), computed
# on the first iteration. Scale as in shapes_grpo_class_fid.py (measured on the class-to-image SFT
# model; check the logged fid_caption_std).
_base_ = ['./shapes_grpo_t2i.py']
custom_imports = dict(  # the project, and its per-caption real scenes (ShapesPromptScenes)
    imports=['projects.shapes_world.shapes_world', 'projects.shapes_world.shapes_world.prompt_scenes'],
    allow_failed_imports=False)
model = dict(reward=dict(_delete_=True, type='WeightedSum', rewards=[
    {{_base_.model.reward}},  # the instance rewards, as in shapes_grpo_t2i.py
    dict(type='ConditionalLeaveOneOutFID', name='fid_caption', ema=0.9, scale=1.0,
         reference=dict(type='ShapesPromptScenes', source=_base_.train_dataloader.dataset, per_prompt=32, seed=17),
         feature_extractor=dict(type='TokenizerFeatures', tokenizer=_base_.model.tokenizer, grid=4)),
]))
