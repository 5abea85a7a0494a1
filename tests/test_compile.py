"""torch.compile gives the same ViT as eager mode, forward and backward."""

import pytest
import torch

from course_utils.vit import ViT


@pytest.mark.slow  # compiling forward and backward takes seconds to tens of seconds on a CPU
def test_compiled_vit_matches_eager():
    torch.manual_seed(0)
    model = ViT(img_size=16, patch_size=8, num_transformer_layers=1, embedding_dim=32, mlp_size=64, num_heads=2,
                num_classes=3, mlp_dropout=0.0, embedding_dropout=0.0)
    compiled = torch.compile(model)
    x = torch.randn(4, 3, 16, 16)
    eager_out = model(x)
    eager_out.sum().backward()
    eager_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    compiled_out = compiled(x)
    compiled_out.sum().backward()
    assert eager_out.std() > 0.01  # the comparison means something
    torch.testing.assert_close(compiled_out, eager_out, atol=1e-5, rtol=1e-4)
    for eager_grad, param in zip(eager_grads, model.parameters(), strict=True):
        torch.testing.assert_close(param.grad, eager_grad, atol=1e-5, rtol=1e-4)
