"""Exercises of lesson 00, the paper read like an engineer (see ``course_utils.exercises`` for the framework).

q1 parameters of ViT-Ti/16 and ViT-S/16 · q2 parameters of ViT-B/16 at 384 px · q3 the pre-training head ·
q4 the shape of every tensor of Eq 1–4
"""

from __future__ import annotations

from typing import Any

from course_utils.exercises import Mistake, NumberQuestion, Question, Wrong, as_number
from course_utils.exercises._parts import as_shape, expect_entries, shape_feedback, still_missing, unfilled

LESSON = "00_the_paper"
TITLE = "The paper, read like an engineer"
INTRO = """Four exercises on reading the paper for numbers you can check: parameter counts from Table 1's
configurations, what changes when the model is fine-tuned at a higher resolution, the pre-training head of
§3.1, and the shape of every tensor of Eq 1–4. Work them out by hand; the prompts say how to verify each one
afterwards."""
SETUP = """\
import torch

from course_utils import vit
from course_utils.exercises import lesson00 as ex
"""


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
    title = "Parameters of ViT-Ti/16 and ViT-S/16"
    answer_name = "vit_params"
    prompt = """\
Table 1 stops at Base, but the smaller ViTs of DeiT (Touvron et al., 2020) and timm follow the same recipe with a
head width of 64:

| model | layers $L$ | hidden size $D$ | MLP size | heads |
|---|---|---|---|---|
| ViT-Ti/16 | 12 | 192 | 768 | 3 |
| ViT-S/16 | 12 | 384 | 1536 | 6 |

**How many parameters does each have**, with $16 \\times 16$ patches, 224 × 224 RGB images and a 1000-class head
(as `vit.vit_ti_16()` and `vit.vit_s_16()` build them)? Use the lesson's table of parts: the patch embedding,
the class token, $\\mathbf{E}_{pos}$, $L$ encoder blocks, the final LayerNorm and the head. A helper function
for the formula is fine.

Verify afterwards for free on the meta device: `with torch.device("meta"): model = vit.vit_ti_16()`, then
`sum(p.numel() for p in model.parameters())`."""
    stub = '''\
vit_params = {
    "ViT-Ti/16": ...,  # D = 192, MLP size 768, 12 layers; 224 px images, P = 16, 1000 classes
    "ViT-S/16": ...,  # D = 384, MLP size 1536, 12 layers; 224 px images, P = 16, 1000 classes
}
'''
    _solution = '''\
def count_parameters(D: int, M: int, L: int, P: int = 16, img_size: int = 224, C: int = 3, K: int = 1000) -> int:
    N = (img_size // P) ** 2  # 196 patches
    block = 2 * D + (3 * D * D + 3 * D) + (D * D + D) + 2 * D + (D * M + M) + (M * D + D)  # LN, qkv, U_msa, LN, MLP
    return (P * P * C * D + D) + D + (N + 1) * D + L * block + 2 * D + (D * K + K)  # E, x_class, E_pos, ..., head


vit_params = {
    "ViT-Ti/16": count_parameters(D=192, M=768, L=12),
    "ViT-S/16": count_parameters(D=384, M=1536, L=12),
}
'''
    _hint = (
        "Go part by part, as in the lesson's table: patch embedding P²CD + D, class token D, E_pos (N + 1)D, "
        "L blocks, final LayerNorm 2D, head DK + K. The number of heads changes nothing: heads split D.",
        "One block: two LayerNorms (2D each), U_qkv (3D² + 3D), U_msa (D² + D) and the MLP (DM + M) + (MD + D).",
    )
    why = ("Doubling D roughly quadruples the encoder (12D² per block): S/16 is about 4 times Ti/16, and B/16 "
           "about 4 times S/16.")
    mistakes = (
        Mistake('''
def count(D, M, L):
    block = 4 * D + 4 * D * D + 4 * D + 2 * D * M + M + D
    return 16 * 16 * 3 * D + D + D + 196 * D + L * block + 2 * D + D * 1000 + 1000  # E_pos: no class-token row

vit_params = {"ViT-Ti/16": count(192, 768, 12), "ViT-S/16": count(384, 1536, 12)}
''', expect="one D-vector short"),
        Mistake('''
def count(D, M, L):
    block = 4 * D + 4 * D * D + 4 * D + 2 * D * M + M + D
    return 16 * 16 * 3 * D + D + D + 197 * D + L * block + 2 * D + D * 1000  # a head without a bias

vit_params = {"ViT-Ti/16": count(192, 768, 12), "ViT-S/16": count(384, 1536, 12)}
''', expect="bias too, one per class"),
        Mistake('''
def count(D, M, L):
    block = 4 * D + (D * D + D) + (D * D + D) + 2 * D * M + M + D  # q, k and v counted as one D x D matrix
    return 16 * 16 * 3 * D + D + D + 197 * D + L * block + 2 * D + D * 1000 + 1000

vit_params = {"ViT-Ti/16": count(192, 768, 12), "ViT-S/16": count(384, 1536, 12)}
''', expect="three times"),
    )

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
    title = "Parameters of ViT-B/16 at 384 px"
    answer_name = "vit_b16_384_params"
    prompt = """\
§3.2: "When feeding images of higher resolution, we keep the patch size the same, which results in a larger
effective sequence length." The paper fine-tunes ViT-B/16 at 384 × 384 pixels. At 224 px it has 86,567,656
parameters (1000 classes; the lesson's count).

**How many parameters does ViT-B/16 have at 384 px** (`vit.vit_b_16(img_size=384)`, still $P = 16$, 1000
classes)? Find the one term of the formula that depends on the image size, and change only that.

Verify afterwards on the meta device, as in the lesson."""
    stub = "vit_b16_384_params = ...  # a number\n"
    _solution = '''\
D = 768
tokens_224 = (224 // 16) ** 2 + 1  # 197 rows of E_pos at 224 px
tokens_384 = (384 // 16) ** 2 + 1  # 577 rows at 384 px: a 24 x 24 grid of patches, plus the class token
vit_b16_384_params = 86_567_656 + (tokens_384 - tokens_224) * D  # only E_pos grows; every weight matrix stays
'''
    _hint = ("Every weight matrix (E, the blocks, the head) is the same at any resolution. Which parameter has "
             "one row per token?")
    why = ("Only E_pos depends on the image size, so the model grows by 0.3%, while attention now compares 577 "
           "tokens with each other instead of 197: about 8.6 times the work.")
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
    mistakes = (
        Mistake("vit_b16_384_params = 86_567_656", expect="at 224 px"),
        Mistake("vit_b16_384_params = ((384 // 16) ** 2 + 1) * 768", expect="alone"),
        Mistake("vit_b16_384_params = 86_567_656 + ((384 // 16) ** 2 + 1) * 768", expect="kept the old one"),
    )


