"""The domains stage: ``patents/`` → ``patent_domains/`` by the configured domain rules."""

from __future__ import annotations

from typing import Any

from techscreen.domains.rules import DomainRules, assign_domains, domain_counts
from techscreen.io.tables import read_table, table_meta, write_table
from techscreen.stages import Context


def run_domains(ctx: Context) -> dict[str, Any]:
    """Assign every patent to its domains (or ``unassigned``) and count them."""
    s = ctx.settings
    upstream = table_meta(s, "patents")
    with ctx.tracker.stage("domains", upstream={"patents": upstream.get("run_id", "")}) as run:
        rules = DomainRules.from_settings(s.domains)
        patents = read_table(ctx.spark, s, "patents")
        meta = {"run_id": run.run_id, "data_version": upstream.get("data_version", "")}
        write_table(assign_domains(patents, rules), s, "patent_domains", meta)
        counts = domain_counts(read_table(ctx.spark, s, "patent_domains"))
        run.log(
            params={"domains": {n: d.model_dump() for n, d in s.domains.definitions.items()}},
            metrics={f"patents.{k}": v for k, v in counts.items()},
            tags={"techscreen.data_version": meta["data_version"]},
        )
    return {"patents_by_domain": counts, "run_id": run.run_id}
