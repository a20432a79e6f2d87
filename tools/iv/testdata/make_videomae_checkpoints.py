"""Official-format VideoMAE checkpoints with random weights, and the outputs
`iv model forward` must give for them, from the project's independent
reference (common/model/videomae/testdata/videomae_reference.py).

  make_videomae_checkpoints.py OUT_DIR

writes OUT_DIR/finetune.pth (run_class_finetuning.py's layout: {'model',
'epoch', 'args'}), OUT_DIR/finetune_module.pth (the same weights as
DeepSpeed saves them, under 'module' with a `module.` prefix),
OUT_DIR/pretrain.pth (run_mae_pretraining.py's: encoder./decoder. names),
OUT_DIR/input.safetensors (`video`) and OUT_DIR/CASE.expected.safetensors.
The models are "b16-shaped" but small (width 64, depth 2, one head of 64
channels), so the arch must infer every size from the weights.
"""
import argparse
import collections
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "../../../common/model/videomae/testdata"))
import videomae_reference as ref  # noqa: E402

BASE = {"patch": 16, "tubelet": 2, "dim": 64, "depth": 2, "heads": 1,
        "qkv_bias": True}


def official(weights):
    return collections.OrderedDict(
        (name, value.float()) for name, value in weights.items())


def main(out):
    torch.set_default_dtype(torch.float64)
    gen = torch.Generator().manual_seed(7)
    video = torch.randn((2, 3, 4, 32, 48), generator=gen).float().double()
    ref.write_safetensors(os.path.join(out, "input.safetensors"),
                          {"video": video}, {}, float64_as_float32=True)

    c = dict(BASE, layer_scale=True, classes=5, mean_pooling=True)
    shapes = ref.encoder_shapes("", c)
    shapes.update({"fc_norm.weight": [64], "fc_norm.bias": [64],
                   "head.weight": [5, 64], "head.bias": [5]})
    p = ref.random_weights(gen, shapes)
    args = argparse.Namespace(model="vit_base_patch16_224", nb_classes=5)
    torch.save({"model": official(p), "epoch": 29, "args": args},
               os.path.join(out, "finetune.pth"))
    torch.save({"module": official({"module." + k: v for k, v in p.items()})},
               os.path.join(out, "finetune_module.pth"))
    features, logits = ref.finetune_forward(p, video, c)
    ref.write_safetensors(os.path.join(out, "finetune.expected.safetensors"),
                          {"features": features, "logits": logits}, {},
                          float64_as_float32=True)

    c = dict(BASE, layer_scale=False, decoder_dim=64, decoder_depth=1,
             decoder_heads=1)
    shapes = ref.encoder_shapes("encoder.", c)
    shapes.update({"encoder.norm.weight": [64], "encoder.norm.bias": [64],
                   "encoder_to_decoder.weight": [64, 64],
                   "mask_token": [1, 1, 64],
                   "decoder.norm.weight": [64], "decoder.norm.bias": [64],
                   "decoder.head.weight": [3 * 2 * 16 * 16, 64],
                   "decoder.head.bias": [3 * 2 * 16 * 16]})
    shapes.update(ref.block_shapes("decoder.blocks", 64, 1, True, False))
    p = ref.random_weights(gen, shapes)
    torch.save({"model": official(p), "epoch": 799},
               os.path.join(out, "pretrain.pth"))
    tokens = ref.pretrain_encoder(p, video, None, c)
    ref.write_safetensors(os.path.join(out, "pretrain.expected.safetensors"),
                          {"encoder_tokens": tokens}, {},
                          float64_as_float32=True)


if __name__ == "__main__":
    main(sys.argv[1])
