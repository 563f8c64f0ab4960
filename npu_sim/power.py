"""Power: idle power plus dynamic power in proportion to compute and memory activity.

    P = idle + (max - idle) * min(1, k_compute * u_compute + k_memory * u_memory)

u_compute is the fraction of the chip's peak operations a phase achieves, u_memory the fraction
of its peak DRAM bandwidth. The two weights are not constants of nature: they are fitted per
kind of chip (npu_sim/calibration.py) on published power measurements, starting from Splitwise
(Patel et al., ISCA 2024), which measured DGX A100 at 63 W idle, 400 W (its cap) in prefill and
250 W in decode. What the batched GPU measurements (ML.ENERGY v3, H100) show is that a decode
step that streams weights at high bandwidth but leaves the tensor cores idle draws well under
the cap, and that power climbs towards it only as batching puts the tensor cores to work: memory
traffic costs less power per unit of utilisation than arithmetic. Energy is this power
integrated over time (see npu_sim/engine.py): an idle chip still draws `idle`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import NonNegativeFloat

from npu_sim.datafile import STRICT
from npu_sim.hardware import Hardware


@STRICT
@dataclass(frozen=True)
class PowerLaw:
    """Weights of compute and memory utilisation in a chip's dynamic power."""

    compute: NonNegativeFloat
    memory: NonNegativeFloat

    def activity(self, compute_utilisation: float, memory_utilisation: float) -> float:
        """Fraction of the dynamic range drawn, uncapped (the fit needs it linear)."""
        return self.compute * compute_utilisation + self.memory * memory_utilisation

    def watts(
        self, hardware: Hardware, compute_utilisation: float, memory_utilisation: float
    ) -> float:
        """Board power in watts while a phase runs at the given utilisations (each in [0, 1])."""
        activity = min(1.0, self.activity(compute_utilisation, memory_utilisation))
        return hardware.idle_w + (hardware.max_w - hardware.idle_w) * activity
