"""An independent float64 reference of InternVideo-MM's video-text model
(CLIP frame ViT with UniFormerV2's global branch, CLIP text transformer,
symmetric InfoNCE) in plain PyTorch, written from the official definitions
(InternVideo1 clip_utils/model.py and utils/clip_vit_only_global.py, and
openai/CLIP clip/model.py), that common/model/multimodal is checked against.
It runs sequence-first like the official code and uses torch's own
multi_head_attention_forward for self-attention, so the C++ batch-first
layout and packed-projection slicing are checked against torch's. Frames of
another size than the configured resolution get the learned positional
grid resized bicubically (torch's F.interpolate, align_corners False), the
class position kept.

  multimodal_reference.py OUT_DIR

writes, for each case, OUT_DIR/CASE.weights.safetensors (random float32
weights under the official parameter names) and OUT_DIR/CASE.io.safetensors
(inputs `video` and `text`, outputs `video_embeds`, `text_embeds`, `loss`,
and the loss's gradient of every parameter as "grad.NAME"). A case with a
caption decoder also writes OUT_DIR/CASE.caption_decoder.weights.safetensors
and, in its io file, `caption_logits`, `caption_labels`, `caption_loss` and
that loss's gradients as "capgrad.NAME" (decoder names) and
"capgrad.clip.NAME" (encoder names). Each io file's
metadata holds the model config in protobuf text format
(MultimodalEncoderConfig).
"""
import json
import os
import math
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "..", "safetensors", "testdata"))
from torch_writer import write_safetensors  # noqa: E402



# --- the architecture (sequence-first: [L, N, C]) ----------------------------

def layer_norm(x, p, name):
    return F.layer_norm(x, x.shape[-1:], p[name + ".weight"], p[name + ".bias"],
                        1e-5)


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def mlp(x, p, name):
    h = F.linear(x, p[name + ".c_fc.weight"], p[name + ".c_fc.bias"])
    return F.linear(quick_gelu(h), p[name + ".c_proj.weight"],
                    p[name + ".c_proj.bias"])


def self_attention(x, p, name, heads, mask=None):
    d = x.shape[-1]
    out, _ = F.multi_head_attention_forward(
        x, x, x, d, heads, p[name + ".in_proj_weight"], p[name + ".in_proj_bias"],
        None, None, False, 0.0, p[name + ".out_proj.weight"],
        p[name + ".out_proj.bias"], training=False, need_weights=False,
        attn_mask=mask)
    return out


def resblock(x, p, name, heads, mask=None):
    x = x + self_attention(layer_norm(x, p, name + ".ln_1"), p, name + ".attn",
                           heads, mask)
    return x + mlp(layer_norm(x, p, name + ".ln_2"), p, name + ".mlp")


def cross_attention(x, y, p, name, heads):
    # The official Extractor.attention: q from x, k and v from y.
    w, b = p[name + ".in_proj_weight"], p[name + ".in_proj_bias"]
    d = x.shape[-1]
    q = x @ w[:d].T + b[:d]
    k = y @ w[d:2 * d].T + b[d:2 * d]
    v = y @ w[2 * d:].T + b[2 * d:]
    hd = d // heads
    tx, ty, n = q.shape[0], k.shape[0], q.shape[1]
    q = q.view(tx, n, heads, hd).permute(1, 2, 0, 3)
    k = k.view(ty, n, heads, hd).permute(1, 2, 0, 3)
    v = v.view(ty, n, heads, hd).permute(1, 2, 0, 3)
    a = (q @ k.transpose(-2, -1) / math.sqrt(hd)).softmax(-1)
    out = (a @ v).permute(2, 0, 1, 3).flatten(2)
    return F.linear(out, p[name + ".out_proj.weight"], p[name + ".out_proj.bias"])


def extractor(x, y, p, name, heads):
    x = x + cross_attention(layer_norm(x, p, name + ".ln_1"),
                            layer_norm(y, p, name + ".ln_3"), p, name + ".attn",
                            heads)
    return x + mlp(layer_norm(x, p, name + ".ln_2"), p, name + ".mlp")


def encode_video(video, p, cfg):
    feats, _ = video_features(video, p, cfg)
    return layer_norm(feats, p, "visual_ln_post") @ p["visual_proj"]


