"""What the HTTP clients of argrpo share (``RemoteReward``, ``OpenAIVLM``): a total deadline per
request, the wait a 429 or 503 asks for, strict JSON and the bearer tokens they send (read from
environment variables only: a token in a config is refused, ``refuse_secrets``).

requests' ``timeout`` bounds each socket operation, not a request: a server that trickles its
reply (a byte every 0.4 s against ``timeout=1``) holds the client as long as it likes.
``DeadlineSession.post(..., total=T)`` gives the whole request, from connecting to the reply's
last byte, ``T`` seconds: a timer shuts the connection's socket down when they are spent, and the
request fails with ``DeadlineExceeded``.
"""
import email.utils
import json
import math
import os
import socket
import threading
import time
from typing import Any, Optional

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_local = threading.local()


class DeadlineExceeded(requests.Timeout):
    """The whole request took longer than its ``total``."""


class _Watch:
    """The connections one request uses; ``expire`` shuts their sockets down."""

    def __init__(self):
        self.lock, self.connections, self.expired = threading.Lock(), [], False

    def add(self, connection) -> None:
        with self.lock:
            self.connections.append(connection)
            if self.expired:
                _shut(connection)

    def expire(self) -> None:
        with self.lock:
            self.expired = True
            for connection in self.connections:
                _shut(connection)


def _shut(connection) -> None:
    sock = getattr(connection, 'sock', None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv or send on it
        except OSError:
            pass


class _Watched:
    """A urllib3 connection that puts itself under the calling thread's watch, if any."""

    def _watch(self) -> None:
        watch = getattr(_local, 'watch', None)
        if watch is not None:
            watch.add(self)

    def connect(self):
        super().connect()
        self._watch()

    def request(self, *args, **kwargs):
        self._watch()
        return super().request(*args, **kwargs)


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    POOLS = {'http': _HTTPPool, 'https': _HTTPSPool}

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self.POOLS

    def proxy_manager_for(self, *args, **kwargs):
        manager = super().proxy_manager_for(*args, **kwargs)
        manager.pool_classes_by_scheme = self.POOLS
        return manager


class DeadlineSession(requests.Session):
    """A ``requests.Session`` whose ``request(..., total=T)`` ends within ``T`` seconds (plus
    the moment the socket takes to close), whatever the server does; thread-safe as requests'
    sessions are (one request per thread at a time)."""

    def __init__(self, pool_maxsize: int = 10):
        super().__init__()
        adapter = _WatchedAdapter(pool_maxsize=pool_maxsize)
        self.mount('http://', adapter)
        self.mount('https://', adapter)

    def request(self, method, url, *args, total: Optional[float] = None, **kwargs):
        if total is None:
            return super().request(method, url, *args, **kwargs)
        if total <= 0:
            raise DeadlineExceeded(f'no time left for {method} {url}')
        kwargs.setdefault('timeout', (min(total, 30.0), total))  # per operation, as well
        watch, outer = _Watch(), getattr(_local, 'watch', None)
        timer = threading.Timer(total, watch.expire)
        timer.daemon = True
        _local.watch = watch
        timer.start()
        try:
            response = super().request(method, url, *args, **kwargs)
        except requests.RequestException as error:
            if watch.expired:
                raise DeadlineExceeded(f'no complete reply from {url} within {total:g} s') from error
            raise
        finally:
            timer.cancel()
            _local.watch = outer
        if watch.expired:  # a reply read to the end of a connection that the timer shut is cut short
            raise DeadlineExceeded(f'no complete reply from {url} within {total:g} s')
        return response


def retry_after(response: requests.Response) -> Optional[float]:
    """Seconds the ``Retry-After`` header of ``response`` asks to wait (a number of seconds or
    an HTTP date), None without a readable one."""
    value = response.headers.get('Retry-After', '').strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _no_constant(name: str):
    raise ValueError(f'{name} is not JSON')


def strict_json(text: Any) -> Any:
    """``json.loads`` that refuses NaN and Infinity (Python's json reads them; JSON has neither)
    and too deep nesting (``ValueError``, not ``RecursionError``)."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError('JSON nested too deep') from None


def is_finite_number(value: Any) -> bool:
    """A JSON number (not a bool) that is finite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_token(token: str, what: str) -> str:
    """``token`` if it can travel in an HTTP header: non-empty, printable ASCII without spaces."""
    if not isinstance(token, str) or not token or not all('!' <= c <= '~' for c in token):
        raise ValueError(f'{what} must be a non-empty string of printable ASCII characters without spaces '
                         f'(it travels in the header "Authorization: Bearer <token>")')
    return token


# the secrets a config may not hold: type -> (argument, the argument naming its variable, the variable's default, what)
SECRETS = {'RemoteReward': ('token', 'token_env', 'ARGRPO_REWARD_TOKEN', 'a token'),
           'OpenAIVLM': ('api_key', 'api_key_env', 'ARGRPO_VLM_API_KEY', 'an API key')}


def secret_refused(kind: str, env: Optional[str] = None, where: Optional[str] = None) -> ValueError:
    """The error for a ``kind`` (a key of ``SECRETS``) given its secret as an argument (at
    ``where`` in a config): it would be written into the work dir's config dump, the log and
    every checkpoint's meta. The message names the variable to set (``env``, else the
    default) and never the secret."""
    key, env_key, default, what = SECRETS[kind]
    env = env or default
    at = f' (at {where})' if where else ''
    return ValueError(f'{kind}({key}=...){at} is refused: {what} in a config is written into the work dir\'s config '
                      f'dump, the log and every checkpoint\'s meta. Set the environment variable ${env} instead '
                      f'({kind} reads the variable named by {env_key}, {default!r} by default) and leave {key} out')


def refuse_secrets(cfg: Any, where: str = '') -> None:
    """``secret_refused`` for the first ``RemoteReward`` / ``OpenAIVLM`` in ``cfg`` (an MMEngine
    ``Config``, or any nesting of dicts and lists) given its token or API key, naming where it
    is (``model.reward.rewards[3].token``): call it on a run's config before a Runner writes any
    of it (MMEngine's Runner logs the config, and writes it among its visualizer's files, before
    it builds the model)."""
    if not isinstance(cfg, (dict, list, tuple)) and callable(getattr(cfg, 'to_dict', None)):
        cfg = cfg.to_dict()  # an mmengine Config
    if isinstance(cfg, dict):
        kind = cfg.get('type')
        kind = getattr(kind, '__name__', kind)
        kind = kind.rsplit('.', 1)[-1] if isinstance(kind, str) else None  # 'argrpo.RemoteReward' too
        if kind in SECRETS and cfg.get(SECRETS[kind][0]) is not None:
            raise secret_refused(kind, cfg.get(SECRETS[kind][1]), f'{where}.{SECRETS[kind][0]}'.lstrip('.'))
        for key, value in cfg.items():
            refuse_secrets(value, f'{where}.{key}'.lstrip('.'))
    elif isinstance(cfg, (list, tuple)):
        for i, value in enumerate(cfg):
            refuse_secrets(value, f'{where}[{i}]')


def token_from(env: Optional[str]) -> Optional[str]:
    """``$env`` when set and non-empty, else None (also when ``env`` is None); checked."""
    token = os.environ.get(env) if env else None
    return check_token(token, f'${env}') if token else None
