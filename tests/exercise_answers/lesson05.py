"""Answers to lesson 05's exercises that tests/test_exercises.py feeds to the checkers (see __init__.py)."""
# ruff: noqa: F401, F811

# %% imports
import torch

from course_utils.exercises import lesson05 as ex
from course_utils.vit import ViT, interpolate_position_embedding, vit_b_16, vit_l_16


# %% q1 wrong: without its position embedding
def vit_forward(model, x):
    patches = model.patch_embedding(x) + model.position_embedding[:, 1:]  # E_pos first ...
    class_token = model.class_embedding.expand(x.shape[0], -1, -1)
    z = torch.cat([class_token, patches], dim=1)  # ... then the class token: it gets no position
    return model.classifier(model.transformer_encoder(z)[:, 0])


# %% q1 wrong: final LayerNorm
def vit_forward(model, x):
    class_token = model.class_embedding.expand(x.shape[0], -1, -1)
    z = torch.cat([class_token, model.patch_embedding(x)], dim=1) + model.position_embedding
    z = model.transformer_encoder(z)
    return model.classifier[1](z[:, 0])  # the head alone


# %% q1 wrong: last token
def vit_forward(model, x):
    class_token = model.class_embedding.expand(x.shape[0], -1, -1)
    z = torch.cat([class_token, model.patch_embedding(x)], dim=1) + model.position_embedding
    return model.classifier(model.transformer_encoder(z)[:, -1])  # the last token


# %% q1 wrong: average
def vit_forward(model, x):
    class_token = model.class_embedding.expand(x.shape[0], -1, -1)
    z = torch.cat([class_token, model.patch_embedding(x)], dim=1) + model.position_embedding
    return model.classifier(model.transformer_encoder(z).mean(dim=1))  # average of all tokens


# %% q1 wrong: from the model's pieces
def vit_forward(model, x):
    return model.classifier(model.forward_features(x)[:, 0])


# %% q1 wrong: eps = 1e-5
def vit_forward(model, x):
    z = torch.cat([model.class_embedding.expand(x.shape[0], -1, -1), model.patch_embedding(x)], dim=1)
    z = model.transformer_encoder(model.embedding_dropout(z + model.position_embedding))
    norm = model.classifier[0]
    y = torch.nn.functional.layer_norm(z[:, 0], norm.normalized_shape, norm.weight, norm.bias)  # eps 1e-5
    return model.classifier[1](y)


# %% q1 right: Eq 4's LayerNorm written with F.layer_norm and the model's own eps
def vit_forward(model, x):
    z = torch.cat([model.class_embedding.expand(len(x), -1, -1), model.patch_embedding(x)], dim=1)
    z = model.transformer_encoder(model.embedding_dropout(z + model.position_embedding))
    norm, head = model.classifier
    return head(torch.nn.functional.layer_norm(z[:, 0], norm.normalized_shape, norm.weight, norm.bias, norm.eps))


# %% q2 wrong: includes the class token
def mean_pool_logits(model, x):
    return model.classifier(model.forward_features(x).mean(dim=1))  # the class token included


# %% q2 wrong: class-token head
def mean_pool_logits(model, x):
    return model.classifier(model.forward_features(x)[:, 0])  # the class token head


# %% q2 wrong: average first
def mean_pool_logits(model, x):
    z = model.classifier[0](model.forward_features(x))  # LayerNorm on every token first
    return model.classifier[1](z[:, 1:].mean(dim=1))


# %% q2 wrong: D numbers
def mean_pool_logits(model, x):
    return model.classifier(model.forward_features(x)[:, 1:].mean(dim=-1))  # averages over D


# %% q3 wrong: 1000 classes
vit_b16_10_classes_params = 86_567_656


# %% q3 wrong: without any head
vit_b16_10_classes_params = 86_567_656 - 768 * 1000 - 1000


# %% q3 wrong: bias
vit_b16_10_classes_params = 86_567_656 - 768 * 1000 - 1000 + 768 * 10


