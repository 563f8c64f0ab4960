"""EdgeTier's outer layer: the `edgetier` command (`edgetier.cli`), its benchmarks
(`edgetier.bench`), the wire helpers the servers share (`edgetier.wire`) and the generated gRPC
contracts (`edgetier.v1`)."""
