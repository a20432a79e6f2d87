"""An independent float64 reference of VideoMAE (finetuning ViT, pretraining
encoder/decoder, tube masking, reconstruction loss) in plain PyTorch, written
from the official code's definitions, that common/model/videomae is checked
against.

  videomae_reference.py OUT_DIR

writes OUT_DIR/position_tables.safetensors (position tables resized to
other grids, named TxHxW (trained) xTxHxW (input) xWIDTH) and, for each case,
OUT_DIR/CASE.weights.safetensors (random float32
weights under the official parameter names, like an official checkpoint) and
OUT_DIR/CASE.io.safetensors (inputs, outputs and, for pretraining, the
loss's gradients as "grad.NAME"). Each io file's metadata holds the model
config in protobuf text format (MaskedVideoEncoderConfig).
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "..", "safetensors", "testdata"))
from torch_writer import write_safetensors  # noqa: E402

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EPS = 1e-6


# --- the architecture -------------------------------------------------------

def sinusoid_table(n_position, d_hid):
    # Official get_sinusoid_encoding_table: angle = pos / 10000^(2 (j//2) / d).
    pos = np.arange(n_position, dtype=np.float64)[:, None]
    j = np.arange(d_hid)
    angle = pos / np.power(10000, 2 * (j // 2) / d_hid)
    table = np.where(j % 2 == 0, np.sin(angle), np.cos(angle))
    return torch.from_numpy(table)


def layer_norm(x, p, name):
    return F.layer_norm(x, x.shape[-1:], p[name + ".weight"], p[name + ".bias"],
                        eps=EPS)


def attention(x, p, name, heads):
    b, n, c = x.shape
    bias = None
    if name + ".q_bias" in p:
        q_bias, v_bias = p[name + ".q_bias"], p[name + ".v_bias"]
        bias = torch.cat([q_bias, torch.zeros_like(q_bias), v_bias])
    qkv = F.linear(x, p[name + ".qkv.weight"], bias)
    q, k, v = qkv.reshape(b, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    weights = torch.softmax(q @ k.transpose(-2, -1) * (c // heads) ** -0.5, -1)
    out = (weights @ v).transpose(1, 2).reshape(b, n, c)
    return F.linear(out, p[name + ".proj.weight"], p[name + ".proj.bias"])


def mlp(x, p, name):
    h = F.gelu(F.linear(x, p[name + ".fc1.weight"], p[name + ".fc1.bias"]))
    return F.linear(h, p[name + ".fc2.weight"], p[name + ".fc2.bias"])


def block(x, p, name, heads):
    a = attention(layer_norm(x, p, name + ".norm1"), p, name + ".attn", heads)
    x = x + p.get(name + ".gamma_1", 1.0) * a
    m = mlp(layer_norm(x, p, name + ".norm2"), p, name + ".mlp")
    return x + p.get(name + ".gamma_2", 1.0) * m


def blocks(x, p, name, depth, heads):
    for i in range(depth):
        x = block(x, p, "%s.%d" % (name, i), heads)
    return x


def trained_grid(c):
    # The config's num_frames x img_size x img_size in tubelets (the C++
    # config's defaults: 16 frames of 224x224).
    side = c.get("img_size", 224) // c["patch"]
    return c.get("num_frames", 16) // c["tubelet"], side, side


def position_table(c, grid, dim):
    # InternVideo's VideoMAE run_class_finetuning.py for another input_size
    # or num_frames: the table of the trained grid, resized bicubically per
    # time slice, then linearly over time (both align_corners False). The
    # layout steps follow the official code's (1, T, P, P, C) ones, with
    # height and width apart.
    t0, h0, w0 = trained_grid(c)
    t, h, w = grid
    pos = sinusoid_table(t0 * h0 * w0, dim)[None]
    if (h, w) != (h0, w0):
        pos = pos.reshape(-1, t0, h0, w0, dim)
        pos = pos.reshape(-1, h0, w0, dim).permute(0, 3, 1, 2)
        pos = F.interpolate(pos, size=(h, w), mode="bicubic",
                            align_corners=False)
        pos = pos.permute(0, 2, 3, 1).reshape(-1, t0, h, w, dim).flatten(1, 3)
    if t != t0:
        pos = pos.reshape(-1, t0, h, w, dim)
        pos = pos.permute(0, 2, 3, 4, 1).reshape(-1, dim, t0)
        pos = F.interpolate(pos, size=t, mode="linear")
        pos = pos.reshape(1, h, w, dim, t).permute(0, 4, 1, 2, 3).flatten(1, 3)
    return pos[0]


def conv_stem(video, p, name, channels):
    # This project's option for small models: per frame, (3x3 stride-2 conv,
    # GroupNorm of 4 groups, GELU) per layer, then a 1x1 conv to the width;
    # [N, C, T, H, W] -> [N, width, T, H / 2^layers, W / 2^layers].
    n, c, t, h, w = video.shape
    x = video.transpose(1, 2).reshape(n * t, c, h, w)
    for i in range(len(channels)):
        x = F.conv2d(x, p[f"{name}.convs.{i}.weight"], stride=2, padding=1)
        x = F.gelu(F.group_norm(x, 4, p[f"{name}.norms.{i}.weight"],
                                p[f"{name}.norms.{i}.bias"], eps=1e-5))
    x = F.conv2d(x, p[name + ".proj.weight"])
    return x.reshape(n, t, *x.shape[1:]).transpose(1, 2)


def embed(video, p, name, c):
    w = p[name + ".proj.weight"]
    tubelet, patch = c["tubelet"], c["patch"]
    if c.get("stem"):  # the stem makes the patches; proj joins the tubelet
        video, patch = conv_stem(video, p, name + ".stem", c["stem"]), 1
    x = F.conv3d(video, w, p[name + ".proj.bias"], stride=(tubelet, patch, patch))
    grid = x.shape[2:]
    x = x.flatten(2).transpose(1, 2)
    return x + position_table(c, grid, x.shape[2]).to(x)


def finetune_forward(p, video, c):
    x = embed(video, p, "patch_embed", c)
    x = blocks(x, p, "blocks", c["depth"], c["heads"])
    if c["mean_pooling"]:
        features = layer_norm(x.mean(1), p, "fc_norm")
    else:
        features = layer_norm(x, p, "norm")[:, 0]
    logits = None
    if c["classes"]:
        logits = F.linear(features, p["head.weight"], p["head.bias"])
    return features, logits


def pretrain_encoder(p, video, mask, c):
    x = embed(video, p, "encoder.patch_embed", c)
    if mask is not None:
        x = x[~mask].reshape(x.shape[0], -1, x.shape[2])
    x = blocks(x, p, "encoder.blocks", c["depth"], c["heads"])
    return layer_norm(x, p, "encoder.norm")


def pretrain_forward(p, video, mask, c):
    vis = F.linear(pretrain_encoder(p, video, mask, c), p["encoder_to_decoder.weight"])
    b, _, d = vis.shape
    _, _, t, h, w = video.shape
    grid = (t // c["tubelet"], h // c["patch"], w // c["patch"])
    table = position_table(c, grid, d).to(vis).expand(b, -1, -1)
    pos_vis = table[~mask].reshape(b, -1, d)
    pos_mask = table[mask].reshape(b, -1, d)
    x = torch.cat([vis + pos_vis, p["mask_token"] + pos_mask], 1)
    x = blocks(x, p, "decoder.blocks", c["decoder_depth"], c["decoder_heads"])
    m = pos_mask.shape[1]
    return F.linear(layer_norm(x[:, -m:], p, "decoder.norm"),
                    p["decoder.head.weight"], p["decoder.head.bias"])


def targets(video, c, normalize):
    # Official engine_for_pretraining: unnormalize, cut into tubelets
    # 'b c (t p0) (h p1) (w p2) -> b (t h w) (p0 p1 p2) c', normalize each
    # tubelet per channel with the unbiased std.
    mean = torch.tensor(IMAGENET_MEAN).to(video)[None, :, None, None, None]
    std = torch.tensor(IMAGENET_STD).to(video)[None, :, None, None, None]
    v = video * std + mean
    b, ch, t, h, w = v.shape
    p0, p = c["tubelet"], c["patch"]
    v = v.reshape(b, ch, t // p0, p0, h // p, p, w // p, p)
    v = v.permute(0, 2, 4, 6, 3, 5, 7, 1).reshape(b, -1, p0 * p * p, ch)
    if normalize:
        v = (v - v.mean(-2, keepdim=True)) / (
            v.var(-2, unbiased=True, keepdim=True).sqrt() + EPS)
    return v.flatten(2)


def loss(pred, video, mask, c, normalize):
    labels = targets(video, c, normalize)
    labels = labels[mask].reshape(labels.shape[0], -1, labels.shape[2])
    return F.mse_loss(pred, labels)


def tube_mask(rng, batch, grid, ratio):
    t, h, w = grid
    masked = int(ratio * h * w)
    rows = []
    for _ in range(batch):
        per_frame = np.hstack([np.zeros(h * w - masked), np.ones(masked)])
        rng.shuffle(per_frame)
        rows.append(np.tile(per_frame, t))
    return torch.from_numpy(np.stack(rows).astype(bool))


# --- random weights under the official names --------------------------------

def block_shapes(name, dim, depth, qkv_bias, layer_scale):
    shapes = {}
    for i in range(depth):
        b = "%s.%d." % (name, i)
        shapes.update({b + "norm1.weight": [dim], b + "norm1.bias": [dim],
                       b + "attn.qkv.weight": [3 * dim, dim],
                       b + "attn.proj.weight": [dim, dim],
                       b + "attn.proj.bias": [dim],
                       b + "norm2.weight": [dim], b + "norm2.bias": [dim],
                       b + "mlp.fc1.weight": [4 * dim, dim],
                       b + "mlp.fc1.bias": [4 * dim],
                       b + "mlp.fc2.weight": [dim, 4 * dim],
                       b + "mlp.fc2.bias": [dim]})
        if qkv_bias:
            shapes.update({b + "attn.q_bias": [dim], b + "attn.v_bias": [dim]})
        if layer_scale:
            shapes.update({b + "gamma_1": [dim], b + "gamma_2": [dim]})
    return shapes


def random_weights(gen, shapes):
    p = {}
    for name, shape in shapes.items():
        x = torch.randn(shape, generator=gen, dtype=torch.float64)
        if name.endswith("norm1.weight") or name.endswith("norm2.weight") or \
                name.endswith("norm.weight"):
            x = 1 + 0.2 * x
        elif name.endswith(".weight") and len(shape) >= 2:
            x = x / np.sqrt(np.prod(shape[1:]))
        elif "gamma" in name:
            x = 0.5 + 0.2 * x
        else:
            x = 0.2 * x
        p[name] = x.float().double()  # exactly the float32 values written
    return p


def encoder_shapes(prefix, c):
    d, t, pt = c["dim"], c["tubelet"], c["patch"]
    shapes = {prefix + "patch_embed.proj.weight": [d, 3, t, pt, pt],
              prefix + "patch_embed.proj.bias": [d]}
    if c.get("stem"):
        shapes[prefix + "patch_embed.proj.weight"] = [d, d, t, 1, 1]
        previous = 3
        for i, channels in enumerate(c["stem"]):
            stem = prefix + "patch_embed.stem."
            shapes[stem + f"convs.{i}.weight"] = [channels, previous, 3, 3]
            shapes[stem + f"norms.{i}.weight"] = [channels]
            shapes[stem + f"norms.{i}.bias"] = [channels]
            previous = channels
        shapes[prefix + "patch_embed.stem.proj.weight"] = [d, previous, 1, 1]
    shapes.update(block_shapes(prefix + "blocks", d, c["depth"], c["qkv_bias"],
                               c["layer_scale"]))
    return shapes


def text_config(c):
    fields = ["patch_size: %d" % c["patch"], "tubelet_size: %d" % c["tubelet"],
              "embed_dim: %d" % c["dim"], "depth: %d" % c["depth"],
              "num_heads: %d" % c["heads"],
              "qkv_bias: %s" % str(c["qkv_bias"]).lower(),
              "init_values: %g" % (0.5 if c["layer_scale"] else 0)]
    fields += ["%s: %d" % (k, c[k]) for k in ("img_size", "num_frames") if k in c]
    fields += ["conv_stem_channels: %d" % k for k in c.get("stem", [])]
    if "classes" in c:
        fields += ["num_classes: %d" % c["classes"],
                   "use_mean_pooling: %s" % str(c["mean_pooling"]).lower()]
    if "decoder_dim" in c:
        fields.append("decoder { decoder_embed_dim: %d decoder_depth: %d "
                      "decoder_num_heads: %d mask_ratio: %g }" % (
                          c["decoder_dim"], c["decoder_depth"],
                          c["decoder_heads"], c["mask_ratio"]))
    return " ".join(fields)


# --- the cases ---------------------------------------------------------------

def finetune_case(out, case, c, video_shape, seed):
    gen = torch.Generator().manual_seed(seed)
    shapes = encoder_shapes("", c)
    if c["mean_pooling"]:
        shapes.update({"fc_norm.weight": [c["dim"]], "fc_norm.bias": [c["dim"]]})
    else:
        shapes.update({"norm.weight": [c["dim"]], "norm.bias": [c["dim"]]})
    if c["classes"]:
        shapes.update({"head.weight": [c["classes"], c["dim"]],
                       "head.bias": [c["classes"]]})
    p = random_weights(gen, shapes)
    video = torch.randn(video_shape, generator=gen).float().double()
    features, logits = finetune_forward(p, video, c)
    io = {"video": video, "features": features}
    if logits is not None:
        io["logits"] = logits
    write_safetensors(os.path.join(out, case + ".weights.safetensors"), p, {},
                      float64_as_float32=True)
    write_safetensors(os.path.join(out, case + ".io.safetensors"), io,
                      {"config": text_config(c)}, float64_as_float32=True)


def pretrain_case(out, case, c, video_shape, seed):
    gen = torch.Generator().manual_seed(seed)
    dd = c["decoder_dim"]
    shapes = encoder_shapes("encoder.", c)
    shapes.update({"encoder.norm.weight": [c["dim"]],
                   "encoder.norm.bias": [c["dim"]],
                   "encoder_to_decoder.weight": [dd, c["dim"]],
                   "mask_token": [1, 1, dd],
                   "decoder.norm.weight": [dd], "decoder.norm.bias": [dd],
                   "decoder.head.weight": [3 * c["tubelet"] * c["patch"] ** 2, dd],
                   "decoder.head.bias": [3 * c["tubelet"] * c["patch"] ** 2]})
    shapes.update(block_shapes("decoder.blocks", dd, c["decoder_depth"],
                               c["qkv_bias"], c["layer_scale"]))
    p = random_weights(gen, shapes)
    # Pixels in [0, 1] normalized as the model's input is.
    video = torch.rand(video_shape, generator=gen).double()
    mean = torch.tensor(IMAGENET_MEAN).double()[None, :, None, None, None]
    std = torch.tensor(IMAGENET_STD).double()[None, :, None, None, None]
    video = ((video - mean) / std).float().double()
    b, _, t, h, w = video_shape
    grid = (t // c["tubelet"], h // c["patch"], w // c["patch"])
    mask = tube_mask(np.random.RandomState(seed), b, grid, c["mask_ratio"])

    for value in p.values():
        value.requires_grad_(True)
    pred = pretrain_forward(p, video, mask, c)
    normalized = loss(pred, video, mask, c, normalize=True)
    normalized.backward()
    io = {"video": video, "mask": mask,
          "encoder_tokens": pretrain_encoder(p, video, None, c),
          "predictions": pred, "loss": normalized,
          "loss_raw_pixels": loss(pred, video, mask, c, normalize=False)}
    io.update({"grad." + name: value.grad for name, value in p.items()})
    write_safetensors(os.path.join(out, case + ".weights.safetensors"), p, {},
                      float64_as_float32=True)
    write_safetensors(os.path.join(out, case + ".io.safetensors"), io,
                      {"config": text_config(c)}, float64_as_float32=True)


# (trained grid, input grid, width) of position_tables.safetensors: the
# official 224 -> 256 and 16 -> 8 frame resizes of ViT-B, a shrink in all
# three sizes, and growth in all three.
TABLE_CASES = [((8, 14, 14), (8, 16, 16), 768), ((8, 14, 14), (4, 14, 14), 768),
               ((8, 14, 14), (2, 7, 9), 64), ((2, 2, 2), (3, 3, 5), 48)]


def table_cases(out):
    tables = {}
    for trained, grid, dim in TABLE_CASES:
        c = {"patch": 16, "tubelet": 2, "img_size": 16 * trained[1],
             "num_frames": 2 * trained[0]}
        assert trained[1] == trained[2]
        name = "x".join(map(str, trained + grid + (dim,)))
        tables[name] = position_table(c, grid, dim)
    write_safetensors(os.path.join(out, "position_tables.safetensors"), tables,
                      {}, float64_as_float32=False)


def main(out):
    torch.set_default_dtype(torch.float64)
    table_cases(out)
    base = {"patch": 16, "tubelet": 2, "dim": 64, "depth": 2, "heads": 4}
    # Defaults of the official finetuning model, with layer scale on.
    finetune_case(out, "finetune",
                  dict(base, qkv_bias=True, layer_scale=True, classes=5,
                       mean_pooling=True, img_size=32, num_frames=8),
                  (2, 3, 8, 32, 32), seed=1)
    # Every other branch: no q/v bias, no layer scale, the final norm and the
    # first token, no head; 6 frames of 48x32 for a model trained at 4 of
    # 32x32: the 2x2x2 position table resized to 3x3x2.
    finetune_case(out, "finetune_other_sizes",
                  dict(base, dim=48, heads=3, qkv_bias=False,
                       layer_scale=False, classes=0, mean_pooling=False,
                       img_size=32, num_frames=4),
                  (1, 3, 6, 48, 32), seed=2)
    # A convolutional stem of 2 layers (4-pixel patches) in place of the
    # linear patch embedding, tubelets of 2 frames.
    finetune_case(out, "finetune_conv_stem",
                  dict(base, patch=4, dim=32, qkv_bias=True, layer_scale=False,
                       classes=3, mean_pooling=True, img_size=16,
                       num_frames=4, stem=[8, 12]),
                  (2, 3, 4, 16, 16), seed=4)
    # Pretraining with 8x8 patches: 2 x 4 x 4 tokens, 12 of 16 per slice
    # masked; trained at 8 frames of 24x24, so the 4x3x3 position table is
    # resized (encoder and decoder alike).
    pretrain_case(out, "pretrain",
                  dict(base, patch=8, qkv_bias=True, layer_scale=False,
                       decoder_dim=32, decoder_depth=2, decoder_heads=2,
                       mask_ratio=0.75, img_size=24, num_frames=8),
                  (2, 3, 4, 32, 32), seed=3)


if __name__ == "__main__":
    main(sys.argv[1])
