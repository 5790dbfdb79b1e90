"""Cut one fatbin container out of a libmxnet.so (how tools/fixtures/*.fatbin was made).

    python tools/extract_fatbin_fixture.py LIBMXNET.so --list         # containers and kernels
    python tools/extract_fatbin_fixture.py LIBMXNET.so --index 0 OUT  # write container 0

A container is what nvcc made from one .cu file: a header plus one compressed
cubin per architecture.  The CUDA driver loads it as is (cuModuleLoadData), so
it carries the real MXNet machine code to a GPU machine where the 890 MB
library cannot go.  Kernel names are read from the cubins' `.text.<kernel>`
sections after undoing nvcc's fatbin compression (LZ4-style blocks, flag 0x2000).
"""
import argparse
import os
import re
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "shim"))
import gpu  # noqa: E402  shim/gpu.py by path: no shim/__init__.py, no mxnet

COMPRESSED = 0x2000


def lz4_block(data: bytes, size: int) -> bytes:
    """Decode one LZ4 block (token: literal length << 4 | match length - 4)."""
    out, i = bytearray(), 0
    while i < len(data) and len(out) < size:
        token = data[i]
        i += 1
        n = token >> 4
        if n == 15:
            while True:
                n += data[i]
                i += 1
                if data[i - 1] != 255:
                    break
        out += data[i:i + n]
        i += n
        if i >= len(data) or len(out) >= size:
            break
        back = data[i] | data[i + 1] << 8
        i += 2
        n = (token & 15) + 4
        if token & 15 == 15:
            while True:
                n += data[i]
                i += 1
                if data[i - 1] != 255:
                    break
        for _ in range(n):  # byte by byte: the match may overlap what it writes
            out.append(out[-back])
    return bytes(out)


def first_cubin(container: bytes) -> bytes:
    """The first SASS entry of a container, decompressed."""
    entry = 16
    while entry < len(container):
        kind, _, head, padded = struct.unpack_from("<HHIQ", container, entry)
        stored, = struct.unpack_from("<I", container, entry + 16)
        flags, = struct.unpack_from("<Q", container, entry + 40)
        plain, = struct.unpack_from("<Q", container, entry + 56)
        if kind == gpu.FATBIN_KIND_SASS:
            payload = container[entry + head: entry + head + (stored if flags & COMPRESSED else padded)]
            return lz4_block(payload, plain) if flags & COMPRESSED else payload
        entry += head + padded
    return b""


def kernels(container: bytes):
    return sorted(set(m.decode() for m in re.findall(rb"\.text\.([\w$.]+)", first_cubin(container))))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("lib")
    ap.add_argument("out", nargs="?")
    ap.add_argument("--index", type=int, default=0)
    ap.add_argument("--list", action="store_true")
    args = ap.parse_intermixed_args(argv)
    with open(args.lib, "rb") as f:
        for i, (offset, size, archs) in enumerate(gpu.fatbin_containers(args.lib)):
            if args.list and size < 1_000_000:
                f.seek(offset)
                print(i, offset, size, ",".join(archs), " ".join(kernels(f.read(size)))[:200])
            if not args.list and i == args.index:
                f.seek(offset)
                data = f.read(size)
                with open(args.out, "wb") as out:
                    out.write(data)
                print(f"container {i} at file offset {offset:#x}: {size} bytes, {','.join(archs)}")
                print("kernels:", *kernels(data), sep="\n  ")
                return 0
    return 0 if args.list else 1


if __name__ == "__main__":
    sys.exit(main())
