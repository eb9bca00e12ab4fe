"""SciGenBench taxonomy: the 25 image types and the 5 domains they belong to (PROTOCOL.md §1.5).

Type strings are matched exactly (``"Universal - Table / Grid"``, ``"Chemistry - Orbital / Quantum"``,
``"Universal - Exp. Setup"``). SeePhys items have no upstream type (``""``): they are labelled domain
``Physics`` with image type ``None``.
"""

from __future__ import annotations

#: the five domains, in the order the paper lists them
DOMAINS: tuple[str, ...] = ("Math", "Physics", "Chemistry", "Biology", "Universal")

#: subtypes per domain, in the order of PROTOCOL.md §1.5
_SUBTYPES: dict[str, tuple[str, ...]] = {
    "Physics": (
        "Field Diagram",
        "Mechanical",
        "Optical Ray",
        "Waveform",
        "Astronomical",
        "Circuit",
        "Thermodynamic",
    ),
    "Math": ("Set & Probability", "Plane Geometric", "Solid Geometric", "Analytic Geometry"),
    "Universal": ("Plot & Chart", "Table / Grid", "Graph & Flow", "Exp. Setup"),
    "Chemistry": (
        "Molecular Structure",
        "Electron Config",
        "Reaction Scheme",
        "Orbital / Quantum",
        "Crystal Structure",
        "Spectra",
    ),
    "Biology": ("Genetics", "Cell Diagram", "Molecular Process", "Ecological"),
}

#: exact upstream image-type string -> domain (25 entries)
IMAGE_TYPES: dict[str, str] = {
    f"{domain} - {subtype}": domain for domain, subtypes in _SUBTYPES.items() for subtype in subtypes
}

#: the domain of SeePhys items, which carry no image type upstream
SEEPHYS_DOMAIN = "Physics"


def domain_of(image_type: str | None) -> str:
    """Return the domain of an exact image-type string.

    Args:
        image_type: one of the 25 strings of :data:`IMAGE_TYPES`; ``None`` or ``""`` means a SeePhys item.

    Returns:
        The domain name (one of :data:`DOMAINS`).

    Raises:
        ValueError: the string is not one of the 25 types (the message lists close matches).

    >>> domain_of("Chemistry - Orbital / Quantum")
    'Chemistry'
    >>> domain_of(None)
    'Physics'
    """
    if not image_type:
        return SEEPHYS_DOMAIN
    try:
        return IMAGE_TYPES[image_type]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(image_type, list(IMAGE_TYPES), n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"Unknown image type {image_type!r}: expected one of the 25 exact SciGenBench types "
            f"(scigenbench.dataset.IMAGE_TYPES).{hint}"
        ) from None


def subtype_of(image_type: str) -> str:
    """Return the part after ``" - "`` of a known image type (e.g. ``"Mechanical"``)."""
    domain_of(image_type)  # validates
    return image_type.split(" - ", 1)[1]
