"""An independent float64 reference of cross-model attention (the InternVideo
paper's Fig. 4, as common/model/cma/cma.h lays it out) in plain PyTorch, that
common/model/cma is checked against.

  cma_reference.py OUT_DIR

writes, for each case, OUT_DIR/CASE.weights.safetensors (random float32
weights under the module's parameter names) and OUT_DIR/CASE.io.safetensors:
the two encoders' token inputs, the logits, the probe whose dot product with
the logits is the loss, and the loss's gradients as "grad.NAME". The io
file's metadata holds the CrossModelAttentionConfig (protobuf text format)
and the encoder widths it is resolved with.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "..", "safetensors", "testdata"))
from torch_writer import write_safetensors  # noqa: E402

EPS = 1e-6


# --- the architecture -------------------------------------------------------

def layer_norm(x, p, name):
    return F.layer_norm(x, x.shape[-1:], p[name + ".weight"], p[name + ".bias"],
                        eps=EPS)


def linear(x, p, name):
    return F.linear(x, p[name + ".weight"], p[name + ".bias"])


def cross_attention(q_in, kv_in, p, name, heads):
    b, nq, w = q_in.shape
    nk = kv_in.shape[1]
    hd = w // heads
    q = linear(q_in, p, name + ".q_proj")
    q = q.reshape(b, nq, heads, hd).transpose(1, 2)
    k = F.linear(kv_in, p[name + ".k_proj.weight"])
    k = k.reshape(b, nk, heads, hd).transpose(1, 2)
    v = linear(kv_in, p, name + ".v_proj")
    v = v.reshape(b, nk, heads, hd).transpose(1, 2)
    weights = torch.softmax(q @ k.transpose(-2, -1) / hd ** 0.5, -1)
    out = (weights @ v).transpose(1, 2).reshape(b, nq, w)
    return linear(out, p, name + ".out_proj")


def block(x, context, p, name, heads):
    x = x + cross_attention(layer_norm(x, p, name + ".norm_q"),
                            layer_norm(context, p, name + ".norm_kv"),
                            p, name + ".cross_attn", heads)
    h = layer_norm(x, p, name + ".norm_ffn")
    h = F.gelu(linear(h, p, name + ".ffn.fc1"))
    return x + linear(h, p, name + ".ffn.fc2")


def cma_forward(p, masked, multimodal, c):
    x = (linear(masked, p, "masked_proj")
         if "masked_proj.weight" in p else masked)
    ctx = (linear(multimodal, p, "multimodal_proj")
           if "multimodal_proj.weight" in p else multimodal)
    for i in range(c["num_blocks"]):
        x = block(x, ctx, p, "blocks.%d" % i, c["heads"])
    cls = block(ctx[:, :1], x, p, "top", c["heads"])[:, 0]
    cls_logits = linear(layer_norm(cls, p, "cls_norm"), p, "cls_head")
    pooled_logits = linear(layer_norm(x.mean(1), p, "pooled_norm"), p,
                           "pooled_head")
    # The normed class feature in the joint video-text space.
    embeds = (layer_norm(cls, p, "cls_norm") @ p["video_proj.weight"].t()
              if "video_proj.weight" in p else None)
    return cls_logits + pooled_logits, embeds


# --- weights and cases ------------------------------------------------------

def shapes(c):
    w, hidden, k = c["width"], int(c["width"] * c["mlp_ratio"]), c["classes"]
    out = []
    if c["masked_dim"] != w:
        out += [("masked_proj.weight", (w, c["masked_dim"])),
                ("masked_proj.bias", (w,))]
    if c["multimodal_dim"] != w:
        out += [("multimodal_proj.weight", (w, c["multimodal_dim"])),
                ("multimodal_proj.bias", (w,))]
    names = ["blocks.%d" % i for i in range(c["num_blocks"])] + ["top"]
    for name in names:
        for norm in ("norm_q", "norm_kv", "norm_ffn"):
            out += [(name + "." + norm + ".weight", (w,)),
                    (name + "." + norm + ".bias", (w,))]
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            out += [(name + ".cross_attn." + proj + ".weight", (w, w))]
            if proj != "k_proj":  # a key bias is cancelled by softmax
                out += [(name + ".cross_attn." + proj + ".bias", (w,))]
        out += [(name + ".ffn.fc1.weight", (hidden, w)),
                (name + ".ffn.fc1.bias", (hidden,)),
                (name + ".ffn.fc2.weight", (w, hidden)),
                (name + ".ffn.fc2.bias", (w,))]
    for head in ("cls", "pooled"):
        out += [(head + "_norm.weight", (w,)), (head + "_norm.bias", (w,)),
                (head + "_head.weight", (k, w)), (head + "_head.bias", (k,))]
    if c.get("embed_dim"):
        out += [("video_proj.weight", (c["embed_dim"], w))]
    return out


def write_case(out, case, c, proto, seed):
    gen = torch.Generator().manual_seed(seed)
    weights = {}
    for name, shape in shapes(c):
        # LayerNorm gains near 1, as trained ones are.
        if name.endswith(".weight") and "norm" in name.rsplit(".", 2)[-2]:
            t = 1 + 0.1 * torch.randn(shape, generator=gen)
        else:
            t = 0.2 * torch.randn(shape, generator=gen)
        weights[name] = t.float()
    masked = torch.randn(2, 6, c["masked_dim"], generator=gen).float()
    multimodal = torch.randn(2, 5, c["multimodal_dim"], generator=gen).float()
    probe = torch.randn(2, c["classes"], generator=gen).float()

    p = {k: v.double().requires_grad_(True) for k, v in weights.items()}
    logits, embeds = cma_forward(p, masked.double(), multimodal.double(), c)
    loss = (logits * probe.double()).sum()
    io = {"masked_tokens": masked, "multimodal_tokens": multimodal,
          "probe": probe, "logits": logits}
    if embeds is not None:
        embed_probe = torch.randn(2, c["embed_dim"], generator=gen).float()
        loss = loss + (embeds * embed_probe.double()).sum()
        io.update(embed_probe=embed_probe, video_embeds=embeds)
    loss.backward()
    for name, value in p.items():
        io["grad." + name] = value.grad
    metadata = {"config": proto, "masked_dim": str(c["masked_dim"]),
                "masked_num_heads": str(c["masked_heads"]),
                "multimodal_dim": str(c["multimodal_dim"]),
                "multimodal_embed_dim": str(c.get("embed_dim", 0))}
    path = os.path.join(out, case)
    write_safetensors(path + ".weights.safetensors", weights)
    write_safetensors(path + ".io.safetensors", io, metadata,
                      float64_as_float32=True)


def main(out):
    # Widths differ: both projections, an explicit width, heads and ratio,
    # and the projection of the class feature into a 12-wide joint space.
    write_case(out, "projected",
               dict(masked_dim=24, masked_heads=3, multimodal_dim=20,
                    width=16, heads=2, mlp_ratio=2.0, num_blocks=2, classes=5,
                    embed_dim=12),
               "num_blocks: 2 width: 16 heads: 2 mlp_ratio: 2 num_classes: 5 "
               "video_projection: true",
               seed=1)
    # Defaults: width and heads from the masked encoder, 4 blocks, ratio 4;
    # the multimodal encoder is as wide, so no projection exists.
    write_case(out, "defaults",
               dict(masked_dim=16, masked_heads=4, multimodal_dim=16,
                    width=16, heads=4, mlp_ratio=4.0, num_blocks=4, classes=3),
               "num_classes: 3", seed=2)


if __name__ == "__main__":
    main(sys.argv[1])
