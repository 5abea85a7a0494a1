"""Load torchvision and timm Vision Transformer weights into the course's ``ViT``.

This is kept apart from the model (like timm's ``checkpoint_filter_fn``): the model only knows its own
parameter names; this module knows how the reference implementations spell them.

Both references compute exactly what ``ViT`` computes (LayerNorm eps 1e-6, exact GELU, class token
prepended before the position embedding is added, q/k/v packed in that order), so every tensor copies
across unchanged; only the names differ. The whole correspondence is the two tables below.

    >>> from torchvision.models import vit_b_16
    >>> from course_utils.vit import ViT
    >>> model = ViT.from_torchvision(vit_b_16(weights=None))  # or a state dict, or ViT.from_timm(...)

Training-only regularisers with no counterpart in ``ViT`` (timm's stochastic depth, patch dropout and
head dropout) are not carried over; they do not change eval-mode outputs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from course_utils.vit import HEAD, LAYER_NORM_EPS, ViT

if TYPE_CHECKING:
    from course_utils.hybrid import HybridViT

# (ours, torchvision, timm) names of the tensors outside the encoder layers.
_TOP_KEYS: list[tuple[str, str, str]] = [
    ("patch_embedding.patcher.weight", "conv_proj.weight", "patch_embed.proj.weight"),
    ("patch_embedding.patcher.bias", "conv_proj.bias", "patch_embed.proj.bias"),
    ("class_embedding", "class_token", "cls_token"),
    ("position_embedding", "encoder.pos_embedding", "pos_embed"),
    ("classifier.0.weight", "encoder.ln.weight", "norm.weight"),
    ("classifier.0.bias", "encoder.ln.bias", "norm.bias"),
    (f"{HEAD}.weight", "heads.head.weight", "head.weight"),
    (f"{HEAD}.bias", "heads.head.bias", "head.bias"),
]

# (ours, torchvision, timm) names inside encoder layer i, after the prefixes in _LAYER_PREFIXES.
_LAYER_KEYS: list[tuple[str, str, str]] = [
    ("msa_block.layer_norm.weight", "ln_1.weight", "norm1.weight"),
    ("msa_block.layer_norm.bias", "ln_1.bias", "norm1.bias"),
    ("msa_block.multihead_attn.qkv.weight", "self_attention.in_proj_weight", "attn.qkv.weight"),
    ("msa_block.multihead_attn.qkv.bias", "self_attention.in_proj_bias", "attn.qkv.bias"),
    ("msa_block.multihead_attn.proj.weight", "self_attention.out_proj.weight", "attn.proj.weight"),
    ("msa_block.multihead_attn.proj.bias", "self_attention.out_proj.bias", "attn.proj.bias"),
    ("mlp_block.layer_norm.weight", "ln_2.weight", "norm2.weight"),
    ("mlp_block.layer_norm.bias", "ln_2.bias", "norm2.bias"),
    ("mlp_block.mlp.0.weight", "mlp.0.weight", "mlp.fc1.weight"),
    ("mlp_block.mlp.0.bias", "mlp.0.bias", "mlp.fc1.bias"),
    ("mlp_block.mlp.3.weight", "mlp.3.weight", "mlp.fc2.weight"),
    ("mlp_block.mlp.3.bias", "mlp.3.bias", "mlp.fc2.bias"),
]

_LAYER_PREFIXES = {"ours": "transformer_encoder.{}.", "torchvision": "encoder.layers.encoder_layer_{}.",
                   "timm": "blocks.{}."}
_COLUMN = {"torchvision": 1, "timm": 2}

# Known causes of keys that are present but have no counterpart in ViT (matched as substrings) ...
_UNSUPPORTED_HINTS: dict[str, dict[str, str]] = {
    "torchvision": {
        "heads.pre_logits": "a pre-logits representation layer (representation_size is not None)",
        "conv_proj.conv": "a convolutional stem (conv_stem_configs)",
        "mlp.linear_": "an old (torchvision < 0.14) MLP layout: load it into a torchvision model first",
    },
    "timm": {
        "reg_token": "register tokens (reg_tokens > 0)",
        "fc_norm": "a norm after pooling (fc_norm, the default for global_pool='avg')",
        "attn_pool": "attention pooling (global_pool='map' or 'prr')",
        ".ls1.": "layer scale (init_values)",
        ".ls2.": "layer scale (init_values)",
        "q_norm": "qk normalisation (qk_norm=True)",
        "attn.norm": "attention output norm (scale_attn_norm=True)",
        "attn.gate": "gated attention",
        "mlp.norm": "MLP hidden norm (scale_mlp_norm=True)",
        "norm_pre": "a norm before the encoder (pre_norm=True)",
        "patch_embed.norm": "a norm in the patch embedding (embed_norm_layer)",
        "dist": "a distillation token/head (DeiT distilled)",
        "patch_embed.backbone": "a CNN backbone (a hybrid ViT): use hybrid_from_timm (HybridViT.from_timm)",
    },
}
# ... and of keys that ViT needs but the checkpoint lacks (matched against the end of the key).
_MISSING_HINTS: dict[str, dict[str, str]] = {
    "torchvision": {},
    "timm": {
        "patch_embed.proj.bias": "a patch embedding without bias (pre_norm=True, e.g. CLIP)",
        "attn.qkv.bias": "qkv without bias (qkv_bias=False)",
        "cls_token": "no class token (class_token=False)",
        "pos_embed": "no learned position embedding (pos_embed='none')",
        "head.weight": "no classification head (num_classes=0)",
        "norm.weight": "no final norm (final_norm=False, or fc_norm)",
    },
}

# Head counts of the standard widths (ViT-Ti/S/B/L/H), for state dicts, which do not record them.
STANDARD_NUM_HEADS: dict[int, int] = {192: 3, 384: 6, 768: 12, 1024: 16, 1280: 16}
_DROPOUT_KEYS = ("attn_dropout", "mlp_dropout", "embedding_dropout")


def vit_from_torchvision(model_or_state_dict: nn.Module | Mapping[str, torch.Tensor],
                         num_heads: int | None = None, **overrides: Any) -> ViT:
    """An equivalent ``ViT`` (eval mode) from a torchvision ``VisionTransformer`` or its state dict.

    The configuration is read off the tensor shapes. A state dict does not record the number of heads:
    pass ``num_heads`` unless the width is a standard one (see ``STANDARD_NUM_HEADS``). Dropouts are the
    model's when a model is given, else 0.0; ``overrides`` (e.g. ``mlp_dropout=0.1``) go to ``ViT``.
    Variants ViT lacks (a pre-logits layer, a convolutional stem) raise a ``ValueError`` naming them.
    """
    dropouts = dict.fromkeys(_DROPOUT_KEYS, 0.0)
    if isinstance(model_or_state_dict, nn.Module):
        from torchvision.models.vision_transformer import VisionTransformer

        model = model_or_state_dict
        if not isinstance(model, VisionTransformer):
            raise TypeError(f"expected a torchvision VisionTransformer, got {type(model).__name__}")
        _check_layer_norms(model)
        if len(model.encoder.layers):
            num_heads = _agree(num_heads, model.encoder.layers[0].self_attention.num_heads)
        dropouts = dict(attn_dropout=model.attention_dropout, mlp_dropout=model.dropout,
                        embedding_dropout=model.dropout)
        model_or_state_dict = model.state_dict()
    return _convert(model_or_state_dict, "torchvision", num_heads, {**dropouts, **overrides})


def vit_from_timm(model_or_state_dict: nn.Module | Mapping[str, torch.Tensor],
                  num_heads: int | None = None, **overrides: Any) -> ViT:
    """An equivalent ``ViT`` (eval mode) from a timm ``VisionTransformer`` or its state dict.

    Only the original ViT layout converts: class-token pooling, pre-norm blocks, a position embedding
    that covers the class token, a final norm and a head. Anything else (register tokens, layer scale,
    qk-norm, average pooling...) raises a ``ValueError`` that names it. ``num_heads``, dropouts and
    ``overrides`` work as in ``vit_from_torchvision``. A state dict alone cannot reveal some differences
    (``global_pool='avg'`` with ``fc_norm=False``, a tanh GELU): pass the model to have those checked.
    """
    dropouts = dict.fromkeys(_DROPOUT_KEYS, 0.0)
    if isinstance(model_or_state_dict, nn.Module):
        from timm.models.vision_transformer import VisionTransformer

        model = model_or_state_dict
        if not isinstance(model, VisionTransformer):
            raise TypeError(f"expected a timm VisionTransformer, got {type(model).__name__}")
        problems = _timm_model_problems(model)
        if problems:
            raise ValueError(f"cannot convert this timm VisionTransformer to ViT: {'; '.join(problems)}")
        _check_layer_norms(model)
        if model.blocks:
            num_heads = _agree(num_heads, model.blocks[0].attn.num_heads)
            dropouts = dict(attn_dropout=model.blocks[0].attn.attn_drop.p,
                            mlp_dropout=model.blocks[0].mlp.drop1.p, embedding_dropout=model.pos_drop.p)
        model_or_state_dict = model.state_dict()
    return _convert(model_or_state_dict, "timm", num_heads, {**dropouts, **overrides})


def hybrid_from_timm(model: nn.Module, **overrides: Any) -> HybridViT:
    """An equivalent ``HybridViT`` (eval mode) from a timm hybrid ``VisionTransformer``, one whose patch
    embedding is a ``HybridEmbed`` (``vit_small_r26_s32_224``, ``vit_base_r50_s16_224``...).

    The CNN is a timm module already (the course builds its ResNets with timm), so it is copied as it is.
    What ``HybridEmbed``'s projection feeds is a plain ViT on the feature map: it converts as in
    ``vit_from_timm``, with the same checks, its dropouts and ``overrides``.
    """
    import copy

    from timm.layers import HybridEmbed
    from timm.models.vision_transformer import VisionTransformer

    from course_utils.hybrid import HybridViT

    embed = getattr(model, "patch_embed", None)
    if not isinstance(model, VisionTransformer) or not isinstance(embed, HybridEmbed):
        raise TypeError(f"expected a timm VisionTransformer with a HybridEmbed patch embedding, got "
                        f"{type(model).__name__} with {type(embed).__name__}")
    problems = _timm_model_problems(model)
    if embed.img_size[0] != embed.img_size[1]:
        problems.append(f"non-square images {embed.img_size}")
    if embed.dynamic_img_pad or not embed.flatten:
        problems.append("a HybridEmbed that pads the feature map or keeps it unflattened")
    if problems:
        raise ValueError(f"cannot convert this timm hybrid to HybridViT: {'; '.join(problems)}")
    _check_layer_norms(model)
    num_heads = model.blocks[0].attn.num_heads if model.blocks else None
    dropouts = dict.fromkeys(_DROPOUT_KEYS, 0.0)
    if model.blocks:
        dropouts = dict(attn_dropout=model.blocks[0].attn.attn_drop.p,
                        mlp_dropout=model.blocks[0].mlp.drop1.p, embedding_dropout=model.pos_drop.p)
    # patch_embed.proj is Eq 1's E applied to the feature map: ViT's patch embedding with P = 1.
    state_dict = {k: v for k, v in model.state_dict().items() if not k.startswith("patch_embed.backbone.")}
    vit = _convert(state_dict, "timm", num_heads, {**dropouts, **overrides})
    # A copy on the CPU in ViT's dtype, like the ViT part: it shares no memory with the source.
    backbone = copy.deepcopy(embed.backbone).to("cpu", next(vit.parameters()).dtype)
    return HybridViT(backbone, vit, img_size=embed.img_size[0]).eval()


def _timm_model_problems(model: nn.Module) -> list[str]:
    """What a timm model does differently from ViT that its state dict does not show."""
    problems = []
    if model.global_pool != "token":
        problems.append(f"global_pool={model.global_pool!r} (ViT classifies from the class token: "
                        f"global_pool='token')")
    if model.no_embed_class:
        problems.append("no_embed_class=True (the position embedding must cover the class token)")
    for block in model.blocks[:1]:
        for part, expected in ((block, "Block"), (block.attn, "Attention"), (block.mlp, "Mlp")):
            if type(part).__name__ != expected:
                problems.append(f"{type(part).__name__} instead of timm's plain {expected}")
        act = getattr(block.mlp, "act", None)
        if type(act).__name__ != "GELU" or getattr(act, "approximate", "none") != "none":
            problems.append(f"MLP activation {act} (ViT uses the exact GELU)")
    return problems


def _agree(given: int | None, from_model: int) -> int:
    if given is not None and given != from_model:
        raise ValueError(f"num_heads={given} disagrees with the model, which has {from_model} heads")
    return from_model


def _check_layer_norms(model: nn.Module) -> None:
    """Raise unless every LayerNorm uses ViT's eps of 1e-6."""
    for name, module in model.named_modules():
        if isinstance(module, nn.LayerNorm) and module.eps != LAYER_NORM_EPS:
            raise ValueError(f"{name} has LayerNorm eps={module.eps}; ViT uses {LAYER_NORM_EPS}")


