"""The device agent: a gRPC server hosting one or many simulated nodes (npu_sim engines)."""
