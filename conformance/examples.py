"""Cases of the models of Keras 2.2.4's own examples/ (keras-team/keras at tag 2.2.4), each a
small wrapper on synthetic data, as examples/models/ does for mnist_cnn and imdb_lstm: the
script's layers in its order with its options, its loss; sizes (vocabularies, sequence lengths,
image sizes, widths) cut where the script's would make a case take more than seconds, which
changes no layer's kind or option. Scripts left out, and why:
- antirectifier, cifar10_cnn_capsule: a custom Layer class (the corpus holds Keras's own);
- image_ocr: CTC loss through a Lambda (a backend function, not a model's layer);
- mnist_swwae: its residual blocks are cifar10_resnet's layers;
- deep_dream, neural_style_transfer, neural_doodle, conv_filter_visualization: VGG16/VGG19
  with weights, which are the applications' cases here; lstm_seq2seq_restore, mnist_net2net,
  mnist_sklearn_wrapper: the models of lstm_seq2seq, mnist_cnn;
- mnist_dataset_api, mnist_tfrecord, cifar10_cnn_tfaugment2d, tensorboard_embeddings_mnist:
  TensorFlow's input pipelines and TensorBoard, with models already here (mnist_cnn's).
Dropout and noise layers train as the identity (exchange.py); variational_autoencoder's
sampling draws noise in inference too, so its encoder and decoder are separate cases.
"""
from conformance.cases import Case


def _seq(keras, shape, layers):
    """A Sequential model as the scripts write it: input_shape on its first layer."""
    model = keras.models.Sequential()
    for i, (cls, args, kwargs) in enumerate(layers):
        model.add(getattr(keras.layers, cls)(*args, **dict(kwargs, **(
            {"input_shape": shape} if i == 0 else {}))))
    return model


def L(cls, *args, **kwargs):
    return (cls, args, kwargs)


def mnist_mlp(k):
    return _seq(k, (784,), [L("Dense", 512, activation="relu"), L("Dropout", 0.2),
                            L("Dense", 512, activation="relu"), L("Dropout", 0.2),
                            L("Dense", 10, activation="softmax")])


def mnist_cnn(k):
    return _seq(k, (28, 28, 1), [L("Conv2D", 32, (3, 3), activation="relu"),
                                 L("Conv2D", 64, (3, 3), activation="relu"),
                                 L("MaxPooling2D", pool_size=(2, 2)), L("Dropout", 0.25),
                                 L("Flatten"), L("Dense", 128, activation="relu"),
                                 L("Dropout", 0.5), L("Dense", 10, activation="softmax")])


def mnist_irnn(k):
    return _seq(k, (28, 1), [L("SimpleRNN", 100, kernel_initializer="random_normal",
                               recurrent_initializer="identity", activation="relu"),
                             L("Dense", 10), L("Activation", "softmax")])


def mnist_hierarchical_rnn(k):
    x = k.layers.Input(shape=(8, 8, 1))
    rows = k.layers.TimeDistributed(k.layers.LSTM(16))(x)
    cols = k.layers.LSTM(16)(rows)
    return k.models.Model(x, k.layers.Dense(10, activation="softmax")(cols))


def mnist_transfer_cnn(k):
    """Its feature layers frozen (trainable=False), as the script's second phase trains."""
    model = _seq(k, (28, 28, 1), [L("Conv2D", 8, 3, padding="valid"), L("Activation", "relu"),
                                  L("Conv2D", 8, 3), L("Activation", "relu"),
                                  L("MaxPooling2D", pool_size=2), L("Dropout", 0.25),
                                  L("Flatten"), L("Dense", 32), L("Activation", "relu"),
                                  L("Dropout", 0.5), L("Dense", 5), L("Activation", "softmax")])
    for layer in model.layers[:7]:
        layer.trainable = False
    return model


