"""The argument types shared by the command line and the Python API (prunebench._validation)."""

import numpy as np
import pytest

from prunebench._validation import fraction, integer, positive_number


def non_negative_int(value, key):
    """``integer`` with minimum 0, in the (value, key) order of the other argument types."""
    return integer(key, value, 0)


def positive_int(value, key):
    """``integer`` with minimum 1, in the (value, key) order of the other argument types."""
    return integer(key, value, 1)


@pytest.mark.parametrize(("check", "value", "expected"), [
    (non_negative_int, 0, 0), (non_negative_int, 7, 7), (non_negative_int, np.int64(3), 3),
    (positive_int, 1, 1), (positive_int, np.int32(4), 4),
    (fraction, 0.5, 0.5), (fraction, np.float32(0.25), 0.25),
    (positive_number, 1e-5, 1e-5), (positive_number, 3, 3.0),
])
def test_a_valid_value_comes_back_as_a_plain_number(check, value, expected):
    out = check(value, "--x")
    assert out == expected and type(out) is type(expected)


@pytest.mark.parametrize(("check", "value", "message"), [
    (non_negative_int, -1, "--x must be a non-negative integer; got -1"),
    (non_negative_int, 1.0, "--x must be a non-negative integer; got 1.0"),
    (non_negative_int, True, "--x must be a non-negative integer; got True"),
    (non_negative_int, "3", "--x must be a non-negative integer; got '3'"),
    (positive_int, 0, "--x must be a positive integer; got 0"),
    (positive_int, False, "--x must be a positive integer; got False"),
    (fraction, 1.0, r"--x must be a number in \(0, 1\); got 1.0"),
    (fraction, 0, r"--x must be a number in \(0, 1\); got 0"),
    (fraction, True, r"--x must be a number in \(0, 1\); got True"),
    (positive_number, 0.0, "--x must be a positive number, e.g. 1e-5; got 0.0"),
    (positive_number, float("nan"), "--x must be a positive number, e.g. 1e-5; got nan"),
    (positive_number, "1", "--x must be a positive number, e.g. 1e-5; got '1'"),
])
def test_a_bad_value_is_refused_in_one_voice(check, value, message):
    with pytest.raises(ValueError, match=rf"^{message}$"):
        check(value, "--x")


def test_the_expectation_can_be_worded_for_the_argument():
    with pytest.raises(ValueError, match=r"^count must be a non-negative integer or None; got -2$"):
        integer("count", -2, 0, expected="a non-negative integer or None")
    with pytest.raises(ValueError, match=r"^--n must be a positive integer \(letters\); got 0$"):
        integer("--n", 0, 1, expected="a positive integer (letters)")
