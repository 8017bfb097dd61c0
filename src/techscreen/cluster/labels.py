"""Readable labels for technology nodes, one language at a time: keywords and class codes.

* :func:`label_docs` — each node member's text in each label language (``en``, ``zh``):
  English from English originals and from the English translation (``title_en``,
  ``abstract_en``) of any other record, Chinese from Chinese originals; a text whose
  language was not detected counts for both (each tokeniser reads only its own script).
  A German or Korean original without a translation gives no label text.
* :func:`node_keywords` — the top terms of each node in each label language by class-based
  TF-IDF (BERTopic's c-TF-IDF), computed per language: all documents of a node in that
  language form one "class document"; a term's weight is its frequency in that class
  normalised by the class length, times ``log(1 + A / f_t)`` where ``A`` is the average
  number of terms per class and ``f_t`` the term's frequency over all classes (of that
  language). English terms are words (≥ 3 characters, at least one letter) and bigrams of
  words that stand next to each other in the text with both kept; Chinese terms are jieba
  words (:func:`han_terms`, through :class:`~techscreen.embed.zh_text.Analyser`, traditional
  characters read as simplified) of two or more characters that are not stopwords, and
  phrases of two kept words next to each other. Both tokenisers (:func:`english_terms`,
  :func:`han_terms`) run in one Python pass over the documents on the executors
  (:func:`term_counts`, jieba loaded once per Python worker), which counts terms per
  partition: only the partial term × node counts are shuffled.
* :func:`node_codes` — the main groups (IPC ∪ CPC) most patents of a node carry, with their
  share of the node and their English and Chinese titles from :class:`ClassTitles`.
* :func:`label_text` — one line for people in one language: the node's keywords in that
  language joined with `` · ``; with ``with_title`` (the report) followed by the top code's
  title in that language. A node without keywords in that language is its code title alone,
  never another language's words.

:class:`ClassTitles` reads the bundled title tables built by ``scripts/build_reference.py``.
"""

from __future__ import annotations

import csv
import functools
import gzip
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import regex
from pyspark.sql import Column, DataFrame, Row, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from techscreen.config import LabelSettings
from techscreen.embed.routing import ENGLISH, language_key_column, text_column
from techscreen.embed.zh_text import Analyser
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
            T.StructField("title_zh", T.StringType()),
        ]
    )
)
UNLABELLED = "unlabelled"
SEPARATOR = " · "
TITLE_SEPARATOR = " — "
CHINESE = "zh"
LABEL_LANGUAGES = (ENGLISH, CHINESE)
"""The languages node keywords and labels are made in (``report.language``)."""


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

# Chinese words that say nothing about the technology: patent drafting (本发明, 所述, 其特征在于
# → 特征, 在于), function words and connectives (以及, 从而, 其中), positions and parts (一端,
# 两侧, 内部, 部件), and the generic verbs and praise of abstracts (设置, 连接, 提高, 简单, 有效).
# Written for this project from the most frequent jieba words of the bundled Chinese abstracts;
# single characters need no entry (words of one character are never terms).
ZH_STOPWORDS = _words(
    """
    本发明 发明 本实用新型 实用新型 新型 本申请 申请 本公开 公开 涉及 属于 领域
    技术 技术领域 一种 所述 所说 包括 包含 含有 其特征 特征 在于 特征在于 具有
    设有 设置 设置有 设于 装有 带有 置于 位于 用于 适用 适用于 适合 采用 使用
    利用 通过 进行 提供 实现 完成 得到 获得 达到 形成 构成 组成 作为 根据 按照
    方法 装置 系统 设备 结构 部件 单元 步骤 过程 方式 方案 以及 以便 从而 进而
    并且 而且 或者 以上 以下 如下 上述 下述 其中 其他 其它 另外 此外 同时 然后
    之后 之前 之间 之一 及其 由于 因此 所以 但是 不仅 还有 即可 可以 能够 可使
    使得 使其 需要 一个 两个 多个 若干 一些 这些 这种 每个 各个 一定 一部分
    部分 整体 一体 至少 第一 第二 第三 分别 依次 相互 相对 对应 相应 相连 连接
    连通 固定 安装 一端 另一端 两端 一侧 另一侧 两侧 上端 下端 前端 后端 顶端
    底端 上部 下部 中部 前部 后部 顶部 底部 内部 外部 内侧 外侧 上方 下方 中间
    中心 位置 方向 表面 区域 问题 目的 解决 优点 特点 效果 作用 提高 降低 减少
    增加 提升 保证 避免 防止 简单 方便 合理 有效 快速 稳定 可靠 显著 大大提高
    容易 直接 具体 主要 尤其 特别 传统 现有 不同 相同 操作 工作 设计 使用方便
    结构简单 操作简单 向上 向下 向内 向外 不会 不能 不易 大于 小于 等于 高于
    低于 一般 例如 如图 所示 产生 进入 经过 以使 采取 发送 满足 要求 保持 情况
    状态 条件 范围 程度
    """
)

