"""Language identification with py3langid (its model ships in the wheel: no download)."""

from __future__ import annotations

from functools import lru_cache

_MIN_CHARS = 12  # below this the classifier guesses; an unknown language is more honest
# The classifier walks every byte in Python (most of ingest's time on long abstracts); the
# first 300 characters decide: on the bundled sample 0 of 4,769 records change language
# between 200 characters and the whole text; on 1,200-character abstracts 200 characters
# took 0.18 and 400 took 0.44 of the whole text's time.
_READ_CHARS = 300

# The languages patent offices publish in: WIPO's ten PCT publication languages and those of
# the national and regional offices. The classifier knows 97 languages; on short technical
# text it reads Mandarin as Wu (wuu) or Cantonese (yue), English as Nigerian Pidgin (pcm) or
# Latin: restricted to these, it answers among languages a patent can be written in.
PATENT_LANGUAGES = (
    "ar", "bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "he", "hr", "hu", "id",
    "it", "ja", "ko", "lt", "lv", "ms", "nl", "no", "pl", "pt", "ro", "ru", "sk", "sl", "sr",
    "sv", "th", "tr", "uk", "vi", "zh",
)  # fmt: skip


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE)
    identifier.set_languages(list(PATENT_LANGUAGES))
    return identifier


def detect_language(text: str | None) -> str | None:
    """Return the ISO 639-1 code of ``text`` (e.g. ``en``, ``zh``), or None if too short."""
    if not text or len(text.strip()) < _MIN_CHARS:
        return None
    lang, _ = _identifier().classify(text[:_READ_CHARS])
    return lang
