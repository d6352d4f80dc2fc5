"""argparse types for the numbers of tools/: a bad value is a clear usage error, not a run that
starts on it (a port taken modulo 65536, a plan for zero GPUs)."""
import argparse
import math
from typing import Callable, Optional


def _number(cast: Callable, low: Optional[float], high: Optional[float], low_open: bool, what: str) -> Callable:
    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'{text!r} is not {what}') from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f'{text!r} is not {what}')
        if (low is not None and (value <= low if low_open else value < low)) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f'{text} is not {what}')
        return value

    parse.__name__ = what  # argparse names the type in its messages
    return parse


port = _number(int, 1, 65535, False, 'a port (an integer in 1-65535)')
positive_int = _number(int, 0, None, True, 'a positive integer')
non_negative_int = _number(int, 0, None, False, 'a non-negative integer')
positive_float = _number(float, 0, None, True, 'a positive number')
non_negative_float = _number(float, 0, None, False, 'a non-negative number')