# Latin words (letters/digits, inner hyphens) or one punctuation mark, which breaks bigrams.
# `regex`, not `re`: it knows Unicode scripts (\p{IsLatin}) as Java's regex does. Whitespace is
# Java's \s (ASCII only), the rule the Spark tokeniser this replaced had: another space (NBSP)
# is a token and breaks a bigram. Ingest's clean_text leaves no other space in stored text.
_TOKEN = regex.compile(
    r"[\p{IsLatin}\p{Nd}]+(?:-[\p{IsLatin}\p{Nd}]+)*|[^ \t\n\x0b\f\r\p{IsLatin}\p{Nd}]"
)
# The same pattern for ASCII text after lower-casing, where the Latin script is a-z and the
# decimal digits 0-9: `re` matches it about twice as fast, and most English text is ASCII.
_ASCII_TOKEN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*|[^ \t\n\x0b\f\ra-z0-9]")
_LATIN = regex.compile(r"\p{IsLatin}")
_MIN_WORD = 3
# Han characters (CJK unified ideographs, extension A, compatibility ideographs): the ranges
# of techscreen.embed.zh_text. Anything else breaks a run of them.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_RUN = re.compile(f"[{_HAN}]+")
_MIN_HAN_WORD = 2
# A space between two Han characters: how a Chinese phrase is stored ("余热 回收"), not shown.
_HAN_SPACE = re.compile(f"(?<=[{_HAN}]) (?=[{_HAN}])")
# A Chinese term: Han words, a space between the words of a phrase.
_HAN_TERM = re.compile(f"[{_HAN}]+(?: [{_HAN}]+)*")


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


@functools.cache
def _zh_analyser() -> Analyser:
    """One jieba + OpenCC analyser per Python worker: jieba's dictionary loads once (~1 s)."""
    return Analyser(char_ngrams=(), hmm=False, simplify=True)


def han_terms(text: str | None, stopwords: Iterable[str] = ZH_STOPWORDS) -> list[str]:
    """The Chinese terms of ``text``: segmented words, then phrases of two adjacent words.

    The text is normalised as for the ``lexical-zh`` embedder (:class:`Analyser`: NFKC, lower
    case, traditional → simplified), each run of Han characters is segmented by jieba
    (precise mode, dictionary words only), and a word is kept when it has at least two
    characters and is not in ``stopwords``. Two kept words next to each other in a run also
    make a phrase, stored with a space (``"余热 回收"``) like an English bigram; punctuation,
    Latin text, digits, single characters and stopwords all break phrases. Latin words are
    not returned here (:func:`english_terms` reads them, in English documents).

    Args:
        text: any text; None, empty or Han-free text gives ``[]``.
        stopwords: words never kept (simplified Chinese).

    Returns:
        The kept words in text order, then the phrases in text order (repeats kept: they
        are counted).
    """
    if not text or not _HAN_RUN.search(text):
        return []
    analyser = _zh_analyser()
    stop = stopwords if isinstance(stopwords, frozenset | set) else frozenset(stopwords)
    words: list[str] = []
    phrases: list[str] = []
    for run in _HAN_RUN.findall(analyser.normalise(text)):
        previous = None
        for word in analyser.analyse(run)[0]:
            if len(word) >= _MIN_HAN_WORD and word not in stop and _HAN_RUN.fullmatch(word):
                words.append(word)
                if previous:
                    phrases.append(f"{previous} {word}")
                previous = word
            else:
                previous = None
    return words + phrases


