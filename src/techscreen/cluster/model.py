"""Technology nodes of one domain: PCA → FAISS spherical k-means → weighted HDBSCAN.

The fit runs on the driver over a sample of the domain's vectors and yields a small
:class:`NodeModel` (a projection, ``k`` micro-centroids and their node labels) that Spark
broadcasts to assign every patent (:mod:`techscreen.cluster.assign`). Driver memory is
bounded by the sample: ``sample_size × dims × 4`` bytes for the projected sample plus
``k² × 8`` bytes for HDBSCAN's distance matrix over the centroids — about 100 MB at the
automatic maximum (200,000 × 64 and k = 2,048), whatever the number of patents.

Sizes grow with the number of patents ``N`` of a domain unless set (see :func:`sizing`):
``k = clip(√N, 8, 2048)`` micro-clusters, trained on ``min(N, max(64·k, 20000))`` vectors
(capped by ``max_sample``); nodes hold at least ``max(10, 1 % of N)`` patents. On the
bundled sample these gave the best AMI against IPC subclasses among the sizes tried
(k = √N, 2√N, 4√N; nodes of 1 % or 2 % of N) — about 15 nodes per domain.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace

import faiss
import numpy as np

from techscreen.cluster.granularity import Candidate, NodeFit, candidates, choose, fit_candidate
from techscreen.cluster.micro import MicroClusters, micro_clusters, normalise
from techscreen.cluster.split import KeptWhole
from techscreen.config import ClusterSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sizing:
    """The sizes one domain's fit uses, automatic or from settings."""

    n: int
    sample_size: int
    k: int
    min_cluster_size: int
    min_samples: int


def sizing(n: int, s: ClusterSettings) -> Sizing:
    """Sizes for a domain of ``n`` patents: settings win; zeros mean "grow with n"."""
    k = s.k or int(np.clip(round(math.sqrt(max(n, 1))), 8, 2048))
    sample = s.sample_size or min(max(64 * k, 20_000), s.max_sample)
    mcs = s.min_cluster_size or max(10, round(0.01 * n))
    return Sizing(
        n=n,
        sample_size=min(n, sample),
        k=max(1, min(k, n)),
        min_cluster_size=mcs,
        min_samples=s.min_samples or mcs,
    )


@dataclass(frozen=True)
class Projection:
    """Centre and project (PCA) or keep vectors, then normalise: the clustering space."""

    mean: np.ndarray | None = None
    components: np.ndarray | None = None  # (input dims, output dims)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Vectors in the clustering space (unit length)."""
        x = np.asarray(x, dtype=np.float32)
        if self.components is not None:
            x = (x - self.mean) @ self.components
        return normalise(x)

    @property
    def dims(self) -> int | None:
        """Output dimensions (None: the input's)."""
        return None if self.components is None else self.components.shape[1]


def fit_projection(x: np.ndarray, reducer: str, dims: int) -> Projection:
    """PCA to ``dims`` by an exact eigendecomposition (deterministic), or no projection.

    UMAP is not a projection of the patents: it is applied to the micro-centroids only
    (:func:`fit_model`), so here it keeps the vectors as they are.
    """
    if reducer != "pca" or dims >= x.shape[1] or len(x) < 2:
        return Projection()
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)
    values, vectors = np.linalg.eigh(np.cov(x - mean, rowvar=False))
    top = vectors[:, np.argsort(values)[::-1][:dims]]
    top *= np.where(top[np.abs(top).argmax(axis=0), range(dims)] < 0, -1.0, 1.0)  # fix sign
    return Projection(mean.astype(np.float32), np.ascontiguousarray(top, dtype=np.float32))