def video_token_features(video, p, cfg):
    # The last block's tokens as [N, T, L, C].
    _, tokens = video_features(video, p, cfg)
    return tokens.permute(1, 2, 0, 3)


def conv_stem(video, p, channels):
    # Per frame: (3x3 stride-2 conv, GroupNorm of 4 groups, GELU) per layer,
    # then a 1x1 conv to the width.
    n, c, t, h, w = video.shape
    x = video.permute(0, 2, 1, 3, 4).reshape(n * t, c, h, w)
    for i in range(len(channels)):
        x = F.conv2d(x, p[f"visual.conv_stem.convs.{i}.weight"], stride=2,
                     padding=1)
        x = F.gelu(F.group_norm(x, 4, p[f"visual.conv_stem.norms.{i}.weight"],
                                p[f"visual.conv_stem.norms.{i}.bias"], eps=1e-5))
    x = F.conv2d(x, p["visual.conv_stem.proj.weight"])
    return x.view(n, t, *x.shape[1:]).permute(0, 2, 1, 3, 4)


def video_features(video, p, cfg):
    v = cfg["vision"]
    if v.get("stem"):
        x = conv_stem(video, p, v["stem"])
    else:
        x = F.conv3d(video, p["visual.conv1.weight"],
                     stride=(1, v["patch"], v["patch"]))
    n, c, t, h, w = x.shape
    x = x.permute(0, 2, 3, 4, 1).reshape(n * t, h * w, c)
    cls = p["visual.class_embedding"] + torch.zeros(n * t, 1, c, dtype=x.dtype)
    x = torch.cat([cls, x], 1) + positions(p["visual.positional_embedding"],
                                           h, w)
    x = layer_norm(x, p, "visual.ln_pre").permute(1, 0, 2)  # L, NT, C
    length = x.shape[0]
    tok = p["visual.transformer.temporal_cls_token"].repeat(1, n, 1)
    j = 0
    for i in range(v["layers"]):
        x = resblock(x, p, f"visual.transformer.resblocks.{i}", v["heads"])
        if i in v["return_list"]:
            y = x.view(length, n, t, c)
            feats = y[1:].permute(1, 3, 2, 0).reshape(n, c, t, h, w)
            feats = F.conv3d(feats, p[f"visual.transformer.dpe.{j}.weight"],
                             p[f"visual.transformer.dpe.{j}.bias"], padding=1,
                             groups=c)
            feats = feats.view(n, c, t, length - 1).permute(3, 0, 2, 1)
            y = torch.cat([y[:1], y[1:] + feats], 0)
            y = y.permute(2, 0, 1, 3).flatten(0, 1)
            tok = extractor(tok, y, p, f"visual.transformer.dec.{j}", v["n_head"])
            j += 1
    weight = torch.sigmoid(p["visual.transformer.balance"])
    residual = x.view(length, n, t, c)[0].mean(1)
    feats = (1 - weight) * tok[0] + weight * residual
    return feats, x.view(length, n, t, c)


def positions(table, h, w):
    # The learned [1 + g*g, C] table for an h x w patch grid: the patch part
    # resized bicubically as a [1, C, g, g] image, the class position kept.
    g = math.isqrt(table.shape[0] - 1)
    if (h, w) == (g, g):
        return table
    grid = table[1:].reshape(1, g, g, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)
    return torch.cat([table[:1], grid.permute(0, 2, 3, 1).flatten(0, 2)], 0)


def encode_text(text, p, cfg):
    x = text_token_features(text, p, cfg)
    return x[torch.arange(x.shape[0]), text.argmax(-1)] @ p["text_projection"]


def text_token_features(text, p, cfg):
    length = text.shape[1]
    x = p["token_embedding.weight"][text] + p["positional_embedding"][:length]
    mask = torch.full((length, length), float("-inf"), dtype=x.dtype).triu(1)
    x = x.permute(1, 0, 2)
    for i in range(cfg["text"]["layers"]):
        x = resblock(x, p, f"transformer.resblocks.{i}", cfg["text"]["heads"],
                     mask)
    return layer_norm(x.permute(1, 0, 2), p, "ln_final")