def english_terms(text: str | None, stopwords: frozenset[str]) -> list[str]:
    """The English terms of ``text``: kept words, then bigrams of two adjacent kept words.

    The text is lower-cased and cut into tokens: a Latin word (Latin letters and decimal
    digits, with inner hyphens: ``lithium-ion``, ``résistance``) or any other single
    character that is not whitespace (punctuation, a Han character, …). A word is kept when
    it has at least three characters, holds a Latin letter (``2023`` does not) and is not in
    ``stopwords``. Every dropped token, a punctuation mark included, breaks bigrams: "heat
    exchanger" is a bigram of "the heat exchanger" but not of "heat, exchanger" nor of "heat
    of exchanger".

    Args:
        text: any text; None or empty gives ``[]``.
        stopwords: lower-case words never kept (:func:`stopwords_for_labels`).

    Returns:
        The kept words in text order, then the bigrams (``"heat exchanger"``) in text order
        (repeats kept: they are counted).
    """
    if not text:
        return []
    text = text.lower()
    tokens = (_ASCII_TOKEN if text.isascii() else _TOKEN).findall(text)
    kept = [
        w if len(w) >= _MIN_WORD and w not in stopwords and _LATIN.search(w) else None
        for w in tokens
    ]
    words = [w for w in kept if w]
    return words + [f"{a} {b}" for a, b in itertools.pairwise(kept) if a and b]


def label_docs(members: DataFrame) -> DataFrame:
    """``(node_key, lang, title, abstract)``: each member's text in each label language.

    * ``en``: the original title and abstract of an English record, else the English
      translation (``title_en``/``abstract_en``, whatever part of it there is) of a record
      in another language;
    * ``zh``: the original text of a Chinese record.

    A record whose language was not detected (too little text) gives its original text to
    both, since each language's tokeniser reads only its own script (Latin words for ``en``,
    Han words for ``zh``). A record in any other language without a translation gives none:
    German or Korean words never reach an English or Chinese label. Lazy: two narrow scans.

    Args:
        members: ``node_key``, ``language``, ``title``, ``abstract`` and, where the table
            has them, ``title_en`` and ``abstract_en``.
    """
    columns = set(members.columns)
    key = language_key_column(F.col("language")) if "language" in columns else F.lit(None)
    title_en, abstract_en = (
        text_column("title_en", columns),
        text_column("abstract_en", columns),
    )
    translated = title_en.isNotNull() | abstract_en.isNotNull()
    original = F.coalesce(key == ENGLISH, F.lit(False)) | (key.isNull() & ~translated)
    english = members.where(F.coalesce(key == ENGLISH, F.lit(False)) | translated | key.isNull())
    english = english.select(
        "node_key",
        F.lit(ENGLISH).alias("lang"),
        F.when(original, F.col("title")).otherwise(title_en).alias("title"),
        F.when(original, F.col("abstract")).otherwise(abstract_en).alias("abstract"),
    )
    chinese = members.where(F.coalesce(key == CHINESE, F.lit(True))).select(
        "node_key", F.lit(CHINESE).alias("lang"), "title", "abstract"
    )
    return english.unionByName(chinese)


_DRAW_SCALE = 1_000_000  # resolution of the keyword subset's draw


def keyword_members(members: DataFrame, sizes: dict[str, int], max_docs: int) -> DataFrame:
    """The members whose texts a node's keywords are counted on.

    A node of more than ``max_docs`` members keeps a draw of about ``max_docs`` of them, by
    a hash of the publication number (the same members whatever the partitioning, and a
    member drawn at one size stays drawn at a smaller share); smaller nodes keep all. The
    keywords' cost then stops growing with the corpus: a node's top terms are those of its
    typical members, which a few thousand of them show. ``max_docs`` 0 keeps every member.

    Args:
        members: rows with ``node_key`` and ``publication_number``.
        sizes: members per node key.
        max_docs: the bound per node.
    """
    shares = {
        key: int(_DRAW_SCALE * max_docs / n)
        for key, n in sizes.items()
        if max_docs and n > max_docs
    }
    if not shares:
        return members
    limit = F.create_map(*[F.lit(x) for key, share in sorted(shares.items()) for x in (key, share)])
    draw = F.pmod(F.xxhash64(F.lit("keywords"), "publication_number"), _DRAW_SCALE)
    return members.where(F.coalesce(limit[F.col("node_key")], F.lit(_DRAW_SCALE)) > draw)


