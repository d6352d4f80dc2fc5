"""HTTP servers for the tests, on 127.0.0.1, started and stopped by the test that uses them:
tools/reward_server.py as users run it (``ToolServer``), and servers that misbehave on purpose,
one that answers what a test says (``canned_server``), one that trickles its reply a byte at a
time (``trickling_server``)."""
import contextlib
import os
import os.path as osp
import socket
import subprocess
import sys
import threading
import time
from typing import Callable, Iterator, Optional, Sequence, Tuple

import flask
import pytest
import requests

from argrpo.services import BackgroundServer

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


class ToolServer:
    """tools/reward_server.py as a subprocess on a fixed port (so that it can be restarted there),
    its token (if any) given through $ARGRPO_REWARD_TOKEN, ``python_path`` put on its PYTHONPATH
    after this checkout (e.g. a stand-in package, as a reward's own environment has it); ``start``
    waits until it answers /health for a ``reward_type`` reward named ``reward_name``."""

    def __init__(self, config: str, log: str, token: Optional[str] = None, reward_type: str = 'WeightedSum',
                 reward_name: str = 'reward', python_path: Sequence[str] = ()):
        with socket.socket() as sock:
            sock.bind(('127.0.0.1', 0))
            self.port = sock.getsockname()[1]
        self.url = f'http://127.0.0.1:{self.port}'
        self.config, self.log, self.token, self.proc = config, log, token, None
        self.reward_type, self.reward_name, self.python_path = reward_type, reward_name, list(python_path)

    def start(self) -> None:
        cmd = [sys.executable, osp.join(ROOT, 'tools', 'reward_server.py'), self.config,
               '--port', str(self.port), '--device', 'cpu', '--threads', '2']
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT] + self.python_path), OMP_NUM_THREADS='1')
        env.pop('ARGRPO_REWARD_TOKEN', None)
        if self.token is not None:
            env['ARGRPO_REWARD_TOKEN'] = self.token
        with open(self.log, 'a') as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline, health = time.monotonic() + 180, None
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                health = requests.get(f'{self.url}/health', timeout=5).json()
            except requests.ConnectionError:
                time.sleep(0.2)
                continue
            if {k: health.get(k) for k in ('status', 'reward', 'type')} == dict(
                    status='ok', reward=self.reward_name, type=self.reward_type):
                return
            break
        self.stop()
        pytest.fail(f'the reward server did not come up healthy ({health}):\n{open(self.log).read()}')

    def stop(self) -> None:
        """Kill it (as a crash or an OOM killer would)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


@contextlib.contextmanager
def canned_server(path: str) -> Iterator[Tuple[dict, Callable]]:
    """A Flask app answering POST ``path`` with ``state['reply'](payload, call)`` (call counted
    from 1): a Flask response, a ``(body, status[, headers])`` tuple or a JSON-able dict. Yields
    ``(state, reset)``: ``reset(reply)`` clears the count and returns the server's URL."""
    app = flask.Flask('canned')
    state = {'calls': 0, 'payloads': [], 'headers': [], 'lock': threading.Lock()}

    @app.post(path)
    def answer():
        with state['lock']:
            state['calls'] += 1
            call = state['calls']
        payload = flask.request.get_json(silent=True)
        state['payloads'].append(payload)
        state['headers'].append(dict(flask.request.headers))
        reply = state['reply'](payload, call)
        return flask.jsonify(reply) if isinstance(reply, dict) else reply

    with BackgroundServer(app, threads=8) as server:
        def reset(reply: Callable) -> str:
            state.update(calls=0, payloads=[], headers=[], reply=reply)
            return server.url
        yield state, reset


@contextlib.contextmanager
def trickling_server(body: bytes = b'{"choices": []}', pause: float = 0.2,
                     headers_too: bool = False) -> Iterator[str]:
    """A server that reads a request and answers 200 with ``body``, one byte every ``pause``
    seconds (the status line and headers too with ``headers_too``): no socket read of the client
    ever waits long, the whole reply takes ``pause`` x its length. Yields its URL."""
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(8)
    listener.settimeout(0.1)
    stop, handlers = threading.Event(), []

    def handle(conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(5)
                conn.recv(1 << 20)
                head = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n' % len(body)
                if not headers_too:
                    conn.sendall(head)
                for byte in (head + body if headers_too else body):
                    if stop.is_set():
                        return
                    conn.sendall(bytes([byte]))
                    time.sleep(pause)
            except OSError:
                pass

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            thread = threading.Thread(target=handle, args=(conn,), daemon=True)
            thread.start()
            handlers.append(thread)

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield f'http://127.0.0.1:{listener.getsockname()[1]}'
    finally:
        stop.set()
        acceptor.join(5)
        for thread in handlers:
            thread.join(5)
        listener.close()
