"""Both scenarios in native MXNet Gluon: hybridized blocks, one data-parallel training loop."""
