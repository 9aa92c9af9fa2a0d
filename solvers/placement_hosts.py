"""Host profiles for offloading, derived from what a cloud offering states.

A cloud catalog tells the instance's RAM, vCPUs and GPU, rarely its measured link and disk speeds. The one
host whose speeds were measured end to end by an offloading runtime is FlexGen's GCP T4 machine
(arXiv 2303.06865, its cost-model constants). A derived host therefore assumes:

* host link: the GPU's nominal per-direction PCIe bandwidth (catalog `pcie_gb_per_s`) times the efficiency
  FlexGen measured on its PCIe Gen3 x16 T4 (12.89 GB/s host->device of a nominal 16; 4.82 GB/s
  device->host for contiguous activations, the runtime copying into pageable memory);
* disk: the offering's `disk_read_gb_per_s` when the catalog has it, else FlexGen's cost-model constants,
  0.473 GB/s read and 2.015 GB/s write, as a conservative default (cloud local NVMe is usually faster: FlexGen's
  own OPT-175B runs read at about its four NVMe devices' rated 2.65 GB/s, see `flexgen_t4_host`);
* CPU: FlexGen's host is an n1-highmem-32 (32 vCPUs, 208 GB; Intel Skylake at 2.0 GHz). Its DRAM
  bandwidth (assumed 128 GB/s: one socket of 6 DDR4-2666 channels) and fp32 peak (16 cores x 2.0 GHz x
  64 FLOP/cycle with AVX-512 = 2.05 TFLOPS) are scaled per vCPU to the offering;
* a multi-GPU instance runs one offloading process per GPU, so each gets 1/gpus of RAM, disk and vCPUs.
"""

from __future__ import annotations

from catalog.types import Gpu, HostProfile, Offering
from solvers.errors import SolverArgumentError

FLEXGEN_PCIE_NOMINAL_GB_PER_S = 16.0  # PCIe Gen3 x16 per direction, as the catalog states it for the T4
FLEXGEN_H2D_GB_PER_S = 12.89
FLEXGEN_D2H_GB_PER_S = 4.82
FLEXGEN_DISK_READ_GB_PER_S = 0.473
# GCP local SSD, 4 x 375 GB NVMe devices (the T4 machine's 1.5 TB): rated 2,650 MB/s read (GCP "Local SSD
# performance" table). FlexGen's measured OPT-175B throughput (0.69 tok/s at prompt 512, 0.35 at 1024)
# needs ~2.2-3 GB/s of disk reads: at its cost-model constant of 0.473 GB/s even the best placement the
# LP finds reaches 0.16 / 0.08 tok/s, and the page cache cannot help (the CPU half of the weights fills most
# of the 208 GB of RAM). So the runs read at the devices' rated speed, not at the cost model's constant.
FLEXGEN_DISK_READ_DEVICE_GB_PER_S = 2.65
FLEXGEN_DISK_WRITE_GB_PER_S = 2.015
FLEXGEN_VCPUS = 32
FLEXGEN_CPU_MEM_BANDWIDTH_GB_PER_S = 128.0
FLEXGEN_CPU_TFLOPS = 2.05


def flexgen_t4_host() -> HostProfile:
    """The FlexGen paper machine (also shipped in catalog/data/hosts.yaml as `flexgen-t4`)."""
    return HostProfile(
        id="flexgen-t4",
        cpu_mem_gb=208.0,
        disk_gb=1500.0,
        cpu_to_gpu_gb_per_s=FLEXGEN_H2D_GB_PER_S,
        gpu_to_cpu_gb_per_s=FLEXGEN_D2H_GB_PER_S,
        disk_to_cpu_gb_per_s=FLEXGEN_DISK_READ_DEVICE_GB_PER_S,
        cpu_to_disk_gb_per_s=FLEXGEN_DISK_WRITE_GB_PER_S,
        cpu_tflops=FLEXGEN_CPU_TFLOPS,
        cpu_mem_bandwidth_gb_per_s=FLEXGEN_CPU_MEM_BANDWIDTH_GB_PER_S,
        source="FlexGen (Sheng et al., ICML 2023, arXiv 2303.06865): GCP T4 machine and its cost-model constants; "
        "disk read: GCP local SSD 4 x 375 GB NVMe rated 2,650 MB/s",
        as_of="2023-03",
        notes="KV-cache stores measured slower (GPU->CPU 0.97, CPU->disk 0.746 GB/s); those ratios live in "
        "the runtime profile. CPU bandwidth/TFLOPS are assumptions for an n1-highmem-32 (Skylake 2.0 GHz). "
        "Disk read is the devices' rated speed, not FlexGen's 0.473 GB/s cost-model constant: the measured "
        "OPT-175B throughput is out of reach of any placement at 0.473 GB/s (solvers/placement_hosts.py).",
    )


