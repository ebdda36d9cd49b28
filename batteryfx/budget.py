"""Mass, energy and volume budget of a stacked pouch cell (no DOLFINx).

A cell is a table of :class:`BudgetLayer` rows (one row per kind of sheet: its component, material,
thickness, area, density and how many there are) plus masses that are not sheets (electrolyte,
tape, ...). :func:`cell_budget` sums them per component and gives the specific energy (Wh/kg)
and energy density (Wh/L):

    m_layer = rho t A n                         (kg; density, thickness, area, count)
    m_c = sum of m_layer over the rows of component c  + extra_mass_kg[c]
    E = Q V_nom                                 (Wh; capacity Ah, nominal voltage V)
    e_m = E / sum_c m_c                          (Wh/kg)
    e_V = E / V_cell                             (Wh/L)

with V_cell the product of the outer dimensions when given, else the stacked volume of the rows
(sum of t A n over every component except the electrolyte, which fills pores, and the tabs,
which stick out of the cell body). :func:`areal_capacity_to_Ah` converts an areal capacity.

:data:`PAPER_10AH_ASSUMPTIONS` states, with a justification each, everything needed to rebuild
the 10 Ah pouch-cell comparison of Zhang et al. (Sci. Adv. 2024; shared/PHYSICS.md A.1): a
Li-rich cathode at 4 mAh cm-2 against a PI-Ag collector carrying 20 um Li on each face
("PI-Ag-20Li"), an anode-free 8 um Cu collector ("Cu-0Li"), or Cu with the same 20 um Li
("Cu-20Li"); :func:`paper_10ah_layers` and :func:`paper_10ah_budget` build and evaluate them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: components whose rows do not add to the stacked volume (electrolyte fills the pores of the
#: electrodes and separators; tabs stick out of the cell body)
NON_VOLUME_COMPONENTS = ("electrolyte", "tab")


@dataclass(frozen=True)
class BudgetLayer:
    """``count`` sheets of ``material`` (component ``component``: e.g. "anode_collector",
    "anode_active", "separator", "cathode_active", "cathode_collector", "electrolyte",
    "packaging", "tab"), each ``thickness_m`` thick over ``area_m2`` with density
    ``density_kg_m3`` (an effective density for porous or composite sheets)."""

    name: str
    component: str
    material: str
    thickness_m: float
    area_m2: float
    density_kg_m3: float
    count: int = 1

    def __post_init__(self):
        if not self.component:
            raise ValueError(f"layer {self.name!r}: component must not be empty")
        for field in ("thickness_m", "area_m2", "density_kg_m3"):
            value = getattr(self, field)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"layer {self.name!r}: {field} = {value!r}, must be > 0")
        if not (isinstance(self.count, int) and self.count >= 1):
            raise ValueError(f"layer {self.name!r}: count = {self.count!r}, must be an int >= 1")

    @property
    def volume_m3(self) -> float:
        return self.thickness_m * self.area_m2 * self.count

    @property
    def mass_kg(self) -> float:
        return self.density_kg_m3 * self.volume_m3

    @property
    def areal_mass_kg_m2(self) -> float:
        """Mass per unit area of one sheet (kg/m^2; 1 kg/m^2 = 0.1 g/cm^2)."""
        return self.density_kg_m3 * self.thickness_m


def areal_capacity_to_Ah(mAh_per_cm2: float, area_m2: float, faces: int) -> float:
    """Capacity (Ah) of ``faces`` coated faces of ``area_m2`` each at ``mAh_per_cm2``:
    Q = q [mAh/cm^2] x A [m^2] x 1e4 [cm^2/m^2] x faces / 1000 [mAh/Ah]."""
    if mAh_per_cm2 < 0 or area_m2 < 0 or faces < 0:
        raise ValueError("areal capacity, area and faces must be >= 0")
    return mAh_per_cm2 * area_m2 * 1e4 * faces / 1000.0


def cell_budget(layers: list[BudgetLayer], *, capacity_Ah: float, nominal_voltage_V: float,
                extra_mass_kg: dict[str, float] | None = None,
                outer_dimensions_m: tuple[float, float, float] | None = None) -> dict:
    """Mass per component, mass fractions, energy, specific energy (Wh/kg), volume and energy
    density (Wh/L) of a cell (formulae in the module docstring).

    Returns {"mass_kg": {component: kg, ..., "total": kg}, "mass_fraction": {component: -},
    "capacity_Ah", "energy_Wh", "specific_energy_Wh_per_kg", "energy_density_Wh_per_L",
    "volume_L", "assumptions": [str, ...]}.
    """
    if not layers and not extra_mass_kg:
        raise ValueError("no layers and no extra masses: nothing to weigh")
    if not (capacity_Ah > 0 and nominal_voltage_V > 0):
        raise ValueError("capacity_Ah and nominal_voltage_V must be > 0")
    mass: dict[str, float] = {}
    for layer in layers:
        mass[layer.component] = mass.get(layer.component, 0.0) + layer.mass_kg
    assumptions = [
        "layer mass = density x thickness x area x count (uniform sheets, no edge trimming)",
    ]
    for component, kg in (extra_mass_kg or {}).items():
        if not (math.isfinite(kg) and kg >= 0):
            raise ValueError(f"extra_mass_kg[{component!r}] = {kg!r}, must be >= 0")
        mass[component] = mass.get(component, 0.0) + kg
        assumptions.append(f"extra mass {component}: {kg * 1e3:.4g} g (not a sheet)")
    total = sum(mass.values())
    energy = capacity_Ah * nominal_voltage_V
    if outer_dimensions_m is not None:
        dims = tuple(float(d) for d in outer_dimensions_m)
        if len(dims) != 3 or min(dims) <= 0:
            raise ValueError(f"outer_dimensions_m = {outer_dimensions_m!r}: three lengths > 0")
        volume = dims[0] * dims[1] * dims[2]
        assumptions.append("volume = product of the outer dimensions "
                           f"{' x '.join(f'{d * 1e3:.4g}' for d in dims)} mm")
    else:
        volume = sum(lay.volume_m3 for lay in layers
                     if lay.component not in NON_VOLUME_COMPONENTS)
        assumptions.append("volume = stacked volume of the layers (sum of thickness x area x "
                           "count) without electrolyte (in the pores) and tabs; no seals, "
                           "headspace or swelling")
    assumptions.append(f"energy = capacity x nominal voltage = {capacity_Ah:.4g} Ah x "
                       f"{nominal_voltage_V:.4g} V")
    mass["total"] = total
    return {
        "mass_kg": mass,
        "mass_fraction": {c: m / total for c, m in mass.items() if c != "total"},
        "capacity_Ah": capacity_Ah,
        "energy_Wh": energy,
        "specific_energy_Wh_per_kg": energy / total,
        "energy_density_Wh_per_L": energy / (volume * 1e3) if volume > 0 else float("nan"),
        "volume_L": volume * 1e3,
        "assumptions": assumptions,
    }


# --------------------------------------------------------------------- the paper's 10 Ah cells
@dataclass(frozen=True)
class Assumption:
    """One design number: value, unit and why it was chosen."""

    value: float
    unit: str
    why: str


#: Everything the 10 Ah comparison of Zhang et al. (Sci. Adv. 2024) rests on. (paper): stated
#: in the paper (shared/PHYSICS.md A.1); (lib): the materials library; (lit.): typical values
#: chosen here. The last column is the justification.
PAPER_10AH_ASSUMPTIONS: dict[str, Assumption] = {
    # --- cathode
    "cathode_areal_capacity": Assumption(
        4.0, "mAh/cm^2 per face", "(paper) cathodes at 4 mAh cm-2, coated on both faces"),
    "cathode_specific_capacity": Assumption(
        280.0, "mAh/g of active material",
        "(lit.) Li-rich Mn-based oxides deliver about 250-300 mAh/g (2.0-4.8 V); middle value"),
    "cathode_active_fraction": Assumption(
        0.95, "-", "(paper) the electrode recipe 95:2.5:2.5 (active:binder:carbon) of the "
        "paper's NCM811 cathodes, applied to the Li-rich cathode"),
    "nominal_voltage": Assumption(
        3.6, "V", "(lit.) average discharge voltage of Li-rich cathodes against Li, 3.5-3.7 V"),
    "cathode_coating_density": Assumption(
        2.8, "g/cm^3", "(lit.) calendered Li-rich coatings 2.6-3.0 g/cm^3 (below NCM811's "
        "3.3-3.5); sets the thickness (Wh/L) only"),
    "al_thickness": Assumption(12.0, "um", "(lit.) 10-12 um Al foil for high-loading cathodes"),
    "al_density": Assumption(2.702, "g/cm^3", "(lib) al.toml, Incropera Table A.1"),
    # --- anodes
    "cu_thickness": Assumption(8.0, "um", "(paper) Cu foil 8 um"),
    "cu_density": Assumption(8.933, "g/cm^3", "(lib) cu.toml, Incropera Table A.1"),
    "pi_thickness": Assumption(8.0, "um", "(paper) PI film 8 um (the micro coupon of the heat "
                               "model uses 0.5 / 7 / 0.5 um instead)"),
    "pi_density": Assumption(1.42, "g/cm^3", "(paper, lib) 1.42 g cm-3; polyimide.toml"),
    "ag_thickness_per_face": Assumption(
        0.5, "um", "(paper) Ag layer about 1 um in total: 0.5 um on each face of the PI"),
    "ag_density": Assumption(10.5, "g/cm^3", "(lib) ag.toml, bulk Ag (a porous printed or "
                             "sputtered film would be lighter: an upper bound)"),
    "li_thickness_per_face": Assumption(
        20.0, "um", "(paper) 20 um Li foil (4 mAh cm-2) on each face that faces a cathode; "
        "the two outer anodes face one cathode and carry Li on that face only"),
    "li_density": Assumption(0.534, "g/cm^3", "(lib) li.toml, Incropera Table A.1"),
    # --- separator, electrolyte
    "separator_thickness": Assumption(
        12.0, "um", "(lit.) Al2O3-coated polyolefin separator (the paper uses Al2O3-coated "
        "separators), 9-10 um base film + 2-3 um coating"),
    "separator_areal_mass": Assumption(
        1.0, "mg/cm^2", "(lit.) 12 um PE at 40 % porosity is 0.68 mg/cm^2; a 2-3 um Al2O3 "
        "coating adds 0.3-0.5 mg/cm^2"),
    "electrolyte_per_Ah": Assumption(
        1.5, "g/Ah", "(lit.) lean electrolyte of high-energy Li-metal / anode-free pouch cells, "
        "1.0-2.0 g/Ah (conventional Li-ion: about 3 g/Ah); the same for every design"),
    # --- format
    "cathode_length": Assumption(86.0, "mm", "(lit.) cathode 86 x 56 mm (48.16 cm^2), chosen "
                                 "so that 26 double-sided cathodes give 10.0 Ah"),
    "cathode_width": Assumption(56.0, "mm", "see cathode_length"),
    "anode_overhang": Assumption(
        1.0, "mm per edge", "(paper) anodes 58 x 45 mm over cathodes 56 x 43 mm: 1 mm per edge"),
    "separator_overhang": Assumption(2.0, "mm per edge", "(lit.) separator 2 mm beyond the "
                                     "cathode on every edge (1 mm beyond the anode)"),
    "cathodes": Assumption(26.0, "double-sided sheets", "(derived) 26 x 2 faces x 48.16 cm^2 "
                           "x 4 mAh/cm^2 = 10.02 Ah, the paper's 10 Ah"),
    "pouch_body_length": Assumption(92.0, "mm", "(lit.) separator 90 mm + 1 mm clearance "
                                    "per edge"),
    "pouch_body_width": Assumption(62.0, "mm", "(lit.) separator 60 mm + 1 mm clearance"),
    "pouch_seal_width": Assumption(5.0, "mm", "(lit.) 5 mm seal around the body (each face of "
                                   "laminate covers the body plus the seals)"),
    "pouch_pa6_thickness": Assumption(25.0, "um", "(lit.) outer oriented nylon 6 of a 113 um "
                                      "Al-laminate (suppliers offer 88-153 um)"),
    "pouch_al_thickness": Assumption(40.0, "um", "(lit.) Al barrier foil of the same laminate"),
    "pouch_pp_thickness": Assumption(40.0, "um", "(lit.) cast PP heat-seal layer"),
    "pouch_adhesive_thickness": Assumption(8.0, "um", "(lit.) two adhesive layers of about "
                                           "4 um (113 = 25 + 40 + 40 + 8)"),
    "pouch_adhesive_density": Assumption(1.2, "g/cm^3", "(lit.) polyurethane / modified-PP "
                                         "laminating adhesives, 1.1-1.2 g/cm^3"),
    "pa6_density": Assumption(1.135, "g/cm^3", "(lib) polyamide6.toml"),
    "pp_density": Assumption(0.905, "g/cm^3", "(lib) polypropylene.toml"),
    "tab_thickness": Assumption(0.1, "mm", "(lit.) 0.1 mm tabs"),
    "tab_width": Assumption(10.0, "mm", "(lit.) 10 mm wide tabs for about 10 Ah"),
    "tab_length": Assumption(40.0, "mm", "(lit.) 40 mm including the welded length inside"),
    "tab_film_mass": Assumption(0.1, "g", "(lit.) sealant films on both tabs"),
}


def _a(assumptions: dict[str, Assumption], key: str) -> float:
    return float(assumptions[key].value)


ANODES = ("PI-Ag-20Li", "Cu-0Li", "Cu-20Li")


def paper_10ah_layers(anode: str, assumptions: dict[str, Assumption] | None = None,
                      ) -> tuple[list[BudgetLayer], dict]:
    """Layer table and :func:`cell_budget` keyword arguments of the paper's 10 Ah pouch cell
    with ``anode`` one of :data:`ANODES`, from ``assumptions`` (default
    :data:`PAPER_10AH_ASSUMPTIONS`; pass a modified copy for a sensitivity study).

    Stack: N double-sided cathodes, N + 1 anodes (the two outer ones face one cathode), 2N
    separator sheets (Z-fold, one between each cathode / anode pair); the capacity is set by
    the cathode, Q = N x 2 faces x area x areal capacity. Outer dimensions (for Wh/L): the pouch
    body times the stack thickness plus two laminates, as assembled (Li not yet moved: an
    anode-free cell grows by about 19 um per face of dense Li when charged)."""
    if anode not in ANODES:
        raise ValueError(f"anode = {anode!r}: allowed {', '.join(ANODES)}")
    a = dict(PAPER_10AH_ASSUMPTIONS if assumptions is None else assumptions)
    um, mm, gcc = 1e-6, 1e-3, 1e3  # -> m, m, kg/m^3
    n_cat = int(round(_a(a, "cathodes")))
    lc, wc = _a(a, "cathode_length") * mm, _a(a, "cathode_width") * mm
    oa, os_ = _a(a, "anode_overhang") * mm, _a(a, "separator_overhang") * mm
    area_c = lc * wc
    area_a = (lc + 2 * oa) * (wc + 2 * oa)
    area_s = (lc + 2 * os_) * (wc + 2 * os_)
    q_face = _a(a, "cathode_areal_capacity")  # mAh/cm^2
    capacity = areal_capacity_to_Ah(q_face, area_c, 2 * n_cat)
    # cathode coating: loading per face = q / (specific capacity x active fraction)
    loading = q_face / (_a(a, "cathode_specific_capacity") * _a(a, "cathode_active_fraction"))
    rho_coat = _a(a, "cathode_coating_density") * gcc
    t_coat = loading * 1e-3 / 1e-4 / rho_coat  # g/cm^2 -> kg/m^2, / density -> m
    layers = [
        BudgetLayer("cathode coating", "cathode_active", "Li-rich composite", t_coat, area_c,
                    rho_coat, 2 * n_cat),
        BudgetLayer("Al foil", "cathode_collector", "Al", _a(a, "al_thickness") * um, area_c,
                    _a(a, "al_density") * gcc, n_cat),
        BudgetLayer("separator", "separator", "Al2O3-coated PE",
                    _a(a, "separator_thickness") * um, area_s,
                    _a(a, "separator_areal_mass") * 1e-2 / (_a(a, "separator_thickness") * um),
                    2 * n_cat),
    ]
    n_an = n_cat + 1
    if anode.startswith("Cu"):
        layers.append(BudgetLayer("Cu foil", "anode_collector", "Cu",
                                  _a(a, "cu_thickness") * um, area_a,
                                  _a(a, "cu_density") * gcc, n_an))
    else:
        layers += [
            BudgetLayer("PI film", "anode_collector", "polyimide", _a(a, "pi_thickness") * um,
                        area_a, _a(a, "pi_density") * gcc, n_an),
            BudgetLayer("Ag skin", "anode_collector", "Ag",
                        _a(a, "ag_thickness_per_face") * um, area_a,
                        _a(a, "ag_density") * gcc, 2 * n_an),
        ]
    if anode.endswith("20Li"):  # Li on every face that faces a cathode: 2 N faces
        layers.append(BudgetLayer("Li foil", "anode_active", "Li",
                                  _a(a, "li_thickness_per_face") * um, area_a,
                                  _a(a, "li_density") * gcc, 2 * n_cat))
    lb, wb = _a(a, "pouch_body_length") * mm, _a(a, "pouch_body_width") * mm
    seal = _a(a, "pouch_seal_width") * mm
    area_p = (lb + 2 * seal) * (wb + 2 * seal)
    layers += [
        BudgetLayer("pouch PA6", "packaging", "polyamide6", _a(a, "pouch_pa6_thickness") * um,
                    area_p, _a(a, "pa6_density") * gcc, 2),
        BudgetLayer("pouch Al", "packaging", "Al", _a(a, "pouch_al_thickness") * um, area_p,
                    _a(a, "al_density") * gcc, 2),
        BudgetLayer("pouch PP", "packaging", "polypropylene", _a(a, "pouch_pp_thickness") * um,
                    area_p, _a(a, "pp_density") * gcc, 2),
        BudgetLayer("pouch adhesive", "packaging", "adhesive",
                    _a(a, "pouch_adhesive_thickness") * um, area_p,
                    _a(a, "pouch_adhesive_density") * gcc, 2),
    ]
    tab_area = _a(a, "tab_width") * mm * _a(a, "tab_length") * mm
    t_tab = _a(a, "tab_thickness") * mm
    layers += [
        BudgetLayer("positive tab", "tab", "Al", t_tab, tab_area, _a(a, "al_density") * gcc),
        BudgetLayer("negative tab", "tab", "Cu", t_tab, tab_area, _a(a, "cu_density") * gcc),
    ]
    stack = sum(lay.thickness_m * lay.count for lay in layers
                if lay.component not in ("packaging", "tab", "electrolyte"))
    laminate = sum(lay.thickness_m for lay in layers if lay.component == "packaging")
    kwargs = {
        "capacity_Ah": capacity,
        "nominal_voltage_V": _a(a, "nominal_voltage"),
        "extra_mass_kg": {"electrolyte": _a(a, "electrolyte_per_Ah") * capacity * 1e-3,
                          "tab": _a(a, "tab_film_mass") * 1e-3},
        "outer_dimensions_m": (lb, wb, stack + 2 * laminate),
    }
    return layers, kwargs


def paper_10ah_budget(anode: str, assumptions: dict[str, Assumption] | None = None,
                      **changes: float) -> dict:
    """:func:`cell_budget` of :func:`paper_10ah_layers`; ``changes`` override single
    assumption values by key (e.g. ``electrolyte_per_Ah=1.0``)."""
    a = dict(PAPER_10AH_ASSUMPTIONS if assumptions is None else assumptions)
    for key, value in changes.items():
        if key not in a:
            raise KeyError(f"unknown assumption {key!r}")
        a[key] = Assumption(float(value), a[key].unit, a[key].why + " (changed)")
    layers, kwargs = paper_10ah_layers(anode, a)
    out = cell_budget(layers, **kwargs)
    out["assumptions"] += [f"{anode}: {k} = {v.value:g} {v.unit}" for k, v in a.items()]
    return out
