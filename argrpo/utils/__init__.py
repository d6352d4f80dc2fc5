from .checkpoint import file_digest, load_state_dict_file, load_weights, require_file
from .images import image_grid, quantize, save_png, to_uint8, to_unit
from .prompts import read_prompts

__all__ = ['file_digest', 'load_state_dict_file', 'load_weights', 'require_file', 'image_grid',
           'quantize', 'save_png', 'to_uint8', 'to_unit', 'read_prompts']
