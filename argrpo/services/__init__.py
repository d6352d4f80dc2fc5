"""Services that run a piece of argrpo in its own process: ``reward_server`` serves a reward over
HTTP (``tools/reward_server.py``) for ``argrpo.rewards.RemoteReward``."""
from .reward_server import BackgroundServer, create_app, decode_images, reward_config, serve

__all__ = ['BackgroundServer', 'create_app', 'decode_images', 'reward_config', 'serve']
