import pytest

from shim.contexts import ContextError, parse, parse_list


@pytest.mark.parametrize("spec, kind, indices, canonical", [
    ("cpu", "cpu", (0,), "cpu"),
    ("cpu:0-3", "cpu", (0, 1, 2, 3), "cpu:0-3"),
    ("gpu:0", "gpu", (0,), "gpu:0"),
    ("gpu:0-7", "gpu", tuple(range(8)), "gpu:0-7"),
    ("gpu:0,2,5", "gpu", (0, 2, 5), "gpu:0,2,5"),
    ("GPU:0-2,5", "gpu", (0, 1, 2, 5), "gpu:0-2,5"),
])
def test_good_specs(spec, kind, indices, canonical):
    ctx = parse(spec)
    assert (ctx.kind, ctx.indices, ctx.spec, ctx.devices) == (kind, indices, canonical, len(indices))
    assert ctx.keras() == [f"{kind}({i})" for i in indices]


def test_mxnet_contexts():
    import mxnet as mx

    assert parse("cpu:0-1").mxnet() == [mx.cpu(0), mx.cpu(1)]
    assert parse("gpu:0,2").mxnet() == [mx.gpu(0), mx.gpu(2)]


@pytest.mark.parametrize("spec, says", [
    ("gpu:7-0", "runs backwards"),
    ("tpu:0", "unknown device kind 'tpu'"),
    ("gpu:a", "'a' is not an index"),
    ("", "unknown device kind ''"),
    ("gpu:0,0", "listed twice"),
    ("gpu:", "is not an index"),
])
def test_bad_specs_name_the_value_and_what_is_accepted(spec, says):
    with pytest.raises(ContextError) as error:
        parse(spec)
    message = str(error.value)
    assert says in message and repr(spec) in message and "\n" not in message


def test_parse_list():
    assert [c.spec for c in parse_list("cpu cpu:0-1;gpu:0,2")] == ["cpu", "cpu:0-1", "gpu:0,2"]
    with pytest.raises(ContextError):
        parse_list("  ")
