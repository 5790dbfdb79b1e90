"""Context specs, the one way devices are named in this project.

    cpu         one CPU context, cpu(0)
    cpu:0-3     four CPU contexts, cpu(0)..cpu(3) (they share the machine's cores)
    gpu:0       one GPU
    gpu:0-7     eight GPUs
    gpu:0,2,5   a list; ranges and single indices can be mixed: gpu:0-2,5

The same spec gives Gluon its `mx.Context` list and keras-mxnet its context strings, so both
sides always train on the same devices. Parsing needs no mxnet.
"""
import re
from dataclasses import dataclass

KINDS = ("cpu", "gpu")
ACCEPTED = "cpu, cpu:0-3, gpu:0, gpu:0-7 or gpu:0,2,5"


class ContextError(ValueError):
    """A context spec that can't be parsed; the message is one line for the user."""


@dataclass(frozen=True)
class ContextSpec:
    kind: str
    indices: tuple

    def __str__(self):
        return self.spec

    @property
    def spec(self):
        if self.kind == "cpu" and self.indices == (0,):
            return "cpu"
        return f"{self.kind}:{_compact(self.indices)}"

    @property
    def devices(self):
        return len(self.indices)

    def mxnet(self):
        """The mx.Context list Gluon trains on."""
        import shim

        mx = shim.import_mxnet()
        make = mx.cpu if self.kind == "cpu" else mx.gpu
        return [make(i) for i in self.indices]

    def keras(self):
        """The context strings keras-mxnet's `compile(context=...)` takes."""
        return [f"{self.kind}({i})" for i in self.indices]


def parse(spec):
    """Parse one spec; raise ContextError naming the bad value and what is accepted."""
    text = (spec or "").strip().lower()
    kind, colon, rest = text.partition(":")
    if kind not in KINDS:
        raise ContextError(f"bad context {spec!r}: unknown device kind {kind!r}; use {ACCEPTED}")
    if not colon:
        return ContextSpec(kind, (0,))
    indices = []
    for part in rest.split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part.strip())
        if not match:
            raise ContextError(f"bad context {spec!r}: {part!r} is not an index or a range "
                               f"like 0-3; use {ACCEPTED}")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise ContextError(f"bad context {spec!r}: range {part!r} runs backwards; "
                               f"write {last}-{first}")
        indices.extend(range(first, last + 1))
    if len(set(indices)) != len(indices):
        raise ContextError(f"bad context {spec!r}: a device is listed twice")
    return ContextSpec(kind, tuple(indices))


def parse_list(text):
    """Several specs separated by spaces or semicolons (commas belong to a spec)."""
    specs = [parse(s) for s in re.split(r"[\s;]+", (text or "").strip()) if s]
    if not specs:
        raise ContextError(f"bad context {text!r}: empty; use {ACCEPTED}")
    return specs


def _compact(indices):
    """(0, 1, 2, 5) -> '0-2,5'"""
    runs = []
    for i in indices:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ",".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs)
