"""Exercises of lesson 04, Equation 3: the MLP block and the encoder block (see ``course_utils.exercises``).

q1 the MLP block as a function of its weights · q2 the pre-norm encoder block from its pieces · q3 parameters
of one ViT-L block · q4 a post-norm block, for comparison · q5 ViT's block from nn.TransformerEncoderLayer
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import (
    NumberQuestion,
    Question,
    Unchanged,
    Wrong,
    call_for_gradients,
    expect_callable,
    expect_class,
    expect_close,
    expect_gradients,
    expect_tensor,
    perturb_,
    randn,
    recorded_inputs,
    seeded,
)
from course_utils.exercises._probes import call_leaving_alone
from course_utils.vit import LAYER_NORM_EPS, MLPBlock, TransformerEncoderBlock

LESSON = "04_mlp_and_encoder_block"

# Tolerances: the learner's code runs the same float32 operations as the references, so outputs agree to
# round-off (about 1e-7), while every typical slip changes them by 1e-4 or more.
_ATOL, _RTOL = 1e-6, 1e-5


def _perturbed_block(dim: int, heads: int, hidden: int, seed: int) -> TransformerEncoderBlock:
    """A TransformerEncoderBlock in eval mode, without dropout, with random parameters (see ``perturb_``)."""
    block = TransformerEncoderBlock(dim, heads, hidden, mlp_dropout=0.0, attn_dropout=0.0)
    perturb_(block, seed).eval()
    return block


def _explain_linear_error(error: Exception) -> str | None:
    text = str(error)
    if any(words in text for words in ("cannot be multiplied", "size mismatch", "must match the size",
                                       "Expected size", "normalized_shape")):
        return ("Check the shapes: nn.Linear stores its weight as (out_features, in_features), so a Linear "
                "layer computes x @ W.T + b (or `F.linear(x, W, b)`); and LayerNorm normalises over the last "
                "dimension, D.")
    return None


# ---------------------------------------------------------------------------------------------------------
# q1: the MLP block from its weights
# ---------------------------------------------------------------------------------------------------------

_MLP_KEYS = ("layer_norm.weight", "layer_norm.bias", "mlp.0.weight", "mlp.0.bias", "mlp.3.weight", "mlp.3.bias")


def _mlp(x: torch.Tensor, p: dict[str, torch.Tensor], *, eps: float = 1e-6, layer_norm: bool = True,
         affine: bool = True, act: Callable[[torch.Tensor], torch.Tensor] = F.gelu, act_last: bool = False,
         bias: bool = True) -> torch.Tensor:
    """MLP(LN(x)) and its typical variants, for the diagnoses."""
    if layer_norm:
        x = F.layer_norm(x, x.shape[-1:], p["layer_norm.weight"] if affine else None,
                         p["layer_norm.bias"] if affine else None, eps=eps)
    x = act(F.linear(x, p["mlp.0.weight"], p["mlp.0.bias"] if bias else None))
    x = F.linear(x, p["mlp.3.weight"], p["mlp.3.bias"] if bias else None)
    return act(x) if act_last else x


class MLPFunction(Question):
    name = "q1"
    answer_name = "mlp_block"

    def _explain_error(self, error: Exception) -> str | None:
        if isinstance(error, KeyError):
            return f"`params` has exactly these keys: {', '.join(_MLP_KEYS)}."
        return _explain_linear_error(error)

    def _check(self, mlp_block: Any) -> None:
        expect_callable(mlp_block, self.answer_name)
        # Small tokens first (there eps matters), then ViT-B size with ordinary tokens; other batch shapes.
        for seed, (batch, tokens, dim, hidden, scale) in enumerate([(2, 5, 8, 32, 0.01), (3, 4, 768, 3072, 1.0)]):
            block = perturb_(MLPBlock(dim, hidden, dropout=0.0), seed=100 * seed).eval()
            x = scale * randn(batch, tokens, dim, seed=seed) + scale * 0.5
            self._check_case(mlp_block, block, x)

    @staticmethod
    def _check_case(mlp_block: Any, block: nn.Module, x: torch.Tensor) -> None:
        params = {key: value.detach().clone() for key, value in block.state_dict().items()}
        inputs = Unchanged(x=x, params=params)  # the caller's own tensors: the function must leave them alone
        out = expect_tensor(mlp_block(x, params), "`mlp_block` returned")
        inputs.expect("mlp_block")
        hidden = params["mlp.0.weight"].shape[0]
        about = f"for x of shape {tuple(x.shape)} and an MLP size of {hidden}"
        if out.shape != x.shape:
            extra = (" That's the width of the hidden layer: the second Linear layer brings every token "
                     "back to width D." if out.shape[-1] == hidden else "")
            raise Wrong(f"`mlp_block` returned shape {tuple(out.shape)} {about}; the MLP block keeps the "
                        f"shape of its input, (B, N, D).{extra}")
        with torch.no_grad():
            expected = block(x)
        p = params
        expect_close(
            out, expected, atol=_ATOL, rtol=_RTOL,
            mistakes=[
                (lambda: _mlp(x, p, act=F.relu),
                 "Your MLP uses ReLU. ViT's MLP has \"two layers with a GELU non-linearity\" (§3.1)."),
                (lambda: _mlp(x, p, act=lambda t: F.gelu(t, approximate="tanh")),
                 "Your GELU is the tanh approximation. ViT (like torchvision and timm) uses the exact "
                 "GELU, x·Φ(x) with the erf: the default of `F.gelu` and `nn.GELU()`."),
                (lambda: _mlp(x, p, eps=1e-5),
                 "Your LayerNorm uses eps = 1e-5, PyTorch's default (also `F.layer_norm`'s). ViT's "
                 "LayerNorms use a smaller eps: see `course_utils.vit.LAYER_NORM_EPS`. On tokens of "
                 "small magnitude, like some of the checker's, the difference shows."),
                (lambda: _mlp(x, p, layer_norm=False),
                 "Your output matches the MLP without its LayerNorm: Eq 3 normalises the tokens first, "
                 "MLP(LN(z'))."),
                (lambda: _mlp(x, p, affine=False),
                 "Your LayerNorm normalises, but leaves out its learnable scale and shift, "
                 "params[\"layer_norm.weight\"] (γ) and params[\"layer_norm.bias\"] (β)."),
                (lambda: _mlp(x, p, affine=False, eps=1e-5),
                 "Your LayerNorm leaves out its learnable scale and shift (γ, β). Check its eps too."),
                (lambda: _mlp(x, p, act=lambda t: t),
                 "Your MLP has no non-linearity: put a GELU between the two Linear layers. Without it "
                 "the two layers collapse into a single linear map."),
                (lambda: _mlp(x, p, act_last=True),
                 "Your MLP applies GELU after the second Linear layer too. There is one GELU, between "
                 "the two layers; the block's output goes straight into the residual sum."),
                (lambda: _mlp(x, p) + x,
                 "Your output includes the residual, + x. `mlp_block` is MLP(LN(x)) alone, like "
                 "`MLPBlock`: the encoder block adds the residual around it."),
                (lambda: _mlp(x, p, bias=False),
                 "Your Linear layers leave out their biases, params[\"mlp.0.bias\"] and "
                 "params[\"mlp.3.bias\"]."),
            ],
            otherwise="Your output has the right shape, but not the values of MLPBlock. Go step by step: "
                      "LayerNorm (γ, β, eps), Linear, GELU, Linear, and compare each step with the "
                      "lesson's `MLPBlockByHand`.",
        )
        # In training, gradients flow back through the block to the tokens and to every weight.
        leaf_x = x.clone().requires_grad_()
        leaves = {key: value.clone().requires_grad_() for key, value in params.items()}
        out = call_for_gradients(mlp_block, "The output of `mlp_block`", leaf_x, leaves)
        expect_gradients(out, _mlp(leaf_x, leaves), {"x": leaf_x, **{f"params[{k!r}]": v for k, v in leaves.items()}},
                         "The output of `mlp_block`")

q1 = MLPFunction()


# ---------------------------------------------------------------------------------------------------------
# q2: the pre-norm encoder block
# ---------------------------------------------------------------------------------------------------------

_POST_NORM_WHY = (
    "ViT is pre-norm: x + Sublayer(LN(x)). Post-norm puts the LayerNorm on the residual path, so the signal "
    "and the gradients of the lowest layers pass through every LayerNorm above them; deep post-norm stacks "
    "train less stably and need a careful warmup (Xiong et al., 2020)."
)


def _pieces(block: TransformerEncoderBlock) -> tuple[nn.Module, nn.Module, nn.Module, nn.Module]:
    """(ln1, msa, ln2, mlp): the four pieces of an encoder block."""
    return (block.msa_block.layer_norm, block.msa_block.multihead_attn, block.mlp_block.layer_norm,
            block.mlp_block.mlp)


def _post_norm(z: torch.Tensor, ln1: nn.Module, msa: nn.Module, ln2: nn.Module, mlp: nn.Module) -> torch.Tensor:
    z = ln1(z + msa(z))
    return ln2(z + mlp(z))


class PreNormBlock(Question):
    name = "q2"
    answer_name = "encoder_block"

    def _explain_error(self, error: Exception) -> str | None:
        if isinstance(error, TypeError) and "argument" in str(error):
            return "Keep the stub's signature: encoder_block(z, ln1, msa, ln2, mlp), and call each piece on a tensor."
        return None

    def _check(self, encoder_block: Any) -> None:
        expect_callable(encoder_block, self.answer_name)
        for seed, (batch, tokens, dim, heads, hidden) in enumerate([(2, 5, 16, 4, 64), (1, 7, 24, 3, 48)]):
            block = _perturbed_block(dim, heads, hidden, seed=200 + 100 * seed).train()  # mode as in training
            z = 2 * randn(batch, tokens, dim, seed=seed) + 1
            self._check_case(encoder_block, block, z)

    @staticmethod
    def _check_case(encoder_block: Any, block: TransformerEncoderBlock, z: torch.Tensor) -> None:
        ln1, msa, ln2, mlp = _pieces(block)
        inputs = Unchanged(z=z, ln1=ln1, msa=msa, ln2=ln2, mlp=mlp)
        with seeded(0):
            out = expect_tensor(encoder_block(z, ln1, msa, ln2, mlp), "`encoder_block` returned")
        inputs.expect("encoder_block")
        if out.shape != z.shape:
            raise Wrong(f"`encoder_block` returned shape {tuple(out.shape)} for z of shape "
                        f"{tuple(z.shape)}; an encoder layer keeps the shape of its input, (B, N, D), so "
                        f"that L of them can be stacked.")
        with seeded(1):
            again = encoder_block(z, ln1, msa, ln2, mlp)
        if isinstance(again, torch.Tensor) and again.shape == out.shape and not torch.equal(again, out):
            raise Wrong("`encoder_block` gives a different output for the same input: it adds randomness (a "
                        "dropout?). The block adds none of its own: Appendix B.1's dropout sits after the dense "
                        "layers, and those are inside `msa` and `mlp` already.")
        with torch.no_grad():
            PreNormBlock._diagnose(out, block, z, ln1, msa, ln2, mlp)
        leaf = z.clone().requires_grad_()
        out = call_for_gradients(encoder_block, "The output of `encoder_block`", leaf, ln1, msa, ln2, mlp)
        weights = {"ln1.weight": ln1.weight, "msa.qkv.weight": msa.qkv.weight, "ln2.weight": ln2.weight,
                   "mlp[0].weight": mlp[0].weight}
        expect_gradients(out, block(leaf), {"z": leaf, **weights}, "The output of `encoder_block`")

    @staticmethod
    def _diagnose(out: torch.Tensor, block: TransformerEncoderBlock, z: torch.Tensor, ln1: nn.Module,
                  msa: nn.Module, ln2: nn.Module, mlp: nn.Module) -> None:
        z1 = msa(ln1(z)) + z
        expect_close(
            out, block(z), atol=_ATOL, rtol=_RTOL,
            mistakes=[
                (lambda: _post_norm(z, ln1, msa, ln2, mlp),
                 f"Your block is post-norm: the LayerNorm comes after the residual add, "
                 f"LN(z + Sublayer(z)), as in the original Transformer. {_POST_NORM_WHY}"),
                (lambda: mlp(ln2(msa(ln1(z)))),
                 "Your block has no residual connections: Eq 2 and Eq 3 each add their input back to "
                 "the sub-layer's output (the \"+ z\")."),
                (lambda: mlp(ln2(msa(ln1(z)) + z)),
                 "Eq 2 is right, but Eq 3 has no residual connection: add z' back to the MLP's output."),
                (lambda: mlp(ln2(msa(ln1(z)))) + msa(ln1(z)),
                 "Eq 3 is right, but Eq 2 has no residual connection: add z back to the MSA's output."),
                (lambda: (lambda a: (lambda b: mlp(b) + b)(ln2(a)))(msa(ln1(z)) + ln1(z)),
                 "Your residuals add the normalised tokens, LN(z) + MSA(LN(z)). The residual adds the "
                 "sub-layer's input itself, un-normalised: z + MSA(LN(z)). The LayerNorm is applied "
                 "only inside the branch."),
                (lambda: z + msa(ln1(z)) + mlp(ln2(z)),
                 "Your MLP reads z, the input of the layer. In Eq 3 it reads z', the output of Eq 2: "
                 "the two sub-layers run one after the other, not side by side."),
                (lambda: mlp(ln1(z1)) + z1,
                 "Your block uses ln1 for both sub-layers. Eq 3 has a LayerNorm of its own, ln2, with "
                 "its own learned scale and shift."),
                (lambda: (lambda a: msa(ln1(a)) + a)(mlp(ln2(z)) + z),
                 "Your block runs the MLP first. Eq 2 (attention) comes first, then Eq 3 (the MLP)."),
                (lambda: (lambda a: mlp(a) + a)(msa(z) + z),
                 "Your block leaves out both LayerNorms: each sub-layer gets LN of its input, "
                 "MSA(LN(z)) and MLP(LN(z'))."),
            ],
            otherwise="Your output has the right shape, but not the values of Eq 2 then Eq 3. Write one "
                      "line per equation, each of the form x + Sublayer(LN(x)).",
        )


q2 = PreNormBlock()


# ---------------------------------------------------------------------------------------------------------
# q3: parameters of one ViT-L block
# ---------------------------------------------------------------------------------------------------------

class ViTLBlockParams(NumberQuestion):
    name = "q3"
    answer_name = "vit_l_block_params"
    expected = 12_596_224
    diagnoses = {
        12_582_912: "You counted the weight matrices only. Each Linear layer also has a bias, and each of the "
                    "two LayerNorms has a learnable scale and shift.",
        12_587_008: "Each Linear layer also has a bias: one per output feature.",
        12_592_128: "The block has two LayerNorms, each with learnable parameters: a scale and a shift of D each.",
        12_594_176: "The block has two LayerNorms, and each has two learnable vectors of D: a scale γ and a shift β.",
        8_400_896: "The MLP has two layers: D → 4096 and 4096 → D, each with weights and biases.",
        8_397_824: "The MLP has two layers: D → 4096 and 4096 → D, each with weights and biases.",
        4_200_448: "That's Eq 2's MSA block (lesson 03). A whole block also has Eq 3's MLP block.",
        8_395_904: "That's Eq 3's MLP block. A whole block also has Eq 2's MSA block.",
        7_087_872: "That's a ViT-Base block (D = 768, MLP 3072). ViT-Large is wider.",
        6_301_696: "The MLP's hidden layer is 4096 = 4·D wide, not D.",
        10_497_024: "U_qkv maps every token to q, k and v at once: D → 3D.",
        302_309_376: "That's all 24 blocks of ViT-L's encoder; the question asks for one block.",
    }
    otherwise = ("List the block's layers (`print(TransformerEncoderBlock(1024, 16, 4096))` shows them) and count "
                 "each one's weights and biases. The number of heads changes nothing.")


q3 = ViTLBlockParams()


# ---------------------------------------------------------------------------------------------------------
# q4: a post-norm block
# ---------------------------------------------------------------------------------------------------------

class PostNorm(Question):
    name = "q4"
    answer_name = "PostNormBlock"

    def _explain_error(self, error: Exception) -> str | None:
        if isinstance(error, TypeError) and "argument" in str(error):
            return ("Override `forward(self, x)` only; keep TransformerEncoderBlock's constructor, so that "
                    "PostNormBlock(embedding_dim, num_heads, mlp_size, mlp_dropout) works.")
        return None

    def _check(self, PostNormBlock: Any) -> None:
        expect_class(PostNormBlock, self.answer_name)
        if not issubclass(PostNormBlock, TransformerEncoderBlock):
            raise Wrong("`PostNormBlock` should be a subclass of `TransformerEncoderBlock` (as in the stub), so "
                        "that it has the same layers and parameter names and a ViT block's weights load into it.")
        cases = [(2, 5, 16, 4, 64, 0.0), (1, 6, 12, 2, 24, 0.0), (3, 4, 12, 3, 36, 0.2)]
        for seed, (batch, tokens, dim, heads, hidden, dropout) in enumerate(cases):
            reference = TransformerEncoderBlock(dim, heads, hidden, mlp_dropout=dropout, attn_dropout=0.0)
            perturb_(reference, seed=400 + 100 * seed)
            block = PostNormBlock(dim, heads, hidden, mlp_dropout=dropout)
            try:
                block.load_state_dict(reference.state_dict())
            except RuntimeError:
                raise Wrong("The weights of a TransformerEncoderBlock don't load into your `PostNormBlock`: keep "
                            "the parent's layers (override `forward` only, don't add or replace layers in "
                            "`__init__`).") from None
            z = 2 * randn(batch, tokens, dim, seed=seed) + 1
            if dropout:
                self._check_training(block, reference, z)
            else:
                self._check_case(block.eval(), reference.eval(), z)

    @staticmethod
    def _check_case(block: nn.Module, reference: TransformerEncoderBlock, z: torch.Tensor) -> None:
        ln1, msa, ln2, mlp = _pieces(reference)
        inputs = Unchanged(x=z)
        with recorded_inputs(block.msa_block.layer_norm) as first, recorded_inputs(block.mlp_block.layer_norm) as second:
            out = expect_tensor(block(z), "Your block returned")
        inputs.expect("PostNormBlock.forward")
        if out.shape != z.shape:
            raise Wrong(f"Your block returned shape {tuple(out.shape)} for tokens of shape "
                        f"{tuple(z.shape)}; an encoder layer keeps the shape of its input, (B, N, D).")
        with torch.no_grad():
            pre_norm = reference(z)
            expected = _post_norm(z, ln1, msa, ln2, mlp)
            if torch.allclose(expected, pre_norm, atol=1e-3):  # never: the difference this exercise is about
                raise RuntimeError("lesson04.q4: post-norm and pre-norm agree on the test input")
            PostNorm._diagnose(out, expected, pre_norm, z, ln1, msa, ln2, mlp)
            # A LayerNorm hides a scale error in its input (LN(c·v) = LN(v)): compare what is normalised.
            z1 = z + msa(z)
            sums = [("the attention sub-layer's", first, z1), ("the MLP sub-layer's", second, ln1(z1) + mlp(ln1(z1)))]
            for what, recorded, value in sums:
                if len(recorded) == 1 and not torch.allclose(recorded[0], value, atol=1e-4, rtol=1e-4):
                    ratio = float((recorded[0] * value).sum() / (value * value).sum())
                    raise Wrong(f"Your output is right only because a LayerNorm hides a factor: what {what} "
                                f"LayerNorm normalises is about {ratio:.3g} × (x + Sublayer(x)), not the residual "
                                f"sum itself. LayerNorm(c·v) = LayerNorm(v), so the factor vanishes from this "
                                f"block's output, but it is still an error (and elsewhere, before a residual add, "
                                f"it would show). Normalise exactly x + Sublayer(x).")
        leaf = z.clone().requires_grad_()
        out = call_for_gradients(block, "Your block's output", leaf)
        expect_gradients(out, _post_norm(leaf, ln1, msa, ln2, mlp), {"x": leaf}, "Your block's output",
                         reached=dict(block.named_parameters()))

    @staticmethod
    def _check_training(block: nn.Module, reference: TransformerEncoderBlock, z: torch.Tensor) -> None:
        """With dropout on: the same seed gives the learner's block and the reference the same masks."""
        ln1, msa, ln2, mlp = _pieces(reference.train())
        block.train()
        inputs = Unchanged(x=z)
        with seeded(7):
            out = expect_tensor(block(z), "Your block returned")
        inputs.expect("PostNormBlock.forward")
        with torch.no_grad(), seeded(7):
            expected = _post_norm(z, ln1, msa, ln2, mlp)
        expect_close(out, expected, atol=_ATOL, rtol=_RTOL,
                     otherwise="Your block is right in eval mode, but not in training mode with the same random "
                               "seed: its dropout is not where the block's is. Keep the dropout that "
                               "`multihead_attn` and `mlp` hold (after their dense layers, as in Appendix B.1) "
                               "and add none: call each sub-layer once.")

    @staticmethod
    def _diagnose(out: torch.Tensor, expected: torch.Tensor, pre_norm: torch.Tensor, z: torch.Tensor,
                  ln1: nn.Module, msa: nn.Module, ln2: nn.Module, mlp: nn.Module) -> None:
        expect_close(
            out, expected, atol=_ATOL, rtol=_RTOL,
            mistakes=[
                (pre_norm,
                 "Your block computes pre-norm, x + Sublayer(LN(x)): ViT's arrangement, the same as "
                 "TransformerEncoderBlock. Post-norm applies the sub-layer to the raw x and the "
                 "LayerNorm after the residual add, LN(x + Sublayer(x))."),
                (lambda: (lambda a: a + ln2(mlp(a)))(z + ln1(msa(z))),
                 "Your LayerNorms normalise the sub-layer's output only, x + LN(Sublayer(x)). Post-norm "
                 "normalises the sum: LN(x + Sublayer(x))."),
                (lambda: (lambda a: ln2(a + mlp(ln2(a))))(ln1(z + msa(ln1(z)))),
                 "Your block applies each LayerNorm twice, before the sub-layer and after the add. In "
                 "post-norm the sub-layer reads the raw x; the only LayerNorm comes after the add. "
                 "(`self.msa_block(x)` includes a LayerNorm: call `self.msa_block.multihead_attn`.)"),
                (lambda: ln2(mlp(ln1(msa(z)))),
                 "Your block has no residual connections: post-norm still adds the input back, "
                 "LN(x + Sublayer(x))."),
                (lambda: (lambda a: mlp(ln2(a)) + a)(ln1(z + msa(z))),
                 "Your attention sub-layer is post-norm, but the MLP sub-layer is still pre-norm. "
                 "Arrange both the same way."),
                (lambda: (lambda a: ln2(a + mlp(a)))(msa(ln1(z)) + z),
                 "Your MLP sub-layer is post-norm, but the attention sub-layer is still pre-norm. "
                 "Arrange both the same way."),
            ],
            otherwise="Your output has the right shape, but is not LN(x + Sublayer(x)) for the two "
                      "sub-layers in turn. Check which LayerNorm goes with which sub-layer.",
        )


