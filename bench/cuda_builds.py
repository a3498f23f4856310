"""Which torch build a machine's NVIDIA driver can run, standard library only (make install
runs it before the virtual environment exists).

    python3 bench/cuda_builds.py    # prints the TORCH_INDEX for this machine's driver, or nothing

torch 2.11.0 ships builds for CUDA 12.6, 12.8 and 13.0 (PyTorch's RELEASE.md compatibility
matrix); PyPI's Linux wheel is the CUDA 13.0 one. Each CUDA release needs a driver at least
as new as the one it shipped with (NVIDIA's CUDA toolkit release notes, Linux: 13.0 needs
580.65.06, 12.8 570.26, 12.6 560.28.03); CUDA 12.x also runs on drivers from 525.60.13 on
through CUDA's minor-version compatibility (no PTX JIT, which torch's wheels do not need for
the GPUs they were built for).
"""

from __future__ import annotations

import subprocess
import sys

PYTORCH_WHL = "https://download.pytorch.org/whl"
# (CUDA version, its build's index (None: PyPI's default), the driver its toolkit shipped with,
# the oldest driver chosen for it here), newest first: 12.6 takes every driver from 525 on
# that is too old for 12.8's own (minor-version compatibility).
BUILDS = (
    ("13.0", None, 580, 580),
    ("12.8", f"{PYTORCH_WHL}/cu128", 570, 570),
    ("12.6", f"{PYTORCH_WHL}/cu126", 560, 525),
)
CPU_INDEX = f"{PYTORCH_WHL}/cpu"


def driver_version() -> str | None:
    """The NVIDIA driver's version as nvidia-smi reports it ("580.159.04"), or None without
    a driver."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.split()
    return lines[0] if out.returncode == 0 and lines else None


def needed_driver(cuda: str | None) -> int | None:
    """The oldest driver (major version) a torch build for CUDA `cuda` ("13.0") runs on."""
    return next((driver for version, _, driver, _ in BUILDS if version == cuda), None)


def index_for_driver(driver: str | None) -> str | None:
    """The TORCH_INDEX whose torch 2.11.0 runs on `driver` ("550.54.15"): None for PyPI's
    default (CUDA 13.0, driver 580 and newer, or no driver at all: the index is then the
    user's choice), the CPU index for a driver too old for any build."""
    if not driver:
        return None
    major = int(driver.split(".")[0])
    for _, index, _, oldest in BUILDS:
        if major >= oldest:
            return index
    return CPU_INDEX


def main() -> int:
    index = index_for_driver(driver_version())
    if index:
        print(index)
    return 0


if __name__ == "__main__":
    sys.exit(main())
