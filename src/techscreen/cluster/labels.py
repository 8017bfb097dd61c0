"""Readable labels for technology nodes: c-TF-IDF keywords and dominant class codes.

* :func:`node_keywords` — the top terms of each node by class-based TF-IDF (BERTopic's
  c-TF-IDF): all documents of a node form one "class document"; a term's weight is its
  frequency in that class normalised by the class length, times ``log(1 + A / f_t)`` where
  ``A`` is the average number of terms per class and ``f_t`` the term's frequency over all
  classes. Terms are English words (≥ 3 characters, at least one letter), bigrams of words
  that stand next to each other in the text with both kept, and overlapping Chinese
  character bigrams. Everything runs in Spark with built-in functions; only the
  term × node aggregate is shuffled.
* :func:`node_codes` — the main groups (IPC ∪ CPC) most patents of a node carry, with their
  share of the node and a title from :class:`ClassTitles`.
* :func:`label_text` — one line for people: top keywords joined with `` · ``.

:class:`ClassTitles` reads the bundled title tables built by ``scripts/build_reference.py``.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from techscreen.config import LabelSettings
from techscreen.normalize import class_code, main_group, subclass

KEYWORDS_TYPE = T.ArrayType(
    T.StructType([T.StructField("term", T.StringType()), T.StructField("score", T.DoubleType())])
)
CODES_TYPE = T.ArrayType(
    T.StructType(
        [
            T.StructField("code", T.StringType()),
            T.StructField("count", T.LongType()),
            T.StructField("share", T.DoubleType()),
            T.StructField("title", T.StringType()),
        ]
    )
)
UNLABELLED = "unlabelled"
SEPARATOR = " · "


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words of patent drafting that say nothing about the technology.
PATENT_STOPWORDS = _words(
    """
    method methods process processes device devices system systems apparatus apparatuses
    comprising comprises comprise comprised wherein whereby herein thereof therein thereto
    thereby therefrom thereon invention inventions inventive present provided provides provide
    providing utility model models first second third fourth fifth plurality said include
    includes including included configured based embodiment embodiments disclosed discloses
    disclosure relates related relating according accordance least having use uses used using
    unit units member members portion portions part parts end ends side sides connected
    connecting connection arranged arrangement disposed respectively corresponding via within
    claim claims claimed characterized characterised characterizing also can may one two three
    four five six seven eight nine ten described describes example examples particular
    particularly specifically preferably preferred generally various certain another others
    made make makes making performed perform performing performs obtained obtain obtaining
    thus therefore however new improved fixed fixedly mounted installed body main capable
    able enable enables enabling way ways technical field solution problem effect effects
    advantage advantages beneficial simple
    dass wobei erfindung betrifft vorrichtung verfahren mindestens ersten zweiten
    """
)

# Chinese patent phrases removed before pairing characters, so that no pair straddles them
# ("一种锂电池" gives 锂电, 电池 — not 种锂). Longer phrases first.
ZH_BOILERPLATE = tuple(
    sorted(
        _words(
            """
            本实用新型 实用新型 本发明 本申请 其特征在于 特征在于 技术领域 公开了 提供了 涉及
            一种 所述 包括 以及 具有 设置有 设有 用于 方法 装置 系统
            """
        ),
        key=lambda p: (-len(p), p),
    )
)

# Chinese boilerplate as character bigrams (the form Chinese terms take here).
ZH_STOPWORDS = _words(
    """
    一种 本发 发明 明公 公开 明涉 涉及 实用 用新 新型 型涉 本实 包括 其特 特征 征在 设有
    设置 置有 连接 固定 安装 技术 领域 方法 装置 系统 进行 具有 以及 通过 采用 使用 提供
    利用 一端 另一 一侧 两侧 上端 下端 两端 内部 外部 优点 效果 简单 方便 结构 有效 提高
    降低 能够 可以 实现 得到 然后 步骤 一个 多个 若干 上述 相连 分别 位于 设于 用于 本申
    申请 解决 问题 目的 具体 包含 至少 第一 第二 一体 整体 设计 合理 操作 使得 从而
    """
)

# Latin words (letters/digits, inner hyphens) or one punctuation mark, which breaks bigrams.
_TOKEN = r"[\p{IsLatin}\p{Nd}]+(?:-[\p{IsLatin}\p{Nd}]+)*|[^\s\p{IsLatin}\p{Nd}]"
# Overlapping pairs of Han characters; function characters (的, 所, 述 …) break pairs.
_HAN_PAIR = r"(?=([\p{IsHan}&&[^的了和与及或其该所述之并被将于为在是把从]]{2}))"
_MIN_WORD = 3


# Stopword lists shipped with Spark: abstracts in these languages occur in real exports
# (DE/KR waste-heat sources, Portuguese and Spanish Lens records).
_SPARK_STOPWORD_LANGUAGES = ("english", "german", "french", "spanish", "portuguese", "italian")


def stopwords_for_labels(extra: Iterable[str] = ()) -> frozenset[str]:
    """Spark's stopwords for the main European languages, patent boilerplate and ``extra``."""
    from pyspark.ml.feature import StopWordsRemover

    words = set(PATENT_STOPWORDS)
    for language in _SPARK_STOPWORD_LANGUAGES:
        words |= set(StopWordsRemover.loadDefaultStopWords(language))
    return frozenset(words | {w.strip().lower() for w in extra if w.strip()})


