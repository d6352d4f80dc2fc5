"""Scalars of runs, read back from MMEngine's json logs and plotted (``tools/analyze_logs.py``).

MMEngine's ``LocalVisBackend`` writes ``<work_dir>/<timestamp>/vis_data/scalars.json``: one json
object a line, training lines (``iter``, ``step``, the logged scalars) and evaluation lines
(``step`` and the metrics). A run is read as ``{key: [(step, value), ...]}``.
"""
import glob
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

Series = Dict[str, List[Tuple[int, float]]]


def find_scalars_log(path: str) -> str:
    """``path`` itself if it is a file, else the newest ``*/vis_data/scalars.json`` of a work dir."""
    if osp.isfile(path):
        return path
    logs = sorted(glob.glob(osp.join(path, '*', 'vis_data', 'scalars.json')))
    if not logs:
        raise FileNotFoundError(f'no json log in {path}: expected a scalars.json file or a work dir with '
                                '<timestamp>/vis_data/scalars.json (MMEngine LocalVisBackend)')
    return logs[-1]


def read_scalars(path: str) -> Series:
    """Every numeric scalar of a json log (or of a work dir's newest), by key, in step order."""
    series: Series = {}
    with open(find_scalars_log(path)) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f'{path}, line {number}: not json ({error})') from None
            step = record.get('step', record.get('iter'))
            for key, value in record.items():
                if key not in ('step', 'iter', 'epoch') and isinstance(value, (int, float)):
                    series.setdefault(key, []).append((int(step), float(value)))
    for points in series.values():
        points.sort(key=lambda point: point[0])
    return series


def plot_scalars(runs: Dict[str, Series], keys: Sequence[str], out: str, titles: Optional[Sequence[str]] = None,
                 columns: int = 2, xlabel: str = 'iteration') -> None:
    """One panel per key, one line per run (``{legend: series}``), saved to ``out``. A key no run
    logged is an error that lists the keys they did log."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    logged = sorted(set().union(*(series.keys() for series in runs.values())))
    missing = [key for key in keys if not any(key in series for series in runs.values())]
    if missing:
        raise KeyError(f'{missing} not in the logs; logged: {", ".join(logged)}')
    columns = min(columns, len(keys))
    rows = (len(keys) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    for panel, key in enumerate(keys):
        ax = axes[panel // columns][panel % columns]
        for legend, series in runs.items():
            if series.get(key):
                steps, values = zip(*series[key])
                ax.plot(steps, values, marker='o' if len(steps) <= 12 else None, markersize=3, label=legend)
        ax.set_title(titles[panel] if titles else key, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        if len(runs) > 1:
            ax.legend(fontsize=8)
    for panel in range(len(keys), rows * columns):
        axes[panel // columns][panel % columns].axis('off')
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)
