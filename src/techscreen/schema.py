"""Canonical table schemas and column names: the one place they are defined.

Every stage reads and writes the tables declared here. Readers produce :data:`RAW_FIELDS`
dictionaries; validation turns them into rows of :data:`PATENTS`; rejected records become
rows of :data:`QUARANTINE`.
"""

from __future__ import annotations

from pyspark.sql import types as T

# Fields a format parser may fill in (all optional; strings are raw, unnormalised values).
# List-valued fields hold lists of raw strings.
#
# Text: ``title``/``abstract`` hold the text in its original language (``language`` is
# theirs); ``title_en``/``abstract_en`` hold an English translation only where a source has
# both the original and the translation (PatSnap, incoPat, Google Patents). A source with
# one text only puts it in ``title``/``abstract``, whatever its language.
# Counts and facts some exports carry and others do not: ``main_ipc`` (the main IPC symbol,
# also in ``ipc_codes``), ``priority_countries`` (offices of the priority claims),
# ``backward_citations`` (how many patents this one cites, where only the count is given),
# ``family_size`` (the source's family count) and ``legal_status`` (as the source words it).
RAW_SCALARS = (
    "publication_number",
    "kind",
    "application_number",
    "family_id",
    "title",
    "abstract",
    "title_en",
    "abstract_en",
    "language",
    "main_ipc",
    "priority_date",
    "filing_date",
    "publication_date",
    "filing_year",
    "jurisdiction",
    "forward_citations",
    "backward_citations",
    "family_size",
    "legal_status",
)
RAW_LISTS = (
    "ipc_codes",
    "cpc_codes",
    "applicants",
    "applicant_countries",
    "priority_countries",
    "cited_publications",
)
RAW_FIELDS = RAW_SCALARS + RAW_LISTS

_STR = T.StringType()
_STRS = T.ArrayType(T.StringType(), containsNull=False)

# One validated record, before duplicates are merged.
RECORD = T.StructType(
    [
        T.StructField("publication_number", _STR, False),
        T.StructField("application_number", _STR, True),
        T.StructField("family_id", _STR, True),
        T.StructField("title", _STR, True),
        T.StructField("abstract", _STR, True),
        T.StructField("title_en", _STR, True),
        T.StructField("abstract_en", _STR, True),
        T.StructField("language", _STR, True),
        T.StructField("ipc_codes", _STRS, False),
        T.StructField("cpc_codes", _STRS, False),
        T.StructField("main_ipc", _STR, True),
        T.StructField("priority_date", T.DateType(), True),
        T.StructField("filing_date", T.DateType(), True),
        T.StructField("publication_date", T.DateType(), True),
        T.StructField("filing_year", T.IntegerType(), True),
        T.StructField("applicants", _STRS, False),
        T.StructField("applicant_countries", _STRS, False),
        T.StructField("priority_countries", _STRS, False),
        T.StructField("jurisdiction", _STR, True),
        T.StructField("cited_publications", _STRS, False),
        T.StructField("forward_citations", T.IntegerType(), True),
        T.StructField("backward_citations", T.IntegerType(), True),
        T.StructField("family_size", T.IntegerType(), True),
        T.StructField("legal_status", _STR, True),
        T.StructField("source_format", _STR, False),
        T.StructField("source_file", _STR, False),
        T.StructField("record_location", _STR, False),
        # the publication number as the source wrote it (CN117151122A for CN-117151122-A),
        # so that a user's own lists join; not content (the hash leaves it out)
        T.StructField("source_number", _STR, True),
        T.StructField("warnings", _STRS, False),
        T.StructField("content_hash", _STR, False),
    ]
)

# The patents table: one row per publication number; merged_from holds the file@location
# of every other record merged into it.
PATENTS = T.StructType([*RECORD.fields, T.StructField("merged_from", _STRS, False)])

QUARANTINE = T.StructType(
    [
        T.StructField("source_format", _STR, False),
        T.StructField("source_file", _STR, False),
        T.StructField("record_location", _STR, False),
        T.StructField("reason", _STR, False),
        T.StructField("detail", _STR, True),
        T.StructField("publication_number", _STR, True),
        T.StructField("excerpt", _STR, True),
    ]
)

