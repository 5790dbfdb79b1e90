"""Both scenarios in Keras (keras-mxnet 2.2.4.3 through the shim), trained with stock `fit`."""
