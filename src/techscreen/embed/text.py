"""What text an embedder reads for a patent (the text recipe), cleaned of control characters."""

from __future__ import annotations

import re

# C0/C1 control characters (tabs and newlines are whitespace and survive as spaces).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

RECIPES = ("title_abstract", "abstract_or_title", "title")


def clean(text: str | None) -> str:
    """Drop control characters and collapse whitespace."""
    if not text:
        return ""
    return " ".join(_CONTROL.sub(" ", text).split())


def patent_text(title: str | None, abstract: str | None, recipe: str) -> str:
    """The text of one patent by ``recipe``; empty if the patent has none.

    ``title_abstract``: "title. abstract" (whichever exist); ``abstract_or_title``: the
    abstract, else the title; ``title``: the title only.
    """
    t, a = clean(title), clean(abstract)
    if recipe == "title_abstract":
        if t and a:
            return f"{t}. {a}" if not t.endswith((".", "?", "!")) else f"{t} {a}"
        return t or a
    if recipe == "abstract_or_title":
        return a or t
    if recipe == "title":
        return t
    raise ValueError(f"unknown text recipe {recipe!r}; known: {', '.join(RECIPES)}")
