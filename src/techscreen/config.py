"""Layered configuration: the only reader of ``conf/``.

Layers, later ones winning key by key: ``conf/base/*.yaml`` (committed defaults), then
``conf/<env>/*.yaml`` for ``--conf-env`` (e.g. ``cluster``), then ``conf/local/*.yaml``
(git-ignored, machine-specific), then ``--set key.path=value`` overrides. The merged tree is
validated once into :class:`Settings`; an unknown key or a wrong type is an error that names
the key and the file that set it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)


class ConfigError(ValueError):
    """A configuration file or override is invalid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathSettings(_Strict):
    """Where inputs come from and outputs go."""

    workspace: str = "workspace"
    input: list[str] = Field(default_factory=lambda: ["data/sample"])
    writable: list[str] = Field(
        default_factory=lambda: ["models"],
        description="folders besides the workspace that techscreen may create or replace "
        "files in (model builds); a configured output path elsewhere is refused",
    )


class SparkSettings(_Strict):
    """How the SparkSession is built (see ``techscreen.spark``)."""

    master: str = "local[*]"
    app_name: str = "techscreen"
    ui: bool = False
    log_level: Literal["ERROR", "WARN", "INFO", "DEBUG"] = "WARN"
    shuffle_partitions: int | Literal["auto"] = Field(
        "auto", description="a number, or auto: sized per stage from what it reads"
    )
    driver_memory: str = Field(
        "auto", pattern=r"^(auto|\d+[kKmMgGtT]?)$", description="e.g. 4g; auto: from the RAM"
    )
    conf: dict[str, str] = Field(default_factory=dict)


class MlflowSettings(_Strict):
    """Tracking: ``tracking_uri`` empty means a local SQLite store under the workspace."""

    tracking_uri: str = ""
    experiment: str = "techscreen"
    artifact_location: str = ""
    probe_timeout_s: float = Field(
        5.0, gt=0, description="how long an http(s) tracking server gets to answer the check"
    )
    fallback_local: bool = Field(
        False,
        description="server unreachable: log to sqlite:///<workspace>/mlflow.db instead (warned)",
    )


class MappedSource(_Strict):
    """A column-mapped table export: source columns → canonical raw fields."""

    match: list[str] = Field(description="glob patterns of file names this mapping reads")
    file_type: Literal["csv", "tsv", "jsonl", "json", "xlsx"]
    encoding: str = Field(
        "utf-8",
        description="text encoding of csv/tsv files (e.g. gbk, gb18030); JSON and xlsx are "
        "always UTF-8",
    )
    records: str | None = Field(
        None, description="json: dotted key path of the record array (e.g. patents, data.items)"
    )
    sheet: str | None = Field(None, description="xlsx: the sheet to read (default: first)")
    columns: dict[str, str | list[str]] = Field(
        description="canonical raw field → source column or JSON path (a list concatenates)"
    )
    separators: dict[str, str] = Field(default_factory=dict)
    prefixes: dict[str, str] = Field(
        default_factory=dict,
        description="canonical raw field → text put before each value (e.g. US before bare "
        "cited patent numbers)",
    )
    constants: dict[str, str] = Field(default_factory=dict)
    country_from_number: bool = False
    list_literals: list[str] = Field(
        default_factory=list,
        description="canonical fields whose cells hold a list written as text, JSON "
        "[\"A\", \"B\"] or Python ['A', 'B'] (Google Patents exports); a cell that is no "
        "list literal is quarantined as malformed_list",
    )
    where: dict[str, list[str]] = Field(
        default_factory=dict,
        description="keep only records whose source column (or JSON path) holds one of the "
        "values, compared as text ignoring case (true matches True); the others are counted as "
        "filtered, by rule",
    )
    skip_lines: int = Field(
        0, ge=0, description="csv/tsv: lines before the header (Google Patents: its search URL)"
    )

    @field_validator("where", mode="before")
    @classmethod
    def _where_values(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        return {
            str(column): [str(v) for v in (wanted if isinstance(wanted, list) else [wanted])]
            for column, wanted in value.items()
        }

    @field_validator("list_literals")
    @classmethod
    def _known_list_fields(cls, value: list[str]) -> list[str]:
        cls._known_fields(dict.fromkeys(value))
        return value

    @field_validator("columns", "separators", "prefixes")
    @classmethod
    def _known_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        from techscreen.schema import RAW_FIELDS

        unknown = sorted(set(value) - set(RAW_FIELDS))
        if unknown:
            raise ValueError(f"unknown canonical fields {unknown}; known: {', '.join(RAW_FIELDS)}")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        return value

    @model_validator(mode="after")
    def _options_fit_the_file_type(self) -> MappedSource:
        import codecs

        if self.file_type not in ("csv", "tsv") and codecs.lookup(self.encoding).name != "utf-8":
            raise ValueError(
                f"encoding {self.encoding!r} applies to csv/tsv only; {self.file_type} is UTF-8"
            )
        if (self.records is None) != (self.file_type != "json"):
            raise ValueError("records (the path of the record array) is required for json only")
        if self.sheet is not None and self.file_type != "xlsx":
            raise ValueError("sheet applies to xlsx only")
        if self.skip_lines and self.file_type not in ("csv", "tsv"):
            raise ValueError("skip_lines applies to csv/tsv only")
        return self


class IngestSettings(_Strict):
    """Reading and validating raw records."""

    format: str = "auto"
    max_text_chars: int = Field(20_000, ge=100)
    malformed_code_policy: Literal["quarantine", "drop"] = Field(
        "drop",
        description="drop: a malformed class code is dropped and named in the record's "
        "warnings, if the record keeps a valid code (else it is quarantined); quarantine: one "
        "malformed code quarantines the record",
    )
    max_quarantine_share: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="the ingest fails (after writing its tables) when a file has more than "
        "this share of its records quarantined; 1 = never. Keeping no record always fails",
    )
    excerpt_chars: int = Field(300, ge=0)
    mapped: dict[str, MappedSource] = Field(default_factory=dict)


