"""Probe quantities of every physics, with their units: plain data, importable without DOLFINx
(post-processing reads probes.csv column units from here; each physics in batteryfx/physics
declares its quantities as ``QUANTITIES[name]``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quantity:
    """A probe quantity: its unit (the probes.csv column suffix, e.g. ``K`` or ``W_m2``) and
    how a marker probe reduces it: ``field`` samples a scalar function (point value, mean /
    max / min over a marker); ``integral`` integrates an expression over a volume marker;
    ``mean`` averages it; ``value`` is a number the problem computes for a marker."""

    unit: str
    kind: str = "field"
    description: str = ""


#: physics.model -> {quantity: Quantity}; the first is the physics' primary field
QUANTITIES: dict[str, dict[str, Quantity]] = {
    "heat": {
        "temperature": Quantity("K", "field", "temperature"),
        "heat": Quantity("J", "integral", "stored heat rho c_p (T - T0) over the marker"),
        "flux_in_plane": Quantity("W_m2", "mean", "mean |q| along the layers"),
        "flux_through": Quantity("W_m2", "mean", "mean |q| across the layers"),
    },
    "chemomech": {
        "concentration": Quantity("mol_m3", "field", "Li concentration"),
        "state_of_charge": Quantity("1", "mean", "c / c_max averaged over the marker"),
        "li_content": Quantity("mol", "integral", "int c dV over the marker"),
        "von_mises": Quantity("Pa", "field", "von Mises stress (cell values)"),
        "hydrostatic_stress": Quantity("Pa", "field", "tr(sigma) / 3 (cell values)"),
        "radial_stress": Quantity("Pa", "field", "sigma_rr about the origin (cell values)"),
        "hoop_stress": Quantity("Pa", "field", "(tr sigma - sigma_rr) / 2 (cell values)"),
        "strain_energy": Quantity("J", "integral", "1/2 sigma : eps_el over the marker"),
        "normal_traction_max": Quantity("Pa", "value",
                                        "largest normal traction on a facet marker (tension)"),
        "surface_voltage": Quantity("V", "value", "open-circuit voltage U of the mean "
                                    "surface stoichiometry over a facet marker"),
        "protocol_current_density": Quantity("A_m2", "value", "current density of the "
                                             "voltage protocol (insertion positive)"),
        "charge_passed": Quantity("C", "value", "F times the Li content change since t = 0 "
                                  "(insertion positive)"),
        "shear_traction_max": Quantity("Pa", "value",
                                       "largest shear traction on a facet marker"),
    },
    "electrolyte": {
        "concentration": Quantity("mol_m3", "field", "salt concentration"),
        "potential": Quantity("V", "field", "electrolyte potential (vs the Li electrode)"),
        "salt": Quantity("mol", "integral", "int eps c dV over the marker"),
        "surface_concentration": Quantity("mol_m3", "value",
                                          "mean salt concentration over a facet marker"),
        "concentration_overpotential": Quantity(
            "V", "value", "int (2RT/F)(1 - t+)(1 + dlnf/dlnc) dln c between the electrodes"),
        "ohmic_drop": Quantity("V", "value", "potential difference minus the concentration "
                               "overpotential"),
        "potential_difference": Quantity("V", "value", "phi at the Li electrode minus phi "
                                         "at the counter electrode"),
        "current_density": Quantity("A_m2", "value", "nominal current density (stripping "
                                    "positive)"),
        "kinetic_overpotential": Quantity("V", "value", "charge-transfer overpotential of the "
                                          "Li (and planar counter) electrode"),
        "cell_voltage": Quantity("V", "value", "phi_s of the counter minus phi_s of the Li "
                                 "electrode (OCV minus the overpotentials)"),
        "anode_kinetic_overpotential": Quantity("V", "value", "phi_s - phi - U at the Li "
                                                "electrode (surface mean, signed)"),
        "counter_kinetic_overpotential": Quantity("V", "value", "phi_s - phi - U at a "
                                                  "planar counter electrode (signed)"),
    },
}


def unit_suffixes() -> tuple[str, ...]:
    """probes.csv column suffixes (``_`` + every unit), longest first."""
    units = {q.unit for qs in QUANTITIES.values() for q in qs.values()}
    return tuple(sorted((f"_{u}" for u in units), key=len, reverse=True))
