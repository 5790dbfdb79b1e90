"""python -m shim.gpu [--gpus 0,1] [--lib FILE]: see the package's doc."""
import sys

from .cli import main

sys.exit(main())
