"""With `database_url`: what several hubs share in PostgreSQL (statuses, runs, requests, the change
counter, per-cluster leases) and the mirror that keeps each hub's own files in step with it."""
