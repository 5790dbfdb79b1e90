"""Where a section of an ELF file lies, read with pyelftools: libmxnet.so's `.nv_fatbin`."""
try:
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
except ImportError:  # a bare machine (lab/hopper_check.sh) reads raw fatbins, which need no ELF
    ELFFile = None

# pyelftools' pin, named in the one error a machine without it can meet
PYELFTOOLS = "pyelftools==0.33"


def section(f, name: str):
    """(file offset, size) of the section `name` of the open ELF file `f`, or None when the file
    has no such section or it occupies no bytes in the file (SHT_NOBITS). ValueError when `f` is
    no readable ELF file, or pyelftools is missing."""
    if ELFFile is None:
        raise ValueError(f"reading an ELF file needs pyelftools (pip install {PYELFTOOLS})")
    try:
        found = ELFFile(f).get_section_by_name(name)
    except ELFError as error:
        raise ValueError(f"not a readable ELF file: {error}") from None
    if found is None or found["sh_type"] == "SHT_NOBITS":
        return None
    return found["sh_offset"], found["sh_size"]