def info_nce(video_embeds, text_embeds, logit_scale):
    v = video_embeds / video_embeds.norm(dim=-1, keepdim=True)
    t = text_embeds / text_embeds.norm(dim=-1, keepdim=True)
    logits = logit_scale.exp() * v @ t.T
    labels = torch.arange(logits.shape[0])
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


# --- the caption decoder (CoTrain clip_decoders.py, CoCa's coca.py) ---------

def coca_norm(x, p, name):
    return F.layer_norm(x, x.shape[-1:], p[name + ".gamma"], p[name + ".beta"])


def swiglu(x):
    x, gate = x.chunk(2, dim=-1)
    return F.silu(gate) * x


def rotary(t, inv_freq):
    n, d = t.shape[-2], t.shape[-1]
    freqs = torch.arange(n, dtype=t.dtype)[:, None] * inv_freq.to(t.dtype)[None]
    pos = torch.cat([freqs, freqs], -1)
    x1, x2 = t[..., :d // 2], t[..., d // 2:]
    return t * pos.cos() + torch.cat([-x2, x1], -1) * pos.sin()


def parallel_block(x, p, name, heads):
    b, n, dim = x.shape
    x = coca_norm(x, p, name + ".norm")
    inv_freq = p[name + ".rotary_emb.inv_freq"]
    dh = 2 * inv_freq.shape[0]
    fused = x @ p[name + ".fused_attn_ff_proj.weight"].T
    q, k, v, ff = fused.split([heads * dh, dh, dh, fused.shape[-1] - heads * dh - 2 * dh], -1)
    q = q.reshape(b, n, heads, dh).transpose(1, 2)
    q, k = rotary(q, inv_freq), rotary(k, inv_freq)
    sim = torch.einsum("bhid,bjd->bhij", q * dh ** -0.5, k)
    sim = sim.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1),
                          -torch.finfo(sim.dtype).max)
    out = torch.einsum("bhij,bjd->bhid", sim.softmax(-1), v)
    out = out.transpose(1, 2).reshape(b, n, heads * dh)
    return (out @ p[name + ".attn_out.weight"].T
            + swiglu(ff) @ p[name + ".ff_out.1.weight"].T)


def coca_cross(x, context, p, name, heads, parallel_ff, norm_context):
    b, n, _ = x.shape
    x = coca_norm(x, p, name + ".norm")
    if norm_context:
        context = coca_norm(context, p, name + ".context_norm")
    q = x @ p[name + ".to_q.weight"].T
    dh = q.shape[-1] // heads
    q = q.reshape(b, n, heads, dh).transpose(1, 2) * dh ** -0.5
    k, v = (context @ p[name + ".to_kv.weight"].T).chunk(2, -1)
    attn = torch.einsum("bhid,bjd->bhij", q, k).softmax(-1)
    out = torch.einsum("bhij,bjd->bhid", attn, v).transpose(1, 2).reshape(b, n, -1)
    out = out @ p[name + ".to_out.weight"].T
    if parallel_ff:
        out = out + swiglu(x @ p[name + ".ff.0.weight"].T) @ p[name + ".ff.2.weight"].T
    return out


def caption_logits(video_tokens, text_tokens, p, cfg):
    # video_tokens [N, T, L, C]; key order is irrelevant to attention.
    c = cfg["caption"]
    image = video_tokens.flatten(1, 2)
    queries = p["visual_queries"].expand(image.shape[0], -1, -1)
    image = layer_norm(coca_cross(queries, image, p, "visual_attn_pooler",
                                  c["heads"], False, True), p, "visual_pooler_norm")
    x = layer_norm(text_tokens, p, "text_norm")
    for i in range(c["layers"]):
        x = x + parallel_block(x, p, f"multimodal_layers.{i}.0.fn", c["heads"])
        x = x + coca_cross(x, image, p, f"multimodal_layers.{i}.1.fn",
                           c["heads"], True, False)
    x = layer_norm(x, p, "predictor.0")
    x = F.gelu(F.linear(x, p["predictor.1.weight"], p["predictor.1.bias"]))
    x = layer_norm(x, p, "predictor.3")
    return F.linear(x, p["predictor.4.weight"], p["predictor.4.bias"])


