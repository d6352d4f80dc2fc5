"""Sphinx extension: the API reference of every type in argrpo's registries.

``render()`` imports every module of the ``argrpo`` package (so that each ``register_module``
call has run, wherever it sits), walks the ``Registry`` objects of ``argrpo/registry.py`` and
returns the reST source of the API page: one section per registry that holds something, one
``autoclass`` / ``autofunction`` directive per registered type, documented from its docstring.
At ``builder-inited`` the extension writes that source to ``docs/api.rst`` (ignored by git), so
a newly registered type appears in the docs without editing them.
"""
import importlib
import inspect
import os.path as osp
import pkgutil
from typing import Dict, List, Tuple

# the package whose registries are documented, and the module that defines them
PACKAGE = 'argrpo'
REGISTRY_MODULE = 'argrpo.registry'
OUTPUT = 'api.rst'

INTRO = """\
API reference
=============

Every type registered in argrpo's registries (``argrpo/registry.py``), one section per registry,
documented from its docstring. A config names these types by ``type=``; the page is generated
at build time from the registries themselves (``docs/_ext/registry_api.py``), so it lists
whatever the code registers.

"""


def import_package(package: str = PACKAGE) -> List[str]:
    """Import every module of ``package`` (a registration may sit in any of them); return the
    names of the modules that failed to import (an optional dependency absent), in order."""
    failed = []
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, prefix=f'{package}.'):
        try:
            importlib.import_module(info.name)
        except ImportError:
            failed.append(info.name)
    return failed


def registries() -> Dict[str, object]:
    """The registries of ``argrpo/registry.py`` by their variable name, in file order."""
    from mmengine.registry import Registry
    module = importlib.import_module(REGISTRY_MODULE)
    found = {name: obj for name, obj in vars(module).items() if isinstance(obj, Registry)}
    for registry in found.values():
        registry.import_from_location()
    return found


def registered(registry) -> List[Tuple[str, object]]:
    """(registered name, object) of the types ``registry`` holds itself (not its parent's),
    sorted by name."""
    return sorted(registry.module_dict.items())


# what a new family of generators or rewards implements, and the entry points of runs: not
# registered, so named here
INTERFACES = """\
Interfaces and entry points
---------------------------

What a new generator family or reward implements, and the functions that the tools run.

.. autoclass:: argrpo.generators.base.ARImageGenerator
   :members:
   :show-inheritance:

.. autoclass:: argrpo.rewards.base.BaseReward
   :members:
   :show-inheritance:

.. automodule:: argrpo.apis
   :members:

"""


def _title(text: str, underline: str) -> str:
    return f'{text}\n{underline * len(text)}\n'


def render() -> str:
    """The reST source of the API page."""
    import_package()
    lines = [INTRO]
    for var_name, registry in registries().items():
        items = registered(registry)
        if not items:
            continue
        lines.append(_title(f'{var_name}', '-'))
        lines.append(f'``argrpo.registry.{var_name}``, the {registry.name} registry: '
                     f'{len(items)} type{"s" if len(items) > 1 else ""}.\n')
        for name, obj in items:
            target = f'{obj.__module__}.{obj.__qualname__}'
            directive = 'autoclass' if inspect.isclass(obj) else 'autofunction'
            lines.append(f'.. {directive}:: {target}')
            if directive == 'autoclass':
                lines.append('   :members:')
                lines.append('   :show-inheritance:')
            if name != obj.__name__:
                lines.append('')
                lines.append(f'   Registered as ``{name}``.')
            lines.append('')
    lines.append(INTERFACES)
    return '\n'.join(lines)


def write(app) -> None:
    """``builder-inited``: write the API page into the source folder, only when it changed (so
    that an unchanged page is not rebuilt)."""
    path = osp.join(app.srcdir, OUTPUT)
    text = render()
    if osp.exists(path):
        with open(path, encoding='utf-8') as f:
            if f.read() == text:
                return
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)


def setup(app):
    app.connect('builder-inited', write)
    return dict(parallel_read_safe=True, parallel_write_safe=True)
