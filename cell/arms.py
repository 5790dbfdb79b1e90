"""The registry of arms: every implementation a sweep can time, declared once.

An arm is what a cell runs and what runs.csv's `arm` column names. Everything that varies with
the arm is derived from its entry here: the module that trains it (the harness), the
name a user types (bench.py --impl) and the rules of what it can run on (sweep/args.py),
what it is verified against before it is timed (sweep/model.py), the ratios the report computes,
and the label, colour and order of tables, legends and plots (report/).

Adding an arm is one entry below plus its module (docs/architecture.md, "How to add an arm").

keras-fused is a family: `keras-fused` has every fix of shim/fused/, `keras-fused:bias+rnn`
some of them. Each such arm is an arm of its own in the rows, named by `fused_arm_name`.
"""
from dataclasses import dataclass, field

FUSED = "keras-fused"
CONTROL_SUFFIX = "-control"


@dataclass(frozen=True)
class Arm:
    name: str               # --impl's word and runs.csv's arm
    module: str             # the implementation module: train(...) -> cell.contract.Trained
    label: str              # how the report names it
    colour: str             # matplotlib colour, the same in every plot of every folder
    order: int              # position in tables and legends (smaller first)
    # ratios this arm adds, (numerator, denominator), in the order the report shows them
    ratios: tuple = ()
    control_of: str = None        # an A/A control: the arm it runs a second time
    checked_against: str = None   # verified equal to this arm before it is timed (--model)
    scenario_only: bool = False   # a hand-written twin of the scenario's model (no --model)
    model_default: bool = False   # in --model's default --impl
    dist_sync: bool = True        # has a parameter-server mode (--kvstore dist_sync)
    one_cpu_only: bool = False    # runs on one CPU context only
    # needs one of these arms beside it to form any ratio: ((arm, what the ratio tells), ...)
    measured_against: tuple = ()
    selectable: bool = True       # named in --impl (a control is added by --control instead)
    fixes: bool = False           # takes a fix list, keras-fused[:FIX+FIX]

    @property
    def runs(self):
        """The arm whose implementation runs (a control runs the arm it controls)."""
        return self.control_of or self.name


# The declaration order is the order of the report's ratios (`PAIRS`), the question first.
ARMS = (
    Arm("gluon", "gluon_models.train", "Gluon", "tab:blue", 4, scenario_only=True),
    Arm("keras", "keras_models.train", "Keras", "tab:red", 1, model_default=True,
        ratios=(("keras", "gluon"),)),                # the question: what the Keras API costs
    Arm("torch", "torch_models.train", "Torch", "tab:green", 5, scenario_only=True,
        dist_sync=False, one_cpu_only=True,
        ratios=(("torch", "gluon"),)),                # the yardstick
    Arm("gluon-control", "gluon_models.train", "Gluon (A/A control)", "tab:blue", 6,
        control_of="gluon", selectable=False,
        ratios=(("gluon-control", "gluon"),)),        # A/A: the noise floor
    Arm("keras-control", "keras_models.train", "keras-control", "tab:red", 7,
        control_of="keras", selectable=False,
        ratios=(("keras-control", "keras"),)),        # A/A of a --model sweep (no gluon arm)
    Arm("keras-graph", "keras_models.graph", "Keras graph", "tab:orange", 3,
        checked_against="keras", model_default=True,
        ratios=(("keras", "keras-graph"),             # the cost of Keras's loop and API
                ("keras-graph", "gluon"))),           # the cost of Keras's graph
    Arm(FUSED, "keras_models.train", "Keras fused", "tab:purple", 2,
        checked_against="keras", model_default=True, fixes=True,
        measured_against=(("keras", "what it gives back"), ("gluon", "what remains")),
        ratios=(("keras", FUSED),                     # what the fused path gives back
                (FUSED, "gluon"))),                   # what remains of Keras's cost with it
)
BY_NAME = {arm.name: arm for arm in ARMS}
PAIRS = [pair for arm in ARMS for pair in arm.ratios]
# The fix arms (keras-fused:bias, ...) of an ablation get colours of their own, stable by name.
FIX_ARM_COLOURS = ("tab:pink", "tab:olive", "tab:cyan", "tab:brown", "darkviolet", "gold")


def family(name):
    """The registry name of an arm: keras-fused:bias+rnn -> keras-fused."""
    return name.partition(":")[0]


def get(name):
    """The entry of an arm (a fix arm gets its family's), or KeyError."""
    return BY_NAME[family(name)]


def module_of(name):
    """The implementation module that trains an arm."""
    return get(name).module


def is_control(name):
    return name.endswith(CONTROL_SUFFIX)


def is_fused(name):
    return family(name) == FUSED


def is_fix_arm(name):
    """A keras-fused arm with some of the fixes: keras-fused:bias, keras-fused:bias+rnn."""
    return name.startswith(FUSED + ":")


def fixes_of_arm(name):
    """('bias', 'rnn') for keras-fused:bias+rnn; () for any other arm. The arm's name carries
    its fixes, so the report reads no library to know them."""
    return tuple(name.partition(":")[2].split("+")) if is_fix_arm(name) else ()


def control_for(model):
    """The A/A control arm of a sweep: of keras for a --model sweep (no gluon arm there)."""
    return next(a for a in ARMS if a.control_of == ("keras" if model else "gluon"))


def checked(names):
    """The arms among `names` that are verified before they are timed."""
    return [n for n in names if get(n).checked_against]


def fix_pairs(names):
    """keras/keras-fused:X for each fix arm among `names`: fix X's share of what the fused path
    gives back. Single fixes first, then combinations, each by name."""
    found = sorted((a for a in names if is_fix_arm(a)), key=lambda a: (len(fixes_of_arm(a)), a))
    return [("keras", arm) for arm in found]


def pairs_for(names):
    """PAIRS, then the fix shares of the fix arms among `names` (which cannot be listed ahead:
    any combination of fixes is an arm)."""
    return PAIRS + fix_pairs(names)


def label(name):
    if is_fix_arm(name):   # keras-fused:bias+rnn -> Keras fused (bias+rnn)
        return f"{BY_NAME[FUSED].label} ({name.partition(':')[2]})"
    return BY_NAME[name].label if name in BY_NAME else name


def colour(name):
    import zlib

    if is_fix_arm(name):
        return FIX_ARM_COLOURS[zlib.crc32(name.encode()) % len(FIX_ARM_COLOURS)]
    return BY_NAME[name].colour if name in BY_NAME else "tab:gray"


def ordered(names):
    """`names` in the registry's display order (unknown names last, by name)."""
    return sorted(names, key=lambda n: (get(n).order if family(n) in BY_NAME else 99, n))


# --impl's plain words, in display order (keras-fused[:FIX+FIX] besides)
SELECTABLE = tuple(ordered(arm.name for arm in ARMS if arm.selectable and not arm.fixes))


def fused_arm_name(fixes, every):
    """The arm of a fix list: plain keras-fused when it has `every` fix, so that one arm has one
    name in every sweep's rows; keras-fused:A+B otherwise (fixes in `every`'s order)."""
    fixes = tuple(name for name in every if name in set(fixes))
    return FUSED if fixes == tuple(every) else f"{FUSED}:{'+'.join(fixes)}"