_COUNTS_SCHEMA = "node_key string, lang string, term string, n long"
_FLUSH_KEYS = 500_000
"""Distinct terms a Python worker holds counts of before it hands them on to the shuffle."""


def _counts_batch(
    counts: Mapping[tuple[str, str], Counter[str | None]], extra: frozenset[str]
) -> pa.RecordBatch:
    """The counts held as one Arrow batch of ``_COUNTS_SCHEMA`` rows, ``extra`` terms left out."""
    keys: list[str] = []
    langs: list[str] = []
    terms: list[str | None] = []
    ns: list[int] = []
    for (key, lang), counter in counts.items():
        for term, n in counter.items():
            if term not in extra:
                keys.append(key)
                langs.append(lang)
                terms.append(term)
                ns.append(n)
    return pa.RecordBatch.from_arrays(
        [
            pa.array(keys, pa.string()),
            pa.array(langs, pa.string()),
            pa.array(terms, pa.string()),
            pa.array(ns, pa.int64()),
        ],
        names=["node_key", "lang", "term", "n"],
    )


def _count_terms(
    batches: Iterator[pa.RecordBatch],
    stopwords: frozenset[str],
    zh_stopwords: frozenset[str],
    extra: frozenset[str],
    flush_keys: int = _FLUSH_KEYS,
) -> Iterator[pa.RecordBatch]:
    """Partial ``(node_key, lang, term, n)`` counts of one partition of documents (executors).

    One Counter per (node, language): a document adds its terms and one to the null term,
    which so counts the documents. The counts are handed on when they hold more than
    ``flush_keys`` terms after a batch (a partition spanning many nodes stays bounded in
    memory) and at the end; the shuffle after adds up the partial counts of a key.
    """
    counts: dict[tuple[str, str], Counter[str | None]] = {}
    for batch in batches:
        columns = [batch.column(c).to_pylist() for c in ("node_key", "lang", "title", "abstract")]
        for key, lang, title, abstract in zip(*columns, strict=True):
            # the concat_ws(" . ", title, abstract) of the labels: no bigram across the two
            text = " . ".join(part for part in (title, abstract) if part is not None)
            terms = (
                english_terms(text, stopwords) if lang == ENGLISH else han_terms(text, zh_stopwords)
            )
            counter = counts.get((key, lang))
            if counter is None:
                counter = counts[key, lang] = Counter()
            counter[None] += 1
            counter.update(terms)
        if sum(map(len, counts.values())) > flush_keys:
            yield _counts_batch(counts, extra)
            counts = {}
    if counts:
        yield _counts_batch(counts, extra)


def term_counts(docs: DataFrame, settings: LabelSettings) -> DataFrame:
    """(node_key, lang, term, n): how often each term occurs in each node's documents.

    ``lang`` says which tokeniser reads a document: ``en`` documents give English words and
    bigrams (:func:`english_terms`), ``zh`` documents Chinese words and phrases
    (:func:`han_terms`; Latin words in them are not read). Documents of another ``lang`` or
    without a ``node_key`` are ignored. Title and abstract are read as one text joined by
    ``" . "`` (a null part left out), so no bigram spans the two.

    Lazy: one Python pass over ``docs`` on the executors (``mapInArrow``) tokenises and
    counts each partition; only the partial term × node counts are shuffled and added up.
    The stopword sets are made here, on the driver (Spark's lists need the JVM), and travel
    with the function.

    Returns:
        ``(node_key string, lang string, term string, n long)``. Each (node, lang) with
        documents has one row with a null term whose ``n`` is its number of documents, so
        that it is present downstream even if its documents yield no term. Terms in
        ``settings.extra_stopwords`` (lower-cased; a bigram or phrase included) are never
        counted.
    """
    extra = frozenset(w.strip().lower() for w in settings.extra_stopwords if w.strip())
    count = functools.partial(
        _count_terms,
        stopwords=stopwords_for_labels(settings.extra_stopwords),
        zh_stopwords=frozenset(ZH_STOPWORDS | extra),
        extra=extra,
    )
    texts = docs.where(F.col("node_key").isNotNull() & F.col("lang").isin(ENGLISH, CHINESE)).select(
        "node_key",
        "lang",
        F.col("title").cast("string").alias("title"),
        F.col("abstract").cast("string").alias("abstract"),
    )
    return (
        texts.mapInArrow(count, _COUNTS_SCHEMA)
        .groupBy("node_key", "lang", "term")
        .agg(F.sum("n").alias("n"))
    )