class Domain(_Strict):
    """One screening domain: WIPO fields and class-code prefixes that put a patent in it."""

    label: str
    wipo_fields: list[int] = Field(default_factory=list)
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)

    @field_validator("wipo_fields")
    @classmethod
    def _fields_exist(cls, value: list[int]) -> list[int]:
        bad = [f for f in value if not 1 <= f <= 35]
        if bad:
            raise ValueError(f"WIPO technology fields are 1..35, got {bad}")
        return value


class PlacementSettings(_Strict):
    """Patents whose codes match no domain, placed in the nearest domain by their text.

    At the start of the cluster stage a multinomial logistic regression per vector space
    (:mod:`techscreen.domains.placement`) is fitted on a sample of the code-assigned
    patents' vectors, scored on a held-out share of them, and gives every ``unassigned``
    patent its likeliest domain and that domain's probability.
    """

    enabled: bool = Field(
        True, description="place unassigned patents by text; false: they are not screened"
    )
    min_confidence: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="a patent whose likeliest domain has a lower probability stays unassigned "
        "(counted, and named in placements/); 0.3: held-out placements under it were wrong "
        "more often than right on the sample (README, Domains)",
    )
    holdout_share: float = Field(
        0.2, gt=0.0, lt=1.0, description="share of the training sample held out for accuracy"
    )
    max_train: int = Field(
        20000,
        ge=10,
        description="code-assigned patents per vector space sampled to the driver to fit "
        "and score the classifier (held-out share included)",
    )
    regularisation: float = Field(
        1.0, gt=0.0, description="inverse regularisation strength C of the logistic regression"
    )
    class_balance: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="domains weighted by (mean size / size) to this power: 0 none, 1 balanced",
    )
    seed: int = 0


class DomainSettings(_Strict):
    """The concordance file and the domains built on it."""

    concordance: str = "data/reference/wipo_ipc_technology.csv"
    definitions: dict[str, Domain] = Field(default_factory=dict)
    placement: PlacementSettings = PlacementSettings()


class MiniLMSettings(_Strict):
    """``minilm``: a sentence-transformers model folder (empty: the packaged MiniLM)."""

    model_path: str = ""
    device: str = "auto"
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"


class StaticSettings(_Strict):
    """``static``: model2vec embedder distilled from MiniLM (``techscreen models build-static``)."""

    path: str = "models/static-minilm"
    pca_dims: int | None = Field(256, ge=8)
    fit_corpus: str = Field(
        "data/sample",
        description="texts the token vectors are fitted to MiniLM on: raw patent files (any "
        "ingest format) or a patents table (e.g. workspace/patents); empty = distil only",
    )
    fit_max_docs: int = Field(3000, ge=1, description="at most this many fit texts (by hash)")
    fit_prior: float = Field(2.0, ge=0.0, description="pseudo-counts of the distilled vector")
    fit_sif: float = Field(3e-3, gt=0.0, description="SIF coefficient of the fitted weights")
    fit_ridge: float = Field(0.1, gt=0.0, description="ridge strength of the final map")


