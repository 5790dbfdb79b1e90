"""The CUDA architectures compiled into a library: the containers of NVIDIA's fatbin format.

No library reads fatbins (NVIDIA documents the format only in CUDA's fatbinary.h), so the
container and entry headers are read here; the ELF around them is read by `elf`.
"""
import os
import struct
from dataclasses import dataclass, field
from typing import List

from . import elf
from .archs import arch_key

ELF_MAGIC = b"\x7fELF"
FATBIN_MAGIC = 0xBA55ED50  # fatBinaryHeader.magic (CUDA's fatbinary.h)
FATBIN_KIND_PTX, FATBIN_KIND_SASS = 1, 2
# fatBinaryHeader: magic u32, version u16, headerSize u16, fatSize u64 (bytes
# of entries after the header).  Entries follow back to back; each entry header
# starts: kind u16, version u16, headerSize u32, payloadSize u64 (padded to 8),
# then at byte 28 the arch as an integer (52 = sm_52).  Compressed payloads
# (flag 0x2000, default since CUDA 11) do not change this layout.
_FATBIN_HEADER = struct.Struct("<IHHQ")
_ENTRY_HEAD = struct.Struct("<HHIQ")
_ENTRY_ARCH_OFFSET = 28


def _arch_name(kind: int, arch: int) -> str:
    return ("compute_%d" if kind == FATBIN_KIND_PTX else "sm_%d") % arch


def fatbin_containers(path: str):
    """Yield (file_offset, total_size, [arch names]) for each fatbin container.

    `path` is an ELF shared object (reads its .nv_fatbin section) or a raw
    fatbin file.  Only the 16-byte container headers and 64-byte entry headers
    are read (seek past payloads), so a 1 GB libmxnet.so takes well under a second.
    """
    with open(path, "rb") as f:
        magic = f.read(4)
        if magic == ELF_MAGIC:
            section = elf.section(f, ".nv_fatbin")
            if section is None:  # CPU build: no device code at all
                return
            start, size = section
        elif len(magic) == 4 and struct.unpack("<I", magic)[0] == FATBIN_MAGIC:
            start, size = 0, os.path.getsize(path)
        else:
            raise ValueError(f"{path}: neither an ELF file nor a CUDA fatbin")
        pos, end = start, start + size
        while pos + _FATBIN_HEADER.size <= end:
            f.seek(pos)
            magic, _, header_size, fat_size = _FATBIN_HEADER.unpack(f.read(_FATBIN_HEADER.size))
            if magic != FATBIN_MAGIC:
                pos += 8  # containers are 8-byte aligned; skip padding
                continue
            entry, container_end = pos + header_size, min(pos + header_size + fat_size, end)
            archs = []
            while entry + 32 <= container_end:
                f.seek(entry)
                head = f.read(32)
                kind, _, entry_header, payload = _ENTRY_HEAD.unpack_from(head)
                if entry_header < 32:  # corrupt entry: stop this container
                    break
                arch, = struct.unpack_from("<I", head, _ENTRY_ARCH_OFFSET)
                if kind in (FATBIN_KIND_PTX, FATBIN_KIND_SASS):
                    archs.append(_arch_name(kind, arch))
                entry += entry_header + payload
            yield pos, container_end - pos, archs
            pos = (container_end + 7) & ~7


@dataclass
class FatbinInfo:
    sass: List[str]            # union over containers, e.g. ['sm_50', ..., 'sm_86']
    ptx: List[str]             # e.g. ['compute_86'], [] for the published wheels
    containers: int            # number of fatbin containers (about one per .cu file)
    arch_sets: List[List[str]] = field(default_factory=list)  # distinct per-container sets


def fatbin_info(path: str) -> FatbinInfo:
    sets = set()
    count = 0
    for _, _, archs in fatbin_containers(path):
        count += 1
        if archs:
            sets.add(frozenset(archs))
    union = set().union(*sets) if sets else set()
    pick = lambda prefix: sorted((a for a in union if a.startswith(prefix)), key=arch_key)
    return FatbinInfo(pick("sm_"), pick("compute_"), count,
                      sorted((sorted(s, key=arch_key) for s in sets), key=str))


def fatbin_archs(path: str):
    """(sass, ptx) compiled into `path`: (['sm_50', ...], ['compute_XY', ...]).

    No .nv_fatbin section (CPU build) -> ([], []).
    """
    info = fatbin_info(path)
    return info.sass, info.ptx

