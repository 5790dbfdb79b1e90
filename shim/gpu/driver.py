"""The NVIDIA driver's view of the GPUs, from nvidia-smi (not MXNet, so that it works with a CPU
build or no mxnet at all): the GPUs, as CUDA_VISIBLE_DEVICES numbers them; the driver's version;
MIG.
"""
import os
import re
import subprocess
from typing import List, NamedTuple, Optional


class GPU(NamedTuple):
    index: int                 # the index MXNet uses: mx.gpu(index)
    name: str
    compute_capability: str    # '9.0'; '?' when the driver is too old to say
    memory_mib: int
    uuid: str = ""
    driver_index: Optional[int] = None  # nvidia-smi's index when CUDA_VISIBLE_DEVICES renumbers


_SMI_QUERY = "index,name,compute_cap,memory.total,uuid"


def _parse_smi(text: str) -> List[GPU]:
    gpus = []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4 or not parts[0].isdigit():
            continue
        uuid = parts.pop() if parts[-1].startswith(("GPU-", "MIG-")) else ""
        index, cc, mem = parts[0], parts[-2], parts[-1]
        name = ", ".join(parts[1:-2])  # a name with a comma would have been split
        cc = cc if re.fullmatch(r"\d+\.\d+", cc) else "?"
        mib = int(mem) if mem.isdigit() else 0
        gpus.append(GPU(int(index), name, cc, mib, uuid, int(index)))
    return gpus


def _visible(gpus: List[GPU], cvd: Optional[str]) -> List[GPU]:
    """Apply CUDA_VISIBLE_DEVICES the way the CUDA runtime does: keep the listed
    GPUs (by index or UUID prefix) in that order, renumbered from 0; the list
    stops at the first entry that matches nothing.  (CUDA numbers devices
    fastest-first unless CUDA_DEVICE_ORDER=PCI_BUS_ID, nvidia-smi by PCI bus: bench.py
    sets CUDA_DEVICE_ORDER=PCI_BUS_ID for every cell and the smoke check, so that
    mx.gpu(i) is the GPU judged here even on a host with mixed GPU models.)"""
    if cvd is None:
        return gpus
    visible = []
    for token in cvd.split(","):
        token = token.strip()
        match = [g for g in gpus if (token.isdigit() and g.index == int(token))
                 or (token and not token.isdigit() and g.uuid.startswith(token))]
        if not match:
            break
        visible.append(match[0]._replace(index=len(visible)))
    return visible


def driver_gpus(nvidia_smi: str = "nvidia-smi", text: Optional[str] = None,
                env: Optional[dict] = None):
    """GPUs as the NVIDIA driver reports them: (list of GPU, reason or None).

    Read from nvidia-smi, not MXNet, so it works with a CPU build or no mxnet.
    Tests pass `text` (nvidia-smi's CSV answer) or a fake `nvidia_smi` script.
    No driver or no nvidia-smi -> ([], reason).
    """
    env = os.environ if env is None else env
    if text is None:
        cmd = [nvidia_smi, "--query-gpu=" + _SMI_QUERY, "--format=csv,noheader,nounits"]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        except FileNotFoundError:
            return [], f"{nvidia_smi} not found"
        except (OSError, subprocess.TimeoutExpired) as exc:
            return [], f"{nvidia_smi} failed: {exc}"
        if out.returncode != 0 and "compute_cap" in out.stdout + out.stderr:
            # Drivers before ~510 do not know the compute_cap field: ask without it.
            cmd[1] = "--query-gpu=index,name,memory.total,uuid"
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            lines = []
            for line in out.stdout.splitlines():
                p = [x.strip() for x in line.split(",")]
                if len(p) >= 4:
                    lines.append(", ".join(p[:-2] + ["?"] + p[-2:]))
            out.stdout = "\n".join(lines)
        if out.returncode != 0:
            first = (out.stdout + out.stderr).strip().splitlines() or ["no output"]
            return [], f"{nvidia_smi} exit {out.returncode}: {first[0]}"
        text = out.stdout
    gpus = _visible(_parse_smi(text), env.get("CUDA_VISIBLE_DEVICES"))
    if not gpus and mig_tokens(env):
        return [], f"CUDA_VISIBLE_DEVICES names MIG slice {mig_tokens(env)[0]}"
    if not gpus:
        why = "no GPU visible"
        if env.get("CUDA_VISIBLE_DEVICES") is not None:
            why += f" (CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']!r})"
        return [], why
    return gpus, None


# MXNet 1.9.1 fuses chains of pointwise operators on GPUs (MXNET_USE_FUSION, on by
# default, on both sides) and compiles them at run time with pip's NVRTC 11.8,
# which emits PTX ISA 7.8.  CUDA's minor-version compatibility covers the runtime
# libraries but not PTX: a driver older than CUDA 11.8's (520.61.05) refuses it with
# CUDA_ERROR_UNSUPPORTED_PTX_VERSION in the first epoch.  Refused up front instead.
MIN_DRIVER = (520, 61, 5)
_DRIVER_QUERY = "index,driver_version,mig.mode.current"


class DriverFacts(NamedTuple):
    version: Optional[str]     # '535.104.05'; None when nvidia-smi did not say
    mig: dict                  # nvidia-smi index -> True when MIG mode is enabled


def version_tuple(text: str):
    return tuple(int(p) for p in text.split("."))


def driver_facts(nvidia_smi: str = "nvidia-smi", text: Optional[str] = None) -> DriverFacts:
    """The driver's version and each GPU's MIG mode (nvidia-smi; `text` = its CSV answer).

    Anything unreadable leaves the fact unknown (None / absent), never a refusal.
    """
    if text is None:
        cmd = [nvidia_smi, "--query-gpu=" + _DRIVER_QUERY, "--format=csv,noheader,nounits"]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            if out.returncode != 0:  # a driver too old to know MIG: ask for the version alone
                cmd[1] = "--query-gpu=index,driver_version"
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return DriverFacts(None, {})
        text = out.stdout if out.returncode == 0 else ""
    version, mig = None, {}
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 2 or not parts[0].isdigit() or not re.fullmatch(r"\d+(\.\d+)+", parts[1]):
            continue
        version = version or parts[1]
        mig[int(parts[0])] = len(parts) > 2 and parts[2].lower() == "enabled"
    return DriverFacts(version, mig)


def mig_tokens(env: Optional[dict] = None) -> List[str]:
    """The MIG slices (MIG-... UUIDs) CUDA_VISIBLE_DEVICES names."""
    env = os.environ if env is None else env
    return [t.strip() for t in (env.get("CUDA_VISIBLE_DEVICES") or "").split(",")
            if t.strip().startswith("MIG-")]