def mnist_denoising_autoencoder(k):
    Ly = k.layers
    x = Ly.Input(shape=(28, 28, 1))
    h = Ly.Conv2D(32, 3, strides=2, activation="relu", padding="same")(x)
    h = Ly.Conv2D(64, 3, strides=2, activation="relu", padding="same")(h)
    latent = Ly.Dense(16, name="latent_vector")(Ly.Flatten()(h))
    h = Ly.Reshape((7, 7, 64))(Ly.Dense(7 * 7 * 64)(latent))
    h = Ly.Conv2DTranspose(64, 3, strides=2, activation="relu", padding="same")(h)
    h = Ly.Conv2DTranspose(32, 3, strides=2, activation="relu", padding="same")(h)
    h = Ly.Conv2DTranspose(1, 3, padding="same")(h)
    return k.models.Model(x, Ly.Activation("sigmoid", name="decoder_output")(h))


def mnist_siamese(k):
    """Its contrastive loss is the script's own function: mse stands in for it here."""
    Ly = k.layers
    base = _seq(k, (28, 28), [L("Flatten"), L("Dense", 64, activation="relu"), L("Dropout", 0.1),
                              L("Dense", 64, activation="relu"), L("Dropout", 0.1),
                              L("Dense", 64, activation="relu")])
    a, b = Ly.Input(shape=(28, 28)), Ly.Input(shape=(28, 28))
    distance = Ly.Lambda(euclidean_distance,
                         output_shape=lambda s: (s[0][0], 1))([base(a), base(b)])
    return k.models.Model([a, b], distance)


def euclidean_distance(vects):
    """The script's; it imports the backend itself, as a saved Lambda keeps no closure: each
    environment's own `keras` (keras-mxnet, or tf.keras's Keras 2) when it is loaded."""
    from keras import backend as K

    x, y = vects
    return K.sqrt(K.maximum(K.sum(K.square(x - y), axis=1, keepdims=True), K.epsilon()))


def mnist_acgan_generator(k):
    Ly = k.layers
    cnn = _seq(k, (16,), [L("Dense", 3 * 3 * 24, activation="relu"), L("Reshape", (3, 3, 24)),
                          L("Conv2DTranspose", 12, 5, strides=1, padding="valid",
                            activation="relu", kernel_initializer="glorot_normal"),
                          L("BatchNormalization"),
                          L("Conv2DTranspose", 6, 5, strides=2, padding="same",
                            activation="relu", kernel_initializer="glorot_normal"),
                          L("BatchNormalization"),
                          L("Conv2DTranspose", 1, 5, strides=2, padding="same",
                            activation="tanh", kernel_initializer="glorot_normal")])
    latent, image_class = Ly.Input(shape=(16,)), Ly.Input(shape=(1,))
    cls = Ly.Flatten()(Ly.Embedding(10, 16, embeddings_initializer="glorot_normal")(image_class))
    return k.models.Model([latent, image_class], cnn(Ly.multiply([latent, cls])))


def mnist_acgan_discriminator(k):
    Ly = k.layers
    cnn = _seq(k, (28, 28, 1), [L("Conv2D", 8, 3, padding="same", strides=2),
                                L("LeakyReLU", 0.2), L("Dropout", 0.3),
                                L("Conv2D", 16, 3, padding="same", strides=1),
                                L("LeakyReLU", 0.2), L("Dropout", 0.3),
                                L("Conv2D", 32, 3, padding="same", strides=2),
                                L("LeakyReLU", 0.2), L("Dropout", 0.3), L("Flatten")])
    image = Ly.Input(shape=(28, 28, 1))
    features = cnn(image)
    return k.models.Model(image, [Ly.Dense(1, activation="sigmoid", name="generation")(features),
                                  Ly.Dense(10, activation="softmax", name="auxiliary")(features)])


def cifar10_cnn(k):
    return _seq(k, (32, 32, 3), [
        L("Conv2D", 32, (3, 3), padding="same"), L("Activation", "relu"),
        L("Conv2D", 32, (3, 3)), L("Activation", "relu"), L("MaxPooling2D", pool_size=(2, 2)),
        L("Dropout", 0.25), L("Conv2D", 64, (3, 3), padding="same"), L("Activation", "relu"),
        L("Conv2D", 64, (3, 3)), L("Activation", "relu"), L("MaxPooling2D", pool_size=(2, 2)),
        L("Dropout", 0.25), L("Flatten"), L("Dense", 512), L("Activation", "relu"),
        L("Dropout", 0.5), L("Dense", 10), L("Activation", "softmax")])


