"""Default displaCy colours for the labels of ``universal_ner`` pipelines.

spaCy reads the ``spacy_displacy_colors`` entry point, which points at
:data:`DISPLACY_COLORS`; the component adds a distinct colour for each of its labels
that spaCy has no colour for, so ``displacy.render(doc, style="ent")`` needs no options.
"""

from __future__ import annotations

from typing import Dict, Iterable

PALETTE = (
    "#7aecec",
    "#bfeeb7",
    "#feca74",
    "#ff9561",
    "#aa9cfc",
    "#c887fb",
    "#9cc9cc",
    "#ffeb80",
    "#ff8197",
    "#f0d0ff",
    "#bfe1d9",
    "#e4e7d2",
    "#ffd1dc",
    "#c5e3f6",
    "#d9f0a3",
    "#fdd49e",
    "#bcbddc",
    "#a6dba0",
    "#f4a582",
    "#92c5de",
)

DISPLACY_COLORS: Dict[str, str] = {}


def register_label_colors(labels: Iterable[str]) -> None:
    """Give each label without a colour the next palette colour not yet in use."""
    from spacy.displacy.render import DEFAULT_LABEL_COLORS

    for label in labels:
        key = label.upper()
        if key in DISPLACY_COLORS or key in DEFAULT_LABEL_COLORS:
            continue
        used = set(DISPLACY_COLORS.values())
        free = [c for c in PALETTE if c not in used]
        DISPLACY_COLORS[key] = free[0] if free else _golden_hue(len(DISPLACY_COLORS))


def _golden_hue(n: int) -> str:
    """The n-th of an endless sequence of distinct light colours (golden-angle hues), for
    pipelines with more labels than the palette."""
    import colorsys

    red, green, blue = colorsys.hls_to_rgb((n * 0.618033988749895) % 1.0, 0.8, 0.7)
    return "#{:02x}{:02x}{:02x}".format(round(255 * red), round(255 * green), round(255 * blue))