# %% q4 wrong: class token
new_shape = (1, (384 // 16) ** 2, 1024)


# %% q4 wrong: 224 px
new_shape = (1, 197, 1024)


# %% q4 wrong: ViT-Base
new_shape = (1, 577, 768)


# %% q4 wrong: whole shape
new_shape = 577


# %% q4 wrong: grid
new_shape = (1, 1024, 24, 24)


# %% q1 wrong: there is no dropout on z_0
def vit_forward(model, x):
    class_token = model.class_embedding.expand(x.shape[0], -1, -1)
    z = torch.cat([class_token, model.patch_embedding(x)], dim=1) + model.position_embedding  # no dropout
    return model.classifier(model.transformer_encoder(z)[:, 0])


# %% q1 wrong: comes before the position embedding is added
def vit_forward(model, x):
    class_token = model.class_embedding.expand(x.shape[0], -1, -1)
    z = model.embedding_dropout(torch.cat([class_token, model.patch_embedding(x)], dim=1)) + model.position_embedding
    return model.classifier(model.transformer_encoder(z)[:, 0])


# %% q1 wrong: drops the patch embeddings only
def vit_forward(model, x):
    patches = model.embedding_dropout(model.patch_embedding(x))
    class_token = model.class_embedding.expand(x.shape[0], -1, -1)
    z = torch.cat([class_token, patches], dim=1) + model.position_embedding
    return model.classifier(model.transformer_encoder(z)[:, 0])


# %% q1 wrong: changed `model`: it switched `model` to eval mode
def vit_forward(model, x):
    model.eval()  # "dropout off, so that the logits match"
    class_token = model.class_embedding.expand(x.shape[0], -1, -1)
    z = model.embedding_dropout(torch.cat([class_token, model.patch_embedding(x)], dim=1) + model.position_embedding)
    return model.classifier(model.transformer_encoder(z)[:, 0])


# %% q1 wrong: a size in it is fixed at 32
def vit_forward(model, x):
    class_token = model.class_embedding.expand(32, -1, -1)  # the course's batch size
    z = model.embedding_dropout(torch.cat([class_token, model.patch_embedding(x)], dim=1) + model.position_embedding)
    return model.classifier(model.transformer_encoder(z)[:, 0])


# %% q1 wrong: hides a factor
def vit_forward(model, x):
    class_token = model.class_embedding.expand(x.shape[0], -1, -1)
    z = model.embedding_dropout(torch.cat([class_token, model.patch_embedding(x)], dim=1) + model.position_embedding)
    z = model.transformer_encoder(z)
    return model.classifier(z[:, 0] * z.shape[-1] ** 0.5)  # scaled "like the embeddings of a language model"


# %% q1 wrong: No gradient reaches `model.position_embedding`
def vit_forward(model, x):
    class_token = model.class_embedding.expand(x.shape[0], -1, -1)
    z = torch.cat([class_token, model.patch_embedding(x)], dim=1) + model.position_embedding.detach()
    return model.classifier(model.transformer_encoder(model.embedding_dropout(z))[:, 0])


# %% q1 right: repeat, and Eq 4's LayerNorm on every token before taking token 0
def vit_forward(model, x):
    class_token = model.class_embedding.repeat(x.shape[0], 1, 1)
    z = torch.cat([class_token, model.patch_embedding(x)], dim=1)
    z = model.transformer_encoder(model.embedding_dropout(z + model.position_embedding))
    y = model.classifier[0](z)[:, 0]  # LayerNorm is per token: the same as normalising token 0 alone
    return model.classifier[1](y)


# %% q1 right: the blocks called one by one
def vit_forward(model, x):
    z = torch.cat([model.class_embedding.expand(len(x), -1, -1), model.patch_embedding(x)], dim=1)
    z = model.embedding_dropout(model.position_embedding + z)
    for block in model.transformer_encoder:
        z = block(z)
    return model.classifier(z[:, 0])


# %% q2 wrong: the sum of the
def mean_pool_logits(model, x):
    return model.classifier(model.forward_features(x)[:, 1:].sum(dim=1))  # a sum, not an average


# %% q2 wrong: not in training mode with the same
def mean_pool_logits(model, x):
    z = torch.nn.functional.dropout(model.forward_features(x)[:, 1:], 0.1, model.training)  # one more dropout
    return model.classifier(z.mean(dim=1))


# %% q2 wrong: No gradient reaches
def mean_pool_logits(model, x):
    pooled = model.forward_features(x)[:, 1:].mean(dim=1)
    return model.classifier(torch.tensor(pooled.tolist()))  # a detour through Python lists


# %% q2 right: an average written as a sum divided by N
def mean_pool_logits(model, x):
    z = model.forward_features(x)
    return model.classifier(z[:, 1:].sum(dim=1) / (z.shape[1] - 1))
