"""What the two servers share on the wire: lenient request parsing, TLS, addresses, the tier
enum mapping and the /metrics HTTP server. Reachable only from the servers and the command
line (the import contract in pyproject.toml)."""
