"""prunebench.data.registry: the dataset names and the error for an unknown one."""

from __future__ import annotations

import pytest

from prunebench import data


def test_names_are_sorted_and_complete():
    assert data.names() == ["digits", "mnist", "monks-1", "monks-2", "monks-3", "nettalk", "usps", "xor"]


@pytest.mark.parametrize("bad", ["mnsit", "", 3, None])
def test_unknown_name_lists_the_valid_ones(bad):
    with pytest.raises(data.DatasetError, match=r"unknown dataset .*; expected one of: digits, mnist, "
                                                r"monks-1, monks-2, monks-3, nettalk, usps, xor"):
        data.load(bad)
