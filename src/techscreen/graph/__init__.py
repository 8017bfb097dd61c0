"""Technology networks per domain: co-occurrence, node networks, centrality, exports."""
