from .checkpoint import file_digest, load_state_dict_file, load_weights, require_file
from .distributed import shard_like, whole
from .files import atomic_write
from .images import from_uint8, image_grid, prepare_images, quantize, save_png, to_uint8, to_unit
from .modules import frozen, unwrap_model
from .open_clip_models import create_open_clip, load_open_clip, open_clip_input
from .prompts import read_jsonl, read_prompts
from .timer import timed

__all__ = ['file_digest', 'load_state_dict_file', 'load_weights', 'require_file', 'atomic_write', 'from_uint8',
           'image_grid', 'prepare_images', 'quantize', 'save_png', 'to_uint8', 'to_unit', 'frozen', 'unwrap_model',
           'create_open_clip', 'load_open_clip', 'open_clip_input', 'read_jsonl', 'read_prompts', 'timed', 'shard_like', 'whole']
