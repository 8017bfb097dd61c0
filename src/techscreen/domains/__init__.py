"""Technology domains assigned to patents from their IPC and CPC codes."""

from techscreen.domains.rules import (
    DomainRules,
    assign_domains,
    domain_counts,
    load_concordance,
)

__all__ = ["DomainRules", "assign_domains", "domain_counts", "load_concordance"]
