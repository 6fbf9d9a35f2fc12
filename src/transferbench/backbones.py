"""Backbone registry: every fact about a pretrained model lives in one table entry, as data."""

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import unknown_name


@dataclass(frozen=True)
class BackboneSpec:
    """Facts about one keras.applications backbone.

    Attributes
    ----------
    name : registry name used on the command line and in results.
    constructor : attribute of ``keras.applications`` that builds it.
    module : ``keras.applications`` submodule whose ``preprocess_input`` defines its preprocessing.
    preprocess : ``Preprocess`` layer mode equal to that ``preprocess_input``.
    head : hidden layers of the seed's head after global average pooling, as (kind, value) pairs;
        a Dense softmax over the classes always follows.
    cut_after : last layer kept frozen when fine-tuning; every layer after it trains.
    weights_file : ImageNet no-top file name in the Keras cache ({rows} = input rows Keras picks).
    params : parameters of the no-top base (the same at every input size; checked by a test).
    openvino_faster : the input size from which OpenVINO's frozen pass measured faster than TensorFlow's here
        (benchmarks/bench_engines.py); None: never. `--engine auto` follows it.
    """

    name: str
    constructor: str
    module: str
    preprocess: str
    head: tuple
    cut_after: str
    weights_file: str
    params: int = 0
    openvino_faster: int | None = None

    def weights_file_for(self, input_size):
        """The ImageNet file name Keras looks for at this input size."""
        rows = input_size if input_size in (96, 128, 160, 192, 224) else 224
        return self.weights_file.format(rows=rows)


GENERIC_HEAD = (("dropout", 0.5), ("dense", 256), ("dropout", 0.3))  # for backbones the seed did not use

BACKBONES = {
    spec.name: spec
    for spec in (
        BackboneSpec(
            name="vgg16",
            constructor="VGG16",
            module="vgg16",
            preprocess="caffe",
            head=(("dropout", 0.5), ("dense", 256), ("dropout", 0.3)),
            cut_after="block4_pool",  # block 5 trains: the seed's "last 4 layers"
            weights_file="vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
            params=14_714_688,
        ),
        BackboneSpec(
            name="resnet50",
            constructor="ResNet50",
            module="resnet50",
            preprocess="caffe",
            head=(("dropout", 0.5), ("dense", 256), ("batchnorm", None), ("dropout", 0.3)),
            cut_after="conv4_block6_out",  # stage conv5 trains; one tensor crosses the cut
            weights_file="resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
            params=23_587_712,
            openvino_faster=32,  # bench_engines: faster at 32 and 96 px
        ),
        BackboneSpec(
            name="mobilenetv2",
            constructor="MobileNetV2",
            module="mobilenet_v2",
            preprocess="tf",
            head=(("dropout", 0.4), ("dense", 128), ("dropout", 0.2)),
            cut_after="block_12_add",  # blocks 13-16 and Conv_1 train; one tensor crosses the cut
            weights_file="mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5",
            params=2_257_984,
            openvino_faster=32,  # bench_engines: faster at 32 and 96 px
        ),
        BackboneSpec(
            name="efficientnetb0",
            constructor="EfficientNetB0",
            module="efficientnet",
            preprocess="none",  # rescaling and ImageNet normalisation are layers inside the model
            head=GENERIC_HEAD,
            cut_after="block6d_add",  # block 7a and the top conv train
            weights_file="efficientnetb0_notop.h5",
            params=4_049_571,
            openvino_faster=32,  # bench_engines: faster at 32 and 96 px
        ),
        BackboneSpec(
            name="densenet121",
            constructor="DenseNet121",
            module="densenet",
            preprocess="torch",
            head=GENERIC_HEAD,
            cut_after="pool4_pool",  # dense block 5 and the final BN train
            weights_file="densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
            params=7_037_504,
            openvino_faster=32,  # bench_engines: faster at 32 and 96 px
        ),
        BackboneSpec(
            name="resnet50v2",
            constructor="ResNet50V2",
            module="resnet_v2",
            preprocess="tf",
            head=GENERIC_HEAD,
            cut_after="conv4_block6_out",  # stage conv5 and post_bn train
            weights_file="resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
            params=23_564_800,
            openvino_faster=32,  # bench_engines: faster at 32 and 96 px
        ),
        BackboneSpec(
            name="mobilenetv3small",
            constructor="MobileNetV3Small",
            module="mobilenet_v3",
            preprocess="none",  # include_preprocessing: a Rescaling layer inside the model
            head=(("dropout", 0.4), ("dense", 128), ("dropout", 0.2)),
            cut_after="expanded_conv_7_add",  # blocks 8-10 and the last conv train
            weights_file="weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
            params=939_120,
            openvino_faster=32,  # bench_engines: faster at 32 and 96 px
        ),
        BackboneSpec(
            name="convnexttiny",
            constructor="ConvNeXtTiny",
            module="convnext",
            preprocess="none",  # ImageNet normalisation is a layer inside the model
            head=GENERIC_HEAD,
            cut_after="convnext_tiny_downsampling_block_2",  # stage 3 and the final LayerNorm train
            weights_file="convnext_tiny_notop.h5",
            params=27_820_128,
            openvino_faster=32,  # bench_engines: faster at 32 and 96 px
        ),
    )
}


def get_backbone(name):
    """The registry entry for a backbone name, or a UsageError with a suggestion."""
    if name not in BACKBONES:
        raise unknown_name("backbone", name, BACKBONES)
    return BACKBONES[name]


def keras_models_dir():
    """Where Keras caches downloaded weights: $KERAS_HOME/models or ~/.keras/models."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "models"
