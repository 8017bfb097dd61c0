"""Which embedder reads which text of a record, and which vectors may be clustered together.

In a mixed corpus each record goes to the embedder configured for its language
(``embed.routes``, e.g. ``{zh: lexical-zh, default: minilm-int8}``), or — with
``embed.prefer_english`` — its English translation (``title_en``/``abstract_en``) goes to
the embedder routed for English. :meth:`RoutePlan.route` decides for one record (the
reference); :func:`routed` applies the same rule to a DataFrame with Spark expressions and
hands each embedder its rows, the English text already in ``title``/``abstract``.

Vectors of different embedders live in different spaces (a cosine between a MiniLM and a
lexical-zh vector means nothing), so :func:`check_one_space` refuses to let one clustering
run mix them unless ``embed.shared_spaces`` says they share a space, and
:meth:`RoutePlan.spaces` says which groups of routed embedders are clustered apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from techscreen.config import FITTED_EMBEDDERS, EmbedSettings
from techscreen.schema import UNDETERMINED

DEFAULT = "default"
ENGLISH = "en"
# What :func:`routed` adds: the embedder a row goes to, and whether it reads the translation.
ROUTE_COLUMN = "embed_route"
ENGLISH_COLUMN = "embed_english"
# What :func:`with_text_language` adds: the language of the text the embedder read.
TEXT_LANGUAGE = "text_language"


class MixedSpacesError(ValueError):
    """Vectors of embedders that do not share a space were asked to be clustered together."""


@dataclass(frozen=True)
class Route:
    """Where one record goes: the embedder's name and whether it reads the translation."""

    embedder: str
    english: bool


def language_key(language: str | None) -> str | None:
    """The primary subtag of a language code, lower case (``zh-Hant`` → ``zh``); None if none."""
    if not language or not language.strip():
        return None
    return language.strip().lower().replace("_", "-").split("-")[0]


def recipe_fields(title: str | None, abstract: str | None, recipe: str) -> tuple[str, ...]:
    """The fields (``title``, ``abstract``) of a record that ``recipe`` reads, given its texts.

    Only fields with text count: ``abstract_or_title`` reads the abstract, or the title
    when there is no abstract (see :func:`techscreen.embed.text.patent_text`).
    """
    has_title, has_abstract = bool(title and title.strip()), bool(abstract and abstract.strip())
    if recipe == "title":
        return ("title",) if has_title else ()
    if recipe == "abstract_or_title":
        return ("abstract",) if has_abstract else ("title",) if has_title else ()
    return tuple(f for f, has in (("title", has_title), ("abstract", has_abstract)) if has)


def has_translation(
    title: str | None,
    abstract: str | None,
    title_en: str | None,
    abstract_en: str | None,
    recipe: str,
) -> bool:
    """True when the English fields cover every original field ``recipe`` would read.

    A translated title beside an untranslated abstract is not a translation of the text the
    embedder reads: such a record keeps its original text. A record without any original
    text but with an English one counts as translated.
    """
    english = {"title": title_en, "abstract": abstract_en}
    needed = recipe_fields(title, abstract, recipe)
    if not needed:
        return bool(recipe_fields(title_en, abstract_en, recipe))
    return all(english[f] and english[f].strip() for f in needed)