q4 = PostNorm()


# ---------------------------------------------------------------------------------------------------------
# q5: ViT's block from PyTorch's nn.TransformerEncoderLayer
# ---------------------------------------------------------------------------------------------------------

_TO_TORCH = {  # TransformerEncoderBlock's state-dict keys -> nn.TransformerEncoderLayer's
    "msa_block.layer_norm.weight": "norm1.weight",
    "msa_block.layer_norm.bias": "norm1.bias",
    "msa_block.multihead_attn.qkv.weight": "self_attn.in_proj_weight",
    "msa_block.multihead_attn.qkv.bias": "self_attn.in_proj_bias",
    "msa_block.multihead_attn.proj.weight": "self_attn.out_proj.weight",
    "msa_block.multihead_attn.proj.bias": "self_attn.out_proj.bias",
    "mlp_block.layer_norm.weight": "norm2.weight",
    "mlp_block.layer_norm.bias": "norm2.bias",
    "mlp_block.mlp.0.weight": "linear1.weight",
    "mlp_block.mlp.0.bias": "linear1.bias",
    "mlp_block.mlp.3.weight": "linear2.weight",
    "mlp_block.mlp.3.bias": "linear2.bias",
}


def _block_variant(z: torch.Tensor, block: TransformerEncoderBlock, *, post_norm: bool = False,
                   act: Callable[[torch.Tensor], torch.Tensor] = F.gelu, eps: float = 1e-6) -> torch.Tensor:
    """The block (no dropout) with the typical configuration slips of nn.TransformerEncoderLayer."""
    sd = block.state_dict()
    msa = block.msa_block.multihead_attn

    def ln(x: torch.Tensor, prefix: str) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], sd[f"{prefix}.weight"], sd[f"{prefix}.bias"], eps=eps)

    def mlp(x: torch.Tensor) -> torch.Tensor:
        x = act(F.linear(x, sd["mlp_block.mlp.0.weight"], sd["mlp_block.mlp.0.bias"]))
        return F.linear(x, sd["mlp_block.mlp.3.weight"], sd["mlp_block.mlp.3.bias"])

    ln1, ln2 = "msa_block.layer_norm", "mlp_block.layer_norm"
    if post_norm:
        z = ln(z + msa(z), ln1)
        return ln(z + mlp(z), ln2)
    z = z + msa(ln(z, ln1))
    return z + mlp(ln(z, ln2))


