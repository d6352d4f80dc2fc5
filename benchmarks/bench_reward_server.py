"""A load test of the reward service on the loopback: N clients for a fixed time against
tools/reward_server.py serving a reward of known cost.

    python benchmarks/bench_reward_server.py [--clients 8] [--seconds 20] [--images 8] [--size 64]
        [--latency 0.002] [--threads 4] [--encoding uint8|float32] [--in-process] [--big-request-mb 50]

The server runs in its own process (``--in-process``: a ``BackgroundServer`` thread of this one,
for a quick check) and serves ``GradientReward(latency=L)``: each request costs ``L`` seconds per
image under the server's lock, so one request of ``--images`` images holds it ``images x L``
seconds and the server cannot answer more than ``1 / (images x L)`` requests per second. Each
client is a ``RemoteReward`` calling it in a loop with its own images and prompts, and checks
every answer against ``GradientReward`` computed here (a mixed-up or lost answer counts). Prints
requests per second (and that ceiling), latency percentiles, the server's peak memory (VmHWM of
its process; RSS growth for ``--in-process``), errors, wrong and lost answers, and the CPU.
Everything stays on 127.0.0.1; the run is bounded by ``--seconds`` (plus the last requests in
flight) and ends with the server stopped.
"""
import argparse
import os
import os.path as osp
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import requests
import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from argrpo.rewards import GradientReward, RemoteReward  # noqa: E402
from argrpo.services import BackgroundServer, create_app  # noqa: E402
from argrpo.utils import quantize  # noqa: E402
from argrpo.utils.cli import positive_float, positive_int  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def cpu_model() -> str:
    try:
        out = subprocess.run(['lscpu'], capture_output=True, text=True, timeout=10).stdout
        fields = dict(line.split(':', 1) for line in out.splitlines() if ':' in line)
        return f"{fields['Model name'].strip()}, {fields['CPU(s)'].strip()} CPUs"
    except (OSError, KeyError, subprocess.SubprocessError):
        return 'unknown CPU'


def memory_kib(pid: int, field: str) -> int:
    """``VmHWM`` (peak RSS) or ``VmRSS`` of a process, in KiB (Linux)."""
    with open(f'/proc/{pid}/status') as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ':'))


class ServedProcess:
    """tools/reward_server.py in a subprocess on a free port."""

    def __init__(self, latency: float, threads: int):
        self.dir = tempfile.TemporaryDirectory()
        config = osp.join(self.dir.name, 'reward.py')
        with open(config, 'w') as f:
            f.write(f"reward = dict(type='GradientReward', latency={latency!r})\n")
        with socket.socket() as sock:
            sock.bind(('127.0.0.1', 0))
            port = sock.getsockname()[1]
        self.url = f'http://127.0.0.1:{port}'
        env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
        env.pop('ARGRPO_REWARD_TOKEN', None)
        self.proc = subprocess.Popen([sys.executable, osp.join(ROOT, 'tools', 'reward_server.py'), config,
                                      '--port', str(port), '--threads', str(threads), '--device', 'cpu'],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f'the reward server exited: {self.proc.stderr.read()[-2000:]}')
            try:
                requests.get(f'{self.url}/health', timeout=2).raise_for_status()
                self.idle = memory_kib(self.proc.pid, 'VmRSS')
                return
            except requests.RequestException:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError('the reward server did not start in 120 s')

    def memory(self) -> str:
        peak, now = memory_kib(self.proc.pid, 'VmHWM'), memory_kib(self.proc.pid, 'VmRSS')
        return (f'server process: {self.idle / 1024:.0f} MiB RSS idle (Python, torch, the reward), peak '
                f'{peak / 1024:.0f} MiB under load, {now / 1024:.0f} MiB at the end')

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)
        self.dir.cleanup()


class ServedThread:
    """The same app in a thread of this process (memory: RSS growth of this process)."""

    def __init__(self, latency: float, threads: int):
        self.before = memory_kib(os.getpid(), 'VmRSS')
        self.server = BackgroundServer(create_app(GradientReward(latency=latency)), threads=threads)
        self.url = self.server.url

    def memory(self) -> str:
        grown = memory_kib(os.getpid(), 'VmHWM') - self.before
        return f'this process (server and clients) grew by at most {grown / 1024:.0f} MiB'

    def stop(self) -> None:
        self.server.stop()


def client(url: str, seed: int, args, stop_at: float, out: dict) -> None:
    remote = RemoteReward(url, encoding=args.encoding, timeout=60, deadline=120, max_retries=0, token_env=None)
    local = GradientReward()
    generator = torch.Generator().manual_seed(seed)
    for i in range(args.max_requests):
        if time.monotonic() >= stop_at:
            break
        images = torch.rand(args.images, 3, args.size, args.size, generator=generator) * 2 - 1
        prompts = [f'client {seed} request {i} image {j}' for j in range(args.images)]
        out['sent'] += 1
        start = time.perf_counter()
        try:
            got = remote(images, prompts)
        except Exception as error:  # counted, and the run goes on
            out['errors'].append(f'{type(error).__name__}: {error}'[:300])
            continue
        out['latencies'].append(time.perf_counter() - start)
        want = local(images if args.encoding == 'float32' else quantize(images), prompts)
        if not torch.equal(got, want):
            out['wrong'] += 1


