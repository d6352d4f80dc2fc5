# GenEval as a reward service: GenEval's rules with its Mask2Former detector (transformers, a
# local directory) and CLIP ViT-L/14 for colours, on a GPU or in a process of their own.
#   python tools/reward_server.py configs/reward_services/geneval_mask2former.py --port 8601 --device cuda:1
# The run's config (e.g. configs/argrpo/argrpo_llamagen-xl_t2i_256_geneval.py) then names, in
# place of its GenEvalReward:
#   dict(type='RemoteReward', name='geneval_remote', url='http://127.0.0.1:8601')
# The server looks each prompt up in `metadata`: give it the same file as the run's prompts (a
# prompt it lacks is answered with an error naming it). Files: docs/user_guides/geneval.md.
reward = dict(
    type='GenEvalReward',
    name='geneval',
    metadata='data/geneval/train_metadata.jsonl',
    detector=dict(type='Mask2FormerDetector', checkpoint='checkpoints/geneval/mask2former_swin-s_coco_hf'),
    colour_classifier=dict(arch='ViT-L-14-quickgelu', checkpoint='checkpoints/clip/ViT-L-14-openai.bin'),
    partial_credit=True)
