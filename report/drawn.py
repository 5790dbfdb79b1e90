"""A PNG is drawn again only when what it shows has changed: each PNG carries in a text chunk the
sha256 of its inputs and of the code that draws it, so regenerating from the same rows draws
nothing (drawing was most of the report's time: 50 of its 70 s)."""
import hashlib
from pathlib import Path

import matplotlib
from PIL import Image

KEY = "report-inputs"
_DRAWING = ["report/plots.py", "report/operators.py", "report/names.py", "report/drawn.py",
            "cell/arms.py"]
_ROOT = Path(__file__).resolve().parent.parent
_CODE = hashlib.sha256(matplotlib.__version__.encode() + b"".join(
    (_ROOT / name).read_bytes() for name in _DRAWING)).hexdigest()


def key_of(*inputs):
    """The key of a PNG drawn from `inputs` (their repr: plain values only, no objects)."""
    return hashlib.sha256(f"{_CODE} {inputs!r}".encode()).hexdigest()


def current(path, key):
    """Whether the PNG at `path` was drawn from the inputs of `key` by today's code."""
    try:
        with Image.open(path) as image:
            return image.text.get(KEY) == key
    except (OSError, ValueError, AttributeError):
        return False


def save(fig, path, key, **options):
    import matplotlib.pyplot as plt

    fig.savefig(path, metadata={KEY: key}, **options)
    plt.close(fig)
    return path