def cifar10_resnet(k):
    """resnet_v1 at depth 8 (the script's n=3 gives 20: the same blocks, fewer of them)."""
    Ly = k.layers

    def unit(x, filters, strides=1, activation="relu", bn=True):
        x = Ly.Conv2D(filters, 3, strides=strides, padding="same",
                      kernel_initializer="he_normal",
                      kernel_regularizer=k.regularizers.l2(1e-4))(x)
        x = Ly.BatchNormalization()(x) if bn else x
        return Ly.Activation(activation)(x) if activation else x

    inputs = Ly.Input(shape=(32, 32, 3))
    x, filters = unit(inputs, 16), 16
    for stack in range(3):
        strides = 2 if stack > 0 else 1
        y = unit(unit(x, filters, strides), filters, activation=None)
        if stack > 0:
            x = Ly.Conv2D(filters, 1, strides=strides, padding="same",
                          kernel_initializer="he_normal",
                          kernel_regularizer=k.regularizers.l2(1e-4))(x)
        x = Ly.Activation("relu")(Ly.add([x, y]))
        filters *= 2
    x = Ly.Flatten()(Ly.AveragePooling2D(pool_size=8)(x))
    return k.models.Model(inputs, Ly.Dense(10, activation="softmax",
                                           kernel_initializer="he_normal")(x))


def conv_lstm(k):
    layers = []
    for _ in range(4):
        layers += [L("ConvLSTM2D", filters=4, kernel_size=(3, 3), padding="same",
                     return_sequences=True), L("BatchNormalization")]
    return _seq(k, (3, 8, 8, 1), layers + [L("Conv3D", filters=1, kernel_size=(3, 3, 3),
                                              activation="sigmoid", padding="same",
                                              data_format="channels_last")])


def imdb_lstm(k):
    return _seq(k, (20,), [L("Embedding", 200, 16), L("LSTM", 16, dropout=0.2,
                                                       recurrent_dropout=0.2),
                           L("Dense", 1, activation="sigmoid")])


def imdb_bidirectional_lstm(k):
    return _seq(k, (20,), [L("Embedding", 200, 16, input_length=20),
                           ("Bidirectional", (k.layers.LSTM(8),), {}), L("Dropout", 0.5),
                           L("Dense", 1, activation="sigmoid")])


def imdb_cnn(k):
    return _seq(k, (40,), [L("Embedding", 200, 8, input_length=40), L("Dropout", 0.2),
                           L("Conv1D", 25, 3, padding="valid", activation="relu", strides=1),
                           L("GlobalMaxPooling1D"), L("Dense", 25), L("Dropout", 0.2),
                           L("Activation", "relu"), L("Dense", 1), L("Activation", "sigmoid")])


def imdb_cnn_lstm(k):
    return _seq(k, (40,), [L("Embedding", 200, 16, input_length=40), L("Dropout", 0.25),
                           L("Conv1D", 8, 5, padding="valid", activation="relu", strides=1),
                           L("MaxPooling1D", pool_size=4), L("LSTM", 7),
                           L("Dense", 1), L("Activation", "sigmoid")])


def imdb_fasttext(k):
    return _seq(k, (40,), [L("Embedding", 200, 5, input_length=40),
                           L("GlobalAveragePooling1D"), L("Dense", 1, activation="sigmoid")])


def reuters_mlp(k):
    return _seq(k, (100,), [L("Dense", 64), L("Activation", "relu"), L("Dropout", 0.5),
                            L("Dense", 46), L("Activation", "softmax")])


def reuters_mlp_selu(k):
    """The script's self-normalizing network: selu, lecun_normal, AlphaDropout."""
    layers = []
    for _ in range(3):
        layers += [L("Dense", 16, kernel_initializer="lecun_normal"), L("Activation", "selu"),
                   L("AlphaDropout", 0.1)]
    return _seq(k, (100,), layers + [L("Dense", 46), L("Activation", "softmax")])


def addition_rnn(k):
    return _seq(k, (7, 12), [L("LSTM", 32), L("RepeatVector", 4), L("LSTM", 32,
                                                                      return_sequences=True),
                             ("TimeDistributed", (k.layers.Dense(12),), {}),
                             L("Activation", "softmax")])