def _terms(text: Column, stopwords: frozenset[str]) -> tuple[Column, Column]:
    """Columns of kept words (null where dropped) and Han bigrams of ``text``."""
    tokens = F.regexp_extract_all(F.lower(text), F.lit(_TOKEN), F.lit(0))
    kept = F.transform(
        tokens,
        lambda t: F.when(
            (F.length(t) >= _MIN_WORD) & t.rlike(r"\p{IsLatin}") & ~t.isin(sorted(stopwords)),
            t,
        ),
    )
    plain = F.regexp_replace(text, F.lit("|".join(ZH_BOILERPLATE)), F.lit(" "))
    han = F.when(
        text.rlike(r"\p{IsHan}"), F.regexp_extract_all(plain, F.lit(_HAN_PAIR), F.lit(1))
    ).otherwise(F.array().cast("array<string>"))
    return kept, han


def term_counts(docs: DataFrame, settings: LabelSettings) -> DataFrame:
    """(node_key, term, n): how often each term occurs in each node's documents.

    Nodes whose documents yield no term keep one row with a null term, so that every node
    of ``docs`` is present downstream.
    """
    stopwords = stopwords_for_labels(settings.extra_stopwords)
    term_stop = sorted(ZH_STOPWORDS | {w.strip().lower() for w in settings.extra_stopwords})
    text = F.concat_ws(" . ", F.col("title"), F.col("abstract"))  # no bigram across the two
    kept, han = _terms(text, stopwords)
    staged = docs.where(F.col("node_key").isNotNull()).select(
        "node_key", kept.alias("_kept"), han.alias("_han")
    )
    pairs = F.greatest(F.size("_kept") - 1, F.lit(0))
    bigrams = F.zip_with(
        F.slice("_kept", 1, pairs),
        F.slice("_kept", 2, pairs),
        lambda a, b: F.concat(a, F.lit(" "), b),  # null unless both words were kept
    )
    every = F.filter(F.concat("_kept", bigrams, "_han"), lambda t: t.isNotNull())
    return (
        staged.select("node_key", F.explode_outer(every).alias("term"))
        .where(F.col("term").isNull() | ~F.col("term").isin(term_stop))
        .groupBy("node_key", "term")
        .agg(F.count(F.lit(1)).alias("n"))
    )


def node_keywords(docs: DataFrame, settings: LabelSettings) -> DataFrame:
    """Top ``settings.keywords`` c-TF-IDF terms per node.

    Lazy: one pass over ``docs``; only the term × node counts are shuffled (the average
    class length ``A`` is a one-row aggregate of them, broadcast back).

    Args:
        docs: one row per document with ``node_key`` (string), ``title`` and ``abstract``;
            rows with a null ``node_key`` are ignored.
        settings: the keyword count, ``min_term_count`` (terms rarer than this in a node are
            not proposed for it; they still count in class lengths and term frequencies)
            and extra stopwords.

    Returns:
        ``(node_key string, keywords array<struct<term string, score double>>)``, one row per
        node of ``docs``, keywords ordered by score descending then term; an empty array for
        a node with no usable term.
    """
    counts = term_counts(docs, settings)
    # A: the average number of terms per class, over every node (empty ones included); a
    # one-row frame from the same shuffled counts (Spark reuses that exchange).
    avg = counts.agg(
        F.coalesce(
            F.sum(F.when(F.col("term").isNotNull(), F.col("n"))) / F.countDistinct("node_key"),
            F.lit(0.0),
        ).alias("avg_len")
    )
    by_node = Window.partitionBy("node_key")
    has_term = F.col("term").isNotNull()
    eligible = has_term & (F.col("n") >= settings.min_term_count)
    score = (F.col("n") / F.col("size")) * F.log1p(F.col("avg_len") / F.col("f_t"))
    ranked = (
        counts.crossJoin(F.broadcast(avg))
        .withColumn("f_t", F.sum("n").over(Window.partitionBy("term")))
        .withColumn("size", F.sum(F.when(has_term, F.col("n"))).over(by_node))
        .withColumn("score", F.when(eligible, score))
        .withColumn(
            "rank",
            F.row_number().over(
                by_node.orderBy(F.desc_nulls_last("score"), F.asc_nulls_last("term"))
            ),
        )
    )
    keep = eligible & (F.col("rank") <= settings.keywords)
    return (
        ranked.groupBy("node_key")
        .agg(F.collect_list(F.when(keep, F.struct("rank", "term", "score"))).alias("kw"))
        .select(
            "node_key",
            F.transform(F.array_sort("kw"), lambda r: F.struct(r["term"], r["score"]))
            .cast(KEYWORDS_TYPE)
            .alias("keywords"),
        )
    )


