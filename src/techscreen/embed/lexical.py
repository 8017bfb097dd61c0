"""``lexical-zh``: a Chinese-capable embedder fitted on the corpus itself (TF-IDF + SVD).

No multilingual transformer ships in a package we can install offline, and MiniLM (an
English model) sees Chinese as a string of characters. This embedder is honest about being
*lexical*: a text's vector is its sublinear TF-IDF over jieba words and Han character
n-grams (:mod:`techscreen.embed.zh_text`; words of every other script too — English,
German, Korean, Russian, Japanese katakana — since corpora are mixed; the title's features
counted ``title_weight`` times), projected by a truncated SVD (latent semantic analysis) to
``dims`` dimensions, centred on the fit corpus's mean, then pulled toward the mean of its
``neighbours`` nearest fit texts (pseudo-relevance feedback) and L2-normalised. Texts that
share vocabulary, or vocabulary that co-occurs in the fit corpus, come out close; synonyms
that never co-occur do not, and a Chinese and an English text about the same thing share
no feature at all.

:class:`LexicalModel` follows the scikit-learn contract (``fit`` returns ``self``, learned
state ends in ``_``); :func:`build_lexical` fits one and saves it with a model card;
:class:`LexicalEmbedder` reads the folder behind the :class:`~techscreen.embed.base.Embedder`
interface. The fit is deterministic for a seed (sorted vocabulary, seeded randomized SVD
with sign flipping), and the embedder id is a digest of the model files, which name the
fit corpus: a refit on other texts, with another seed or other settings gets a new id, an
identical refit keeps it (its vectors are the same).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from techscreen.embed.base import FolderEmbedder
from techscreen.embed.zh_text import ANALYSER_VERSION, Analyser, versions
from techscreen.io.files import staged_dir

logger = logging.getLogger(__name__)

KIND = "lexical-zh"
NO_FIT_ID = f"{KIND}-nofit"
"""The embedder id of a :class:`LexicalEmbedder` without a folder: a workspace where no
record was ever routed to ``lexical-zh`` has no fit (:mod:`techscreen.embed.lexical_workspace`)."""
REBUILD_COMMAND = "techscreen models build-lexical-zh"
FORMAT_VERSION = 2
"""2: the fit corpus's mean and its texts' vectors are saved (centring, neighbours)."""
READS_FORMATS = (1, 2)
CONFIG = "config.json"
VOCABULARY = "vocabulary.json"
IDF = "idf.npy"
COMPONENTS = "components.npy"
MEAN = "mean.npy"
NEIGHBOURS = "neighbours.npy"
CARD_JSON = "card.json"
CARD_MD = "README.md"
# The files that define the vectors (the card and README carry a build date: not these).
MODEL_FILES = (CONFIG, VOCABULARY, IDF, COMPONENTS)
# … and those of format 2 (a format-1 model has none: no centring, no neighbours).
MODEL_FILES_2 = (MEAN, NEIGHBOURS)
# LexicalModel's parameters, as config.json records them.
PARAMS = (
    "dims",
    "char_ngrams",
    "hmm",
    "simplify",
    "min_df",
    "max_df",
    "max_features",
    "max_words",
    "title_weight",
    "center",
    "neighbours",
    "neighbour_weight",
    "seed",
    "analyser_version",
)
# What a config.json without a key (a model built before the key existed) was built with.
_LEGACY_PARAMS = {
    "analyser_version": 1,
    "title_weight": 1,
    "center": False,
    "neighbours": 0,
    "neighbour_weight": 0.0,
}
TITLE_SEPARATOR = ". "
"""How the ``title_abstract`` text recipe joins a title to its abstract (``embed.text``)."""


def corpus_sha256(texts: Sequence[str]) -> str:
    """The training-corpus fingerprint: sha256 of the texts in order, newline-joined."""
    return hashlib.sha256("\n".join(texts).encode()).hexdigest()


class LexicalModel:
    """TF-IDF (sublinear tf, smooth idf, L2 rows) over :class:`Analyser` features, then SVD.

    Args:
        dims: SVD dimensions (fewer when the fit corpus has fewer documents or features).
        char_ngrams: Han character n-gram lengths (see :class:`Analyser`).
        hmm: jieba's HMM for words outside its dictionary.
        simplify: traditional → simplified characters first.
        min_df: a feature must occur in at least this many fit texts.
        max_df: … and in at most this share of them (drops boilerplate such as 本发明, the).
        max_features: the most frequent features kept (by document frequency); the model
            holds ``max_features × dims`` float32 weights.
        max_words: words of a fit text read (the embedder truncates at ``max_tokens``).
        title_weight: the features of a text's title — what comes before its first
            :data:`TITLE_SEPARATOR`, as the ``title_abstract`` recipe joins them — count
            this many times (1: no weight; a title names the invention in a few words).
        center: subtract the fit texts' mean vector after the projection (the mean is the
            direction every patent shares: its vocabulary of patent language).
        neighbours: pull each vector toward the mean of its this many nearest fit texts
            (pseudo-relevance feedback; 0: none). The fit texts' vectors are saved with the
            model (``fit_docs × dims`` float32).
        neighbour_weight: the weight of that mean (1: as much as the text's own vector).
        seed: the randomized SVD's seed.
        analyser_version: the :class:`Analyser` version (2: words of every script; 1: Han
            and ASCII text only, what models built before version 2 read).
    """

    def __init__(
        self,
        *,
        dims: int = 128,
        char_ngrams: Sequence[int] = (1, 2),
        hmm: bool = False,
        simplify: bool = True,
        min_df: int = 2,
        max_df: float = 0.2,
        max_features: int = 65536,
        max_words: int = 256,
        title_weight: int = 3,
        center: bool = True,
        neighbours: int = 50,
        neighbour_weight: float = 1.0,
        seed: int = 0,
        analyser_version: int = ANALYSER_VERSION,
    ) -> None:
        self.dims = dims
        self.char_ngrams = tuple(char_ngrams)
        self.hmm = hmm
        self.simplify = simplify
        self.min_df = min_df
        self.max_df = max_df
        self.max_features = max_features
        self.max_words = max_words
        self.title_weight = title_weight
        self.center = center
        self.neighbours = neighbours
        self.neighbour_weight = neighbour_weight
        self.seed = seed
        self.analyser_version = analyser_version

    def get_params(self) -> dict[str, Any]:
        """The fit parameters (what MLflow logs)."""
        params = {name: getattr(self, name) for name in PARAMS}
        return {**params, "char_ngrams": list(self.char_ngrams)}

    @property
    def analyser(self) -> Analyser:
        """The text → features step of this model."""
        found = self.__dict__.get("analyser_")
        if found is None:
            found = self.__dict__["analyser_"] = Analyser(
                char_ngrams=self.char_ngrams,
                hmm=self.hmm,
                simplify=self.simplify,
                version=self.analyser_version,
            )
        return found

    def features(
        self, texts: Sequence[str | None], max_words: int | None = None
    ) -> tuple[list[list[str]], list[int]]:
        """The features of each text (its title's ``title_weight`` times) and its word count."""
        features, counts = self.analyser.analyse_all(texts, max_words)
        if self.title_weight > 1:
            for doc, text in zip(features, texts, strict=True):
                if text and TITLE_SEPARATOR in text:
                    title = self.analyser.analyse(text.split(TITLE_SEPARATOR, 1)[0], max_words)[0]
                    doc.extend(title * (self.title_weight - 1))
        return features, counts

    def fit(self, texts: Sequence[str]) -> LexicalModel:
        """Learn the vocabulary, idf, SVD projection, mean and fit vectors from ``texts``.

        Raises:
            ValueError: if fewer than 3 texts or 3 features survive the document-frequency
                filters (nothing to project).
        """
        from sklearn.decomposition import TruncatedSVD

        started = time.perf_counter()
        features, _ = self.features(texts, self.max_words)
        n = len(features)
        df: Counter[str] = Counter()
        for doc in features:
            df.update(set(doc))
        kept = [(f, c) for f, c in df.items() if self.min_df <= c <= self.max_df * n]
        kept.sort(key=lambda fc: (-fc[1], fc[0]))  # ties broken by the feature: deterministic
        kept = sorted(kept[: self.max_features])
        if n < 3 or len(kept) < 3:
            raise ValueError(
                f"lexical fit corpus too small: {n} texts, {len(kept)} features with "
                f"min_df={self.min_df}, max_df={self.max_df}"
            )
        self.vocabulary_ = {f: i for i, (f, _) in enumerate(kept)}
        counts = np.array([c for _, c in kept], dtype=np.float64)
        self.idf_ = (np.log((1.0 + n) / (1.0 + counts)) + 1.0).astype(np.float32)
        x = self._tfidf(features)
        k = min(self.dims, min(x.shape) - 1)
        if k < self.dims:
            logger.warning("lexical fit: only %d dimensions (of %d) from this corpus", k, self.dims)
        svd = TruncatedSVD(k, algorithm="randomized", n_iter=7, random_state=self.seed).fit(x)
        self.components_ = np.ascontiguousarray(svd.components_.T, dtype=np.float32)
        self.explained_variance_ = float(svd.explained_variance_ratio_.sum())
        projected = np.asarray(x @ self.components_, dtype=np.float32)
        self.mean_ = (
            projected.mean(axis=0) if self.center else np.zeros(k, dtype=np.float32)
        ).astype(np.float32)
        self.neighbours_ = (
            _unit(projected - self.mean_, x.getnnz(axis=1) > 0)
            if self.neighbours
            else np.zeros((0, k), dtype=np.float32)
        )
        self.fit_docs_ = n
        self.fit_seconds_ = round(time.perf_counter() - started, 1)
        logger.info(
            "lexical fit: %d texts, %d features, %d dims in %.1f s",
            n,
            len(kept),
            k,
            self.fit_seconds_,
        )
        return self

    def _tfidf(self, features: Sequence[Sequence[str]]) -> Any:
        """Rows of sublinear TF-IDF, L2-normalised (a text without known features: zeros)."""
        from scipy.sparse import csr_matrix

        get = self.vocabulary_.get
        lengths = np.fromiter(map(len, features), dtype=np.int64, count=len(features))
        flat = np.fromiter(
            (get(f, -1) for doc in features for f in doc), dtype=np.int64, count=int(lengths.sum())
        )
        rows = np.repeat(np.arange(len(features)), lengths)
        known = flat >= 0
        shape = (len(features), len(self.vocabulary_))
        ones = np.ones(int(known.sum()), dtype=np.float32)
        x = csr_matrix((ones, (rows[known], flat[known])), shape=shape)  # duplicates summed
        x.sum_duplicates()
        x.data = (1.0 + np.log(x.data)) * self.idf_[x.indices]
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        x.data /= np.repeat(np.maximum(norms, 1e-12), np.diff(x.indptr)).astype(np.float32)
        return x

    def project(self, features: Sequence[Sequence[str]]) -> np.ndarray:
        """Float32 vectors (not normalised) of texts already analysed (:meth:`features`).

        The TF-IDF row times the SVD projection, less the fit mean; with ``neighbours``,
        made unit and added ``neighbour_weight`` times the mean of the ``neighbours``
        closest fit vectors. A text without a known feature stays a zero vector.
        """
        x = self._tfidf(features)
        known = x.getnnz(axis=1) > 0
        v = np.asarray(x @ self.components_, dtype=np.float32) - self.mean_
        m = min(self.neighbours, len(self.neighbours_))
        if m and len(v):
            from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

            v = _unit(v, known)
            # one BLAS thread: a batch's product is small, and Spark runs a worker per core
            with threadpool_limits(1, user_api="blas"):
                sims = v @ self.neighbours_.T
            nearest = np.argpartition(-sims, m - 1, axis=1)[:, :m]
            v = v + np.float32(self.neighbour_weight) * self.neighbours_[nearest].mean(axis=1)
        v[~known] = 0.0
        return np.ascontiguousarray(v, dtype=np.float32)

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """Float32 vectors (not normalised) of ``texts``, truncated at ``max_words``."""
        return self.project(self.features(texts, self.max_words)[0])

    def config(self, corpus: dict[str, Any]) -> dict[str, Any]:
        """What ``config.json`` holds: parameters, library versions, corpus fingerprint."""
        return {
            "kind": KIND,
            "format_version": FORMAT_VERSION,
            **self.get_params(),
            "dim": int(self.components_.shape[1]),
            "features": len(self.vocabulary_),
            "fit_docs": self.fit_docs_,
            "corpus_sha256": corpus["texts_sha256"],
            "libraries": versions(),
        }

    def save(self, folder: Path, corpus: dict[str, Any]) -> None:
        """Write the model files (``MODEL_FILES``) into an existing ``folder``."""
        (folder / CONFIG).write_text(
            json.dumps(self.config(corpus), indent=2) + "\n", encoding="utf-8"
        )
        vocabulary = sorted(self.vocabulary_, key=self.vocabulary_.__getitem__)
        (folder / VOCABULARY).write_text(json.dumps(vocabulary, ensure_ascii=False), "utf-8")
        np.save(folder / IDF, self.idf_)
        np.save(folder / COMPONENTS, self.components_)
        np.save(folder / MEAN, self.mean_)
        np.save(folder / NEIGHBOURS, self.neighbours_)

    @classmethod
    def read(cls, folder: Path) -> tuple[LexicalModel, dict[str, Any]]:
        """The fitted model saved in ``folder``, and its config."""
        config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
        if config.get("format_version") not in READS_FORMATS:
            raise ValueError(
                f"{folder} holds lexical model format {config.get('format_version')}, this "
                f"techscreen reads {READS_FORMATS}: rebuild it with `{REBUILD_COMMAND}`"
            )
        model = cls(**{k: config.get(k, _LEGACY_PARAMS.get(k)) for k in PARAMS})
        vocabulary = json.loads((folder / VOCABULARY).read_text(encoding="utf-8"))
        model.vocabulary_ = {f: i for i, f in enumerate(vocabulary)}
        model.idf_ = np.load(folder / IDF)
        model.components_ = np.load(folder / COMPONENTS)
        k = model.components_.shape[1]
        if config["format_version"] >= 2:
            model.mean_ = np.load(folder / MEAN)
            model.neighbours_ = np.load(folder / NEIGHBOURS)
        else:
            model.mean_ = np.zeros(k, dtype=np.float32)
            model.neighbours_ = np.zeros((0, k), dtype=np.float32)
        model.fit_docs_ = config["fit_docs"]
        return model, config


def build_lexical(
    out_dir: Path,
    texts: Sequence[str],
    *,
    corpus: dict[str, Any] | None = None,
    **params: Any,
) -> Path:
    """Fit a :class:`LexicalModel` on ``texts`` and save it to ``out_dir`` with a model card.

    The folder is written beside ``out_dir`` and renamed into place, so a crash never leaves
    a half-written model.

    Args:
        out_dir: the model folder to create (replaced if it exists).
        texts: the fit corpus (patent texts, any language).
        corpus: facts about ``texts`` for the card (``static_fit.read_corpus`` gives them);
            ``texts_sha256`` is computed when missing.
        **params: :class:`LexicalModel` parameters.

    Returns:
        ``out_dir``.
    """
    out_dir = Path(out_dir)
    texts = list(texts)
    corpus = {"docs": len(texts), **(corpus or {})}
    corpus.setdefault("texts_sha256", corpus_sha256(texts))
    model = LexicalModel(**params).fit(texts)
    facts = {
        **model.config(corpus),
        "corpus": corpus,
        "explained_variance": round(model.explained_variance_, 4),
        "fit_seconds": model.fit_seconds_,
        "size_mb": round(
            (model.components_.nbytes + model.idf_.nbytes + model.neighbours_.nbytes) / 2**20, 1
        ),
        "build_date": datetime.now(UTC).isoformat(timespec="seconds"),
        "rebuild_command": REBUILD_COMMAND,
    }
    with staged_dir(out_dir) as tmp:
        model.save(tmp, corpus)
        (tmp / CARD_JSON).write_text(json.dumps(facts, indent=2) + "\n", encoding="utf-8")
        (tmp / CARD_MD).write_text(card_markdown(facts), encoding="utf-8")
    logger.info("saved lexical-zh embedder to %s", out_dir)
    return out_dir


def _unit(v: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Rows of ``v`` scaled to unit length; rows where ``keep`` is False are zeros."""
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    out = v / np.maximum(norms, np.float32(1e-12))
    out[~keep] = 0.0
    return np.ascontiguousarray(out, dtype=np.float32)


def card_markdown(facts: dict[str, Any]) -> str:
    """The model card (``README.md`` of the model folder): the facts of ``card.json``."""
    corpus = "\n".join(f"| {k} | `{v}` |" for k, v in facts["corpus"].items())
    ngrams = ", ".join(str(n) for n in facts["char_ngrams"]) or "none"
    centred = "centred on the fit texts' mean, " if facts["center"] else ""
    pulled = (
        f"pulled toward the mean of its {facts['neighbours']} nearest fit texts (weight "
        f"{facts['neighbour_weight']}; their vectors are in the model) "
        if facts["neighbours"]
        else ""
    )
    return f"""# lexical-zh: a lexical embedder for Chinese (and mixed) patent text

**What it is.** Latent semantic analysis fitted on a patent corpus: each text becomes
sublinear TF-IDF weights over jieba words (and lower-case words of every other script:
Latin, Cyrillic, Hangul, katakana …) plus character n-grams of lengths {ngrams} of Han runs
(and of Hangul and katakana words), its title's features counted {facts["title_weight"]}
times, projected by a truncated SVD to {facts["dim"]} dimensions, {centred}{pulled}and
L2-normalised. Text is normalised first (NFKC: full-width → half-width; lower case;
traditional → simplified with OpenCC). No neural network, no download.

**What it is not.** It is *lexical, not semantic*. Two texts are close when they share
words or character n-grams, or words that co-occur in the fit corpus; synonyms that never
co-occur there are not close, negation and word order are ignored, and a Chinese text and
its English translation share no feature (their vectors are unrelated). Its vectors live
in their own space: never compare or cluster them with MiniLM's. Features absent from the
fit corpus are ignored, so a text in a field or language the corpus lacks gets a weak or
zero vector: refit on the corpus you screen.

| fact | value |
|---|---|
| dimensions | {facts["dim"]} (asked: {facts["dims"]}) |
| features (vocabulary) | {facts["features"]} (at most {facts["max_features"]}) |
| document frequency kept | ≥ {facts["min_df"]} texts and ≤ {facts["max_df"]:.0%} of them |
| words read per text | {facts["max_words"]} |
| jieba HMM for unknown words | {facts["hmm"]} |
| analyser version | {facts["analyser_version"]} (2: words of every script; 1: Han and ASCII only) |
| traditional → simplified | {facts["simplify"]} |
| SVD seed | {facts["seed"]} |
| variance explained by the SVD | {facts["explained_variance"]:.1%} |
| weights | {facts["size_mb"]} MB float32 |
| libraries | {", ".join(f"{k} {v}" for k, v in facts["libraries"].items())} |
| fit time | {facts["fit_seconds"]} s |
| build date (UTC) | {facts["build_date"]} |

## Training corpus

| fact | value |
|---|---|
{corpus}

`texts_sha256` is the corpus fingerprint (sha256 of the fit texts, newline-joined); it is
also in `config.json`, so the embedder id changes when the model is refitted on other
texts (or with another seed or settings), and stays when an identical refit gives
identical vectors.

## Rebuild

```
{facts["rebuild_command"]}
```
"""


class LexicalEmbedder(FolderEmbedder):
    """A ``lexical-zh`` model folder built by :func:`build_lexical`.

    Args:
        path: the model folder (``LexicalSettings.path``).
        max_tokens: words per text kept (jieba and Latin words; see ``zh_text``).
        batch_size: texts per :meth:`_encode` call.
    """

    kind = KIND
    length_sorted = False
    english_only = False

    def __init__(
        self, *, path: str = "models/lexical-zh", max_tokens: int = 256, batch_size: int = 64
    ) -> None:
        super().__init__(path=path, max_tokens=max_tokens, batch_size=batch_size)

    def _files(self) -> tuple[str, ...]:
        """The model files of this folder's format (format 2 adds the mean and neighbours)."""
        return MODEL_FILES + tuple(n for n in MODEL_FILES_2 if (self.folder / n).is_file())

    def _check_folder(self) -> None:
        missing = [name for name in MODEL_FILES if not (self.folder / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"no lexical-zh model at {self.folder} (missing {', '.join(missing)}): "
                f"build it with `{REBUILD_COMMAND}`"
            )

    @cached_property
    def embedder_id(self) -> str:
        """:data:`NO_FIT_ID` without a folder (no fit), else the digest of the model files."""
        return NO_FIT_ID if not self.path else super().embedder_id

    def model_fingerprint(self) -> str:
        """Digest of the model files (vocabulary, idf, projection, config with the corpus)."""
        self._check_folder()
        digest = hashlib.sha256()
        for name in self._files():
            digest.update(name.encode())
            digest.update((self.folder / name).read_bytes())
        return digest.hexdigest()

    def load(self) -> LexicalEmbedder:
        """Read the model and warm jieba's dictionary (about a second, once per process).

        Raises:
            FileNotFoundError: if the folder holds no model.
        """
        self._check_folder()
        model, config = LexicalModel.read(self.folder)
        built_with, now = config.get("libraries", {}), versions()
        if built_with != now:
            logger.warning(
                "lexical-zh at %s was built with %s, this process has %s: segmentation may "
                "differ; rebuild with `%s`",
                self.folder,
                built_with,
                now,
                REBUILD_COMMAND,
            )
        if model.analyser_version < ANALYSER_VERSION:
            logger.warning(
                "lexical-zh at %s was built with analyser version %d, which reads only Han and "
                "ASCII text (Korean, Russian … get no feature); rebuild with `%s`",
                self.folder,
                model.analyser_version,
                REBUILD_COMMAND,
            )
        model.analyser.analyse("预热")  # loads jieba's dictionary now, not in the first batch
        self.model_ = model
        self.config_ = config
        return self

    @property
    def dim(self) -> int:
        """The SVD dimension of the fit."""
        return int(self.model_.components_.shape[1])

    def token_counts(self, texts: Sequence[str]) -> np.ndarray:
        """Words of each text (jieba and Latin words) before truncation."""
        return self.encode_counted(texts)[1]

    def encode_counted(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors and word counts from one analysis (segmenting is most of the cost)."""
        features, counts = self.model_.features(texts, self.max_tokens)
        vectors = self.model_.project(features)
        return self.normalised(vectors), np.asarray(counts, dtype=np.int64)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        features, _ = self.model_.features(texts, self.max_tokens)
        return self.model_.project(features)