def _convert(state_dict: Mapping[str, torch.Tensor], source: str, num_heads: int | None,
             vit_kwargs: dict[str, Any]) -> ViT:
    """Rename a ``source`` ("torchvision"/"timm") state dict to ViT's names, infer the config, load."""
    column, layer_prefix = _COLUMN[source], _LAYER_PREFIXES[source]
    for other, other_column in _COLUMN.items():
        if _TOP_KEYS[0][other_column] in state_dict and _TOP_KEYS[0][column] not in state_dict:
            raise ValueError(f"this looks like a {other} checkpoint, not a {source} one: "
                             f"use vit_from_{other} (ViT.from_{other})")
    first_layer_key = _LAYER_KEYS[0][column]
    depth = 0
    while layer_prefix.format(depth) + first_layer_key in state_dict:
        depth += 1

    names = {row[0]: row[column] for row in _TOP_KEYS}  # ours -> theirs
    for i in range(depth):
        for row in _LAYER_KEYS:
            names[_LAYER_PREFIXES["ours"].format(i) + row[0]] = layer_prefix.format(i) + row[column]
    unsupported = sorted(set(state_dict) - set(names.values()))
    missing = [theirs for theirs in names.values() if theirs not in state_dict]
    if depth == 0:
        missing.append(layer_prefix.format(0) + first_layer_key)
    if unsupported or missing:
        raise ValueError(_describe_key_problems(source, unsupported, missing))

    tensors = {ours: state_dict[theirs] for ours, theirs in names.items()}
    config = _infer_config(tensors, depth, num_heads)
    for key, value in vit_kwargs.items():
        if key in config and value != config[key]:
            raise ValueError(f"{key}={value!r} contradicts the checkpoint ({key}={config[key]!r}); only "
                             f"{', '.join(_DROPOUT_KEYS)} can be overridden (for another image size, "
                             f"convert then call ViT.resize_position_embedding)")
    with torch.device("meta"):  # no memory and no random init: every tensor comes from the checkpoint
        vit = ViT(**{**config, **vit_kwargs})

    expected = vit.state_dict()
    wrong = [f"{names[k]} {tuple(v.shape)} (expected {tuple(expected[k].shape)})"
             for k, v in tensors.items() if v.shape != expected[k].shape]
    if wrong:
        raise ValueError(f"cannot convert this {source} checkpoint: unexpected shapes: {'; '.join(wrong)}")
    # Fresh CPU copies in ViT's dtype, so the new model shares no memory with the source.
    tensors = {k: v.detach().to("cpu", expected[k].dtype, copy=True) for k, v in tensors.items()}
    vit.load_state_dict(tensors, strict=True, assign=True)
    left_on_meta = [name for name, t in [*vit.named_parameters(), *vit.named_buffers()] if t.is_meta]
    if left_on_meta:  # a tensor ViT creates but does not save (e.g. a non-persistent buffer)
        raise RuntimeError(f"ViT tensors not filled from the checkpoint: {left_on_meta}")
    return vit.eval()


