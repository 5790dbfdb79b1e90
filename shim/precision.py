"""Training precision, chosen the same way for both MXNet implementations: MXNet's own AMP.

    from shim import precision
    precision.use("bfloat16")   # before any model is built

`mxnet.contrib.amp.init(target_dtype="bfloat16")` wraps the operator functions of mxnet.symbol
and mxnet.ndarray for the whole process: the operators on AMP's bfloat16 list (in MXNet 1.9.1
Convolution and FullyConnected) get their inputs cast to bfloat16 and run as oneDNN bfloat16
kernels (AVX512-BF16 where the CPU has it); operators on its float32 list (RNN, Embedding,
softmax, the losses, ...) get float32. Parameters, gradients and optimizer state stay float32,
and bfloat16 has float32's exponent range, so there is no loss scaling.

Both sides get the same call; what it converts is what each side's graph is made of: Gluon's
Conv and Dense layers are Convolution and FullyConnected, while keras-mxnet builds Dense (and its
LSTM's gates) from `dot`, which AMP leaves in float32. That difference is part of what the
benchmark measures, so nothing here evens it out.
"""
DTYPES = ("float32", "bfloat16")
# Operators that make an array from a shape alone. AMP lists them as float32 operators, but its
# symbol wrapper fails on an operator without inputs (TypeError: 'NoneType' object is not
# iterable), and keras-mxnet's initializers are such calls (mx.sym.random.uniform). They make
# float32 arrays anyway, so leaving them off the list changes nothing else.
CREATION_OPS = {"_arange", "_linspace", "_eye", "_full", "_ones", "_zeros", "_zeros_without_dtype"}


def bfloat16_kernels(cpuinfo="/proc/cpuinfo"):
    """Whether this CPU has oneDNN's bfloat16 kernels: MXNet 1.9.1's oneDNN runs a bfloat16
    Convolution on AVX-512 (avx512_core: F, BW, VL, DQ) and up only. On an AVX2-only CPU (the
    2-core AMD EPYC VM of 2026-12-04) AMP's graph builds and the first step fails in oneDNN: "could not
    create a primitive descriptor iterator". None where the flags cannot be read (not Linux)."""
    try:
        with open(cpuinfo) as f:
            line = next((l for l in f if l.startswith("flags")), None)
    except OSError:
        return None
    if line is None:
        return None
    return {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= set(line.split(":", 1)[1].split())


def _takes_inputs(op):
    random = op.lstrip("_").startswith("random_") and not op.endswith("_like")
    return not random and op not in CREATION_OPS


def use(dtype):
    """Make this process train in `dtype`; float32 changes nothing."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    if dtype == "float32":
        return
    from shim import import_mxnet

    import_mxnet()
    from mxnet.contrib import amp
    from mxnet.contrib.amp.lists import symbol_bf16

    fp32_ops = [op for op in symbol_bf16.FP32_FUNCS if _takes_inputs(op)]
    amp.init(target_dtype=dtype, fp32_ops=fp32_ops)
