"""The corpus: every case of the three kinds, by name (each kind's module builds on cases.Case)."""
from conformance import applications, examples, layers


def corpus():
    """Every case, by name, in the order the table shows them."""
    found = {}
    for module in (layers, applications, examples):
        for case in module.cases():
            assert case.name not in found, case.name
            found[case.name] = case
    return found