@dataclass
class NodeModel:
    """What assigning a patent to a node needs: small enough to broadcast."""

    projection: Projection
    micro: np.ndarray  # (k, dims) unit micro-centroids
    micro_node: np.ndarray  # (k,) node index of each micro-cluster, -1 = noise
    micro_strength: np.ndarray  # (k,) HDBSCAN membership strength of each micro-cluster
    nodes: np.ndarray  # (m, dims) unit node centroids
    join_radius: np.ndarray | None = None  # (m,) cosine distance within which noise joins
    _index: faiss.Index | None = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_index"] = None  # rebuilt where it is used
        return state

    @property
    def n_nodes(self) -> int:
        """Number of technology nodes."""
        return len(self.nodes)

    def assign(self, x: np.ndarray) -> Assigned:
        """Each vector's node, its cosine distance to that node, and membership strength.

        A patent takes the node of its nearest micro-centroid. For noise the distance is to
        the nearest node; noise within that node's ``join_radius`` joins it (strength 0: it
        is not a density member).
        """
        z = self.projection.apply(x)
        if self._index is None:
            self._index = faiss.IndexFlatIP(self.micro.shape[1])
            self._index.add(self.micro)
        _, nearest = self._index.search(z, 1)
        micro = nearest[:, 0]
        node = self.micro_node[micro].copy()
        member = node >= 0
        strength = np.where(member, self.micro_strength[micro], 0.0).astype(np.float32)
        distance = np.ones(len(z), dtype=np.float32)
        if self.n_nodes:
            sims = z @ self.nodes.T
            nearest_node = sims.argmax(axis=1)
            target = np.where(member, node, nearest_node)
            distance = (1.0 - sims[np.arange(len(z)), target]).clip(0.0, 2.0).astype(np.float32)
            if self.join_radius is not None:
                join = ~member & (distance <= self.join_radius[nearest_node])
                node[join] = nearest_node[join]
        return Assigned(node, distance, strength, member)


@dataclass(frozen=True)
class Assigned:
    """The outcome of :meth:`NodeModel.assign` for a batch of vectors."""

    node: np.ndarray  # node index, -1 = noise
    distance: np.ndarray  # cosine distance to the node (noise: to the nearest node)
    strength: np.ndarray  # membership strength in [0, 1]; 0 for noise and reassigned
    member: np.ndarray  # True where the nearest micro-cluster is a density member


@dataclass(frozen=True)
class FitInfo:
    """How a fit went, for the log and MLflow.

    Attributes:
        sizing: the sizes used (``min_cluster_size`` is the chosen candidate's).
        micro_clusters: micro-clusters of the final model (splits add finer ones).
        single_cluster: no split of the domain was stable.
        message: a warning for the log, or "".
        selection: the chosen cluster selection.
        sweep: one row per candidate of the granularity sweep.
        stability_ari: the chosen candidate's ARI across seeds (None with one seed).
        kept_whole: oversized nodes left whole, with their share and reason.
    """

    sizing: Sizing
    micro_clusters: int
    single_cluster: bool
    message: str = ""
    selection: str = "eom"
    sweep: tuple[dict, ...] = ()
    stability_ari: float | None = None
    kept_whole: tuple[KeptWhole, ...] = ()


def fit_model(x: np.ndarray, s: ClusterSettings, n: int, seed: int) -> tuple[NodeModel, FitInfo]:
    """Fit one domain's nodes on a sample ``x`` of its ``n`` patents' vectors.

    PCA, then per seed (``seed``, ``seed + 1``, … ``cluster.stability_runs`` of them) the
    spherical k-means micro-clusters, and per candidate grain the weighted HDBSCAN and the
    split of oversized nodes (:mod:`techscreen.cluster.granularity`); the most
    reproducible candidate under the first seed is the model.
    """
    size = sizing(n, s)
    projection = fit_projection(x, s.reducer, s.dims)
    z = projection.apply(x)
    grid = candidates(n, s)
    fits: dict[Candidate, list[NodeFit]] = {c: [] for c in grid}
    for run in range(s.stability_runs):
        micro = micro_clusters(z, size.k, s.kmeans_iterations, seed + run, n / len(z))
        points = _density_points(micro, s, seed + run)
        for candidate in grid:
            fits[candidate].append(fit_candidate(z, micro, points, candidate, n, s, seed + run))
    choice = choose(fits, n)
    part = choice.fit.partition
    micro_node = _nodes_by_weight(part.node, part.micro.weights)
    weights = part.micro.weights
    nodes = [
        part.micro.centroids[micro_node == i].T @ weights[micro_node == i]
        for i in range(micro_node.max() + 1)
    ]
    model = NodeModel(
        projection=projection,
        micro=part.micro.centroids,
        micro_node=micro_node,
        micro_strength=part.strength.astype(np.float32),
        nodes=normalise(np.array(nodes)) if nodes else np.zeros((0, z.shape[1]), np.float32),
    )
    model.join_radius = join_radii(model, z, s)
    renumbered = {int(a): int(b) for a, b in zip(part.node, micro_node, strict=True) if a >= 0}
    kept = tuple(replace(k, node=renumbered[k.node]) for k in choice.fit.result.kept_whole)
    chosen = choice.fit.candidate
    size = replace(size, min_cluster_size=chosen.min_cluster_size, min_samples=chosen.min_samples)
    message = ""
    if n < size.min_cluster_size:
        message = f"{n} patents, fewer than min_cluster_size {size.min_cluster_size}: no node"
    elif choice.fit.single_cluster and not choice.fit.result.splits:
        message = "no split was stable: the domain is one node"
    info = FitInfo(
        size,
        len(part.micro.centroids),
        choice.fit.single_cluster,
        message,
        chosen.selection,
        tuple(choice.rows),
        choice.stability_ari,
        kept,
    )
    return model, info