class Int8Settings(_Strict):
    """``minilm-int8``: MiniLM exported to ONNX, int8 weights (``techscreen models build-int8``)."""

    path: str = "models/minilm-int8"
    per_channel: bool = True
    op_types: list[str] = Field(default_factory=lambda: ["MatMul"])
    threads: int = Field(0, ge=0, description="onnxruntime intra-op threads; 0 = one per task core")


EMBEDDERS = ("minilm", "minilm-int8", "static", "lexical-zh")
EmbedderName = Literal["minilm", "minilm-int8", "static", "lexical-zh"]
# Embedders whose vector space is made by a fit on a corpus: never the space of another.
FITTED_EMBEDDERS = ("static", "lexical-zh")


# embed.lexical.fit_corpus: fit lexical-zh on the workspace's own patents routed to it.
LEXICAL_FIT_WORKSPACE = "workspace"


class LexicalSettings(_Strict):
    """``lexical-zh``: TF-IDF over jieba words + Han n-grams, SVD (``models build-lexical-zh``)."""

    path: str = Field(
        "models/lexical-zh",
        description="the model folder when fit_corpus is a path; a workspace's fits live in "
        "<workspace>/models/lexical-zh/",
    )
    dims: int = Field(128, ge=2, description="SVD dimensions")
    char_ngrams: list[int] = Field(
        default_factory=lambda: [1, 2], description="Han character n-gram lengths; [] = words"
    )
    hmm: bool = Field(False, description="jieba's HMM joins unknown characters into words")
    simplify: bool = Field(True, description="traditional → simplified characters (OpenCC)")
    min_df: int = Field(2, ge=1, description="a feature occurs in at least this many fit texts")
    max_df: float = Field(0.2, gt=0.0, le=1.0, description="… and in at most this share")
    max_features: int = Field(
        65536, ge=16, description="features kept (by document frequency); × dims float32 weights"
    )
    title_weight: int = Field(
        3,
        ge=1,
        description="a title's features count this many times (text_recipe title_abstract; "
        "the other recipes: 1)",
    )
    center: bool = Field(True, description="subtract the fit texts' mean vector")
    neighbours: int = Field(
        50,
        ge=0,
        description="pull a vector toward the mean of its this many nearest fit texts "
        "(pseudo-relevance feedback; 0 = none; their vectors are saved in the model)",
    )
    neighbour_weight: float = Field(1.0, ge=0.0, description="the weight of that mean")
    seed: int = Field(0, description="seed of the randomized SVD (the fit is deterministic)")
    fit_corpus: str = Field(
        LEXICAL_FIT_WORKSPACE,
        description="texts the model is fitted on: 'workspace' = the patents of the workspace "
        "being embedded that are routed to lexical-zh (refitted when they change, kept in "
        "<workspace>/models/lexical-zh/); or a path: raw patent files (any ingest format) or "
        "a patents table, fitted once into embed.lexical.path",
    )
    fit_max_docs: int = Field(20000, ge=3, description="at most this many fit texts (by hash)")
    keep_fit: bool = Field(
        False,
        description="fit_corpus 'workspace': keep the workspace's current fit when its patents "
        "changed (pipelines/update.yaml sets it, so vectors made before stay in the same "
        "space); a workspace without a fit, or with other fit settings, is fitted anyway",
    )

    @field_validator("char_ngrams")
    @classmethod
    def _ngram_lengths(cls, value: list[int]) -> list[int]:
        if any(not 1 <= n <= 4 for n in value):
            raise ValueError(f"character n-gram lengths are 1..4, got {value}")
        return sorted(set(value))


