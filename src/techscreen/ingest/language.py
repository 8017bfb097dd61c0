"""Language identification with py3langid (its model ships in the wheel: no download)."""

from __future__ import annotations

from functools import lru_cache

_MIN_CHARS = 12  # below this the classifier guesses; an unknown language is more honest


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE)


def detect_language(text: str | None) -> str | None:
    """Return the ISO 639-1 code of ``text`` (e.g. ``en``, ``zh``), or None if too short."""
    if not text or len(text.strip()) < _MIN_CHARS:
        return None
    lang, _ = _identifier().classify(text)
    return lang