@dataclass(frozen=True)
class RoutePlan:
    """The routing rule of one embed run (build it with :meth:`from_settings`).

    Args:
        routes: language (primary ISO 639 subtag) → embedder name.
        default: the embedder of every other language and of undetected ones.
        prefer_english: a record with a translation sends that to the English embedder.
        recipe: the text recipe (decides which fields a translation must cover).
    """

    routes: Mapping[str, str]
    default: str
    prefer_english: bool = False
    recipe: str = "title_abstract"

    @classmethod
    def from_settings(cls, settings: EmbedSettings) -> RoutePlan:
        """The plan of ``embed.routes`` / ``embed.prefer_english``.

        No routes means one embedder for everything: ``embed.embedder``; a ``default`` route
        overrides ``embed.embedder`` for the languages not listed.
        """
        routes = {k: v for k, v in settings.routes.items() if k != DEFAULT}
        default = settings.routes.get(DEFAULT, settings.embedder)
        return cls(routes, default, settings.prefer_english, settings.text_recipe)

    @property
    def english_embedder(self) -> str:
        """The embedder that reads English text (translations included)."""
        return self.routes.get(ENGLISH, self.default)

    @property
    def embedders(self) -> tuple[str, ...]:
        """Every embedder a record can be routed to, the default first, no repeats."""
        names = [self.default, *self.routes.values()]
        if self.prefer_english:
            names.append(self.english_embedder)
        return tuple(dict.fromkeys(names))

    def route(
        self,
        language: str | None,
        title: str | None = None,
        abstract: str | None = None,
        title_en: str | None = None,
        abstract_en: str | None = None,
    ) -> Route:
        """The embedder and text of one record (the reference :func:`routed` follows)."""
        key = language_key(language)
        if (
            self.prefer_english
            and key != ENGLISH
            and has_translation(title, abstract, title_en, abstract_en, self.recipe)
        ):
            return Route(self.english_embedder, True)
        if key is None:
            return Route(self.default, False)
        return Route(self.routes.get(key, self.default), False)

    def spaces(self, shared_spaces: Sequence[Sequence[str]] = ()) -> list[tuple[str, ...]]:
        """The routed embedders grouped by vector space: one clustering run per group."""
        groups: list[tuple[str, ...]] = []
        placed: set[str] = set()
        for name in self.embedders:
            if name in placed:
                continue
            group = [name]
            for shared in shared_spaces:
                if name in shared and name not in FITTED_EMBEDDERS:
                    group += [n for n in self.embedders if n in shared and n not in group]
            placed.update(group)
            groups.append(tuple(group))
        return groups


def text_column(column: str, columns: set[str]) -> Column:
    """A column's text with blanks as null; null when the table has no such column."""
    if column not in columns:
        return F.lit(None).cast("string")
    return F.when(F.length(F.trim(F.col(column))) > 0, F.col(column))


def _translated(columns: set[str], recipe: str) -> Column:
    """Spark twin of :func:`has_translation` (null-safe: always true or false)."""
    title, abstract = text_column("title", columns), text_column("abstract", columns)
    title_en, abstract_en = text_column("title_en", columns), text_column("abstract_en", columns)
    if recipe == "title":
        covered = title.isNull() | title_en.isNotNull()
        originals = title.isNotNull()
        anything = title_en.isNotNull()
    elif recipe == "abstract_or_title":
        covered = F.when(abstract.isNotNull(), abstract_en.isNotNull()).otherwise(
            title.isNull() | title_en.isNotNull()
        )
        originals = title.isNotNull() | abstract.isNotNull()
        anything = title_en.isNotNull() | abstract_en.isNotNull()
    else:
        covered = (title.isNull() | title_en.isNotNull()) & (
            abstract.isNull() | abstract_en.isNotNull()
        )
        originals = title.isNotNull() | abstract.isNotNull()
        anything = title_en.isNotNull() | abstract_en.isNotNull()
    return F.when(originals, covered).otherwise(anything)


def language_key_column(language: Column) -> Column:
    """Spark twin of :func:`language_key`: the primary subtag, lower case; null if blank."""
    key = F.lower(F.split(F.regexp_replace(F.trim(language), "_", "-"), "-").getItem(0))
    return F.when(F.length(F.trim(language)) > 0, key)


def route_columns(frame: DataFrame, plan: RoutePlan) -> DataFrame:
    """``frame`` with :data:`ROUTE_COLUMN` and :data:`ENGLISH_COLUMN` (Spark expressions).

    ``frame`` needs ``language`` and the text columns; ``title_en``/``abstract_en`` are used
    when they exist (a table from before they did routes every record by its language).
    """
    columns = set(frame.columns)
    raw = F.col("language") if "language" in columns else F.lit(None).cast("string")
    key = language_key_column(raw)
    by_language = F.lit(plan.default)
    for language, name in sorted(plan.routes.items()):
        by_language = F.when(key == language, F.lit(name)).otherwise(by_language)
    english = F.lit(False)
    if plan.prefer_english:
        english = _translated(columns, plan.recipe) & ~F.coalesce(key == ENGLISH, F.lit(False))
    return frame.withColumn(ENGLISH_COLUMN, english).withColumn(
        ROUTE_COLUMN,
        F.when(F.col(ENGLISH_COLUMN), F.lit(plan.english_embedder)).otherwise(by_language),
    )


