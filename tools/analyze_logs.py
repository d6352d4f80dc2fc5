"""Plot logged scalars of one or more runs (OpenMMLab's analyze_logs habit), from MMEngine's json logs.

    python tools/analyze_logs.py plot_curve work_dirs/RUN [work_dirs/RUN2 ...] \
        --keys reward/total_mean kl_mean [--legend a b] [--out curves.png]
    python tools/analyze_logs.py list work_dirs/RUN      # the scalars a run logged

A run is a work dir (its newest ``<timestamp>/vis_data/scalars.json``) or such a json file.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # this checkout's argrpo
from argrpo.apis.log_analysis import plot_scalars, read_scalars  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Plot the scalars of MMEngine json logs')
    commands = parser.add_subparsers(dest='command', required=True)
    plot = commands.add_parser('plot_curve', help='one panel per key, one line per run')
    plot.add_argument('runs', nargs='+', help='work dirs or scalars.json files')
    plot.add_argument('--keys', nargs='+', required=True, help='logged scalars, e.g. reward/total_mean')
    plot.add_argument('--legend', nargs='+', help='a name per run (default: the paths)')
    plot.add_argument('--title', nargs='+', help='a title per key (default: the keys)')
    plot.add_argument('--out', default='curves.png', help='the image to write (.png, .pdf, .svg)')
    listing = commands.add_parser('list', help='the scalars a run logged, with their count and last value')
    listing.add_argument('runs', nargs='+')
    args = parser.parse_args(argv)
    if args.command == 'plot_curve':
        for option, names in (('--legend', args.legend), ('--title', args.title)):
            wanted = len(args.runs) if option == '--legend' else len(args.keys)
            if names is not None and len(names) != wanted:
                parser.error(f'{option} takes {wanted} names, got {len(names)}')
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    runs = {path: read_scalars(path) for path in args.runs}
    if args.command == 'list':
        for path, series in runs.items():
            print(path)
            for key, points in sorted(series.items()):
                print(f'  {key}: {len(points)} points, last {points[-1][1]:.6g} at step {points[-1][0]}')
        return
    legends = args.legend or list(runs)
    plot_scalars(dict(zip(legends, runs.values())), args.keys, args.out, args.title)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
