"""EdgeTier: the `edgetier` command and the generated gRPC contracts (`edgetier.v1`)."""
