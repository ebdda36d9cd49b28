"""Layer presets of stacked pouch cells, so that a 10-unit stack is one line of a case file.

A unit preset ``"<anode>_<cathode>"`` (e.g. ``piag_20li_ncm811``) names an anode
(:data:`ANODES`: collector layers, and the Li metal coating on each face that faces a cathode)
and a cathode (:data:`CATHODES`: collector and coating on both faces). :func:`stack_layers`
builds the stack: pouch laminate, anode a0, separator, cathode c0, separator, anode a1, ...,
cathode c(N-1), separator, anode aN, laminate: N double-sided cathodes and N + 1 anodes, i.e.
2 N unit cells (anode coating | separator | cathode coating). The outer anodes carry Li only on
the face toward the stack (``outer_anodes = "single_sided"``, as in the paper's 0.36 Ah cell:
3 anodes, 2 cathodes, 4 unit cells; PHYSICS.md A.1) or on both faces.

Thicknesses (m) and their basis:
- PI-Ag: Ag 0.5 um / polyimide 7 um / Ag 0.5 um (the paper's coupon model; the pouch text says
  PI film 8 um and Ag ~1 um in total: the same 8 um within the paper's rounding).
- Cu 8 um (the paper's Cu monolayer); Li 20 um (paper, "20Li": 4 mAh cm-2).
- NCM811 coating 60 um per face: 20 mg cm-2 at 95 % active (paper) over the dry coating density
  3270 kg m-3 of the library's NCM811_composite note gives 61 um (assumed calendered to that).
- Li-rich ("lrlo"): 48 um per face at 4 mAh cm-2 (see CATHODES), NCM811 properties standing in.
- Al cathode collector 12 um and separator 16 um (Al2O3-coated polyolefin, modelled as the
  library's wet separator): typical values, not given by the paper (assumptions).
- Laminate: polyamide 25 um / Al 40 um / polypropylene 40 um (outside to inside), a common
  ~105 um aluminium-plastic film (assumption).
"""

from __future__ import annotations

from dataclasses import dataclass

from batteryfx.geometry.base import GeometryError
from batteryfx.geometry.pouch import PouchLayer, Rect

UM = 1e-6


@dataclass(frozen=True)
class Electrode:
    """Collector layers (name, material, thickness m) bottom-up and the coating on a face
    (None: no coating, e.g. an anode-free Cu collector)."""

    collector: tuple[tuple[str, str, float], ...]
    coating: tuple[str, str, float] | None


PIAG = (("ag_bottom", "Ag", 0.5 * UM), ("pi", "polyimide", 7 * UM), ("ag_top", "Ag", 0.5 * UM))
CU = (("cu", "Cu", 8 * UM),)
LI20 = ("li", "Li", 20 * UM)

#: anode presets: collector + Li coating
ANODES: dict[str, Electrode] = {
    "piag_20li": Electrode(PIAG, LI20),
    "piag_0li": Electrode(PIAG, None),
    "cu_20li": Electrode(CU, LI20),
    "cu_0li": Electrode(CU, None),
}
#: cathode presets: collector + coating (both faces)
CATHODES: dict[str, Electrode] = {
    "ncm811": Electrode((("al", "Al", 12 * UM),), ("ncm811", "NCM811_composite", 60 * UM)),
    # Li-rich Mn-based oxide at 4 mAh cm-2 (the paper's 10 Ah cells): 4 / (280 mAh/g x 0.95)
    # = 15.0 mg/cm^2 of active material, 15.8 mg/cm^2 of coating; no Li-rich composite in the
    # library yet, so NCM811_composite properties stand in (a layered oxide too): at its dry
    # density 3270 kg/m^3 the coating is 48 um per face
    "lrlo": Electrode((("al", "Al", 12 * UM),), ("lrlo", "NCM811_composite", 48 * UM)),
}
SEPARATOR = ("separator_wet", 16 * UM)
#: aluminium-plastic film, outside to inside
LAMINATE = (("pa", "polyamide6", 25 * UM), ("al", "Al", 40 * UM), ("pp", "polypropylene", 40 * UM))


def units() -> list[str]:
    """All unit preset names."""
    return [f"{a}_{c}" for a in ANODES for c in CATHODES]


def split_unit(unit: str, field: str = "unit") -> tuple[Electrode, Electrode]:
    for a in ANODES:
        for c in CATHODES:
            if unit == f"{a}_{c}":
                return ANODES[a], CATHODES[c]
    raise GeometryError(f"unknown unit preset; allowed: {', '.join(units())}", field, unit)


def stack_layers(unit: str, cathodes: int, anode: Rect, cathode: Rect, separator: Rect, *,
                 outer_anodes: str = "single_sided", separator_thickness: float = SEPARATOR[1],
                 laminate: bool = True) -> tuple[PouchLayer, ...]:
    """The layer table (bottom-up) of ``cathodes`` double-sided cathodes between
    ``cathodes + 1`` anodes of the preset ``unit``; footprints as given (the laminate covers
    the separator footprint)."""
    an, ca = split_unit(unit)
    if cathodes < 1:
        raise GeometryError("needs at least one cathode", "cathodes", cathodes)
    if outer_anodes not in ("single_sided", "double_sided"):
        raise GeometryError("allowed: single_sided, double_sided", "outer_anodes", outer_anodes)
    layers: list[PouchLayer] = []

    def film(part: str, order):
        for name, mat, t in order:
            layers.append(PouchLayer(f"{part}/{name}", mat, t, separator, "packaging", part))

    def anode_layers(i: int):
        part = f"a{i}"
        below = i > 0 or outer_anodes == "double_sided"
        above = i < cathodes or outer_anodes == "double_sided"
        if an.coating and below:
            name, mat, t = an.coating
            layers.append(PouchLayer(f"{part}/{name}_bottom", mat, t, anode, "anode_active",
                                     part, 2 * i if i > 0 else 0))
        for name, mat, t in an.collector:
            layers.append(PouchLayer(f"{part}/{name}", mat, t, anode, "anode_collector", part))
        if an.coating and above:
            name, mat, t = an.coating
            layers.append(PouchLayer(f"{part}/{name}_top", mat, t, anode, "anode_active",
                                     part, 2 * i + 1 if i < cathodes else 0))

    def cathode_layers(j: int):
        part = f"c{j}"
        name, mat, t = ca.coating
        layers.append(PouchLayer(f"{part}/{name}_bottom", mat, t, cathode, "cathode_active",
                                 part, 2 * j + 1))
        for cname, cmat, ct in ca.collector:
            layers.append(PouchLayer(f"{part}/{cname}", cmat, ct, cathode, "cathode_collector",
                                     part))
        layers.append(PouchLayer(f"{part}/{name}_top", mat, t, cathode, "cathode_active",
                                 part, 2 * j + 2))

    def sep(m: int):
        layers.append(PouchLayer(f"s{m}", SEPARATOR[0], separator_thickness, separator,
                                 "separator", "", m + 1))

    if laminate:
        film("pouch_bottom", LAMINATE)
    for j in range(cathodes):
        anode_layers(j)
        sep(2 * j)
        cathode_layers(j)
        sep(2 * j + 1)
    anode_layers(cathodes)
    if laminate:
        film("pouch_top", LAMINATE[::-1])
    return tuple(layers)
