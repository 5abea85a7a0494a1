"""Solutions of lesson 05's exercises: the code cells of notebooks/exercises/05_vision_transformer_solutions.ipynb.

Each `# %%` line starts a cell: the imports, then one cell per exercise. Run top to bottom, this
file does what the solutions notebook does, without its check cells. The prompts and hints are in
text/lesson05.md; `python -m course_utils.exercises` builds the notebooks (see __init__.py).
"""
# The imports cell imports `ex` for the notebook's check cells, which are not in this file:
# ruff: noqa: F401

# %% imports
import torch

from course_utils.exercises import lesson05 as ex
from course_utils.vit import ViT, interpolate_position_embedding, vit_b_16, vit_l_16


# %% q1
def vit_forward(model: ViT, x: torch.Tensor) -> torch.Tensor:
    """Eq 1-4 from the model's pieces: images (B, C, H, W) -> logits (B, num_classes)."""
    patches = model.patch_embedding(x)  # (B, N, D)
    class_token = model.class_embedding.expand(x.shape[0], -1, -1)  # (B, 1, D)
    z = torch.cat([class_token, patches], dim=1)  # prepend first: (B, N + 1, D)
    z = model.embedding_dropout(z + model.position_embedding)  # then add E_pos: z_0 (Eq 1)
    z = model.transformer_encoder(z)  # Eq 2-3, L times: z_L
    return model.classifier(z[:, 0])  # Eq 4: LN of the class token's state, then the head


# %% q2
def mean_pool_logits(model: ViT, x: torch.Tensor) -> torch.Tensor:
    """Logits from the average of the N patch tokens of z_L (not the class token): (B, num_classes)."""
    z_L = model.forward_features(x)  # (B, N + 1, D)
    pooled = z_L[:, 1:].mean(dim=1)  # skip token 0 (the class token), average over the N patches: (B, D)
    return model.classifier(pooled)  # LayerNorm, then the head


# %% q3
D, K = 768, 10
vit_b16_10_classes_params = (
    86_567_656  # ViT-B/16 with 1000 classes (Table 1, lesson 05)
    - (D * 1000 + 1000)  # minus the 1000-class head: its weights and biases
    + (D * K + K)  # plus the 10-class head
)  # only the head depends on the number of classes; Eq 4's LayerNorm stays


# %% q4
grid = 384 // 16  # 24 patches per side at 384 px
new_shape = (1, grid * grid + 1, 1024)  # the 24 x 24 grid of patch rows, plus the class token's row; D unchanged