def join_radii(model: NodeModel, z: np.ndarray, s: ClusterSettings) -> np.ndarray | None:
    """How far from a node noise may lie and still join it (None: noise stays noise).

    ``cluster.reassign_noise`` > 0 is one cosine distance for every node. Otherwise, with
    ``cluster.noise_join_quantile`` q > 0, each node's radius is the q-quantile of its own
    sampled members' distances to its centroid: a noise patent joins the nearest node when
    it lies no farther out than the node's own members mostly do. HDBSCAN calls a patent
    noise when its micro-cluster is not dense enough, which on text embeddings is the
    thinly-populated fringe of a technology far more often than an unrelated outlier.
    """
    if s.reassign_noise > 0:
        return np.full(model.n_nodes, s.reassign_noise, dtype=np.float32)
    if s.noise_join_quantile <= 0 or not model.n_nodes:
        return None
    member = model.micro_node[_nearest(model, z)]
    radii = np.zeros(model.n_nodes, dtype=np.float32)
    for c in range(model.n_nodes):
        inside = z[member == c]
        if len(inside):
            radii[c] = np.quantile(1.0 - inside @ model.nodes[c], s.noise_join_quantile)
    return radii


def _nearest(model: NodeModel, z: np.ndarray) -> np.ndarray:
    """Index of each vector's nearest micro-centroid."""
    return (z @ model.micro.T).argmax(axis=1)


def _density_points(
    micro: MicroClusters, s: ClusterSettings, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """What HDBSCAN reads: the centroids and radii, or their UMAP embedding."""
    if s.reducer == "umap" and len(micro.centroids) > s.dims + 1:
        points = _umap(micro.centroids, s.dims, seed)
        return points, _rescaled(micro.radii, micro.centroids, points)
    return micro.centroids, micro.radii


def _nodes_by_weight(labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Renumber clusters so node 0 is the heaviest (ties: the lowest micro index first)."""
    found = [c for c in dict.fromkeys(labels.tolist()) if c >= 0]
    order = sorted(found, key=lambda c: (-weights[labels == c].sum(), int(np.argmax(labels == c))))
    mapping = {c: i for i, c in enumerate(order)}
    return np.array([mapping.get(c, -1) for c in labels.tolist()], dtype=np.int64)


def _rescaled(radii: np.ndarray, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Carry spreads into a new embedding by the local scale at each point's neighbour."""
    d_before = np.sqrt(np.clip(2.0 - 2.0 * before @ before.T, 0.0, None))
    np.fill_diagonal(d_before, np.inf)
    nearest = d_before.argmin(axis=1)
    rows = np.arange(len(before))
    d_after = np.linalg.norm(after - after[nearest], axis=1)
    return radii * d_after / np.maximum(d_before[rows, nearest], 1e-12)


def _umap(points: np.ndarray, dims: int, seed: int) -> np.ndarray:
    try:
        import umap
    except ImportError as exc:
        raise RuntimeError(
            "cluster.reducer=umap needs umap-learn: pip install 'techscreen[umap]'"
        ) from exc
    reducer = umap.UMAP(
        n_components=dims,
        n_neighbors=min(15, len(points) - 1),
        metric="cosine",
        random_state=seed,
        transform_seed=seed,
    )
    return reducer.fit_transform(points)