class EmbedSettings(_Strict):
    """The embed stage: which embedder, which text, how it is batched."""

    embedder: EmbedderName = "minilm"
    routes: dict[str, EmbedderName] = Field(
        default_factory=dict,
        description="language (ISO 639-1, e.g. zh) → embedder, plus 'default' for the rest; "
        "empty = every record to embed.embedder (see techscreen.embed.routing; conf/base "
        "routes zh, ja, ko, ru to lexical-zh)",
    )
    prefer_english: bool = Field(
        False,
        description="embed a record's English translation (title_en/abstract_en) when it has "
        "one, with the embedder routed for 'en'",
    )
    shared_spaces: list[list[EmbedderName]] = Field(
        default_factory=list,
        description="groups of embedders whose vectors may be clustered together (e.g. "
        "[[minilm, minilm-int8]]); any other mix is refused",
    )
    text_recipe: Literal["title_abstract", "abstract_or_title", "title"] = "title_abstract"
    domains: list[str] = Field(
        default_factory=list, description="restrict to these domains; empty = all"
    )
    batch_size: int = Field(64, ge=1)
    max_tokens: int = Field(256, ge=8, le=512)
    sort_window: int = Field(
        2048, ge=1, description="texts length-sorted together within a partition"
    )
    max_padding: float = Field(1.1, ge=1.0, description="longest ÷ shortest text in one batch")
    knn_sample: int = Field(2000, ge=50, description="patents sampled for ipc_knn_agreement@10")
    minilm: MiniLMSettings = MiniLMSettings()
    static: StaticSettings = StaticSettings()
    int8: Int8Settings = Int8Settings()
    lexical: LexicalSettings = LexicalSettings()

    @field_validator("routes")
    @classmethod
    def _route_keys(cls, value: dict[str, str]) -> dict[str, str]:
        import re

        bad = sorted(k for k in value if k != "default" and not re.fullmatch(r"[a-z]{2,3}", k))
        if bad:
            raise ValueError(
                f"route keys are ISO 639 language codes (zh, en …) or 'default': {bad}"
            )
        return value

    @field_validator("shared_spaces")
    @classmethod
    def _spaces_can_be_shared(cls, value: list[list[str]]) -> list[list[str]]:
        for group in value:
            fitted = sorted(set(group) & set(FITTED_EMBEDDERS))
            if fitted and len(set(group)) > 1:
                raise ValueError(
                    f"{', '.join(fitted)} vectors are a space of their own (fitted on a "
                    f"corpus): they share no space with {sorted(set(group) - set(fitted))}"
                )
        return value


class LabelSettings(_Strict):
    """How technology nodes are labelled: c-TF-IDF keywords and dominant class codes."""

    keywords: int = Field(10, ge=1, description="top c-TF-IDF keywords kept per node")
    label_terms: int = Field(3, ge=1, description="keywords joined into the node's label")
    codes: int = Field(5, ge=1, description="top IPC/CPC main groups kept per node")
    representatives: int = Field(5, ge=1, description="patents nearest the centroid kept")
    min_term_count: int = Field(2, ge=1, description="terms rarer than this in a node are dropped")
    max_docs: int = Field(
        2000,
        ge=0,
        description="keywords are counted on at most about this many members per node (a "
        "hash-drawn subset of a larger node); 0: every member",
    )
    extra_stopwords: list[str] = Field(default_factory=list)
    ipc_titles: str = "data/reference/ipc_titles.tsv.gz"
    cpc_titles: str = "data/reference/cpc_titles.tsv.gz"


class ClusterUpdateSettings(_Strict):
    """Update mode: a new batch of patents meets the previous clustering's fitted models.

    Per domain the previous cluster run's models assign the new patents; the domain is
    clustered afresh only when they no longer fit (see ``techscreen.cluster.update``).
    """

    enabled: bool = Field(
        False,
        description="assign new patents with the previous run's models (pipelines/update.yaml)",
    )
    previous_run: str = Field(
        "", description="cluster run whose models are reused; empty = the chosen (else newest) one"
    )
    max_drift: float = Field(
        0.1,
        ge=-1.0,
        le=1.0,
        description="re-cluster a domain when its new patents' noise share exceeds the share "
        "of noise among its earlier patents by more than this",
    )
    max_growth: float = Field(
        0.5, ge=0.0, description="re-cluster a domain whose new patents exceed this share of it"
    )
    force_recluster: bool | list[str] = Field(
        False, description="re-cluster whatever the drift: true = every domain, or these domains"
    )


