"""argrpo: AR-GRPO for LlamaGen-style autoregressive image generators."""
__version__ = '0.1.0'
