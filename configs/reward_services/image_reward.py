# ImageReward v1.0 served from its own environment: the image-reward package pins timm 0.6.13 and
# fairscale, which argrpo's environment cannot take.
#   bash tools/envs/image_reward_env.sh                    # once: makes .venv-image-reward
#   .venv-image-reward/bin/python tools/reward_server.py configs/reward_services/image_reward.py \
#       --port 8601 --device cuda:1
# and in the run's config (e.g. configs/evaluation/drawbench_llamagen-xl_t2i_256.py):
#   dict(type='RemoteReward', url='http://127.0.0.1:8601', name='imagereward_remote')
# Files, fetched on a machine with internet (nothing is downloaded at run time):
#   huggingface-cli download THUDM/ImageReward ImageReward.pt med_config.json --local-dir checkpoints/ImageReward
#   huggingface-cli download bert-base-uncased --local-dir checkpoints/bert-base-uncased
reward = dict(
    type='ImageReward',
    name='imagereward',
    checkpoint='checkpoints/ImageReward/ImageReward.pt',
    med_config='checkpoints/ImageReward/med_config.json',
    tokenizer='checkpoints/bert-base-uncased')