def _infer_config(tensors: Mapping[str, torch.Tensor], depth: int, num_heads: int | None) -> dict[str, Any]:
    """ViT's shape arguments, read off a state dict that already uses ViT's names."""
    embedding_dim, in_channels, patch_h, patch_w = tensors["patch_embedding.patcher.weight"].shape
    if patch_h != patch_w:
        raise ValueError(f"non-square patches ({patch_h}x{patch_w}) are not supported")
    num_patches = tensors["position_embedding"].shape[1] - 1  # one row belongs to the class token
    grid = math.isqrt(max(num_patches, 0))
    if num_patches < 1 or grid * grid != num_patches:
        raise ValueError(f"the position embedding has {num_patches + 1} rows, not 1 + a square grid of "
                         f"patches (a non-square image, or no row for the class token?)")
    if num_heads is None:
        if embedding_dim not in STANDARD_NUM_HEADS:
            raise ValueError(f"a state dict does not record the number of attention heads and "
                             f"embedding_dim={embedding_dim} is not a standard width "
                             f"{sorted(STANDARD_NUM_HEADS)}: pass num_heads=...")
        num_heads = STANDARD_NUM_HEADS[embedding_dim]
    return dict(img_size=grid * patch_h, in_channels=in_channels, patch_size=patch_h,
                num_transformer_layers=depth, embedding_dim=embedding_dim,
                mlp_size=tensors["transformer_encoder.0.mlp_block.mlp.0.weight"].shape[0],
                num_heads=num_heads, num_classes=tensors[f"{HEAD}.weight"].shape[0])


def _describe_key_problems(source: str, unsupported: list[str], missing: list[str]) -> str:
    """A readable error: layer indices folded into {i}, with the known cause of the keys where there is one."""
    layer_index = re.compile("^" + re.escape(_LAYER_PREFIXES[source]).replace(r"\{\}", r"\d+"))

    def summarise(keys: list[str], hints: dict[str, str], matches: Any) -> str:
        folded = list(dict.fromkeys(layer_index.sub(_LAYER_PREFIXES[source].format("{i}"), k) for k in keys))
        shown = ", ".join(folded[:8]) + (f" and {len(folded) - 8} more" if len(folded) > 8 else "")
        causes = list(dict.fromkeys(cause for pattern, cause in hints.items()
                                    if any(matches(key, pattern) for key in folded)))
        return shown + (f" [{'; '.join(causes)}]" if causes else "")

    parts = []
    if unsupported:
        parts.append("unsupported keys with no counterpart in ViT: "
                     + summarise(unsupported, _UNSUPPORTED_HINTS[source], lambda key, p: p in key))
    if missing:
        parts.append("missing keys: " + summarise(missing, _MISSING_HINTS[source], str.endswith))
    return f"cannot convert this {source} checkpoint to ViT: " + "; ".join(parts)
