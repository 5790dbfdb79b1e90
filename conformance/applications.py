"""Cases of every model of keras.applications (keras-applications 1.0.8, as Keras 2.2.4 ships
it): weights=None, 10 classes, at the smallest input each accepts (keras_applications'
_obtain_input_shape: 32 x 32 but for InceptionV3 and InceptionResNetV2, 75, and Xception, 71),
but where the smallest input leaves BatchNormalizations a 1 x 1 map: 2 values per channel at
batch 2, each normalised to exactly +-1 with a gradient of ~0/0, so that training there is a
comparison of rounding (issue 30). Those run at the smallest input that gives
every BatchNormalization a 3 x 3 map or more (18 values per channel;
lab/application_conditioning_probe.py bn): MobileNetV2 at 71, the DenseNets at 96 and
InceptionResNetV2 at 139 (at 32 and 75 their conv5 / conv_7b BatchNorms saw 1 x 1, and their
training differed from Keras's beyond verdict.py's conditioning; MobileNetV2's likewise at 32);
a channels_first variant of DenseNet121, ResNet50, VGG16 and VGG19 (not yet of the others:
whether they build channels_first here is not checked; keras-applications documents Xception
and NASNet as channels_last only). MobileNet as issue 30 found it: alpha 0.25.
"""
from conformance.cases import Case

SIZES = {"InceptionV3": 75, "InceptionResNetV2": 139, "Xception": 71, "MobileNetV2": 71,
         "DenseNet121": 96, "DenseNet169": 96, "DenseNet201": 96}
OPTIONS = {"MobileNet": {"alpha": 0.25}, "MobileNetV2": {"alpha": 0.35}}
NAMES = ["DenseNet121", "DenseNet169", "DenseNet201", "InceptionResNetV2", "InceptionV3",
         "MobileNet", "MobileNetV2", "NASNetLarge", "NASNetMobile", "ResNet50", "VGG16",
         "VGG19", "Xception"]
CHANNELS_FIRST = ["DenseNet121", "ResNet50", "VGG16", "VGG19"]


def _builder(name, shape):
    def build(keras):
        return getattr(keras.applications, name)(weights=None, input_shape=shape, classes=10,
                                                 **OPTIONS.get(name, {}))
    return build


def cases():
    found = []
    for name in NAMES:
        size = SIZES.get(name, 32)
        for data_format in ["channels_last"] + (["channels_first"] if name in CHANNELS_FIRST
                                                else []):
            shape = (size, size, 3) if data_format == "channels_last" else (3, size, size)
            suffix = "" if data_format == "channels_last" else ":data_format=channels_first"
            found.append(Case(f"applications.{name}{suffix}", "applications",
                              _builder(name, shape), [(shape, "float32", 0)],
                              loss="categorical_crossentropy", data_format=data_format,
                              tags={"class": name, "data_format": data_format}))
    return found