def decoder_shapes(cfg):
    c, w = cfg["caption"], cfg["text"]["width"]
    vw, dh = cfg["vision"]["width"], w // cfg["caption"]["heads"]
    out = {
        "visual_queries": (256, w),
        "visual_attn_pooler.norm.gamma": (w,),
        "visual_attn_pooler.context_norm.gamma": (vw,),
        "visual_attn_pooler.to_q.weight": (w, w),
        "visual_attn_pooler.to_kv.weight": (2 * dh, vw),
        "visual_attn_pooler.to_out.weight": (w, w),
        "visual_pooler_norm.weight": (w,), "visual_pooler_norm.bias": (w,),
        "text_norm.weight": (w,), "text_norm.bias": (w,),
        "predictor.0.weight": (w,), "predictor.0.bias": (w,),
        "predictor.1.weight": (w, w), "predictor.1.bias": (w,),
        "predictor.3.weight": (w,), "predictor.3.bias": (w,),
        "predictor.4.weight": (cfg["text"]["vocab"], w),
        "predictor.4.bias": (cfg["text"]["vocab"],),
    }
    for i in range(c["layers"]):
        a, x = f"multimodal_layers.{i}.0.fn", f"multimodal_layers.{i}.1.fn"
        out.update({
            a + ".norm.gamma": (w,),
            a + ".fused_attn_ff_proj.weight": (w + 2 * dh + 8 * w, w),
            a + ".attn_out.weight": (w, w),
            a + ".ff_out.1.weight": (w, 4 * w),
            x + ".norm.gamma": (w,),
            x + ".to_q.weight": (w, w),
            x + ".to_kv.weight": (2 * dh, w),
            x + ".to_out.weight": (w, w),
            x + ".ff.0.weight": (8 * w, w),
            x + ".ff.2.weight": (w, 4 * w),
        })
    return out


def decoder_buffers(cfg):
    # Non-learned but in the official state dict: CoCa LayerNorm's zero
    # beta and the rotary inverse frequencies.
    c, w = cfg["caption"], cfg["text"]["width"]
    dh = w // c["heads"]
    out = {"visual_attn_pooler.norm.beta": torch.zeros(w),
           "visual_attn_pooler.context_norm.beta": torch.zeros(cfg["vision"]["width"])}
    for i in range(c["layers"]):
        a, x = f"multimodal_layers.{i}.0.fn", f"multimodal_layers.{i}.1.fn"
        out[a + ".norm.beta"] = torch.zeros(w)
        out[x + ".norm.beta"] = torch.zeros(w)
        out[a + ".rotary_emb.inv_freq"] = 1.0 / (
            10000 ** (torch.arange(0, dh, 2).float() / dh))
    return out


# --- the weights -------------------------------------------------------------

