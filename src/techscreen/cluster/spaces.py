"""Technology nodes of a domain whose patents were embedded in more than one vector space.

With routing (:mod:`techscreen.embed.routing`) a mixed domain's Chinese records may be
embedded by ``lexical-zh`` and its English ones by MiniLM. A cosine between vectors of two
spaces means nothing, so each space is clustered apart: a :class:`DomainModel` holds one
:class:`~techscreen.cluster.model.NodeModel` per space and numbers the domain's nodes across
them in order (the first space's nodes first), so node ids stay ``domain:k`` for every later
stage. A domain embedded in one space — the usual case — has one model and is numbered as
before: node 0 is its heaviest node.

A space is named by the ids of the embedders in it, joined by ``+`` (one id when the
space is one embedder's).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

import numpy as np

from techscreen.cluster.model import Assigned, NodeModel
from techscreen.config import Settings
from techscreen.embed.lexical_workspace import resolved
from techscreen.embed.registry import named_embedder
from techscreen.embed.routing import RoutePlan, check_one_space


@dataclass(frozen=True)
class DomainModel:
    """The node models of one domain, one per vector space, in node-numbering order."""

    spaces: Mapping[str, NodeModel]

    @property
    def n_nodes(self) -> int:
        """Nodes over every space."""
        return sum(m.n_nodes for m in self.spaces.values())

    def offset(self, space: str) -> int:
        """The number of the first node of ``space``."""
        before = 0
        for name, model in self.spaces.items():
            if name == space:
                return before
            before += model.n_nodes
        raise KeyError(f"no model for vector space {space!r}")

    def assign(self, x: np.ndarray, space: str) -> Assigned:
        """:meth:`NodeModel.assign` in ``space``, node numbers shifted to the domain's."""
        got = self.spaces[space].assign(x)
        shift = self.offset(space)
        return replace(got, node=np.where(got.node >= 0, got.node + shift, got.node))

    def nodes(self) -> Iterator[tuple[int, str, np.ndarray]]:
        """``(node, space, centroid)`` of every node, in node order."""
        node = 0
        for space, model in self.spaces.items():
            for centroid in model.nodes:
                yield node, space, centroid
                node += 1


@dataclass(frozen=True)
class ClusterPlan:
    """Which vectors a clustering run reads: each patent's routed embedder, by space.

    Attributes:
        routes: the routing rule (each patent's embedder).
        ids: embedder name → embedder id.
        space: embedder name → the name of its space.
    """

    routes: RoutePlan
    ids: Mapping[str, str]
    space: Mapping[str, str]

    @classmethod
    def from_settings(cls, settings: Settings) -> ClusterPlan:
        """``cluster.embedder`` for every patent when set, else the embed stage's routing.

        Raises:
            MixedSpacesError: if a group of ``embed.shared_spaces`` mixes embedders that
                cannot share a space.
        """
        e = resolved(settings)  # lexical-zh: the workspace's current fit, if it fits one
        chosen = settings.cluster.embedder
        routes = RoutePlan({}, chosen) if chosen else RoutePlan.from_settings(e)
        ids = {name: named_embedder(e, name).embedder_id for name in routes.embedders}
        space = {}
        for group in routes.spaces(e.shared_spaces):
            members = [ids[name] for name in group]
            check_one_space(members, e.shared_spaces)
            space.update({name: "+".join(members) for name in group})
        return cls(routes, ids, space)

    @property
    def spaces(self) -> list[str]:
        """The spaces in node-numbering order (the default embedder's first)."""
        return list(dict.fromkeys(self.space.values()))
