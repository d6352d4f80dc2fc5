from .checkpoint import file_digest, load_state_dict_file, load_weights, require_file
from .modules import frozen
from .images import image_grid, prepare_images, quantize, save_png, to_uint8, to_unit
from .open_clip_models import create_open_clip, load_open_clip
from .prompts import read_prompts

__all__ = ['frozen', 'file_digest', 'load_state_dict_file', 'load_weights', 'require_file', 'image_grid',
           'prepare_images', 'quantize', 'save_png', 'to_uint8', 'to_unit', 'create_open_clip',
           'load_open_clip', 'read_prompts']
