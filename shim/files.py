"""What keras 2.2.4 reads from files, made to work with today's PyYAML and h5py (applied by
shim.keras_mxnet, whose docstring lists both with their tests)."""


def patch_yaml():
    import numpy as np
    import yaml

    if getattr(yaml.load, "_shim", False):
        return
    original_load = yaml.load
    python_tag = "tag:yaml.org,2002:python/"
    # What PyYAML's dumper writes for a numpy array in a Keras config (e.g. a Constant
    # initializer's value): numpy's own pickle protocol, spelled as YAML tags.
    reconstruct = np.ndarray(0).__reduce__()[0]

    class KerasConfigLoader(yaml.SafeLoader):
        """The safe loader plus the Python tags keras's `to_yaml` writes: tuples, and numpy
        arrays and dtypes. Any other Python tag is refused: loading it would run code."""

    def construct_tuple(loader, node):
        return tuple(loader.construct_sequence(node))

    def apply_arguments(loader, node):
        fields = loader.construct_mapping(node, deep=True) if isinstance(
            node, yaml.MappingNode) else {"args": loader.construct_sequence(node, deep=True)}
        return list(fields.get("args", ())), fields.get("state")

    def checked(dtype, node):
        if dtype.hasobject:
            raise yaml.constructor.ConstructorError(
                None, None, f"refusing a numpy object dtype ({dtype}) in a Keras config: "
                "its elements would be arbitrary Python objects", node.start_mark)
        return dtype

    def construct_dtype(loader, node):
        args, state = apply_arguments(loader, node)
        dtype = np.dtype(*args)
        if state is not None:
            dtype.__setstate__(state)
        return checked(dtype, node)

    def construct_array(loader, node):
        args, state = apply_arguments(loader, node)
        if not args or args[0] is not np.ndarray:
            raise yaml.constructor.ConstructorError(
                None, None, "a numpy array in a Keras config must be a plain numpy.ndarray",
                node.start_mark)
        array = reconstruct(*args)
        if state is not None:
            checked(np.dtype(state[2]), node)
            array.__setstate__(state)
        return array

    def refuse(loader, suffix, node):
        raise yaml.constructor.ConstructorError(
            None, None, f"refusing the YAML tag {node.tag!r}: a Keras config may name only "
            "tuples, numpy arrays and numpy dtypes, and loading any other Python object would "
            "run its code", node.start_mark)

    KerasConfigLoader.add_constructor(python_tag + "tuple", construct_tuple)
    KerasConfigLoader.add_constructor(python_tag + "name:numpy.ndarray",
                                      lambda loader, node: np.ndarray)
    KerasConfigLoader.add_constructor(python_tag + "object/apply:numpy.dtype", construct_dtype)
    KerasConfigLoader.add_constructor(
        f"{python_tag}object/apply:{reconstruct.__module__}.{reconstruct.__name__}",
        construct_array)
    KerasConfigLoader.add_multi_constructor(python_tag, refuse)

    def load(stream, Loader=None):
        return original_load(stream, Loader=Loader or KerasConfigLoader)

    load._shim = True
    yaml.load = load


def patch_h5py():
    """h5py 2 read an ASCII string attribute (what keras writes: bytes) as bytes, and a UTF-8
    one (a str) as str; h5py 3 reads both as str, and keras 2.2.4 calls .decode('utf8') on what
    it wrote as bytes. Give ASCII strings back as bytes again, and leave everything else."""
    import h5py
    import numpy as np

    attrs_cls = h5py._hl.attrs.AttributeManager
    if getattr(attrs_cls.__getitem__, "_shim", False):
        return
    original_getitem = attrs_cls.__getitem__

    def getitem(self, name):
        value = original_getitem(self, name)
        string = h5py.check_string_dtype(self.get_id(name).dtype)
        if string is None or string.encoding != "ascii":
            return value
        if isinstance(value, str):
            return value.encode("ascii")
        if isinstance(value, np.ndarray) and value.dtype == object:
            return value.astype(np.bytes_)
        return value

    getitem._shim = True
    attrs_cls.__getitem__ = getitem