class ClusterSettings(_Strict):
    """The cluster stage: FAISS k-means micro-clusters, then HDBSCAN over their centroids."""

    embedder: str = Field("", description="whose vectors to cluster; empty = embed.embedder")
    domains: list[str] = Field(default_factory=list, description="empty = every defined domain")
    seed: int = 0
    sample_size: int = Field(
        0, ge=0, description="vectors k-means trains on; 0 = min(N, max(64·k, 20000))"
    )
    max_sample: int = Field(200_000, ge=1000, description="cap on the automatic sample size")
    k: int = Field(0, ge=0, description="micro-clusters per domain; 0 = clip(√N, 8, 2048)")
    kmeans_iterations: int = Field(25, ge=1)
    reducer: Literal["none", "pca", "umap"] = "pca"
    dims: int = Field(64, ge=2, description="dimensions after the reducer")
    min_cluster_size: int = Field(
        0, ge=0, description="patents in the smallest node; 0 = chosen per domain by the sweep"
    )
    min_samples: int = Field(0, ge=0, description="HDBSCAN density; 0 = min_cluster_size")
    selection: Literal["auto", "eom", "leaf"] = Field(
        "auto", description="HDBSCAN cluster selection; auto = chosen per domain by the sweep"
    )
    granularity_shares: list[Annotated[float, Field(gt=0.0, lt=1.0)]] = Field(
        default_factory=lambda: [0.005, 0.01, 0.02],
        min_length=1,
        description="the sweep's min_cluster_size candidates, as shares of the domain",
    )
    min_node_patents: int = Field(10, ge=2, description="floor of the sweep's min_cluster_size")
    max_node_share: float = Field(
        0.15, ge=0.0, le=1.0, description="larger nodes are split unless homogeneous; 0 = off"
    )
    max_split_depth: int = Field(4, ge=1, description="times a node's parts may be split again")
    reassign_noise: float = Field(
        0.0, ge=0.0, le=2.0, description="one cosine distance within which noise joins a node"
    )
    noise_join_quantile: float = Field(
        0.95,
        ge=0.0,
        le=1.0,
        description="with reassign_noise 0: noise joins the nearest node within this quantile "
        "of the node's own members' distances; 0 = noise stays noise",
    )
    metrics_sample: int = Field(2000, ge=100, description="patents scored for DBCV/silhouette")
    stability_runs: int = Field(
        3, ge=1, description="k-means seeds per fit: the sweep's criterion is ARI across them"
    )
    labels: LabelSettings = LabelSettings()
    update: ClusterUpdateSettings = ClusterUpdateSettings()


class CentralitySettings(_Strict):
    """How node centralities are computed on the aggregated (small) graphs."""

    backend: Literal["auto", "networkx", "igraph"] = Field(
        "auto", description="auto = igraph (C); networkx is the pure-Python reference"
    )
    exact_up_to: int = Field(
        2000, ge=1, description="nodes up to which betweenness/closeness are exact"
    )
    betweenness_k: int = Field(
        500, ge=1, description="pivot sources of sampled betweenness above exact_up_to"
    )
    louvain_resolution: float = Field(1.0, gt=0.0)
    max_iterations: int = Field(1000, ge=10, description="eigenvector / PageRank iterations")


class GraphSettings(_Strict):
    """The graph stage: IPC co-occurrence networks and technology-node networks per domain."""

    domains: list[str] = Field(default_factory=list, description="empty = every defined domain")
    seed: int = 0
    code_level: Literal["subclass", "main_group"] = Field(
        "subclass", description="IPC/CPC level of the co-occurrence network's vertices"
    )
    code_scheme: Literal["ipc", "cpc", "both"] = "both"
    counting: Literal["full", "fractional"] = Field(
        "full", description="full: 1 per code pair; fractional: 1/(codes−1) per pair"
    )
    normalisation: Literal["association", "cosine", "jaccard", "none"] = "association"
    min_cooccurrence: float = Field(
        1.0, gt=0.0, description="co-occurrence count (before normalisation) an edge needs"
    )
    edge_weights: dict[Literal["codes", "citations", "centroids"], float] = Field(
        default_factory=lambda: {"codes": 0.4, "citations": 0.3, "centroids": 0.3},
        description="node network: weights of IPC-profile, citation and centroid similarity",
    )
    centroid_neighbours: int = Field(5, ge=1, description="k nearest nodes by centroid")
    min_edge_weight: float = Field(0.15, ge=0.0, description="node edges below this are pruned")
    top_k_edges: int = Field(10, ge=0, description="keep each node's k strongest edges; 0 = all")
    cluster_run: str = Field("", description="clustering to read; empty = the chosen one")
    max_edges: int = Field(
        2_000_000, ge=10, description="edges of one network beyond which scale_top_k applies"
    )
    scale_top_k: int = Field(
        20, ge=1, description="over max_edges: keep each vertex's k strongest edges (logged)"
    )
    picture_vertices: int = Field(1500, ge=10, description="strongest vertices drawn at most")
    label_top: int = Field(10, ge=0, description="most central nodes labelled in the pictures")
    centrality: CentralitySettings = CentralitySettings()


DIMENSIONS = ("necessity", "feasibility", "impact")


class SensitivitySettings(_Strict):
    """Monte Carlo over the grading weights (and α): each item's probability of each tier."""

    runs: int = Field(1000, ge=10, description="draws of weights (and α)")
    concentration: float = Field(
        50.0, gt=0.0, description="Dirichlet concentration around the configured weights"
    )
    alpha_spread: float = Field(0.1, ge=0.0, le=0.5, description="α drawn uniformly within ±")
    margin: float = Field(0.25, ge=0.0, description="scores this close to a threshold are flagged")
    seed: int = 0