# Output of the combined parse + validate pass: a patent row, or a quarantine reason.
VALIDATED = T.StructType(
    [
        *RECORD.fields,
        T.StructField("reason", _STR, True),
        T.StructField("detail", _STR, True),
        T.StructField("excerpt", _STR, True),
    ]
)
# In VALIDATED every patent column must be nullable: a quarantined row has no publication number.
VALIDATED = T.StructType([T.StructField(f.name, f.dataType, True) for f in VALIDATED.fields])

PATENT_DOMAINS = T.StructType(
    [
        T.StructField("publication_number", _STR, False),
        T.StructField("domain", _STR, False),
        T.StructField("matched_codes", _STRS, False),
    ]
)

# One unit of raw input handed to a parser: a document, a line, or a row.
UNITS = T.StructType(
    [
        T.StructField("source_file", _STR, False),
        T.StructField("record_location", _STR, False),
        T.StructField("payload", _STR, True),
    ]
)

UNASSIGNED_DOMAIN = "unassigned"

# Statuses of a patent in assignments/: a density member of a node, noise (node -1), noise
# that joined the nearest node (cluster.noise_join_quantile / reassign_noise), or no vector.
ASSIGNED, NOISE, REASSIGNED, NO_VECTOR = "member", "noise", "reassigned", "no_vector"
NOISE_NODE = -1
# A patent whose language was not detected (too little text) counts under ISO 639-2 "und".
UNDETERMINED = "und"

# Patent → technology node, one row per (domain, patent); run_id is the partition column.
ASSIGNMENTS = T.StructType(
    [
        T.StructField("domain", _STR, False),
        T.StructField("publication_number", _STR, False),
        T.StructField("node", T.IntegerType(), False),
        T.StructField("node_id", _STR, True),
        T.StructField("status", _STR, False),
        T.StructField("distance", T.FloatType(), True),
        T.StructField("strength", T.FloatType(), True),
        # how the patent got its domain: its IPC/CPC codes, or its text (a patent whose codes
        # match no domain, placed by domains.placement); null in runs from before placement
        T.StructField("domain_source", _STR, True),
        # the classifier's probability of the domain for a patent placed by text; else null
        T.StructField("domain_confidence", T.FloatType(), True),
    ]
)

# How a patent got its domain (assignments.domain_source).
BY_CODES, BY_TEXT = "codes", "text"
# What became of a patent whose codes match no domain (placements.status): placed in the
# nearest domain by its text, left unassigned because the classifier's confidence was under
# domains.placement.min_confidence, because it has no vector, or because its vector space
# had no classifier (fewer than two domains among its code-assigned patents).
PLACED, BELOW_FLOOR, UNPLACED_NO_VECTOR, NO_CLASSIFIER = (
    "placed",
    "below_floor",
    "no_vector",
    "no_classifier",
)

# One row per patent whose codes match no domain, as one clustering run placed it; run_id
# (of the clustering) partitions it. domain: the nearest domain by text (null without a
# vector or classifier), placed in it only when status is "placed".
PLACEMENTS = T.StructType(
    [
        T.StructField("publication_number", _STR, False),
        T.StructField("space", _STR, True),
        T.StructField("domain", _STR, True),
        T.StructField("confidence", T.DoubleType(), True),
        T.StructField("status", _STR, False),
    ]
)

_TERM = T.StructType([T.StructField("term", _STR), T.StructField("score", T.DoubleType())])
_CODE = T.StructType(
    [
        T.StructField("code", _STR),
        T.StructField("count", T.LongType()),
        T.StructField("share", T.DoubleType()),
        T.StructField("title", _STR),
        # the Chinese IPC title (CNIPA), null where none; older runs' tables lack the field
        T.StructField("title_zh", _STR),
    ]
)
_REPRESENTATIVE = T.StructType(
    [
        T.StructField("publication_number", _STR),
        T.StructField("title", _STR),
        T.StructField("distance", T.FloatType()),
    ]
)