def main_groups(codes: Column) -> Column:
    """Distinct main groups of an array of normalised codes; a bare subclass stays itself.

    Some sources classify only to the subclass (the CN agriculture abstracts: ``A01K``);
    their patents still count towards their node's dominant classes.
    """
    return F.array_distinct(
        F.transform(
            codes,
            lambda c: F.when(
                F.instr(c, " ") > 0, F.concat(F.substring_index(c, "/", 1), F.lit("/00"))
            ).otherwise(c),
        )
    )


def node_codes(patents: DataFrame, titles: ClassTitles, top_n: int, lang: str = "en") -> DataFrame:
    """The ``top_n`` main groups (or bare subclasses) most patents of each node carry.

    Lazy; one pass over ``patents``, shuffling only the main group × node counts.

    Args:
        patents: one row per patent with ``node_key``, ``ipc_codes`` and ``cpc_codes``
            (normalised codes); rows with a null ``node_key`` are ignored.
        titles: class titles, joined in as a broadcast table (about 20,000 rows).
        top_n: main groups kept per node.
        lang: title language (``en`` or ``zh``; English where no Chinese title exists).

    Returns:
        ``(node_key, codes array<struct<code, count long, share double, title string>>)``:
        ``count`` = patents of the node with the main group (IPC and CPC together, once per
        patent), ``share`` = count ÷ patents of the node; ordered by count descending then
        code. Every node of ``patents`` has a row (an empty array if no patent has a code).
    """
    empty = F.array().cast("array<string>")
    groups = main_groups(F.concat(F.coalesce("ipc_codes", empty), F.coalesce("cpc_codes", empty)))
    # "" is a per-patent sentinel: its count is the node's number of patents.
    counts = (
        patents.where(F.col("node_key").isNotNull())
        .select("node_key", F.explode(F.concat(groups, F.array(F.lit("")))).alias("code"))
        .groupBy("node_key", "code")
        .agg(F.count(F.lit(1)).alias("count"))
    )
    by_node = Window.partitionBy("node_key")
    is_code = F.col("code") != ""
    ranked = counts.withColumn(
        "patents", F.max(F.when(~is_code, F.col("count"))).over(by_node)
    ).withColumn(
        "rank",
        F.row_number().over(by_node.orderBy(~is_code, F.desc("count"), F.asc("code"))),
    )
    ref = patents.sparkSession.createDataFrame(
        sorted(titles.table(lang).items()), "_code string, _title string"
    )
    sub_ref = ref.withColumnsRenamed({"_code": "_sub", "_title": "_sub_title"})
    keep = is_code & (F.col("rank") <= top_n)
    entry = F.struct(
        "rank",
        "code",
        "count",
        (F.col("count") / F.col("patents")).alias("share"),
        F.coalesce("_title", "_sub_title").alias("title"),
    )
    return (
        ranked.join(F.broadcast(ref), F.col("code") == F.col("_code"), "left")
        .join(F.broadcast(sub_ref), F.substring("code", 1, 4) == F.col("_sub"), "left")
        .groupBy("node_key")
        .agg(F.collect_list(F.when(keep, entry)).alias("c"))
        .select(
            "node_key",
            F.transform(
                F.array_sort("c"),
                lambda r: F.struct(r["code"], r["count"], r["share"], r["title"]),
            )
            .cast(CODES_TYPE)
            .alias("codes"),
        )
    )