class ExpertSurveySettings(_Strict):
    """Delphi rounds: what the questionnaire shows, and when an item's scores have converged.

    An item has not converged when its scores' interquartile range exceeds ``max_iqr``
    points or their coefficient of variation exceeds ``max_cv`` (see
    ``techscreen.grade.delphi`` for why both, and why these defaults).
    """

    codes: int = Field(3, ge=0, description="top class codes shown per technology")
    patents: int = Field(5, ge=0, description="representative patents shown per technology")
    max_iqr: float = Field(
        2.0, ge=0.0, le=10.0, description="largest IQR (0–10 points) of a converged item"
    )
    max_cv: float = Field(
        0.3, ge=0.0, description="largest coefficient of variation of a converged item"
    )
    min_experts: int = Field(
        2, ge=2, description="fewer scores than this: too few to judge an item's convergence"
    )


class ExpertSettings(_Strict):
    """Expert consultation: the scores file and how it is fused with the patent scores."""

    scores: str = Field(
        "", description="expert score CSV (see conf/experts/template.csv); empty = none"
    )
    alpha: float = Field(0.5, ge=0.0, le=1.0, description="final = α·expert + (1−α)·patent")
    match_threshold: float = Field(
        0.35,
        ge=0.0,
        le=1.0,
        description="text similarity a nominated technology needs to match a node",
    )
    survey: ExpertSurveySettings = ExpertSurveySettings()


class TierChangeSettings(_Strict):
    """The tier-change log: this grading against the previous one (``tier_changes/``)."""

    enabled: bool = Field(True, description="compare with the previous grade run, if any")
    previous_run: str = Field(
        "", description="grade run to compare with; empty = the chosen (else newest) one before"
    )
    min_score_change: float = Field(
        0.01, ge=0.0, description="smaller moves of the final score (same tier) are not listed"
    )
    min_overlap: float = Field(
        0.3,
        gt=0.0,
        le=1.0,
        description="re-clustered domain: Jaccard of member patents that matches two nodes",
    )
    reasons: int = Field(3, ge=1, description="indicators named in each change's why")


class ControlListSettings(_Strict):
    """Control-list mapping: graded items against official lists (grade/control_lists.py).

    An item's best entry score decides its status: ``already controlled`` at or above
    ``controlled``, ``adjacent`` at or above ``adjacent``, else ``not listed`` (the defaults'
    grounds are in the README's *Control lists*).
    """

    files: list[str] = Field(
        default_factory=lambda: [
            "data/control_lists/cn_export_catalogue_2023.csv",
            "data/control_lists/us_cet_2024.csv",
        ],
        description="list CSVs (columns in data/control_lists/SOURCE.md); empty = no mapping",
    )
    controlled: float = Field(
        0.55, ge=0.0, le=1.0, description="best entry score of an 'already controlled' item"
    )
    adjacent: float = Field(
        0.45,
        ge=0.0,
        le=1.0,
        description="best entry score of an 'adjacent' item; below: 'not listed'",
    )
    top: int = Field(3, ge=1, description="closest entries kept per item and list")
    semantic: bool = Field(
        False,
        description="also compare English texts by MiniLM cosine (the packaged model; the "
        "score is the larger of it and the character n-gram similarity); slower",
    )

    @model_validator(mode="after")
    def _ordered(self) -> ControlListSettings:
        if self.adjacent > self.controlled:
            raise ValueError(
                f"adjacent ({self.adjacent}) must not exceed controlled ({self.controlled})"
            )
        return self