def host_id(offering: Offering) -> str:
    """`aws:us-east-1:g5.2xlarge` -> `aws-g5-2xlarge` (lower case, dashes)."""
    raw = f"{offering.cloud}-{offering.instance_type}".lower()
    return "".join(ch if ch.isalnum() else "-" for ch in raw).strip("-")


def host_from_offering(
    offering: Offering, gpu: Gpu, *, local_disk_gb: float | None = None, as_of: str | None = None
) -> HostProfile:
    """One GPU's share of an instance as an offloading host (assumptions in the module docstring).

    `local_disk_gb` (whole instance) overrides the offering's `disk_gb` when the catalog lacks it.
    """
    gpus = offering.gpus_per_instance
    if offering.cpu_mem_gb is None:
        raise SolverArgumentError(
            "offering", f"offering {offering.id} has no cpu_mem_gb; give the host's RAM (and disk) size"
        )
    disk_total = local_disk_gb if local_disk_gb is not None else (offering.disk_gb or 0.0)
    vcpus = (offering.vcpus or FLEXGEN_VCPUS) / gpus
    link = gpu.pcie_gb_per_s / FLEXGEN_PCIE_NOMINAL_GB_PER_S
    read = offering.disk_read_gb_per_s if offering.disk_read_gb_per_s else FLEXGEN_DISK_READ_GB_PER_S
    per_vcpu = vcpus / FLEXGEN_VCPUS
    return HostProfile(
        id=host_id(offering),
        cpu_mem_gb=round(offering.cpu_mem_gb / gpus, 1),
        disk_gb=round(disk_total / gpus, 1),
        cpu_to_gpu_gb_per_s=round(FLEXGEN_H2D_GB_PER_S * link, 3),
        gpu_to_cpu_gb_per_s=round(FLEXGEN_D2H_GB_PER_S * link, 3),
        disk_to_cpu_gb_per_s=read,
        cpu_to_disk_gb_per_s=FLEXGEN_DISK_WRITE_GB_PER_S,
        cpu_tflops=round(FLEXGEN_CPU_TFLOPS * per_vcpu, 3),
        cpu_mem_bandwidth_gb_per_s=round(FLEXGEN_CPU_MEM_BANDWIDTH_GB_PER_S * per_vcpu, 1),
        source=f"derived from offering {offering.id} ({offering.source}) and gpu {gpu.id} by "
        "gpuplan solvers.placement_hosts.host_from_offering (FlexGen-measured link/disk efficiencies)",
        as_of=as_of or offering.as_of,
        notes=f"per-GPU share of a {gpus}-GPU instance" if gpus > 1 else "",
    )


def host_with_sizes(host: HostProfile, cpu_mem_gb: float | None, disk_gb: float | None) -> HostProfile:
    """Sizes (host RAM, disk) override the profile's; bandwidths stay the profile's."""
    if cpu_mem_gb is not None and not cpu_mem_gb > 0:
        raise SolverArgumentError("cpu_mem_gb", f"host RAM must be positive, got {cpu_mem_gb}")
    if disk_gb is not None and not disk_gb >= 0:
        raise SolverArgumentError("disk_gb", f"disk size must be 0 or more, got {disk_gb}")
    if cpu_mem_gb is None and disk_gb is None:
        return host
    return host.model_copy(
        update={
            "cpu_mem_gb": host.cpu_mem_gb if cpu_mem_gb is None else cpu_mem_gb,
            "disk_gb": host.disk_gb if disk_gb is None else disk_gb,
            "id": f"{host.id}+sizes",
        }
    )
