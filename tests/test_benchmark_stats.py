"""The pure summary of benchmarks/pixel.py's alternating rounds (benchmarks/timing.py)."""

import pytest

from benchmarks.timing import median_spread, round_ratios


def test_median_spread_of_five_rounds():
    stats = median_spread([1.10, 0.48, 1.04, 1.45, 1.00])
    assert stats == {"n": 5, "median": 1.04, "min": 0.48, "max": 1.45,
                     "q1": 1.00, "q3": 1.10}


def test_median_spread_of_an_even_count_and_of_one():
    assert median_spread([4.0, 1.0, 3.0, 2.0])["median"] == 2.5
    assert median_spread([4.0, 1.0, 3.0, 2.0])["q1"] == pytest.approx(1.75)
    assert median_spread([2.0]) == {"n": 1, "median": 2.0, "min": 2.0, "max": 2.0,
                                    "q1": 2.0, "q3": 2.0}


def test_median_spread_refuses_nothing():
    with pytest.raises(ValueError):
        median_spread([])


def test_ratios_are_paired_within_each_round():
    # A slow round slows both scenarios: the ratio is taken inside each round,
    # not as the median of one over the median of the other (which would be 3.0).
    rounds = [{"pixel": 2.0, "insert": 1.0}, {"pixel": 10.0, "insert": 10.0},
              {"pixel": 3.0, "insert": 1.0}]
    ratios = round_ratios(rounds, "pixel", "insert")
    assert ratios == [2.0, 1.0, 3.0]
    assert median_spread(ratios)["median"] == 2.0


def test_rounds_missing_either_side_are_left_out():
    rounds = [{"pixel": 2.0}, {"insert": 1.0}, {"pixel": 1.0, "insert": 0.0},
              {"pixel": 1.5, "insert": 1.0}]
    assert round_ratios(rounds, "pixel", "insert") == [1.5]
