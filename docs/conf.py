"""Sphinx configuration of argrpo's documentation (MyST Markdown pages, furo theme).

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # argrpo, importable without an install
sys.path.insert(0, os.path.join(HERE, '_ext'))

import argrpo  # noqa: E402

project = 'argrpo'
author = 'the argrpo developers'
copyright = 'the argrpo developers'
version = release = argrpo.__version__

extensions = [
    'myst_parser',
    'sphinx.ext.autodoc',
    'sphinx.ext.napoleon',
    'sphinx.ext.viewcode',
    'registry_api',  # docs/_ext/registry_api.py: writes api.rst from the registries
]

source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}
root_doc = 'index'
exclude_patterns = ['_build', 'Thumbs.db', '.DS_Store']

# MyST: anchors for headings down to level 4, so that [text](page.md#a-heading) is checked
myst_heading_anchors = 4
myst_enable_extensions = ['colon_fence', 'dollarmath']

# autodoc: argrpo's docstrings are Google style (Args:, Returns:)
autodoc_member_order = 'bysource'
autodoc_typehints = 'description'
autodoc_inherit_docstrings = False
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

nitpicky = False

html_theme = 'furo'
html_title = f'argrpo {release}'
# docs/_static/ holds the demo's pictures once they are made; absent, Sphinx would warn (-W)
html_static_path = ['_static'] if os.path.isdir(os.path.join(HERE, '_static')) else []
