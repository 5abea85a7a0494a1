"""optim: the two parameter groups (weight decay on weight matrices only) and the fused AdamW built on them."""

import torch

from course_utils import optim
from course_utils.vit import HEAD, ViT


def small_vit() -> ViT:
    return ViT(img_size=16, patch_size=8, num_transformer_layers=1, embedding_dim=32, mlp_size=64, num_heads=2,
               num_classes=3)


def test_weight_decay_groups_follow_timm():
    model = small_vit()
    decay, no_decay = optim.weight_decay_groups(model)
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay}
    assert "patch_embedding.patcher.weight" in decayed and f"{HEAD}.weight" in decayed
    assert not decayed & {"class_embedding", "position_embedding", "classifier.0.weight",
                          "patch_embedding.patcher.bias"}
    assert len(decay) + len(no_decay) == len(list(model.parameters()))


def test_make_optimizer_decays_the_first_group_only_and_fuses_on_the_cpu():
    model = small_vit()
    optimizer = optim.make_optimizer(model, lr=1e-3, weight_decay=0.05, device="cpu")
    assert isinstance(optimizer, torch.optim.AdamW)
    decay, no_decay = optim.weight_decay_groups(model)
    groups = optimizer.param_groups
    assert [len(g["params"]) for g in groups] == [len(decay), len(no_decay)]
    assert [g["weight_decay"] for g in groups] == [0.05, 0.0]
    assert all(g["lr"] == 1e-3 and g["betas"] == (0.9, 0.999) and g["fused"] for g in groups)
    assert not optim.make_optimizer(model, 1e-3, 0.05, "meta").param_groups[0]["fused"]  # only CPU and CUDA


def test_weight_decay_groups_find_the_embeddings_inside_a_wrapper():
    # a hybrid ViT keeps the ViT as a sub-module: its E_pos is "vit.position_embedding", and must not decay
    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.vit = ViT(img_size=16, patch_size=8, num_classes=3, embedding_dim=16, num_transformer_layers=1,
                           num_heads=2, mlp_size=32)

    wrapper = Wrapper()
    _, no_decay = optim.weight_decay_groups(wrapper)
    assert any(p is wrapper.vit.position_embedding for p in no_decay)
    assert any(p is wrapper.vit.class_embedding for p in no_decay)
