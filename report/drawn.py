"""A PNG is drawn again only when what it shows has changed: each PNG carries in a text chunk the
sha256 of the data it draws, DRAWING_VERSION and matplotlib's version, so regenerating from the
same rows draws nothing (drawing is most of the report's time).

The key holds no source code on purpose: refactoring the report must not redraw 180 PNGs.  So
bump DRAWING_VERSION by hand whenever a change alters what a chart looks like (colours, labels
and layout, cell/arms.py's arm labels and colours included, or which rows it plots):
tests/test_report_is_current.py cannot see a stale look."""
import hashlib

import matplotlib
from PIL import Image

KEY = "report-inputs"
DRAWING_VERSION = 1


def key_of(*inputs):
    """The key of a PNG drawn from `inputs` (their repr: plain values only, no objects)."""
    return hashlib.sha256(
        f"{DRAWING_VERSION} {matplotlib.__version__} {inputs!r}".encode()).hexdigest()


def current(path, key):
    """Whether the PNG at `path` was drawn from the inputs of `key` at today's DRAWING_VERSION."""
    try:
        # info holds the text chunks written before the pixels (matplotlib writes them first):
        # reading it decodes no image, where .text would decode every PNG.
        with Image.open(path) as image:
            return image.info.get(KEY) == key
    except (OSError, ValueError, AttributeError):
        return False


def save(fig, path, key, **options):
    import matplotlib.pyplot as plt

    # No 'Software' chunk (it names matplotlib's version): the same data gives the same bytes.
    fig.savefig(path, metadata={KEY: key, "Software": None}, **options)
    plt.close(fig)
    return path
