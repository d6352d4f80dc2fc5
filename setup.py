from pathlib import Path

from setuptools import find_packages, setup


def read_requirements(name: str) -> list:
    lines = Path(__file__).parent.joinpath('requirements', name).read_text().splitlines()
    return [line.split('#')[0].strip() for line in lines if line.split('#')[0].strip()]


setup(
    name='argrpo',
    version='0.1.0',
    description='AR-GRPO: reinforcement learning for autoregressive image generators',
    long_description=Path(__file__).parent.joinpath('README.md').read_text(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['argrpo', 'argrpo.*']),
    python_requires='>=3.9',
    install_requires=read_requirements('runtime.txt'),
    extras_require={
        'iqa': read_requirements('pyiqa.txt'),
        'vlm': read_requirements('optional.txt'),
        'tests': read_requirements('tests.txt'),
    },
    license='Apache-2.0',
)
