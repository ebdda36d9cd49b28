"""Materials library: data files (every property with value, unit and source) and their loader."""

from batteryfx.materials.library import Material, Property, library, resolve

__all__ = ["Material", "Property", "library", "resolve"]