def node_keywords(docs: DataFrame, settings: LabelSettings) -> list[Row]:
    """Top ``settings.keywords`` c-TF-IDF terms per node and label language.

    Eager, and node-sized: the counts of :func:`term_counts` (one pass over ``docs``; only
    term × node counts are shuffled) are persisted while two aggregates read them — first
    the average class length ``A`` of each language, which fills the cache and comes back to
    the driver as one number per language, then the ranking — and released once the rows
    are collected, so the documents are tokenised once. Each language is its own c-TF-IDF:
    its classes are the nodes' documents in that language, its term frequencies count that
    language.

    Args:
        docs: one row per document with ``node_key`` (string), ``lang`` (``en`` or ``zh``,
            see :func:`label_docs`), ``title`` and ``abstract``; rows with a null
            ``node_key`` are ignored.
        settings: the keyword count, ``min_term_count`` (terms rarer than this in a node are
            not proposed for it; they still count in class lengths and term frequencies)
            and extra stopwords.

    Returns:
        Rows ``(node_key string, lang string, keywords array<struct<term string, score
        double>>)``, one per node and language of ``docs``, keywords ordered by score
        descending then term; an empty array for a node with no usable term in that
        language.
    """
    counts = term_counts(docs, settings).persist()
    try:
        # A: the average number of terms per class of a language, over every node with
        # documents in it (empty ones included).
        averages = counts.groupBy("lang").agg(
            F.coalesce(
                F.sum(F.when(F.col("term").isNotNull(), F.col("n"))) / F.countDistinct("node_key"),
                F.lit(0.0),
            ).alias("avg_len")
        )
        avg = {r["lang"]: r["avg_len"] for r in averages.collect()}
        if not avg:
            return []
        avg_len = F.create_map(*[F.lit(x) for lang in sorted(avg) for x in (lang, avg[lang])])
        by_node = Window.partitionBy("lang", "node_key")
        has_term = F.col("term").isNotNull()
        eligible = has_term & (F.col("n") >= settings.min_term_count)
        score = (F.col("n") / F.col("size")) * F.log1p(F.col("avg_len") / F.col("f_t"))
        ranked = (
            counts.withColumn("avg_len", avg_len[F.col("lang")])
            .withColumn("f_t", F.sum("n").over(Window.partitionBy("lang", "term")))
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
            ranked.groupBy("node_key", "lang")
            .agg(F.collect_list(F.when(keep, F.struct("rank", "term", "score"))).alias("kw"))
            .select(
                "node_key",
                "lang",
                F.transform(F.array_sort("kw"), lambda r: F.struct(r["term"], r["score"]))
                .cast(KEYWORDS_TYPE)
                .alias("keywords"),
            )
            .collect()
        )
    finally:
        counts.unpersist()


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