def one_big_request(server, mb: float) -> str:
    """One uint8 request of about ``mb`` MiB of body (256 x 256 images), answered 200: the
    server's peak RSS over its RSS before it."""
    n = max(1, int(mb * 2 ** 20 * 3 / 4 / (256 * 256 * 3)))
    images = torch.randint(0, 256, (n, 3, 256, 256), generator=torch.Generator().manual_seed(0)) / 127.5 - 1
    pid = server.proc.pid if isinstance(server, ServedProcess) else os.getpid()
    before = memory_kib(pid, 'VmRSS')
    remote = RemoteReward(server.url, timeout=600, max_retries=0, token_env=None)
    start = time.perf_counter()
    remote(images, ['p'] * n)
    seconds = time.perf_counter() - start
    grown = (memory_kib(pid, 'VmHWM') - before) / 1024
    body = n * 256 * 256 * 3 * 4 / 3 / 2 ** 20
    return (f'one request of {n} uint8 images of 256 x 256 (~{body:.0f} MiB of body): {seconds:.1f} s, peak RSS '
            f'+{grown:.0f} MiB over the RSS before it ({grown / body:.1f}x the body; a bound only if the peak '
            'was not reached before)')


def percentile(values, q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description='Load test of the reward service on the loopback')
    parser.add_argument('--clients', type=positive_int, default=8)
    parser.add_argument('--seconds', type=positive_float, default=20.0)
    parser.add_argument('--images', type=positive_int, default=8, help='images per request')
    parser.add_argument('--size', type=positive_int, default=64, help='image side in pixels')
    parser.add_argument('--latency', type=float, default=0.002, help="the reward's seconds per image")
    parser.add_argument('--threads', type=positive_int, default=4, help="the server's waitress threads")
    parser.add_argument('--encoding', choices=['uint8', 'float32'], default='uint8')
    parser.add_argument('--max-requests', type=positive_int, default=100_000, help='per client, a bound')
    parser.add_argument('--in-process', action='store_true', help='serve from a thread of this process')
    parser.add_argument('--big-request-mb', type=positive_float, help='then send one request of this many MiB '
                        'and report the peak memory it takes')
    args = parser.parse_args()
    if args.latency < 0:
        parser.error('--latency must be >= 0')
    server = (ServedThread if args.in_process else ServedProcess)(args.latency, args.threads)
    try:
        results = [dict(sent=0, wrong=0, errors=[], latencies=[]) for _ in range(args.clients)]
        start = time.monotonic()
        stop_at = start + args.seconds
        threads = [threading.Thread(target=client, args=(server.url, seed, args, stop_at, results[seed]))
                   for seed in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(args.seconds + 300)
        wall = time.monotonic() - start
        memory = server.memory()
        big = one_big_request(server, args.big_request_mb) if args.big_request_mb else None
    finally:
        server.stop()
    latencies = [x for r in results for x in r['latencies']]
    sent, wrong = sum(r['sent'] for r in results), sum(r['wrong'] for r in results)
    errors = [e for r in results for e in r['errors']]
    lost = sent - len(latencies) - len(errors)
    cost = args.images * args.latency
    print(f'CPU: {cpu_model()}')
    print(f'{args.clients} clients x {args.seconds:g} s against {"a thread of this process" if args.in_process else "tools/reward_server.py"} '
          f'({args.threads} threads), {args.images} {args.encoding} images of {args.size} x {args.size} per request, '
          f'GradientReward latency {args.latency:g} s per image ({cost * 1e3:.1f} ms of reward per request, '
          f'at most {1 / cost if cost else float("inf"):.0f} requests/s)')
    print(f'requests: {sent} sent, {len(latencies)} answered, {wrong} wrong, {len(errors)} errors, {lost} lost; '
          f'{len(latencies) / wall:.1f} requests/s ({len(latencies) * args.images / wall:.0f} images/s) over {wall:.1f} s')
    if latencies:
        print('latency ms: ' + ', '.join(f'p{q} {percentile(latencies, q) * 1e3:.1f}' for q in (50, 90, 99))
              + f', max {max(latencies) * 1e3:.1f}, mean {statistics.mean(latencies) * 1e3:.1f}')
    print(memory)
    if big:
        print(big)
    for error in errors[:5]:
        print('error:', error)
    if errors or wrong or lost:
        sys.exit(1)


if __name__ == '__main__':
    torch.set_num_threads(1)  # the clients' local check; the server process sets its own
    main()