def with_text_language(frame: DataFrame, plan: RoutePlan) -> DataFrame:
    """``frame`` with :data:`TEXT_LANGUAGE`: the language of the text its embedder reads.

    ``en`` for a record that reads its English translation (:data:`ENGLISH_COLUMN`), else its
    detected ``language`` (``und`` when none). This is the language a vector stands for, so
    the per-language counts of a clustering (``languages`` of ``nodes/``, the cluster run's
    ``<domain>.languages.*``) count a translated Chinese record as English.
    """
    language = F.col("language") if "language" in frame.columns else F.lit(None)
    text = F.when(F.col(ENGLISH_COLUMN), F.lit(ENGLISH)).otherwise(
        F.coalesce(language.cast("string"), F.lit(UNDETERMINED))
    )
    return (
        route_columns(frame, plan)
        .withColumn(TEXT_LANGUAGE, text)
        .drop(ROUTE_COLUMN, ENGLISH_COLUMN)
    )


def routed(frame: DataFrame, plan: RoutePlan) -> dict[str, DataFrame]:
    """Each routed embedder's rows of ``frame``, ready for :func:`techscreen.embed.vectors.embed`.

    Rows that read their translation carry it in ``title``/``abstract`` and ``en`` as their
    ``language`` (the originals stay in the patents table); the route columns are dropped.
    Every row of ``frame`` lands in exactly one of the frames.
    """
    marked = route_columns(frame, plan)
    columns = set(frame.columns)
    for field in ("title", "abstract"):
        if f"{field}_en" in columns:
            marked = marked.withColumn(
                field, F.when(F.col(ENGLISH_COLUMN), F.col(f"{field}_en")).otherwise(F.col(field))
            )
    if "language" in columns:
        marked = marked.withColumn(
            "language", F.when(F.col(ENGLISH_COLUMN), F.lit(ENGLISH)).otherwise(F.col("language"))
        )
    return {
        name: marked.where(F.col(ROUTE_COLUMN) == name).drop(ROUTE_COLUMN, ENGLISH_COLUMN)
        for name in plan.embedders
    }


def kind_of(embedder_id: str) -> str:
    """The embedder name of an ``embedder_id`` (``lexical-zh-0123abcd4567`` → ``lexical-zh``)."""
    return embedder_id.rsplit("-", 1)[0]


def check_one_space(
    embedder_ids: Iterable[str], shared_spaces: Sequence[Sequence[str]] = ()
) -> None:
    """Refuse to cluster vectors of different embedders unless they share a declared space.

    Args:
        embedder_ids: the ids of the vectors one clustering run would read.
        shared_spaces: ``embed.shared_spaces``, groups of embedder names.

    Raises:
        MixedSpacesError: if the ids are of more than one embedder and no group of
            ``shared_spaces`` holds them all, or if two of them are different fits of one
            fitted embedder (``static``, ``lexical-zh``: a refit has its own axes).
    """
    ids = sorted(set(embedder_ids))
    if len(ids) <= 1:
        return
    kinds = {kind_of(i) for i in ids}
    refits = sorted(k for k in kinds if k in FITTED_EMBEDDERS)
    if refits:
        raise MixedSpacesError(
            f"vectors of {', '.join(ids)} cannot be clustered together: {', '.join(refits)} "
            "vectors are a space of their own (fitted on a corpus); cluster each embedder "
            "apart"
        )
    if not any(kinds <= set(group) for group in shared_spaces):
        raise MixedSpacesError(
            f"vectors of {', '.join(ids)} are from different embedders and cannot be "
            "clustered together; cluster each apart, or list the embedders in one group of "
            "embed.shared_spaces if their vectors really are comparable"
        )