def node_codes(patents: DataFrame, titles: ClassTitles, top_n: int) -> DataFrame:
    """The ``top_n`` main groups (or bare subclasses) most patents of each node carry.

    Lazy; one pass over ``patents``, shuffling only the main group × node counts.

    Args:
        patents: one row per patent with ``node_key``, ``ipc_codes`` and ``cpc_codes``
            (normalised codes); rows with a null ``node_key`` are ignored.
        titles: class titles, joined in as a broadcast table (about 20,000 rows).
        top_n: main groups kept per node.

    Returns:
        ``(node_key, codes array<struct<code, count long, share double, title string,
        title_zh string>>)``: ``count`` = patents of the node with the main group (IPC and
        CPC together, once per patent), ``share`` = count ÷ patents of the node; ``title``
        the English title (IPC, else CPC) of the main group, else of its subclass;
        ``title_zh`` the Chinese IPC title of the main group, else of its subclass, null if
        neither has one. Ordered by count descending then code. Every node of ``patents``
        has a row (an empty array if no patent has a code).
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
    en, zh = titles.table("en"), titles.ipc_zh
    ref = patents.sparkSession.createDataFrame(
        [(c, en.get(c), zh.get(c)) for c in sorted(set(en) | set(zh))],
        "_code string, _title string, _title_zh string",
    )
    sub_ref = ref.withColumnsRenamed(
        {"_code": "_sub", "_title": "_sub_title", "_title_zh": "_sub_title_zh"}
    )
    keep = is_code & (F.col("rank") <= top_n)
    entry = F.struct(
        "rank",
        "code",
        "count",
        (F.col("count") / F.col("patents")).alias("share"),
        F.coalesce("_title", "_sub_title").alias("title"),
        F.coalesce("_title_zh", "_sub_title_zh").alias("title_zh"),
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
                lambda r: F.struct(r["code"], r["count"], r["share"], r["title"], r["title_zh"]),
            )
            .cast(CODES_TYPE)
            .alias("codes"),
        )
    )


def _field(item: Any, name: str, index: int) -> Any:
    """``item[name]`` for a Row, dict or object; ``item[index]`` for a plain tuple.

    A field the item lacks (a Row of an older table without ``title_zh``) is ``None``.
    """
    if isinstance(item, Mapping):
        return item.get(name)
    if hasattr(item, "asDict"):  # pyspark Row
        return item.asDict().get(name)
    if isinstance(item, tuple | list):
        return item[index] if len(item) > index else None
    return getattr(item, name, None)


def _items(values: Any) -> list[Any]:
    """An array value as a list: None (or a pandas NaN) is empty; numpy arrays are listed."""
    if values is None or isinstance(values, float | str):
        return []
    return list(values)


def show_term(term: str) -> str:
    """A keyword as people read it: a Chinese phrase without its inner space (余热回收)."""
    return _HAN_SPACE.sub("", term)


# Phrases that make a class title longer without saying what the class holds.
_TITLE_NOISE = re.compile(
    r",?\s*not (?:otherwise )?provided for(?: in (?:any )?(?:an)?other (?:sub)?(?:class|group)"
    r"(?:es|s)?)?|不包含在其他(?:小类|类目|类|组)中的|其他类目不包含的|，?例如.*$|,? e\.g\..*$",
    re.IGNORECASE,
)
_PARENTHESES = re.compile(r"\s*[(（][^()（）]*[)）]")
TITLE_WIDTH = 48
"""Display width a title keeps in a label (a Han character counts two)."""


def _width(text: str) -> int:
    return sum(2 if _HAN_RUN.match(ch) or "\uff00" <= ch <= "\uffef" else 1 for ch in text)


def short_title(title: str | None, width: int = TITLE_WIDTH) -> str:
    """A class title cut to what a label can hold.

    Its first part (up to ``;``/``；``) without "not provided for in another subclass" /
    "不包含在其他小类中的" or an "e.g." tail; a title in capitals (IPC subclasses) in sentence
    case; cut at a word or clause boundary to ``width`` (a Han character counts two) with
    ``…``. ``None`` or blank gives ``""``.
    """
    if not title or not title.strip():
        return ""
    text = re.split(r"[;；]", title.strip(), maxsplit=1)[0]
    text = _PARENTHESES.sub("", text)  # references left in a title: "(heat-exchangers … F28)"
    text = _TITLE_NOISE.sub("", text).strip(" ,，、") or title.strip()
    if text.isupper() and re.search("[A-Z]{3}", text):  # not a bare code (H01M 10/00)
        text = text[0] + text[1:].lower()
    if _width(text) <= width:
        return text
    cut, used = [], 0
    for ch in text:
        used += _width(ch)
        if used > width - 1:
            break
        cut.append(ch)
    head = "".join(cut)
    boundary = max(head.rfind(" "), head.rfind(","), head.rfind("，"), head.rfind("、"))
    if boundary > len(head) // 2:
        head = head[:boundary]
    return head.rstrip(" ,，、") + "…"


def code_title(item: Any, lang: str = "en") -> str:
    """The title of one :func:`node_codes` entry in ``lang``.

    ``zh``: ``title_zh``, else the English ``title``; ``en``: ``title``. Without a title, the
    code itself; ``""`` for an entry with neither.
    """
    title = _field(item, "title_zh", 4) if lang == "zh" else None
    title = title or _field(item, "title", 3) or _field(item, "code", 0)
    return str(title) if title else ""


def in_language(term: str, lang: str) -> bool:
    """True when a keyword is written in ``lang``: Han words for ``zh``, no Han for ``en``."""
    if lang == CHINESE:
        return bool(_HAN_TERM.fullmatch(term))
    return not _HAN_RUN.search(term)


def keywords_in(lang: str, keywords: Any, keywords_zh: Any = None) -> list[Any]:
    """The keywords of a node in ``lang``: ``keywords_zh`` for ``zh``, else ``keywords``.

    A table from before ``keywords_zh`` existed (``keywords_zh`` None) held every language in
    ``keywords``: :func:`label_text` keeps only the terms in ``lang`` from it.
    """
    if lang == CHINESE and keywords_zh is not None and not _missing(keywords_zh):
        return _items(keywords_zh)
    return _items(keywords)


def _missing(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def label_text(
    keywords: Sequence[Any] | None,
    codes: Sequence[Any] | None,
    n_terms: int,
    lang: str = "en",
    with_title: bool = False,
) -> str:
    """One readable line for a node, in one language.

    The first ``n_terms`` keywords written in ``lang`` (:func:`in_language`; in the order
    given: best first) joined with `` · ``, without redundancy: a single word already part
    of a kept phrase is skipped, and a phrase replaces single words it contains that were
    kept before it ("fuel · cell · fuel cell" → "fuel cell"); Chinese phrases are shown
    without their inner space ("余热回收"). The class title in ``lang`` is the top code's;
    in Chinese that of the most frequent code with a Chinese title (:func:`_own_title`:
    CPC-only classes have none). Without keywords in ``lang`` the label is that title alone
    (where no code has a Chinese title, the top code's English title; a code without any
    title stands for itself); without either: ``"unlabelled"``. Keywords of another
    language never appear.

    Args:
        keywords: items with a ``term`` (Rows or dicts from :func:`node_keywords`, ``(term,
            score)`` tuples, or plain strings): the node's keywords in ``lang``
            (:func:`keywords_in`).
        codes: items with ``code``, ``title`` and ``title_zh`` (Rows or dicts from
            :func:`node_codes`).
        n_terms: keywords in the label.
        lang: the label's language, ``en`` or ``zh``: of its keywords and its code title
            (see :func:`code_title`).
        with_title: add the class title in ``lang`` after the keywords (`` — ``,
            shortened by :func:`short_title`), as the report does; left out when no code
            has a title in ``lang`` (a Chinese label stays Chinese). The stored ``label``
            has none.
    """
    kept: list[str] = []
    for item in _items(keywords):
        term = item if isinstance(item, str) else _field(item, "term", 0)
        if not term or term in kept or not in_language(term, lang):
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
    own = _own_title(codes, lang)
    if kept:
        words = SEPARATOR.join(show_term(k) for k in kept)
        title = short_title(own) if with_title and own else ""
        return f"{words}{TITLE_SEPARATOR}{title}" if title else words
    top = own or next((t for t in (code_title(c, lang) for c in _items(codes)) if t), "")
    return (short_title(top) if with_title else top) or UNLABELLED


def _own_title(codes: Any, lang: str) -> str:
    """The title in ``lang`` of the node's most frequent code that has one ("" if none).

    English: the top code's title (every code has one, else its code stands for it);
    Chinese: the first code with a Chinese title, so a node whose top code is CPC-only
    (``Y02T``: no Chinese title) is named by its next class rather than in English.
    """
    if lang == CHINESE:
        return next((str(t) for t in (_field(c, "title_zh", 4) for c in _items(codes)) if t), "")
    return next((t for t in (code_title(c, lang) for c in _items(codes)) if t), "")


@dataclass(frozen=True)
class ClassTitles:
    """IPC and CPC titles of subclasses and main groups, keyed by normalised code.

    English titles from both tables; Chinese ones (``ipc_zh``) from the ``title_zh`` column
    of the IPC table (CNIPA's official translation; no Chinese CPC titles exist here).
    """

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