class TorchEncoderLayer(Question):
    name = "q5"
    answer_name = "vit_encoder_layer"

    def _explain_error(self, error: Exception) -> str | None:
        if isinstance(error, TypeError) and "argument" in str(error):
            return ("Keep the stub's signature, vit_encoder_layer(embedding_dim, num_heads, mlp_size, dropout), "
                    "and look up `nn.TransformerEncoderLayer`'s own argument names with "
                    "`help(nn.TransformerEncoderLayer)`.")
        return None

    def _check(self, vit_encoder_layer: Any) -> None:
        expect_callable(vit_encoder_layer, self.answer_name)
        # B != N, small tokens in one case (there eps shows), dropout on in two (looked at in training mode).
        cases = [(2, 5, 16, 4, 48, 0.0, 0.01), (3, 4, 24, 3, 40, 0.2, 1.0), (1, 6, 12, 2, 24, 0.1, 1.0)]
        for seed, (batch, tokens, dim, heads, hidden, dropout, scale) in enumerate(cases):
            layer = call_leaving_alone(vit_encoder_layer, "`vit_encoder_layer`", dim, heads, hidden, dropout,
                                       draws=("torch",), seed=seed)
            if layer is None:
                raise Wrong("`vit_encoder_layer` returned None: did you forget the `return`?")
            if not isinstance(layer, nn.TransformerEncoderLayer):
                raise Wrong(f"`vit_encoder_layer` returned a {type(layer).__name__}. The exercise is to configure "
                            f"PyTorch's own `nn.TransformerEncoderLayer`: return the layer itself, not a module "
                            f"around it or a block of your own.")
            eps = {float(norm.eps) for norm in (layer.norm1, layer.norm2)}
            if eps != {LAYER_NORM_EPS}:
                shown = ", ".join("1e-5, PyTorch's default" if e == 1e-5 else f"{e:g}" for e in sorted(eps))
                raise Wrong(f"Your LayerNorms use eps = {shown}. ViT's use another one, "
                            f"`course_utils.vit.LAYER_NORM_EPS`: on tokens of small magnitude the difference "
                            f"shows. Pass it as `layer_norm_eps`.")
            block = perturb_(TransformerEncoderBlock(dim, heads, hidden, mlp_dropout=dropout, attn_dropout=0.0),
                             seed=500 + 100 * seed)
            self._load(layer, block, hidden, dim)
            z = scale * (2 * randn(batch, tokens, dim, seed=seed) + 1)
            self._check_values(layer.eval(), block.eval(), z)
            self._check_training(layer.train(), block.train(), z, dropout)

    @staticmethod
    def _load(layer: nn.TransformerEncoderLayer, block: TransformerEncoderBlock, hidden: int, dim: int) -> None:
        if layer.linear1.out_features != hidden:
            raise Wrong(f"Your layer's MLP is {layer.linear1.out_features} wide, but the `mlp_size` argument was "
                        f"{hidden}. (`nn.TransformerEncoderLayer`'s `dim_feedforward` defaults to 2048.)")
        if layer.self_attn.embed_dim != dim or layer.self_attn.num_heads != block.msa_block.multihead_attn.num_heads:
            raise Wrong(f"Your layer has width {layer.self_attn.embed_dim} and {layer.self_attn.num_heads} heads; "
                        f"use the `embedding_dim` and `num_heads` arguments.")
        state = {_TO_TORCH[key]: value for key, value in block.state_dict().items()}
        try:
            layer.load_state_dict(state)
        except RuntimeError:
            raise Wrong("The block's weights don't load into your layer: it should have exactly the layers of "
                        "`nn.TransformerEncoderLayer` (LayerNorms with scale and shift, Linear layers with "
                        "biases).") from None

    @staticmethod
    def _check_values(layer: nn.TransformerEncoderLayer, block: TransformerEncoderBlock, z: torch.Tensor) -> None:
        inputs = Unchanged(z=z)
        out = expect_tensor(layer(z), "Your layer returned")
        inputs.expect("Your layer")
        if out.shape != z.shape:
            raise Wrong(f"Your layer returned shape {tuple(out.shape)} for tokens of shape {tuple(z.shape)}.")
        with torch.no_grad():
            expected = block(z)

            def swap(f: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], torch.Tensor]:
                return lambda: f(z.transpose(0, 1)).transpose(0, 1)

            sequence_first = ("Your layer reads its input as (N, B, D), sequence first: `batch_first=False` is "
                              "`nn.TransformerEncoderLayer`'s default. Given ViT's (B, N, D) tokens, it attends "
                              "across the images of the batch instead of across the tokens of each image.")
            post_norm = ("Your layer is post-norm, LN(x + Sublayer(x)): `norm_first=False` is "
                         "`nn.TransformerEncoderLayer`'s default, the original Transformer's arrangement. ViT is "
                         "pre-norm, x + Sublayer(LN(x)), Eq 2 and 3.")
            expect_close(
                out, expected, atol=_ATOL, rtol=_RTOL,
                mistakes=[
                    (swap(block), sequence_first),
                    (lambda: _block_variant(z, block, post_norm=True), post_norm),
                    (swap(lambda x: _block_variant(x, block, post_norm=True)),
                     f"{post_norm} And: {sequence_first}"),
                    (lambda: _block_variant(z, block, act=F.relu),
                     "Your layer's MLP uses ReLU, `nn.TransformerEncoderLayer`'s default activation. ViT's MLP "
                     "has \"two layers with a GELU non-linearity\" (§3.1)."),
                    (lambda: _block_variant(z, block, eps=1e-5),
                     "Your LayerNorms use eps = 1e-5, PyTorch's default. ViT's use a smaller one, "
                     "`course_utils.vit.LAYER_NORM_EPS`; on tokens of small magnitude, like some of the "
                     "checker's, the difference shows."),
                    (lambda: _block_variant(z, block, act=F.relu, post_norm=True),
                     f"{post_norm} Its MLP also uses ReLU, the default activation; ViT's uses GELU."),
                ],
                otherwise="Your layer has the right shape, but does not compute ViT's block once the block's "
                          "weights are loaded. Go through `nn.TransformerEncoderLayer`'s arguments one by one "
                          "and compare each default with ViT.",
            )
        leaf = z.clone().requires_grad_()
        out = call_for_gradients(layer, "Your layer's output", leaf)
        expect_gradients(out, block(leaf), {"z": leaf}, "Your layer's output", reached=dict(layer.named_parameters()))

    @staticmethod
    def _check_training(layer: nn.TransformerEncoderLayer, block: TransformerEncoderBlock, z: torch.Tensor,
                        dropout: float) -> None:
        """Dropout where Appendix B.1 puts it. Inspected on the layer's modules: its masks cannot be compared
        with the block's, since its attention output reaches dropout transposed in memory, and a dropout mask
        is drawn in memory order. Without dropout, its training-mode output must be the block's."""
        attention = float(layer.self_attn.dropout)
        rates = {float(d.p) for d in (layer.dropout1, layer.dropout, layer.dropout2)}
        if attention > 0:
            raise Wrong(f"In training mode your layer also drops attention weights (with p = {attention:g}): "
                        f"`nn.TransformerEncoderLayer`'s one `dropout` argument goes to its self-attention too. "
                        f"Appendix B.1 applies dropout \"after every dense layer except for the qkv-projections "
                        f"and directly after adding positional- to patch embeddings\": not to the attention "
                        f"weights (the block's `attn_dropout=0.0`). Keep the rate for the dense layers, and switch "
                        f"the attention's own dropout off once the layer is built.")
        if rates != {dropout}:
            raise Wrong(f"In training mode your layer drops with p = {', '.join(f'{r:g}' for r in sorted(rates))} "
                        f"after its dense layers, but the `dropout` argument was {dropout:g}: pass it on.")
        if dropout == 0:
            with seeded(3):
                out = layer(z)
            with torch.no_grad():
                expected = block(z)
            if not _close_enough(out, expected):
                raise Wrong("Your layer matches the block in eval mode, but not in training mode: something in it "
                            "behaves differently while training. Build it from `nn.TransformerEncoderLayer`'s "
                            "arguments alone, plus the attention's dropout.")


def _close_enough(out: Any, expected: torch.Tensor) -> bool:
    return isinstance(out, torch.Tensor) and out.shape == expected.shape and bool(
        torch.allclose(out.detach().double(), expected.double(), atol=_ATOL, rtol=_RTOL))


q5 = TorchEncoderLayer()