def shapes(cfg):
    v, t, e = cfg["vision"], cfg["text"], cfg["embed_dim"]
    w, tw = v["width"], t["width"]
    grid = (v["resolution"] // v["patch"]) ** 2

    def block(prefix, d, hidden):
        return {
            prefix + ".attn.in_proj_weight": (3 * d, d),
            prefix + ".attn.in_proj_bias": (3 * d,),
            prefix + ".attn.out_proj.weight": (d, d),
            prefix + ".attn.out_proj.bias": (d,),
            prefix + ".mlp.c_fc.weight": (hidden, d),
            prefix + ".mlp.c_fc.bias": (hidden,),
            prefix + ".mlp.c_proj.weight": (d, hidden),
            prefix + ".mlp.c_proj.bias": (d,),
            **{f"{prefix}.ln_{k}.{s}": (d,) for k in (1, 2) for s in ("weight", "bias")},
        }

    out = {
        "visual.conv1.weight": (w, 3, 1, v["patch"], v["patch"]),
        "visual.class_embedding": (w,),
        "visual.positional_embedding": (grid + 1, w),
        "visual.ln_pre.weight": (w,), "visual.ln_pre.bias": (w,),
        "visual.transformer.temporal_cls_token": (1, 1, w),
        "visual.transformer.balance": (w,),
        "visual_ln_post.weight": (w,), "visual_ln_post.bias": (w,),
        "visual_proj": (w, e),
        "token_embedding.weight": (t["vocab"], tw),
        "positional_embedding": (t["context"], tw),
        "ln_final.weight": (tw,), "ln_final.bias": (tw,),
        "text_projection": (tw, e),
        "logit_scale": (),
        "text_mask_embedding": (1, 1, tw),
    }
    if v.get("stem"):
        del out["visual.conv1.weight"]
        previous = 3
        for i, channels in enumerate(v["stem"]):
            out[f"visual.conv_stem.convs.{i}.weight"] = (channels, previous, 3, 3)
            out[f"visual.conv_stem.norms.{i}.weight"] = (channels,)
            out[f"visual.conv_stem.norms.{i}.bias"] = (channels,)
            previous = channels
        out["visual.conv_stem.proj.weight"] = (w, previous, 1, 1)
    for i in range(v["layers"]):
        out.update(block(f"visual.transformer.resblocks.{i}", w, 4 * w))
    for j in range(len(v["return_list"])):
        name = f"visual.transformer.dec.{j}"
        out.update(block(name, w, round(v["mlp_factor"] * w)))
        out[name + ".ln_3.weight"] = (w,)
        out[name + ".ln_3.bias"] = (w,)
        out[f"visual.transformer.dpe.{j}.weight"] = (w, 1, 3, 3, 3)
        out[f"visual.transformer.dpe.{j}.bias"] = (w,)
    for i in range(t["layers"]):
        out.update(block(f"transformer.resblocks.{i}", tw, 4 * tw))
    return out


def random_weights(all_shapes, gen):
    weights = {}
    for name, shape in all_shapes.items():
        if name == "logit_scale":
            value = torch.tensor(math.log(1 / 0.07))
        elif name.endswith(".gamma") or (
                name.endswith(".weight") and (
                    "ln" in name.split(".")[-2] or "norm" in name.split(".")[-2]
                    or name in ("predictor.0.weight", "predictor.3.weight"))):
            value = 1 + 0.1 * torch.randn(shape, generator=gen)
        else:
            fan_in = shape[-1] if len(shape) > 1 else 1
            value = torch.randn(shape, generator=gen) / math.sqrt(max(fan_in, 1))
            if len(shape) <= 1 or name.endswith("embedding") or "cls" in name:
                value = 0.5 * torch.randn(shape, generator=gen)
        weights[name] = value.float()
    return weights


def texts(cfg, batch, length, gen):
    # Random ids below the EOT id (vocab - 1), the EOT at a random position,
    # zero padding after it, as CLIP's tokenizer pads.
    eot = cfg["text"]["vocab"] - 1
    text = torch.zeros(batch, length, dtype=torch.int64)
    for b in range(batch):
        end = int(torch.randint(2, length, (1,), generator=gen))
        text[b, :end] = torch.randint(1, eot, (end,), generator=gen)
        text[b, end] = eot
    return text


def run_case(out_dir, name, cfg, proto, batch, frames, text_length, seed,
             size=None):
    # size: the frames' (height, width); input_resolution square by default.
    gen = torch.Generator().manual_seed(seed)
    weights = random_weights(shapes(cfg), gen)
    res = cfg["vision"]["resolution"]
    height, width = size or (res, res)
    video = torch.randn(batch, 3, frames, height, width, generator=gen)
    text = texts(cfg, batch, text_length, gen)
    p = {k: v.double().requires_grad_() for k, v in weights.items()}
    video_embeds = encode_video(video.double(), p, cfg)
    text_embeds = encode_text(text, p, cfg)
    loss = info_nce(video_embeds, text_embeds, p["logit_scale"])
    loss.backward()
    io = {"video": video, "text": text, "video_embeds": video_embeds,
          "text_embeds": text_embeds, "loss": loss}
    for k, v in p.items():
        # text_mask_embedding and the token rows no text uses get no
        # gradient; the C++ side treats an absent gradient as zero too.
        io["grad." + k] = v.grad if v.grad is not None else torch.zeros_like(v)
    if "caption" in cfg:
        caption_case(io, p, cfg, text, out_dir, name, gen)
    write_safetensors(f"{out_dir}/{name}.weights.safetensors", weights, {},
                      float64_as_float32=True)
    write_safetensors(f"{out_dir}/{name}.io.safetensors", io, {"config": proto},
                      float64_as_float32=True)


def caption_case(io, p, cfg, text, out_dir, name, gen):
    # Teacher forcing: the decoder reads the text encoder's features of
    # tokens 0..N-2 and predicts tokens 1..N-1; EOT and padding are special
    # (label -100), as the official compute_cap masks special tokens.
    weights = random_weights(decoder_shapes(cfg), gen)
    weights.update(decoder_buffers(cfg))
    d = {k: v.double().requires_grad_() for k, v in weights.items()}
    for v in p.values():
        v.grad = None
    video_tokens = video_token_features(io["video"].double(), p, cfg)
    text_tokens = text_token_features(text, p, cfg)
    logits = caption_logits(video_tokens, text_tokens[:, :-1], d, cfg)
    labels = text[:, 1:].clone()
    labels[(labels == 0) | (labels == cfg["text"]["vocab"] - 1)] = -100
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                           labels.reshape(-1), ignore_index=-100)
    loss.backward()
    io.update({"caption_logits": logits, "caption_labels": labels,
               "caption_loss": loss})
    for k, v in list(d.items()) + [("clip." + k, v) for k, v in p.items()]:
        io["capgrad." + k] = v.grad if v.grad is not None else torch.zeros_like(v)
    write_safetensors(f"{out_dir}/{name}.caption_decoder.weights.safetensors",
                      weights, {}, float64_as_float32=True)