# One technology node per row; run_id is the partition column.
NODES = T.StructType(
    [
        T.StructField("domain", _STR, False),
        T.StructField("node", T.IntegerType(), False),
        T.StructField("node_id", _STR, False),
        T.StructField("size", T.LongType(), False),
        # in report.language at clustering time: that language's keywords, else a code title
        T.StructField("label", _STR, False),
        # c-TF-IDF keywords per label language: English (from English text and translations)
        # and Chinese (from Chinese text); older runs' tables lack keywords_zh and hold both
        # languages in keywords
        T.StructField("keywords", T.ArrayType(_TERM), False),
        T.StructField("keywords_zh", T.ArrayType(_TERM), True),
        T.StructField("codes", T.ArrayType(_CODE), False),
        T.StructField("representatives", T.ArrayType(_REPRESENTATIVE), False),
        T.StructField("filing_years", T.MapType(T.IntegerType(), T.LongType()), False),
        T.StructField("countries", T.MapType(_STR, T.LongType()), False),
        # patents per language of the text they were embedded from (translated records: en)
        T.StructField("languages", T.MapType(_STR, T.LongType()), False),
        T.StructField("mean_strength", T.DoubleType(), True),
        T.StructField("centroid", T.ArrayType(T.FloatType(), containsNull=False), False),
        # the vector space of the centroid (embedder ids joined by +); null before routing
        T.StructField("space", _STR, True),
        # why a node over cluster.max_node_share of its domain was kept whole; null otherwise
        T.StructField("split_note", _STR, True),
        # members whose domain came from their text (assignments.domain_source "text"); null
        # in runs from before placement
        T.StructField("text_placed", T.LongType(), True),
    ]
)

# The two networks of the graph stage: technology nodes, and IPC/CPC codes (co-occurrence).
TECHNOLOGY_NETWORK, CODE_NETWORK = "technology", "codes"

# One edge of a network per row, source < target; run_id (of the graph run) partitions it.
# evidence: the similarities behind the weight (technology: codes, citations, centroids,
# citation_count) or the counts (codes: count, patents).
NODE_EDGES = T.StructType(
    [
        T.StructField("domain", _STR, False),
        T.StructField("network", _STR, False),
        T.StructField("source", _STR, False),
        T.StructField("target", _STR, False),
        T.StructField("weight", T.DoubleType(), False),
        T.StructField("evidence", T.MapType(_STR, T.DoubleType()), False),
    ]
)

# Centralities of one vertex of one network per row; run_id (of the graph run) partitions it.
CENTRALITY = T.StructType(
    [
        T.StructField("domain", _STR, False),
        T.StructField("network", _STR, False),
        T.StructField("vertex", _STR, False),
        T.StructField("label", _STR, True),
        T.StructField("patents", T.LongType(), False),
        T.StructField("degree", T.LongType(), False),
        T.StructField("strength", T.DoubleType(), False),
        T.StructField("betweenness", T.DoubleType(), False),
        T.StructField("closeness", T.DoubleType(), False),
        T.StructField("eigenvector", T.DoubleType(), False),
        T.StructField("pagerank", T.DoubleType(), False),
        T.StructField("core_number", T.LongType(), False),
        T.StructField("constraint", T.DoubleType(), False),
        T.StructField("effective_size", T.DoubleType(), False),
        T.StructField("community", T.LongType(), False),
        T.StructField("component", T.LongType(), False),
        T.StructField("flags", _STRS, False),
    ]
)

# Kinds of graded items: a technology node (with or without expert scores), or a technology
# experts nominated that no node matched, graded on the expert scores alone.
NODE_ITEM, EXPERT_ONLY_ITEM = "node", "expert_only"

# A graded item's match on a control list (data/control_lists/).
CONTROL_MATCH = T.StructType(
    [
        T.StructField("list", _STR),
        T.StructField("entry_id", _STR),
        T.StructField("entry", _STR),
        T.StructField("score", T.DoubleType()),
    ]
)

