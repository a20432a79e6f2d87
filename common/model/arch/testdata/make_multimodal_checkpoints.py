"""Official-format InternVideo-MM and OpenAI CLIP checkpoints with random
weights, and the outputs the internvideo-mm arches must give for them, from
the project's independent reference
(common/model/multimodal/testdata/multimodal_reference.py).

  make_multimodal_checkpoints.py OUT_DIR

writes into OUT_DIR:
  mm_lightning.ckpt   InternVideo-MM's Lightning layout: {'state_dict':
                      {'clip.' + name, 'caption_decoder.' + name, and an
                      entry the official load_model drops}, 'epoch', ...}
  mm_module.pth       the same model under 'state_dict' as 'module.clip.*'
  mm_openai.pt        an OpenAI CLIP state dict of the same backbone and text
                      tower (visual.proj, visual.ln_post, 2D conv1, the JIT
                      archives' size entries; no global branch, no
                      text_mask_embedding)
  mm_missing.ckpt     mm_lightning.ckpt without clip.ln_final.weight and
                      clip.visual.transformer.dec.1.ln_3.bias
  mm_input.safetensors       `video` [2,3,4,32,32], `text_tokens` [2,77]
  mm_input_t3.safetensors    `video` [3,3,3,32,32] (another frame count)
  mm.expected.safetensors, mm_t3.expected.safetensors,
  mm_openai.expected.safetensors   `video_embeds`, `text_embeds`
  vocab.txt           a CLIP merges file of 2 merges: 516 ids, the model's
  vocab_515.txt       one of 1 merge: 515 ids

The model is b16-shaped but small (width 128, 2 layers, patch 8 on 32x32
frames, 2 heads of 64), so the arch must infer every size from the shapes.
Outputs are computed in float64 from the float32 weights.
"""
import collections
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "multimodal", "testdata"))
import multimodal_reference as ref  # noqa: E402

CFG = {
    "embed_dim": 32,
    "vision": {"resolution": 32, "patch": 8, "width": 128, "layers": 2,
               "heads": 2, "n_head": 2, "return_list": [0, 1],
               "mlp_factor": 4.0},
    "text": {"context": 77, "vocab": 516, "width": 128, "heads": 2,
             "layers": 2},
    "caption": {"layers": 1, "heads": 2},
}


def outputs(p, video, text):
    p = {k: v.double() for k, v in p.items()}
    out = {"video_embeds": ref.encode_video(video.double(), p, CFG)}
    if text is not None:
        out["text_embeds"] = ref.encode_text(text, p, CFG)
    return out


def official_init(p):
    # What a CLIP file lacks, at clip_vit_only_global.py's initialization:
    # zero temporal class token and balance, extractors whose attention and
    # MLP outputs are zero. The rest of the branch (dpe, in_proj, c_fc,
    # norms) then does not reach the output; it stays random here.
    p = dict(p)
    for name in list(p):
        if name in ("visual.transformer.temporal_cls_token",
                    "visual.transformer.balance") or (
                name.startswith("visual.transformer.dec.") and
                name.endswith(("attn.out_proj.weight", "attn.out_proj.bias",
                               "mlp.c_proj.weight", "mlp.c_proj.bias"))):
            p[name] = torch.zeros_like(p[name])
    return p


def openai_layout(p):
    out = collections.OrderedDict()
    for name, value in p.items():
        if ref_absent(name):
            continue
        if name == "visual_proj":
            name = "visual.proj"
        elif name.startswith("visual_ln_post."):
            name = "visual.ln_post." + name[len("visual_ln_post."):]
        elif name == "visual.conv1.weight":
            value = value[:, :, 0]
        out[name] = value
    out["input_resolution"] = torch.tensor(CFG["vision"]["resolution"])
    out["context_length"] = torch.tensor(CFG["text"]["context"])
    out["vocab_size"] = torch.tensor(CFG["text"]["vocab"])
    return out


def ref_absent(name):
    return name == "text_mask_embedding" or name.startswith((
        "visual.transformer.dec.", "visual.transformer.dpe.",
        "visual.transformer.temporal_cls_token",
        "visual.transformer.balance"))


def main(out):
    gen = torch.Generator().manual_seed(11)
    p = ref.random_weights(ref.shapes(CFG), gen)
    decoder = ref.random_weights(ref.decoder_shapes(CFG), gen)
    decoder.update(ref.decoder_buffers(CFG))

    video = torch.randn(2, 3, 4, 32, 32, generator=gen)
    text = ref.texts(CFG, 2, CFG["text"]["context"], gen)
    video_t3 = torch.randn(3, 3, 3, 32, 32, generator=gen)
    ref.write_safetensors(os.path.join(out, "mm_input.safetensors"),
                          {"video": video, "text_tokens": text}, {})
    ref.write_safetensors(os.path.join(out, "mm_input_t3.safetensors"),
                          {"video": video_t3}, {})

    state = collections.OrderedDict(("clip." + k, v) for k, v in p.items())
    state.update(("caption_decoder." + k, v) for k, v in decoder.items())
    # A Lightning module's other state the official load_model ignores.
    state["clip_teacher.logit_scale"] = torch.tensor(4.6)
    torch.save({"epoch": 9, "global_step": 1234,
                "pytorch-lightning_version": "1.5.10", "state_dict": state},
               os.path.join(out, "mm_lightning.ckpt"))
    torch.save({"state_dict": collections.OrderedDict(
        ("module.clip." + k, v) for k, v in p.items())},
        os.path.join(out, "mm_module.pth"))
    missing = collections.OrderedDict(state)
    del missing["clip.ln_final.weight"]
    del missing["clip.visual.transformer.dec.1.ln_3.bias"]
    torch.save({"state_dict": missing}, os.path.join(out, "mm_missing.ckpt"))
    torch.save(openai_layout(p), os.path.join(out, "mm_openai.pt"))

    ref.write_safetensors(os.path.join(out, "mm.expected.safetensors"),
                          outputs(p, video, text), {},
                          float64_as_float32=True)
    ref.write_safetensors(os.path.join(out, "mm_t3.expected.safetensors"),
                          outputs(p, video_t3, None), {},
                          float64_as_float32=True)
    ref.write_safetensors(os.path.join(out, "mm_openai.expected.safetensors"),
                          outputs(official_init(p), video, text), {},
                          float64_as_float32=True)

    # 512 byte symbols + merges + start/end of text.
    with open(os.path.join(out, "vocab.txt"), "w") as f:
        f.write("#version: 0.2\nt h\nth e</w>\n")
    with open(os.path.join(out, "vocab_515.txt"), "w") as f:
        f.write("#version: 0.2\nt h\n")


if __name__ == "__main__":
    main(sys.argv[1])
