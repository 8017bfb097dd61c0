"""Text encodings of CSV exports: sniffing, checking a declared one, and letting Spark read it.

Chinese exports are often GBK/GB18030 (what Chinese Excel writes), sometimes UTF-8 with a
BOM. A wrong encoding rarely fails loudly: UTF-8 bytes decoded as GBK give other Chinese
characters. These helpers make the mistake an error or a quarantine reason instead.
"""

from __future__ import annotations

import codecs
import gzip
import logging
import os

from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

SNIFF_BYTES = 1 << 20  # enough of a file to tell UTF-8 from a legacy encoding
# Charsets Spark 4 reads without its legacy switch (codec names as Python spells them).
_SPARK_CHARSETS = {"ascii", "iso8859-1", "utf-8", "utf-16", "utf-16-be", "utf-16-le", "utf-32"}
_JAVA_CHARSETS = "spark.sql.legacy.javaCharsets"


class EncodingError(ValueError):
    """A file's bytes contradict the encoding it is declared in."""


def read_head(path: str, size: int = SNIFF_BYTES) -> bytes:
    """The first ``size`` bytes of a file's text, decompressed if it is gzip."""
    with open(path, "rb") as raw:
        magic = raw.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    with opener(path, "rb") as stream:
        return stream.read(size)


def is_utf8(encoding: str) -> bool:
    """True if ``encoding`` names UTF-8 (any spelling; ``utf-8-sig`` too)."""
    return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")


def sniff_encoding(head: bytes) -> str:
    """``UTF-8`` (BOM or not) if ``head`` decodes as UTF-8, else ``GB18030``.

    GB18030 is a superset of GBK and GB2312, the encodings Chinese Excel writes CSV in.
    Only a character cut at the end of ``head`` may be incomplete.
    """
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "GB18030"
    return "UTF-8"


def check_declared_encoding(path: str, encoding: str) -> None:
    """Refuse a file declared in a legacy encoding whose first MiB is non-ASCII UTF-8.

    Decoding UTF-8 bytes as GBK (or Latin-1) rarely fails: it yields other characters, so
    the error would pass unnoticed. Text in a legacy CJK encoding, conversely, is almost
    never valid UTF-8 once it holds a few non-ASCII characters.

    Raises:
        EncodingError: naming the file, the declared encoding and the fix.
    """
    if is_utf8(encoding):
        return
    sample = read_head(path)
    if sample.isascii():
        return
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return
    raise EncodingError(
        f"{os.path.basename(path)} is declared {encoding} but is UTF-8 (its first "
        f"{len(sample)} bytes decode as UTF-8 and hold non-ASCII text); set the encoding "
        "to utf-8"
    )


def allow_charset(spark: SparkSession, encoding: str) -> None:
    """Let Spark's CSV source decode ``encoding`` (GBK, GB18030, Big5 … need the JDK's).

    Spark 4 accepts only the Unicode charsets and Latin-1 unless the session's
    ``spark.sql.legacy.javaCharsets`` is on; it only widens what may be decoded.
    """
    if codecs.lookup(encoding).name in _SPARK_CHARSETS:
        return
    if spark.conf.get(_JAVA_CHARSETS, "false").lower() != "true":
        log.info("enabling %s to read %s", _JAVA_CHARSETS, encoding)
        spark.conf.set(_JAVA_CHARSETS, "true")
