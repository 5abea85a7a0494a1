"""The model of a point: the pico ViT (or a position/pooling variant), the ResNet, the hybrid, or the ViT
pre-trained on ``dots_pretrain``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from course_utils.experiments.points import CNN_WIDTH, VIT_SIZE
from course_utils.experiments.position import VariantViT
from course_utils.vit import MODEL_CONFIGS, ViT


def pretrained_path() -> Path:
    """The pico checkpoint pretrained on ``dots_pretrain`` (fetched if missing): ``vit_pretrained``'s start."""
    from course_utils.pretrained import DOTS_PRETRAINED, pretrained_checkpoint

    return pretrained_checkpoint(DOTS_PRETRAINED)


def build_model(point: dict[str, Any], num_classes: int, load_weights: bool = True) -> nn.Module:
    """The model of a point, freshly initialised (from the current torch seed). ``vit_pretrained`` starts from
    ``pretrained_path()``'s weights with a new head unless ``load_weights`` is False."""
    model, img_size, patch_size = point["model"], point["img_size"], point["patch_size"]
    encoder = MODEL_CONFIGS[VIT_SIZE]
    if model == "resnet":
        from course_utils.resnet import micro_resnet

        return micro_resnet(num_classes, img_size=img_size, width=CNN_WIDTH)
    if model == "hybrid":
        from course_utils.hybrid import micro_hybrid

        return micro_hybrid(num_classes, img_size=img_size, embedding_dim=encoder["embedding_dim"],
                            num_layers=encoder["num_transformer_layers"], num_heads=encoder["num_heads"],
                            mlp_size=encoder["mlp_size"], width=CNN_WIDTH, mlp_dropout=0.0,
                            embedding_dropout=0.0)
    config = dict(img_size=img_size, patch_size=patch_size, num_classes=num_classes, mlp_dropout=0.0,
                  embedding_dropout=0.0, **encoder)
    if (point["position"], point["pooling"]) != ("learned_1d", "cls"):
        return VariantViT(position=point["position"], pooling=point["pooling"], **config)
    vit = ViT(**config)  # the course's model, exactly
    if model == "vit_pretrained" and load_weights:
        from course_utils.pretrained import load_pretrained

        load_pretrained(vit, pretrained_path())
    return vit
