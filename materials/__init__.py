"""Materials library: data files (every entry with value, unit and source) and their loader.

Solvers use :func:`resolve` / :func:`catalog` and the typed accessors of :class:`Material`
(``require``, ``table``, ``tensor``, ``law``); they never read the TOML files themselves.
"""

from batteryfx.materials.library import (
    REQUIRED,
    REQUIREMENTS,
    LawFunction,
    Material,
    MaterialError,
    Property,
    TableData,
    catalog,
    isotropic_stiffness,
    library,
    materials_for,
    resolve,
)

__all__ = ["REQUIRED", "REQUIREMENTS", "LawFunction", "Material", "MaterialError", "Property",
           "TableData", "catalog", "isotropic_stiffness", "library", "materials_for", "resolve"]
