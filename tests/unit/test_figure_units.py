"""Figures choose their length unit from the model size: a micro coupon in um, a pouch in mm."""

from __future__ import annotations

import pytest

from batteryfx.post.figures import length_unit, model_extent


@pytest.mark.parametrize(("extent", "unit"), [
    (5e-7, "nm"), (24e-6, "um"), (999e-6, "um"), (58e-3, "mm"), (0.5, "mm"), (2.0, "m"),
    (1e-12, "nm"), (50.0, "m"),
])
def test_length_unit(extent, unit):
    name, metres = length_unit(extent)
    assert name == unit
    assert extent / metres < 1000 or unit == "m"


def test_model_extent_from_boxes_or_bounds():
    coupon = {"pi_ag": [[0, 0, 0], [10e-6, 10e-6, 8e-6]],
              "cu": [[14e-6, 0, 0], [24e-6, 10e-6, 8e-6]]}
    assert model_extent(coupon) == pytest.approx(24e-6)
    assert length_unit(model_extent(coupon))[0] == "um"  # as the coupon was always drawn
    pouch = {"stack": [[0, 0, 0], [58e-3, 45e-3, 1.2e-3]]}
    assert length_unit(model_extent(pouch)) == ("mm", 1e-3)
    assert model_extent({}, (0, 58e-3, 0, 45e-3, 0, 1e-3)) == pytest.approx(58e-3)
