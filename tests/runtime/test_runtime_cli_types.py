import argparse

import pytest

from msau.runtime.cli_types import integer, interval, network_side, number


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (integer(1), "0", "must be at least 1, got 0"),
        (integer(1, 8), "9", "must be in 1..8, got 9"),
        (number(0.0, inclusive=False), "0", "must be more than 0, got 0"),
        (number(0.0), "inf", "must be 0 or more, got inf"),
        (interval(0, 1, low_open=True), "0", "must be in (0, 1], got 0"),
        (interval(0, 1, high_open=True), "1", "must be in [0, 1), got 1"),
        (interval(0, 1), "nan", "must be in [0, 1], got nan"),
        (network_side(), "8", "must be at least 16, got 8"),
        (network_side(), "100", "must be a multiple of 16 (four 2x2 poolings), got 100"),
        (network_side(512), "528", "must be in 16..512, got 528"),
    ],
)
def test_out_of_range_values_are_refused_with_the_bound(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        parse(text)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("parse", "text", "value"),
    [(integer(1, 8), "8", 8), (interval(0, 1), "0", 0.0), (interval(0, 1, low_open=True), "1", 1.0), (network_side(512), "512", 512)],
)
def test_values_in_range_are_returned(parse, text, value):
    assert parse(text) == value
