from .checkpoint import load_state_dict_file, load_weights, require_file

__all__ = ['load_state_dict_file', 'load_weights', 'require_file']