class GradeSettings(_Strict):
    """The grade stage: indicators per technology node, 0–10 scores, tiers, sensitivity."""

    graph_run: str = Field("", description="graph run to read; empty = the chosen one")
    domains: list[str] = Field(default_factory=list, description="empty = every defined domain")
    normalisation: Literal["anchored", "rank", "minmax", "zscore"] = Field(
        "anchored",
        description="anchored = each indicator against its absolute anchor "
        "(techscreen.grade.anchors); or within the domain: rank = percentile·10, minmax, "
        "zscore (±3σ → 0–10)",
    )
    anchor_ratio: float = Field(
        4.0,
        gt=1.0,
        description="anchored: the ratio F (to parity 1 or to the domain's reference) that "
        "scores 10; 1/F scores 0, 1 scores 5 (4 = two doublings)",
    )
    anchor_ratios: dict[str, float] = Field(
        default_factory=dict, description="anchored: F per indicator, replacing anchor_ratio"
    )
    indicator_weights: dict[str, dict[str, float]] = Field(
        default_factory=lambda: {
            "necessity": {"centrality": 0.5, "growth": 0.3, "strategic_weight": 0.2},
            "feasibility": {
                "cn_share": 0.25,
                "cn_rta": 0.25,
                "cn_lead": 0.2,
                "substitutes": 0.15,
                "maturity": 0.15,
            },
            "impact": {
                "forward_citations": 0.3,
                "family_size": 0.2,
                "generality": 0.2,
                "size": 0.3,
            },
        },
        description="weights of the indicators within each dimension",
    )
    dimension_weights: dict[str, float] = Field(
        default_factory=lambda: {"necessity": 1 / 3, "feasibility": 1 / 3, "impact": 1 / 3}
    )
    ahp: list[list[float]] = Field(
        default_factory=list,
        description="3×3 pairwise comparisons of necessity, feasibility, impact; replaces "
        "dimension_weights (consistency ratio ≥ 0.1 is an error)",
    )
    strategic_weights: dict[str, float] = Field(
        default_factory=dict, description="0–10 per domain; a domain not named gets 5 (neutral)"
    )
    recent_years: int = Field(5, ge=1, description="growth: filings of the last n years vs before")
    tier1_above: float = 8.5
    tier3_below: float = 6.5
    registered_model: str = Field(
        "techscreen-grader",
        description="MLflow registry name of the grader; empty = not registered",
    )
    experts: ExpertSettings = ExpertSettings()
    sensitivity: SensitivitySettings = SensitivitySettings()
    control_lists: ControlListSettings = ControlListSettings()
    changes: TierChangeSettings = TierChangeSettings()


class ReportSettings(_Strict):
    """The report stage: the HTML screening report and the CSV/Parquet exports of a grade run."""

    grade_run: str = Field("", description="grade run to report; empty = the chosen one")
    top_nodes: int = Field(
        12, ge=1, description="largest nodes drawn one by one in trends and countries"
    )
    breakdown_items: int = Field(
        40, ge=1, description="highest-scored items per domain in the score breakdown"
    )
    thin_patents: int = Field(
        500, ge=0, description="a domain with fewer patents is flagged as thin data"
    )
    language: Literal["en", "zh"] = Field(
        "en",
        description="language of node labels and class titles in the report (zh: Chinese IPC "
        "titles, English where a class has none); keywords stay in the patents' own words",
    )


class Settings(_Strict):
    """All of techscreen's settings."""

    paths: PathSettings = PathSettings()
    spark: SparkSettings = SparkSettings()
    mlflow: MlflowSettings = MlflowSettings()
    ingest: IngestSettings = IngestSettings()
    domains: DomainSettings = DomainSettings()
    embed: EmbedSettings = EmbedSettings()
    cluster: ClusterSettings = ClusterSettings()
    graph: GraphSettings = GraphSettings()
    grade: GradeSettings = GradeSettings()
    report: ReportSettings = ReportSettings()


def check_writable(settings: Settings, outputs: Mapping[str, str | Path]) -> None:
    """Refuse output paths outside the workspace and the ``paths.writable`` folders.

    The caller names what a run will write (``setting key → path``): the model folders of the
    embedders its embed stage uses, or the one a ``models build-*`` makes. Paths are compared
    after resolving ``..`` and links.

    Raises:
        ConfigError: naming the key, the path, the allowed folders and how to add one.
    """
    allowed = [workspace(settings), *(_resolved(p) for p in settings.paths.writable)]
    for key, value in outputs.items():
        path = _resolved(str(value))
        if not any(path == root or path.is_relative_to(root) for root in allowed):
            raise ConfigError(
                f"{key}: {path} is outside the workspace and paths.writable "
                f"({', '.join(map(str, allowed))}), and this run would write it; allow its "
                f"folder with --set paths.writable+=[{path.parent}] (paths.writable=[…] "
                f"replaces the list) or set {key} inside an allowed folder"
            )


def _resolved(path: str) -> Path:
    return Path(path).expanduser().resolve()


def _deep_merge(
    base: dict, over: Mapping, origin: dict[str, str], source: str, prefix: str = ""
) -> None:
    for key, value in over.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value, origin, source, dotted + ".")
        else:
            base[key] = copy.deepcopy(value)
            origin[dotted] = source
            if isinstance(value, Mapping):
                _mark(value, origin, source, dotted + ".")


