"""Exercises of lesson 00, the paper read like an engineer (see ``course_utils.exercises`` for the framework).

q1 parameters of ViT-Ti/16 and ViT-S/16 · q2 parameters of ViT-B/16 at 384 px · q3 the pre-training head ·
q4 the shape of every tensor of Eq 1–4
"""

from __future__ import annotations

from typing import Any

from course_utils.exercises import NumberQuestion, Question, Wrong, as_number
from course_utils.exercises._parts import as_shape, expect_entries, shape_feedback, still_missing, unfilled

LESSON = "00_the_paper"


# ---------------------------------------------------------------------------------------------------------
# Parameter counts, part by part (the lesson's table), and the typical ways of getting them wrong
# ---------------------------------------------------------------------------------------------------------

def _parts(D: int, M: int, L: int, *, P: int = 16, img: int = 224, C: int = 3, K: int = 1000) -> dict[str, int]:
    """The parameters of a ViT, part by part: D wide, MLP size M, L layers, P×P patches, K classes."""
    N = (img // P) ** 2
    return {
        "E": P * P * C * D, "E bias": D, "class token": D, "E_pos": (N + 1) * D,
        "block LayerNorms": L * 4 * D, "qkv": L * 3 * D * D, "qkv bias": L * 3 * D,
        "U_msa": L * D * D, "U_msa bias": L * D, "MLP weights": L * 2 * D * M, "MLP biases": L * (M + D),
        "final LayerNorm": 2 * D, "head": D * K, "head bias": K,
    }


_ONE_D_SHORT = ("You are one D-vector short: check the class token, the row of E_pos for it (E_pos has N + 1 "
                "rows), and the bias of the patch embedding E.")


def _diagnoses(D: int, M: int, L: int, **kwargs: int) -> dict[int, str]:
    """Wrong totals that typical slips give -> what probably went wrong (without the answer)."""
    parts = _parts(D, M, L, **kwargs)
    total = sum(parts.values())
    P, img = kwargs.get("P", 16), kwargs.get("img", 224)
    without = {
        D: _ONE_D_SHORT,
        2 * D: "You are two D-vectors short: check Eq 4's final LayerNorm (a scale and a shift, D numbers "
               "each), the class token and the bias of E.",
        parts["head bias"]: "The head is an `nn.Linear`: it has a bias too, one per class.",
        parts["head"] + parts["head bias"]: "That's the model without its head; count the 1000-class head too "
                                            "(as torchvision does).",
        parts["head"] + parts["head bias"] + parts["final LayerNorm"]:
            "That's the model without Eq 4's LayerNorm and the head; count both.",
        parts["block LayerNorms"]: "Each encoder block has two LayerNorms (before MSA and before the MLP), "
                                   "each with a learnable scale and shift.",
        parts["qkv bias"] + parts["U_msa bias"] + parts["MLP biases"]:
            "The Linear layers inside each block have biases too: the q, k, v projection, U_msa and both MLP "
            "layers.",
        parts["qkv bias"] + parts["U_msa bias"] + parts["MLP biases"] + parts["block LayerNorms"]:
            "You counted the weight matrices of each block (12D² when M = 4D). Each block also has biases and "
            "two LayerNorms.",
        2 * L * D * D + 2 * L * D: "Attention projects every token three times, into q, k and v: U_qkv maps D "
                                   "numbers to 3D, with a bias for each.",
        parts["U_msa"] + parts["U_msa bias"]: "MSA ends with an output projection U_msa (D → D, with a bias) "
                                              "that mixes the heads.",
        L * (D * M + D): "The MLP has two layers, D → M → D, each with a bias.",
        L * (D * M + M): "The MLP has two layers, D → M → D, each with a bias.",
        parts["E"] - parts["E"] // kwargs.get("C", 3): "Each flattened patch holds P²·C numbers: the colour "
                                                       "channels count too.",
        parts["E_pos"] - (img // P + 1) * D: "E_pos has one row per patch of the whole grid, plus one for the "
                                             "class token, not one per patch along a side.",
    }
    diagnoses: dict[int, str] = {}
    for missing, message in without.items():
        diagnoses.setdefault(total - missing, message)
    return diagnoses


def _close_to(value: float, expected: int) -> bool:
    return abs(value - expected) <= 0.02 * expected


# ---------------------------------------------------------------------------------------------------------
# q1: parameters of ViT-Ti/16 and ViT-S/16
# ---------------------------------------------------------------------------------------------------------

_SMALL_MODELS = {  # name: (D, MLP size, layers); heads do not change the count
    "ViT-Ti/16": (192, 768, 12),
    "ViT-S/16": (384, 1536, 12),
}
_B16 = sum(_parts(768, 3072, 12).values())


class SmallModelParams(Question):
    name = "q1"
    answer_name = "vit_params"

    def _check(self, vit_params: Any) -> None:
        entries = expect_entries(vit_params, self.answer_name, list(_SMALL_MODELS))
        totals = {name: sum(_parts(*config).values()) for name, config in _SMALL_MODELS.items()}
        for name, config in _SMALL_MODELS.items():
            if unfilled(entries[name]):
                continue
            value = as_number(entries[name], f'vit_params["{name}"]')
            if value == totals[name]:
                continue
            shown = f"{int(value):,}" if value == int(value) else f"{value:g}"
            about = f'`vit_params["{name}"]` = {shown} is not it.'
            other = next(n for n in totals if n != name)
            if value == totals[other]:
                raise Wrong(f"{about} That's the count of {other}: are the two entries swapped?")
            if value == _B16:
                raise Wrong(f"{about} That's ViT-B/16 (D = 768). Use {name}'s own D and MLP size.")
            if value in (diagnoses := _diagnoses(*config)):
                raise Wrong(f"{about} {diagnoses[value]}")
            if _close_to(value, totals[name]):
                raise Wrong(f"{about} It's close (within 2%), but the count is exact to the parameter: one small "
                            f"part is missing or extra (a bias, a LayerNorm, the class token, a row of E_pos).")
            raise Wrong(f"{about} Go part by part through the lesson's table, with D and the MLP size of {name}.")
        still_missing(entries, self.answer_name)


q1 = SmallModelParams()


# ---------------------------------------------------------------------------------------------------------
# q2: ViT-B/16 fine-tuned at 384 px
# ---------------------------------------------------------------------------------------------------------

_B16_384 = sum(_parts(768, 3072, 12, img=384).values())
_E_POS_224, _E_POS_384 = (224 // 16) ** 2 * 768 + 768, (384 // 16) ** 2 * 768 + 768


class HigherResolutionParams(NumberQuestion):
    name = "q2"
    answer_name = "vit_b16_384_params"
    expected = _B16_384
    diagnoses = {
        _B16: "That's the count at 224 px. One part of the model depends on the number of patches: which?",
        _B16 + _E_POS_384: "You added the new E_pos but kept the old one too. The model at 384 px has one E_pos, "
                           "with one row per token.",
        _E_POS_384: "That's the new E_pos alone; the question asks for the whole model.",
        _E_POS_384 - _E_POS_224: "That's how much the model grows; the question asks for the whole model.",
        _B16_384 - 768: _ONE_D_SHORT,
        _B16 - _E_POS_224 + (384 // 16 + 1) * 768: "E_pos has a row for every patch of the whole grid (plus one "
                                                   "for the class token), not one per patch along a side.",
    }
    otherwise = ("Start from the count at 224 px, find the part that depends on the number of patches, and "
                 "recount only that part.")


q2 = HigherResolutionParams()


# ---------------------------------------------------------------------------------------------------------
# q3: the pre-training head
# ---------------------------------------------------------------------------------------------------------

_D, _K21 = 768, 21_843
_PRETRAINING_HEAD = (_D * _D + _D) + (_D * _K21 + _K21)


class PretrainingHead(NumberQuestion):
    name = "q3"
    answer_name = "pretraining_head_params"
    expected = _PRETRAINING_HEAD
    diagnoses = {
        _D * _D + _D * _K21: "Both layers of the head are `nn.Linear` layers with biases.",
        _D * _D + _D + _D * _K21: "The output layer has a bias too: one per class.",
        _D * _D + _D * _K21 + _K21: "The hidden layer has a bias too: one per hidden unit.",
        _D * _K21 + _K21: "That's a single linear layer, the fine-tuning head. At pre-training time a hidden layer "
                          "comes first.",
        _D * _D + _D: "That's the hidden layer alone; the output layer maps D numbers to K class scores.",
        (_D * _D + _D) + (_D * 1000 + 1000): "That's with ImageNet-1k's 1000 classes; ImageNet-21k has 21,843.",
        (_D * 3072 + 3072) + (3072 * _K21 + _K21): "The head's hidden layer is D wide here, as the question says, "
                                                   "not as wide as the encoder's MLP.",
        _PRETRAINING_HEAD + 2 * _D: "Eq 4's LayerNorm belongs to the model, not to the head, and tanh has no "
                                    "parameters.",
        _B16 - (_D * 1000 + 1000) + _PRETRAINING_HEAD: "That's the whole model with the pre-training head; the "
                                                       "question asks for the head alone.",
    }
    otherwise = "Count each Linear layer of the head: its weight matrix, then its bias."


q3 = PretrainingHead()


# ---------------------------------------------------------------------------------------------------------
# q4: the shape of every tensor of Eq 1-4
# ---------------------------------------------------------------------------------------------------------

_B, _C, _H, _W = 8, 3, 224, 224
_P, _DIM, _L, _M, _HEADS, _K = 32, 768, 12, 3072, 12, 1000
_N = (_H // _P) * (_W // _P)
_SHAPES = {
    "images": (_B, _C, _H, _W),
    "x_p": (_B, _N, _P * _P * _C),
    "patch_embeddings": (_B, _N, _DIM),
    "z_0": (_B, _N + 1, _DIM),
    "attention": (_B, _HEADS, _N + 1, _N + 1),
    "mlp_hidden": (_B, _N + 1, _M),
    "z_L": (_B, _N + 1, _DIM),
    "y": (_B, _DIM),
    "logits": (_B, _K),
}
_N16 = (_H // 16) * (_W // 16)


def _shape_diagnoses(key: str) -> dict[tuple[int, ...], str]:
    """Shapes that typical slips give for one entry -> what probably went wrong."""
    B, N, D, M, heads, K, P, C = _B, _N, _DIM, _M, _HEADS, _K, _P, _C
    tokens = N + 1
    by_key: dict[str, dict[tuple[int, ...], str]] = {
        "x_p": {
            (B, N, D): "That's the shape after the projection E, x_p E. x_p is what goes into it: the flattened "
                       "patches, each with all its pixel values.",
            (B, N, P * P): "Each flattened patch holds all C colour channels of its P × P pixels.",
            (B, tokens, P * P * C): "x_p holds the patches only; the class token joins in z_0.",
            (B, C, N, P * P): "Flattening puts all of a patch's values, every channel, in one row: one row per "
                              "patch.",
        },
        "patch_embeddings": {
            (B, N, P * P * C): "That's x_p, before the projection. E maps each flattened patch to D numbers.",
            (B, tokens, D): "The class token joins after the projection, in z_0. x_p E has one row per patch.",
            (B, D, _H // P, _W // P): "That's a Conv2d's output before flattening. The patch embedding flattens "
                                      "the grid into a sequence, one row per patch.",
        },
        "z_0": {
            (B, N, D): "z_0 has the class token too: Eq 1 prepends x_class to the N patch embeddings.",
            (1, tokens, D): "That's the shape of E_pos, shared by the batch. z_0 holds the tokens of each image.",
        },
        "attention": {
            (B, heads, tokens, D // heads): "That's the output of attention for each head, A v. A itself compares "
                                            "every token with every token.",
            (B, tokens, tokens): "Each head computes its own attention matrix.",
            (B, heads, N, N): "The class token attends, and is attended to, like every other token.",
            (B, tokens, D): "That's the output of the attention block. A is the matrix of attention weights.",
        },
        "mlp_hidden": {
            (B, tokens, D): "That's the MLP's output. Its hidden layer is wider: the MLP size of Table 1.",
            (B, tokens, 4 * M): "The MLP size of Table 1 is already the hidden layer's width (4D).",
        },
        "z_L": {
            (B, D): "z_L is still the whole sequence; Eq 4 picks token 0 out of it.",
            (B, N, D): "The class token stays in the sequence through all L blocks.",
        },
        "y": {
            (B, tokens, D): "Eq 4 reads one token, z_L^0: one D-vector per image.",
            (B, 1, D): "Indexing token 0 (`z_L[:, 0]`) drops the token dimension.",
            (B, K): "That's the logits. y is Eq 4's output, before the head.",
        },
        "logits": {
            (B, D): "That's y. The head maps it to one score per class.",
            (B, tokens, K): "The head is applied to y, one vector per image, not to every token.",
        },
    }
    diagnoses = by_key.get(key, {})
    expected = _SHAPES[key]
    as_b16 = tuple(_N16 if size == N else _N16 + 1 if size == tokens else size for size in expected)
    if as_b16 != expected:  # the patch count of ViT-B/16, the lesson's model
        diagnoses.setdefault(as_b16, "Check the patch size: this is ViT-B/32, so its grid of patches is coarser "
                                     "than ViT-B/16's.")
    return diagnoses


class Eq1To4Shapes(Question):
    name = "q4"
    answer_name = "shapes"

    def _check(self, shapes: Any) -> None:
        entries = expect_entries(shapes, self.answer_name, [key for key in _SHAPES if key != "images"])
        for key, expected in _SHAPES.items():
            if key == "images" or unfilled(entries[key]):
                continue
            what = f'`shapes["{key}"]`'
            got = as_shape(entries[key], what)
            if got == expected:
                continue
            if got in (diagnoses := _shape_diagnoses(key)):
                raise Wrong(f"{what} is {got}. {diagnoses[got]}")
            raise Wrong(shape_feedback(got, expected, what))
        still_missing(entries, self.answer_name)


q4 = Eq1To4Shapes()
