# What every run of the shapes world shares: argrpo's runtime, and the project's types (the world
# dataset, its judges and trainers, the ShapesCLIP-Tiny architecture) registered by importing it.
# tools/train.py and tools/test.py put the repository root on sys.path, so `projects` imports.
_base_ = ['../../../../configs/_base_/default_runtime.py']
custom_imports = dict(imports=['projects.shapes_world.shapes_world'], allow_failed_imports=False)
