"""The shapes world's model zoo: the supervised stages' exported files, shipped in
``projects/shapes_world/model_zoo/`` with a manifest, so that the demo starts at GRPO.

``manifest.json`` lists each file with its size, sha256, the config and command that made it, the
CPU it was trained on and the seconds it took. ``tools/demo.py --from-scratch`` trains every stage
into its work dir and writes the same manifest there (copy both into the zoo to ship new models).
The files are read by the library's own loaders (LlamaGen ``{'model': ...}`` files, timm and
open_clip state dicts, ADM-style ``arr_0`` image batches); the manifest only vouches for them.
"""
import hashlib
import json
import os
import os.path as osp
from typing import Dict, Iterable

from argrpo.utils import atomic_write

ZOO_DIR = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'model_zoo')
MANIFEST = 'manifest.json'


class ModelZooError(RuntimeError):
    """A file of the zoo is missing, truncated or not the one the manifest names."""


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(models_dir: str) -> Dict[str, dict]:
    """The manifest's entries by file (a path relative to ``models_dir``); {} without a manifest."""
    path = osp.join(models_dir, MANIFEST)
    if not osp.isfile(path):
        return {}
    with open(path) as f:
        return {entry['file']: entry for entry in json.load(f)['files']}


def record(models_dir: str, file: str, **provenance) -> dict:
    """Add (or replace) ``file``'s entry in the manifest of ``models_dir``: its bytes and sha256,
    and ``provenance`` (config, command, cpu, seconds)."""
    path = osp.join(models_dir, file)
    entry = dict(file=file, bytes=os.path.getsize(path), sha256=sha256(path), **provenance)
    entries = read_manifest(models_dir)
    entries[file] = entry
    text = json.dumps({'files': sorted(entries.values(), key=lambda e: e['file'])}, indent=2) + '\n'
    atomic_write(osp.join(models_dir, MANIFEST), lambda f: f.write(text.encode()))
    return entry


def check(models_dir: str, files: Iterable[str], remake: str) -> None:
    """Raise ``ModelZooError`` unless each of ``files`` is in ``models_dir`` as its manifest
    describes it (size, then sha256); the message names the file and ``remake``, the command
    that makes it again."""
    entries = read_manifest(models_dir)
    for file in files:
        path = osp.join(models_dir, file)
        entry = entries.get(file)
        if entry is None:
            problem = f'not listed in {osp.join(models_dir, MANIFEST)}'
        elif not osp.isfile(path):
            problem = 'missing'
        elif os.path.getsize(path) != entry['bytes']:
            problem = f'truncated or changed: {os.path.getsize(path)} bytes, the manifest says {entry["bytes"]}'
        elif sha256(path) != entry['sha256']:
            problem = f'changed: its sha256 is not the manifest\'s {entry["sha256"][:16]}...'
        else:
            continue
        restore = (', or restore the shipped file with `git checkout -- projects/shapes_world/model_zoo`'
                   if osp.isdir(models_dir) and osp.samefile(models_dir, ZOO_DIR) else '')
        raise ModelZooError(f'model zoo file {path}: {problem}. Remake it with `{remake}` (it trains every '
                            f'stage of the task into the work dir and writes a manifest there){restore}.')