q2 = HigherResolutionParams()


# ---------------------------------------------------------------------------------------------------------
# q3: the pre-training head
# ---------------------------------------------------------------------------------------------------------

_D, _K21 = 768, 21_843
_PRETRAINING_HEAD = (_D * _D + _D) + (_D * _K21 + _K21)


class PretrainingHead(NumberQuestion):
    name = "q3"
    title = "The pre-training head"
    answer_name = "pretraining_head_params"
    prompt = """\
§3.1: "The classification head is implemented by a MLP with one hidden layer at pre-training time and by a
single linear layer at fine-tuning time." The hidden layer has a tanh non-linearity.

ViT-B/16 ($D = 768$) pre-trained on ImageNet-21k, with $K = 21{,}843$ classes: its pre-training head is
`nn.Sequential(nn.Linear(D, D), nn.Tanh(), nn.Linear(D, K))`, applied to $\\mathbf{y}$ of Eq 4. **How many
parameters does this head have?** (Only the head: Eq 4's LayerNorm belongs to the model.)

Verify afterwards by building that `nn.Sequential` and counting its parameters."""
    stub = "pretraining_head_params = ...  # a number\n"
    _solution = '''\
D, K = 768, 21_843
pretraining_head_params = (D * D + D) + (D * K + K)  # hidden Linear(D, D) and output Linear(D, K), biases included
'''
    _hint = "Two Linear layers, D → D and D → K, each with a weight matrix and a bias. tanh has no parameters."
    why = ("At fine-tuning the paper drops this head and puts a zero-initialised D × K linear layer in its place; "
           "with 21,843 classes the pre-training head alone is a fifth the size of the ViT-B/16 backbone.")
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
    mistakes = (
        Mistake("pretraining_head_params = 768 * 768 + 768 * 21_843", expect="with biases"),
        Mistake("pretraining_head_params = 768 * 21_843 + 21_843", expect="single linear layer"),
        Mistake("pretraining_head_params = (768 * 768 + 768) + (768 * 1000 + 1000)", expect="21,843"),
    )


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
    title = "The shape of every tensor of Eq 1–4"
    answer_name = "shapes"
    prompt = """\
Follow a batch of 8 images through **ViT-B/32** (Table 1's Base: $D = 768$, $L = 12$, MLP size 3072, 12 heads;
patches of $32 \\times 32$; 1000 classes) and give the shape of each tensor, in PyTorch's layout (batch first):

- `images`: the input (given);
- `x_p`: the flattened patches of Eq 1, before the projection $\\mathbf{E}$;
- `patch_embeddings`: $\\mathbf{x}_p\\mathbf{E}$, every patch projected;
- `z_0`: Eq 1's output, the input of the encoder;
- `attention`: the attention weights $A = \\mathrm{softmax}(\\mathbf{q}\\mathbf{k}^\\top/\\sqrt{D_h})$ of one encoder
  block (Eq 2; Appendix A), all heads;
- `mlp_hidden`: the output of the MLP's first layer (after the GELU) in one block (Eq 3);
- `z_L`: the encoder's output;
- `y`: Eq 4's output;
- `logits`: the head's output.

Use the names defined in the stub (a tuple such as `(B, C, H, W)` is fine). Verify afterwards as the lesson
did for ViT-B/16: build `vit.create_vit("b", 32)` on the meta device and follow a batch through it."""
    stub = '''\
B, C, H, W = 8, 3, 224, 224  # a batch of 8 RGB images of 224 x 224 pixels
P, D, L, M, heads, K = 32, 768, 12, 3072, 12, 1000  # ViT-B/32 with ImageNet's 1000 classes

shapes = {
    "images": (B, C, H, W),  # given
    "x_p": ...,
    "patch_embeddings": ...,
    "z_0": ...,
    "attention": ...,
    "mlp_hidden": ...,
    "z_L": ...,
    "y": ...,
    "logits": ...,
}
'''
    _solution = '''\
B, C, H, W = 8, 3, 224, 224  # a batch of 8 RGB images of 224 x 224 pixels
P, D, L, M, heads, K = 32, 768, 12, 3072, 12, 1000  # ViT-B/32 with ImageNet's 1000 classes

N = (H // P) * (W // P)  # a 7 x 7 grid: 49 patches
shapes = {
    "images": (B, C, H, W),  # given
    "x_p": (B, N, P * P * C),  # Eq 1: N flattened patches of P^2 * C numbers (3072 here, as many as M!)
    "patch_embeddings": (B, N, D),  # x_p E: each patch projected to D numbers
    "z_0": (B, N + 1, D),  # the class token prepended, E_pos added
    "attention": (B, heads, N + 1, N + 1),  # A: every token against every token, in each head
    "mlp_hidden": (B, N + 1, M),  # the MLP's hidden layer, M = 4D wide, for every token
    "z_L": (B, N + 1, D),  # the L blocks keep the shape of z_0
    "y": (B, D),  # Eq 4: LN of token 0
    "logits": (B, K),  # the head: one score per class
}
'''
    _hint = (
        "N = HW/P² patches. Every tensor from z_0 to z_L has one row per token, the N patches plus the class "
        "token; Eq 4 keeps only token 0.",
        "A compares every token with every other token, once per head. The MLP's hidden layer has the MLP size "
        "of Table 1.",
    )
    why = ("Knowing every shape before writing code is half of the replication: lessons 02–05 assert each of "
           "these. (At P = 32, P²·C happens to equal ViT-B's MLP size, 3072: same number, different meaning.)")
    mistakes = (
        Mistake('''
B, C, H, W = 8, 3, 224, 224
P, D, L, M, heads, K = 32, 768, 12, 3072, 12, 1000
N = (H // P) * (W // P)
shapes = {"images": (B, C, H, W), "x_p": (B, N, D), "patch_embeddings": (B, N, D), "z_0": (B, N + 1, D),
          "attention": (B, heads, N + 1, N + 1), "mlp_hidden": (B, N + 1, M), "z_L": (B, N + 1, D), "y": (B, D),
          "logits": (B, K)}
''', expect="after the projection"),
        Mistake('''
B, C, H, W = 8, 3, 224, 224
P, D, L, M, heads, K = 32, 768, 12, 3072, 12, 1000
N = (H // P) * (W // P)
shapes = {"images": (B, C, H, W), "x_p": (B, N, P * P * C), "patch_embeddings": (B, N, D), "z_0": (B, N, D),
          "attention": (B, heads, N, N), "mlp_hidden": (B, N, M), "z_L": (B, N, D), "y": (B, D), "logits": (B, K)}
''', expect="prepends x_class"),
        Mistake('''
B, C, H, W = 8, 3, 224, 224
P, D, L, M, heads, K = 32, 768, 12, 3072, 12, 1000
N = (H // P) * (W // P)
shapes = {"images": (B, C, H, W), "x_p": (B, N, P * P * C), "patch_embeddings": (B, N, D), "z_0": (B, N + 1, D),
          "attention": (B, heads, N + 1, D // heads), "mlp_hidden": (B, N + 1, M), "z_L": (B, N + 1, D),
          "y": (B, D), "logits": (B, K)}
''', expect="every token with every token"),
    )

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
