"""Band arithmetic: the iteration counts at which hyperband judges runs."""

from __future__ import annotations

import pytest

from localsweep.config import Hyperband
from localsweep.stopping import bands, is_band_boundary


def test_min_iter_bands_multiply_by_eta() -> None:
    assert bands(Hyperband(min_iter=3, eta=3))[:5] == (3, 9, 27, 81, 243)


def test_min_iter_form_has_a_hundred_bands_like_the_engine() -> None:
    found = bands(Hyperband(min_iter=1, eta=2))
    assert len(found) == 100
    assert found[-1] == 2**99


def test_min_iter_bands_with_fractional_eta_round_down() -> None:
    assert bands(Hyperband(min_iter=3, eta=2.5))[:5] == (3, 7, 18, 46, 117)


def test_max_iter_bands_divide_by_eta_s_times() -> None:
    assert bands(Hyperband(max_iter=81, s=3, eta=3)) == (3, 9, 27)


def test_max_iter_bands_stop_below_one() -> None:
    assert bands(Hyperband(max_iter=18, s=2, eta=3)) == (2, 6)
    assert bands(Hyperband(max_iter=9, s=5, eta=3)) == (1, 3)


def test_max_iter_bands_with_fractional_eta() -> None:
    # 27/2.5 = 10.8, /2.5 = 4.32, /2.5 = 1.728
    assert bands(Hyperband(max_iter=27, s=3, eta=2.5)) == (1, 4, 10)


def test_max_iter_wins_over_min_iter() -> None:
    assert bands(Hyperband(min_iter=1, max_iter=27, s=2, eta=3)) == (3, 9)


def test_eta_defaults_to_three() -> None:
    assert bands(Hyperband(min_iter=2))[:3] == (2, 6, 18)


def test_repeated_bands_appear_once() -> None:
    # 1, 1.5, 2.25, 3.375, 5.06, 7.59, 11.39 round down to 1, 1, 2, 3, 5, 7, 11.
    assert bands(Hyperband(min_iter=1, eta=1.5))[:6] == (1, 2, 3, 5, 7, 11)


def test_int_and_float_settings_give_the_same_reachable_bands() -> None:
    as_int = bands(Hyperband(max_iter=81, s=3, eta=3))
    as_float = bands(Hyperband(max_iter=81, s=3.0, eta=3.0))
    assert as_int == as_float


def test_bands_that_overflow_a_float_are_left_out() -> None:
    # 2000.0**100 is past the largest float; the engine would crash on int(inf).
    found = bands(Hyperband(min_iter=1, eta=2000.0))
    assert 0 < len(found) < 100
    assert found[:3] == (1, 2000, 4_000_000)


@pytest.mark.parametrize("eta", [1, 1.0, 0.5, 0, -2])
def test_eta_of_one_or_less_is_rejected(eta: float) -> None:
    with pytest.raises(ValueError, match="eta"):
        bands(Hyperband(min_iter=3, eta=eta))


def test_max_iter_without_s_is_rejected() -> None:
    with pytest.raises(ValueError, match="needs s"):
        bands(Hyperband(max_iter=81))


def test_neither_min_iter_nor_max_iter_is_rejected() -> None:
    with pytest.raises(ValueError, match="min_iter"):
        bands(Hyperband())


@pytest.mark.parametrize(("max_iter", "s"), [(2, 3), (81, 0), (0, 3), (-9, 3)])
def test_settings_without_any_band_are_rejected(max_iter: int, s: int) -> None:
    with pytest.raises(ValueError, match="no bands"):
        bands(Hyperband(max_iter=max_iter, s=s, eta=3))


@pytest.mark.parametrize("min_iter", [0, -3])
def test_min_iter_below_one_is_rejected(min_iter: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        bands(Hyperband(min_iter=min_iter))


def test_fractional_s_is_rejected() -> None:
    with pytest.raises(ValueError, match="s must be an integer"):
        bands(Hyperband(max_iter=81, s=2.5))


def test_band_boundary_is_true_exactly_at_the_bands() -> None:
    hb = Hyperband(max_iter=81, s=3, eta=3)
    boundaries = [i for i in range(100) if is_band_boundary(hb, i)]
    assert boundaries == [3, 9, 27]


def test_band_boundary_follows_min_iter_bands() -> None:
    hb = Hyperband(min_iter=3, eta=2.5)
    assert [i for i in range(50) if is_band_boundary(hb, i)] == [3, 7, 18, 46]


def test_band_boundary_raises_for_impossible_settings() -> None:
    with pytest.raises(ValueError):
        is_band_boundary(Hyperband(max_iter=81), 3)


def test_min_iter_bands_capped_by_max_iter_without_s() -> None:
    assert bands(Hyperband(min_iter=3, max_iter=81, eta=3)) == (3, 9, 27, 81)
    assert bands(Hyperband(min_iter=1000, max_iter=15000, eta=3)) == (1000, 3000, 9000)