def babi_rnn(k):
    Ly = k.layers
    sentence, question = Ly.Input(shape=(20,), dtype="int32"), Ly.Input(shape=(5,), dtype="int32")
    encoded = Ly.Dropout(0.3)(Ly.Embedding(30, 16)(sentence))
    q = Ly.Dropout(0.3)(Ly.Embedding(30, 16)(question))
    q = Ly.RepeatVector(20)(Ly.LSTM(16)(q))
    merged = Ly.Dropout(0.3)(Ly.LSTM(16)(Ly.add([encoded, q])))
    return k.models.Model([sentence, question], Ly.Dense(30, activation="softmax")(merged))


def babi_memnn(k):
    Ly = k.layers
    story, question = Ly.Input((12,)), Ly.Input((4,))
    enc_m = _seq(k, (12,), [L("Embedding", 22, 16), L("Dropout", 0.3)])
    enc_c = _seq(k, (12,), [L("Embedding", 22, 4), L("Dropout", 0.3)])
    enc_q = _seq(k, (4,), [L("Embedding", 22, 16, input_length=4), L("Dropout", 0.3)])
    m, c, q = enc_m(story), enc_c(story), enc_q(question)
    match = Ly.Activation("softmax")(Ly.dot([m, q], axes=(2, 2)))
    response = Ly.Permute((2, 1))(Ly.add([match, c]))
    answer = Ly.Dropout(0.3)(Ly.LSTM(8)(Ly.concatenate([response, q])))
    answer = Ly.Activation("softmax")(Ly.Dense(22)(answer))
    return k.models.Model([story, question], answer)


def lstm_seq2seq(k):
    Ly = k.layers
    enc_in, dec_in = Ly.Input(shape=(None, 7)), Ly.Input(shape=(None, 9))
    _, h, c = Ly.LSTM(16, return_state=True)(enc_in)
    out, _, _ = Ly.LSTM(16, return_sequences=True, return_state=True)(dec_in,
                                                                      initial_state=[h, c])
    return k.models.Model([enc_in, dec_in], Ly.Dense(9, activation="softmax")(out))


def lstm_stateful(k):
    """batch_input_shape as the script's (batch 2 here), stateful, return_sequences=False."""
    model = k.models.Sequential()
    model.add(k.layers.LSTM(20, batch_input_shape=(2, 1, 1), return_sequences=False,
                            stateful=True))
    model.add(k.layers.Dense(1))
    return model


def lstm_text_generation(k):
    return _seq(k, (10, 15), [L("LSTM", 32), L("Dense", 15, activation="softmax")])


def pretrained_word_embeddings(k):
    return _seq(k, (50,), [L("Embedding", 100, 10, input_length=50, trainable=False),
                           L("Conv1D", 16, 5, activation="relu"), L("MaxPooling1D", 5),
                           L("Conv1D", 16, 5, activation="relu"), L("GlobalMaxPooling1D"),
                           L("Dense", 16, activation="relu"),
                           L("Dense", 4, activation="softmax")])


def vae_encoder(k):
    Ly = k.layers
    x = Ly.Input(shape=(784,))
    h = Ly.Dense(64, activation="relu")(x)
    return k.models.Model(x, [Ly.Dense(2, name="z_mean")(h), Ly.Dense(2, name="z_log_var")(h)])


def vae_decoder(k):
    return _seq(k, (2,), [L("Dense", 64, activation="relu"), L("Dense", 784,
                                                               activation="sigmoid")])


def vae_deconv_encoder(k):
    Ly = k.layers
    x = Ly.Input(shape=(28, 28, 1))
    h = Ly.Conv2D(8, 3, activation="relu", strides=2, padding="same")(x)
    h = Ly.Conv2D(16, 3, activation="relu", strides=2, padding="same")(h)
    h = Ly.Dense(16, activation="relu")(Ly.Flatten()(h))
    return k.models.Model(x, [Ly.Dense(2, name="z_mean")(h), Ly.Dense(2, name="z_log_var")(h)])