def _mark(tree: Mapping, origin: dict[str, str], source: str, prefix: str) -> None:
    for key, value in tree.items():
        origin[f"{prefix}{key}"] = source
        if isinstance(value, Mapping):
            _mark(value, origin, source, f"{prefix}{key}.")


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of settings sections")
    return data


def _parse_override(item: str) -> tuple[str, Any, bool]:
    """``key=value`` → (key, value, False); ``key+=value`` → (key, value, True): extend a list."""
    key, sep, raw = item.partition("=")
    extend = key.endswith("+")
    key = key.removesuffix("+")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: expected key.path=value or key.path+=[items]")
    return key.strip(), yaml.safe_load(raw) if raw.strip() else "", extend


def _set_value(tree: dict, dotted: str, value: Any, origin: dict[str, str], source: str) -> None:
    """Set ``dotted`` to ``value``, replacing what the layers gave it (a mapping too).

    ``--set embed.routes={}`` empties the routes of conf/base, and ``--set
    embed.routes={zh: lexical-zh}`` is exactly that table: an override is not merged into the
    mapping below it (layer files are, see :func:`_deep_merge`).
    """
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[leaf] = copy.deepcopy(value)
    for key in [k for k in origin if k.startswith(f"{dotted}.")]:
        del origin[key]
    origin[dotted] = source
    if isinstance(value, Mapping):
        _mark(value, origin, source, dotted + ".")


def _extended(tree: dict, dotted: str, items: Any) -> list[Any]:
    """The list at ``dotted`` (from the layers, else the default) with ``items`` appended.

    ``--set paths.writable+=[/data/models]`` keeps ``models`` where ``paths.writable=[…]``
    would replace it.
    """
    current: Any = tree
    for part in dotted.split("."):
        current = current.get(part) if isinstance(current, dict) else None
    if current is None:
        current = _default_of(dotted)
    if not isinstance(current, list):
        raise ConfigError(f"--set {dotted}+=…: {dotted} is not a list setting")
    return [*current, *(items if isinstance(items, list) else [items])]


def _default_of(dotted: str) -> Any:
    node: Any = Settings()
    for part in dotted.split("."):
        if isinstance(node, BaseModel):
            node = getattr(node, part, None)
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return None
    return node


def load_settings(
    conf_dir: str | Path = "conf",
    env: str | None = None,
    overrides: Iterable[str] = (),
) -> Settings:
    """Merge the configuration layers and validate them into :class:`Settings`.

    Args:
        conf_dir: the folder holding ``base/``, the environment folders and ``local/``.
        env: an environment folder layered over ``base`` (e.g. ``"cluster"``).
        overrides: ``key.path=value`` strings (values are YAML), applied last;
            ``key.path+=[a, b]`` appends to a list setting instead of replacing it.

    Raises:
        ConfigError: naming the file (or ``--set``) and key of the first invalid setting.
    """
    conf = Path(conf_dir)
    if not (conf / "base").is_dir():
        raise ConfigError(f"{conf / 'base'}: configuration folder not found")
    layers = ["base"] + ([env] if env else []) + ["local"]
    if env and not (conf / env).is_dir():
        raise ConfigError(f"{conf / env}: no such configuration environment")
    tree: dict = {}
    origin: dict[str, str] = {}
    for layer in layers:
        for path in sorted((conf / layer).glob("*.yaml")):
            _deep_merge(tree, _read_yaml(path), origin, str(path))
    for item in overrides:
        key, value, extend = _parse_override(item)
        if extend:
            value = _extended(tree, key, value)
        _set_value(tree, key, value, origin, f"--set {key}")
    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        first = exc.errors()[0]
        dotted = ".".join(str(p) for p in first["loc"])
        if not dotted:  # a check across settings names its keys in the message
            message = str(first["ctx"].get("error", first["msg"]))
            dotted = message.split(":", 1)[0]
            raise ConfigError(f"{_source_of(dotted, origin)}: {message}") from None
        source = _source_of(dotted, origin)
        raise ConfigError(f"{source}: {dotted}: {first['msg']}") from None


def _source_of(dotted: str, origin: Mapping[str, str]) -> str:
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in origin:
            return origin[key]
    return "defaults"


def workspace(settings: Settings) -> Path:
    """The workspace folder, resolved."""
    return Path(settings.paths.workspace).expanduser().resolve()


def dump(settings: Settings) -> str:
    """The effective settings as YAML (what ``techscreen config show`` prints)."""
    return yaml.safe_dump(settings.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