# One graded technology per row; run_id (of the grade run) partitions it.
GRADES = T.StructType(
    [
        T.StructField("domain", _STR, True),
        T.StructField("item", _STR, False),
        T.StructField("kind", _STR, False),
        T.StructField("node_ids", _STRS, False),
        T.StructField("label", _STR, True),
        T.StructField("patents", T.LongType(), False),
        T.StructField("indicators", T.MapType(_STR, T.DoubleType()), False),
        T.StructField("scores", T.MapType(_STR, T.DoubleType()), False),
        T.StructField("necessity", T.DoubleType(), True),
        T.StructField("feasibility", T.DoubleType(), True),
        T.StructField("impact", T.DoubleType(), True),
        T.StructField("patent_score", T.DoubleType(), True),
        T.StructField("expert_score", T.DoubleType(), True),
        T.StructField("experts", T.LongType(), False),
        T.StructField("final_score", T.DoubleType(), False),
        T.StructField("tier", _STR, False),
        T.StructField("p_tier1", T.DoubleType(), False),
        T.StructField("p_tier2", T.DoubleType(), False),
        T.StructField("p_tier3", T.DoubleType(), False),
        T.StructField("score_p05", T.DoubleType(), False),
        T.StructField("score_p95", T.DoubleType(), False),
        T.StructField("near_threshold", T.BooleanType(), False),
        T.StructField("neutral", _STRS, False),
        T.StructField("top_patents", _STRS, False),
        T.StructField("lineage", T.MapType(_STR, _STR), False),
        # the smallest change of one dimension score that crosses a tier threshold: the
        # tier reached, the dimensions that can make it (any one of them) and the signed
        # change in that dimension's 0–10 points; null (empty) where no one dimension can
        T.StructField("next_tier", _STR, True),
        T.StructField("next_tier_dimensions", _STRS, False),
        T.StructField("next_tier_change", T.DoubleType(), True),
        # control lists (grade.control_lists): "already controlled" / "adjacent" / "not
        # listed" by the best entry score; the closest entries of each list, best first
        T.StructField("control_status", _STR, True),
        T.StructField("control_score", T.DoubleType(), True),
        T.StructField("control_matches", T.ArrayType(CONTROL_MATCH), False),
        # the share of a node's patents placed in the domain by their text, not their codes
        # (domains.placement); null for expert-only items and runs from before placement
        T.StructField("text_placed_share", T.DoubleType(), True),
    ]
)

# How an item changed since the previous grade run: its tier, only its score, or it appeared
# (a new node) or disappeared (a node of the previous clustering that none matches).
TIER_CHANGE, SCORE_CHANGE, NEW_ITEM, DISSOLVED_ITEM = "tier", "score", "new", "dissolved"
# How an item was paired with its previous self: the same node id (the domain's model was
# kept), member overlap (the domain was re-clustered) or the same name (expert-only items).
MATCHED_BY_ID, MATCHED_BY_OVERLAP, MATCHED_BY_NAME = "id", "overlap", "name"

# One changed item per row, against the previous grade run; run_id (of the new grade run)
# partitions it. New items have no previous_*, dissolved ones no current values.
TIER_CHANGES = T.StructType(
    [
        T.StructField("domain", _STR, True),
        T.StructField("item", _STR, False),  # the item now; a dissolved item's previous id
        T.StructField("previous_item", _STR, True),
        T.StructField("label", _STR, True),
        T.StructField("change", _STR, False),
        T.StructField("matched_by", _STR, True),
        T.StructField("jaccard", T.DoubleType(), True),  # member overlap, when matched by it
        T.StructField("previous_tier", _STR, True),
        T.StructField("tier", _STR, True),
        T.StructField("previous_score", T.DoubleType(), True),
        T.StructField("score", T.DoubleType(), True),
        T.StructField("score_change", T.DoubleType(), True),
        T.StructField("previous_patents", T.LongType(), True),
        T.StructField("patents", T.LongType(), True),
        # the dimensions and indicators whose scores moved the final score most, most first
        T.StructField("moved", _STRS, False),
        T.StructField("why", _STR, False),
        T.StructField("previous_run", _STR, False),
    ]
)
