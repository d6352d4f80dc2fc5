# Text-to-image stage 4 with every piece of issue 22 at once: the group diversity reward
# (shapes_grpo_t2i_group_diversity.py), the caption-conditional distribution reward
# (shapes_grpo_t2i_caption_fid.py), per-component advantages and token credit from the group. With
# per-component advantages each reward counts by its weight alone: 2 for the attributes, 1 for
# CLIP, 0.5 for each diversity reward.
_base_ = ['./shapes_grpo_t2i.py']
custom_imports = dict(  # the project, and its per-caption real scenes (ShapesPromptScenes)
    imports=['projects.shapes_world.shapes_world', 'projects.shapes_world.shapes_world.prompt_scenes'],
    allow_failed_imports=False)
model = dict(
    algorithm=dict(component_norm=True,
                   token_credit=dict(match='exact', strength=1.0, power=1.0, min_weight=0.1)),
    reward=dict(_delete_=True, type='WeightedSum', rewards=[
        {{_base_.model.reward}},  # the instance rewards, as in shapes_grpo_t2i.py
        dict(type='GroupDiversity', name='diversity', weight=0.5, statistics=dict(distance=1.0),
             feature_extractor=dict(type='TokenizerFeatures', tokenizer=_base_.model.tokenizer, grid=4)),
        dict(type='ConditionalLeaveOneOutFID', name='fid_caption', weight=0.5, ema=0.9,
             reference=dict(type='ShapesPromptScenes', source=_base_.train_dataloader.dataset, per_prompt=32,
                            seed=17),
             feature_extractor=dict(type='TokenizerFeatures', tokenizer=_base_.model.tokenizer, grid=4)),
    ]))