def _field(item: Any, name: str, index: int) -> Any:
    """``item[name]`` for a Row, dict or object; ``item[index]`` for a plain tuple."""
    if isinstance(item, Mapping):
        return item.get(name)
    if hasattr(item, "asDict"):  # pyspark Row
        return item[name]
    if isinstance(item, tuple | list):
        return item[index] if len(item) > index else None
    return getattr(item, name, None)


def label_text(keywords: Sequence[Any], codes: Sequence[Any], n_terms: int) -> str:
    """One readable line for a node.

    The first ``n_terms`` keywords (in the order given: best first) joined with `` · ``,
    without redundancy: a single word already part of a kept phrase is skipped, and a phrase
    replaces single words it contains that were kept before it ("fuel · cell · fuel cell" →
    "fuel cell"). Without keywords: the title of the top code (its code if it has no title);
    without either: ``"unlabelled"``.

    Args:
        keywords: items with a ``term`` (Rows or dicts from :func:`node_keywords`, ``(term,
            score)`` tuples, or plain strings).
        codes: items with ``code`` and ``title`` (Rows or dicts from :func:`node_codes`).
        n_terms: keywords in the label.
    """
    kept: list[str] = []
    for item in keywords or ():
        term = item if isinstance(item, str) else _field(item, "term", 0)
        if not term or term in kept:
            continue
        words = term.split()
        if len(words) == 1:
            if any(term in k.split() for k in kept if " " in k):
                continue
            if len(kept) < n_terms:
                kept.append(term)
            continue
        absorbed = [i for i, k in enumerate(kept) if " " not in k and k in words]
        if absorbed:
            kept[absorbed[0]] = term
            kept = [k for i, k in enumerate(kept) if i not in absorbed[1:]]
        elif len(kept) < n_terms:
            kept.append(term)
    if kept:
        return SEPARATOR.join(kept)
    for item in codes or ():
        title = _field(item, "title", 3)
        code = _field(item, "code", 0)
        if title or code:
            return str(title or code)
    return UNLABELLED


@dataclass(frozen=True)
class ClassTitles:
    """IPC and CPC titles of subclasses and main groups, keyed by normalised code."""

    ipc_en: Mapping[str, str] = field(default_factory=dict)
    ipc_zh: Mapping[str, str] = field(default_factory=dict)
    cpc_en: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, ipc_path: str | Path, cpc_path: str | Path) -> ClassTitles:
        """Read the bundled tables (``data/reference/ipc_titles.tsv.gz``, ``cpc_titles…``).

        Raises:
            FileNotFoundError: if a table is missing (it names the file and the script that
                builds it).
        """
        ipc = _read_table(ipc_path)
        cpc = _read_table(cpc_path)
        return cls(
            ipc_en={r["code"]: r["title_en"] for r in ipc if r.get("title_en")},
            ipc_zh={r["code"]: r["title_zh"] for r in ipc if r.get("title_zh")},
            cpc_en={r["code"]: r["title_en"] for r in cpc if r.get("title_en")},
        )

    def _lookup(self, code: str, lang: str) -> str | None:
        if lang == "zh" and code in self.ipc_zh:
            return self.ipc_zh[code]
        return self.ipc_en.get(code) or self.cpc_en.get(code)

    def title(self, code: str, lang: str = "en") -> str | None:
        """The title of a class code: its own, else its main group's, else its subclass's.

        IPC titles come first, CPC ones for codes IPC lacks (``Y02E 10/00``); with
        ``lang="zh"`` the Chinese IPC title where there is one, else the English title.
        Returns ``None`` for an unknown or malformed code.
        """
        try:
            norm = class_code(code)
        except ValueError:
            return None
        for candidate in dict.fromkeys((norm, main_group(norm), subclass(norm))):
            found = self._lookup(candidate, lang)
            if found:
                return found
        return None

    def table(self, lang: str = "en") -> dict[str, str]:
        """Every known code with the title :meth:`title` gives it in ``lang``."""
        codes = set(self.ipc_en) | set(self.ipc_zh) | set(self.cpc_en)
        out = {c: self._lookup(c, lang) for c in codes}
        return {c: t for c, t in out.items() if t}


def _read_table(path: str | Path) -> list[dict[str, str]]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"class title table {str(p)!r} not found (cwd {Path.cwd()}); it is bundled in "
            "data/reference/ and built by scripts/build_reference.py"
        )
    with gzip.open(p, "rt", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))
