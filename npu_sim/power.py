"""Power: idle power plus dynamic power in proportion to compute and memory activity.

    P = idle + (max - idle) * min(1, K_COMPUTE * u_compute + K_MEMORY * u_memory)

u_compute is the fraction of the chip's peak operations a phase achieves, u_memory the fraction
of its peak DRAM bandwidth. The weights come from Splitwise (Patel et al., ISCA 2024), which
measured DGX A100 at 63 W idle, 400 W (its cap) in prefill and 250 W in decode: decode streams
weights at roughly half of peak bandwidth and draws about half of the dynamic range, so
K_MEMORY = 1; prefill reaches about two thirds of peak compute and hits the cap, so K_COMPUTE =
1.5. Energy is this power integrated over time (see npu_sim/engine.py): an idle chip still draws
`idle`.
"""

from __future__ import annotations

from npu_sim.hardware import Hardware

K_COMPUTE = 1.5
K_MEMORY = 1.0


def power_w(hardware: Hardware, compute_utilisation: float, memory_utilisation: float) -> float:
    """Board power in watts while a phase runs at the given utilisations (each in [0, 1])."""
    activity = min(1.0, K_COMPUTE * compute_utilisation + K_MEMORY * memory_utilisation)
    return hardware.idle_w + (hardware.max_w - hardware.idle_w) * activity