def config(return_list, explicit):
    cfg = {
        "embed_dim": 24,
        "vision": {"resolution": 32, "patch": 8, "width": 32, "layers": 3,
                   "heads": 2, "n_head": 4 if explicit else 2,
                   "return_list": return_list, "mlp_factor": 2.5 if explicit else 4.0},
        "text": {"context": 12, "vocab": 64, "width": 32, "heads": 4, "layers": 2},
    }
    if not explicit:
        cfg["caption"] = {"layers": 2, "heads": 2}
    return cfg


PROTO = """embed_dim: 24
vision {{ input_resolution: 32 patch_size: 8 width: 32 layers: 3 heads: 2
  num_frames: 4 global_branch {{ {branch} }} }}
text {{ context_length: 12 vocab_size: 64 width: 32 heads: 4 layers: 2 }}
{decoder}"""


def main():
    out_dir = sys.argv[1]
    torch.set_grad_enabled(True)
    # The default global branch: the last 2 of 3 layers.
    run_case(out_dir, "clip", config([1, 2], False),
             PROTO.format(branch="n_layers: 2",
                          decoder="caption_decoder { layers: 2 heads: 2 max_length: 12 }"), batch=3, frames=4,
             text_length=12, seed=0)
    # Explicit, non-contiguous return_list, other extractor heads and MLP
    # factor, an odd frame count and texts shorter than the context.
    run_case(out_dir, "clip_other", config([0, 2], True),
             PROTO.format(branch="n_layers: 2 return_list: 0 return_list: 2 "
                                 "n_head: 4 mlp_factor: 2.5", decoder=""),
             batch=4, frames=3, text_length=9, seed=1)
    # Frames of 24x40 for an input_resolution of 32: the 4x4 positional
    # grid resized to 3x5 (down in height, up in width).
    resized = config([1, 2], False)
    del resized["caption"]
    run_case(out_dir, "clip_resized", resized,
             PROTO.format(branch="n_layers: 2", decoder=""), batch=2, frames=2,
             text_length=12, seed=2, size=(24, 40))
    # The convolutional stem in place of conv1: 3 stride-2 layers for the
    # patch of 8.
    stem = config([1, 2], False)
    del stem["caption"]
    stem["vision"]["stem"] = [8, 12, 16]
    run_case(out_dir, "clip_stem", stem,
             PROTO.format(branch="n_layers: 2", decoder="").replace(
                 "num_frames: 4", "num_frames: 4 conv_stem_channels: [8, 12, 16]"),
             batch=2, frames=3, text_length=12, seed=3)


if __name__ == "__main__":
    main()
