"""Update mode: whether a domain's previous nodes still hold once a new batch has arrived.

A screening grows by batches (a weekly file). Re-clustering every domain each time would
renumber every node and make two screenings hard to compare, and fitting is the costly part
of clustering; so in update mode (``cluster.update.enabled``) a domain keeps the model of
the previous clustering run, which assigns every patent — the new ones join the node of
their nearest micro-cluster, or the nearest node within its join radius, as any patent does
(:meth:`~techscreen.cluster.model.NodeModel.assign`) — unless one of these says the model
no longer describes the domain:

* there is no saved model for the domain, it was fitted with other clustering settings, or
  the domain now has patents in a vector space the model lacks (a new language route, a
  changed embedder);
* **drift**: the share of the new patents that the model leaves as noise — outside every
  node's micro-clusters and join radius — exceeds the share of noise among the domain's
  earlier patents by more than ``cluster.update.max_drift``. New patents that land as
  often in nodes as the old ones did fit the nodes; an excess of noise means topics the
  nodes do not cover. The excess, not the raw share, because a domain's noise share is a
  property of its data (tens of percent on thin domains) that a batch of the same kind
  reproduces;
* **growth**: the new patents are more than ``cluster.update.max_growth`` of the domain's
  earlier ones: the fit's sizes (micro-clusters ``√N``, the sweep's node sizes as shares of
  ``N``) were chosen for a domain of another size;
* ``cluster.update.force_recluster`` names it (or is true: every domain).

Then the domain is clustered afresh, exactly as a clustering run without update mode would.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from techscreen.config import ClusterSettings, ClusterUpdateSettings

# Settings that do not change a domain's fitted model: which domains, labels, update mode.
_NOT_FIT = {"domains", "labels", "update"}


def fit_fingerprint(settings: ClusterSettings) -> str:
    """A digest of the clustering settings a fitted model depends on."""
    values = settings.model_dump(mode="json", exclude=_NOT_FIT)
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DomainDrift:
    """How a domain's patents meet its previous model.

    Attributes:
        previous_patents: patents with a vector in the previous clustering of the domain.
        previous_noise: of those, the ones that were noise.
        new_patents: patents with a vector that the previous clustering did not have.
        new_noise: of those, the ones the previous model leaves as noise.
    """

    previous_patents: int
    previous_noise: int
    new_patents: int
    new_noise: int

    @property
    def assigned(self) -> int:
        """New patents the previous model puts in a node."""
        return self.new_patents - self.new_noise

    @property
    def drift(self) -> float:
        """New patents' noise share minus the earlier patents' (0 without new patents)."""
        if not self.new_patents:
            return 0.0
        before = self.previous_noise / self.previous_patents if self.previous_patents else 0.0
        return self.new_noise / self.new_patents - before

    @property
    def growth(self) -> float:
        """New patents as a share of the earlier ones."""
        if not self.previous_patents:
            return float("inf") if self.new_patents else 0.0
        return self.new_patents / self.previous_patents


def recluster_reason(domain: str, drift: DomainDrift, s: ClusterUpdateSettings) -> str:
    """Why ``domain`` must be clustered afresh, or "" when its model is kept."""
    forced = s.force_recluster
    if forced is True or (isinstance(forced, list) and domain in forced):
        return "forced (cluster.update.force_recluster)"
    if drift.drift > s.max_drift:
        return f"drift {drift.drift:.3f} > cluster.update.max_drift {s.max_drift}"
    if drift.growth > s.max_growth:
        return f"growth {drift.growth:.3f} > cluster.update.max_growth {s.max_growth}"
    return ""