def vae_deconv_decoder(k):
    return _seq(k, (2,), [L("Dense", 7 * 7 * 16, activation="relu"), L("Reshape", (7, 7, 16)),
                          L("Conv2DTranspose", 16, 3, activation="relu", strides=2,
                            padding="same"),
                          L("Conv2DTranspose", 8, 3, activation="relu", strides=2,
                            padding="same"),
                          L("Conv2DTranspose", 1, 3, activation="sigmoid", padding="same")])


F, I = "float32", "int32"
CATEGORICAL, BINARY = "categorical_crossentropy", "binary_crossentropy"
SPARSE = "sparse_categorical_crossentropy"
TABLE = [  # name, builder, inputs [(shape, dtype, ints below)], loss
    ("mnist_mlp", mnist_mlp, [((784,), F, 0)], CATEGORICAL),
    ("mnist_cnn", mnist_cnn, [((28, 28, 1), F, 0)], CATEGORICAL),
    ("mnist_irnn", mnist_irnn, [((28, 1), F, 0)], CATEGORICAL),
    ("mnist_hierarchical_rnn", mnist_hierarchical_rnn, [((8, 8, 1), F, 0)], CATEGORICAL),
    ("mnist_transfer_cnn", mnist_transfer_cnn, [((28, 28, 1), F, 0)], CATEGORICAL),
    ("mnist_denoising_autoencoder", mnist_denoising_autoencoder, [((28, 28, 1), F, 0)], "mse"),
    ("mnist_siamese", mnist_siamese, [((28, 28), F, 0), ((28, 28), F, 0)], "mse"),
    ("mnist_acgan.generator", mnist_acgan_generator, [((16,), F, 0), ((1,), F, 10)], BINARY),
    ("mnist_acgan.discriminator", mnist_acgan_discriminator, [((28, 28, 1), F, 0)],
     [BINARY, SPARSE]),
    ("cifar10_cnn", cifar10_cnn, [((32, 32, 3), F, 0)], CATEGORICAL),
    ("cifar10_resnet", cifar10_resnet, [((32, 32, 3), F, 0)], CATEGORICAL),
    ("conv_lstm", conv_lstm, [((3, 8, 8, 1), F, 0)], BINARY),
    ("imdb_lstm", imdb_lstm, [((20,), F, 200)], BINARY),
    ("imdb_bidirectional_lstm", imdb_bidirectional_lstm, [((20,), F, 200)], BINARY),
    ("imdb_cnn", imdb_cnn, [((40,), F, 200)], BINARY),
    ("imdb_cnn_lstm", imdb_cnn_lstm, [((40,), F, 200)], BINARY),
    ("imdb_fasttext", imdb_fasttext, [((40,), F, 200)], BINARY),
    ("reuters_mlp", reuters_mlp, [((100,), F, 0)], CATEGORICAL),
    ("reuters_mlp_relu_vs_selu", reuters_mlp_selu, [((100,), F, 0)], CATEGORICAL),
    ("addition_rnn", addition_rnn, [((7, 12), F, 0)], CATEGORICAL),
    ("babi_rnn", babi_rnn, [((20,), I, 30), ((5,), I, 30)], CATEGORICAL),
    ("babi_memnn", babi_memnn, [((12,), F, 22), ((4,), F, 22)], SPARSE),
    ("lstm_seq2seq", lstm_seq2seq, [((6, 7), F, 0), ((5, 9), F, 0)], CATEGORICAL),
    ("lstm_stateful", lstm_stateful, [((1, 1), F, 0)], "mse"),
    ("lstm_text_generation", lstm_text_generation, [((10, 15), F, 0)], CATEGORICAL),
    ("pretrained_word_embeddings", pretrained_word_embeddings, [((50,), F, 100)], CATEGORICAL),
    ("variational_autoencoder.encoder", vae_encoder, [((784,), F, 0)], "mse"),
    ("variational_autoencoder.decoder", vae_decoder, [((2,), F, 0)], BINARY),
    ("variational_autoencoder_deconv.encoder", vae_deconv_encoder, [((28, 28, 1), F, 0)], "mse"),
    ("variational_autoencoder_deconv.decoder", vae_deconv_decoder, [((2,), F, 0)], BINARY),
]


def cases():
    return [Case(f"examples.{name}", "examples", build, inputs, loss=loss,
                 tags={"class": name.split(".")[0]})
            for name, build, inputs, loss in TABLE]
