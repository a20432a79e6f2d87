"""Writes the checkpoints torch_checkpoint_test reads, with Python's own
torch.save (python3-torch) as the independent reference.

  make_checkpoints.py OUT_DIR

For every checkpoint NAME that must load, OUT_DIR/STEM.expected.safetensors
(STEM: NAME without its extension) holds its weights in state_dict order as
contiguous tensors, and manifest.json says under NAME where the weights are, which other top-level keys there are, each
weight's strides and storage offset, and which weights share a storage. The
checkpoints follow the layouts of the official repositories (VideoMAE,
DeepSpeed, InternVideo-MM on PyTorch Lightning, OpenAI CLIP) with tiny
shapes. The rest of OUT_DIR is damaged or hostile files; evil*.pth would run
`touch OUT_DIR/pwned` if anything executed their pickles.
"""
import argparse
import collections
import io
import json
import os
import pathlib
import pickle
import struct
import sys
import zipfile

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "..", "safetensors", "testdata"))
from torch_writer import write_safetensors  # noqa: E402



def state_dict(shapes, dtype=torch.float32):
    """An OrderedDict like nn.Module.state_dict(), _metadata attribute too."""
    weights = collections.OrderedDict(
        (name, torch.randn(shape).to(dtype)) for name, shape in shapes)
    weights._metadata = collections.OrderedDict({"": {"version": 1}})
    return weights


def vit_block(prefix, dim):
    return [
        (prefix + "norm1.weight", [dim]), (prefix + "norm1.bias", [dim]),
        (prefix + "attn.q_bias", [dim]), (prefix + "attn.v_bias", [dim]),
        (prefix + "attn.qkv.weight", [3 * dim, dim]),
        (prefix + "attn.proj.weight", [dim, dim]),
        (prefix + "attn.proj.bias", [dim]),
        (prefix + "norm2.weight", [dim]), (prefix + "norm2.bias", [dim]),
        (prefix + "mlp.fc1.weight", [4 * dim, dim]),
        (prefix + "mlp.fc1.bias", [4 * dim]),
        (prefix + "mlp.fc2.weight", [dim, 4 * dim]),
        (prefix + "mlp.fc2.bias", [dim]),
    ]


def videomae_encoder(prefix, dim=8):
    return ([(prefix + "patch_embed.proj.weight", [dim, 3, 2, 16, 16]),
             (prefix + "patch_embed.proj.bias", [dim])] +
            vit_block(prefix + "blocks.0.", dim) +
            vit_block(prefix + "blocks.1.", dim))


def adam_state(weights):
    """optimizer.state_dict() of Adam: int keys, tensors, tuples."""
    state = {i: {"step": torch.tensor(10.0), "exp_avg": torch.zeros_like(t),
                 "exp_avg_sq": torch.ones_like(t)}
             for i, t in enumerate(list(weights.values())[:2])}
    groups = [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8,
               "weight_decay": 0.05, "params": list(range(len(weights)))}]
    return {"state": state, "param_groups": groups}


def videomae_args():
    return argparse.Namespace(
        model="vit_base_patch16_224", nb_classes=400, num_frames=16,
        tubelet_size=2, input_size=224, lr=1e-3, layer_decay=0.75,
        data_path=pathlib.PosixPath("/data/k400"), save_ckpt=True)


class AttributeDict(dict):
    """Like pytorch_lightning's AttributeDict: a dict subclass, pickled by
    reference to this module, which the reader must keep opaque."""


class Evil:
    """Pickles as a call of os.system: loading must never run it."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def videomae_finetune():
    weights = state_dict(videomae_encoder("") + [
        ("fc_norm.weight", [8]), ("fc_norm.bias", [8]),
        ("head.weight", [5, 8]), ("head.bias", [5])])
    return {"model": weights, "optimizer": adam_state(weights), "epoch": 799,
            "scaler": {"scale": 65536.0, "_growth_tracker": 0},
            "args": videomae_args()}, "model"


def videomae_pretrain():
    weights = state_dict(videomae_encoder("encoder.") + [
        ("encoder.norm.weight", [8]), ("encoder.norm.bias", [8]),
        ("encoder_to_decoder.weight", [4, 8]), ("mask_token", [1, 1, 4])] +
        vit_block("decoder.blocks.0.", 4) + [
        ("decoder.norm.weight", [4]), ("decoder.norm.bias", [4]),
        ("decoder.head.weight", [1536, 4]), ("decoder.head.bias", [1536])])
    return {"model": weights, "optimizer": adam_state(weights),
            "epoch": 1599, "args": videomae_args()}, "model"


def deepspeed_module():
    weights = state_dict(videomae_encoder("backbone."))
    return {"module": weights, "buffer_names": [], "optimizer": None,
            "lr_scheduler": None, "global_steps": 100,
            "ds_config": {"train_batch_size": 64},
            "ds_version": "0.5.8"}, "module"


def clip_shapes(prefix, width=8, embed=6):
    visual = prefix + "visual."
    block = visual + "transformer.resblocks.0."
    return [
        (prefix + "positional_embedding", [77, width]),
        (prefix + "text_projection", [width, embed]),
        (prefix + "logit_scale", []),
        (visual + "class_embedding", [width]),
        (visual + "positional_embedding", [197, width]),
        (visual + "proj", [width, embed]),
        (visual + "conv1.weight", [width, 3, 1, 16, 16]),
        (visual + "ln_pre.weight", [width]), (visual + "ln_pre.bias", [width]),
        (block + "attn.in_proj_weight", [3 * width, width]),
        (block + "attn.in_proj_bias", [3 * width]),
        (block + "attn.out_proj.weight", [width, width]),
        (block + "ln_1.weight", [width]),
        (block + "mlp.c_fc.weight", [4 * width, width]),
        (block + "mlp.c_proj.weight", [width, 4 * width]),
        (visual + "transformer.dpe.0.weight", [width, 1, 3, 3, 3]),
        (visual + "transformer.balance", [width]),
        (prefix + "token_embedding.weight", [100, width]),
        (prefix + "ln_final.weight", [width]),
    ]


def internvideo_mm():
    weights = state_dict(clip_shapes("clip."))
    hyper = AttributeDict(lr=1e-5, backbone="ViT-B/16", frames=[8],
                          temperature=np.float64(0.07), splits={"train"})
    return {
        "epoch": 9, "global_step": 1000,
        "pytorch-lightning_version": "1.5.10",
        "state_dict": weights,
        "callbacks": {"ModelCheckpoint": {
            "monitor": "val/loss", "best_model_score": torch.tensor(0.5),
            "best_model_path": "/ckpt/epoch=9.ckpt"}},
        "optimizer_states": [adam_state(weights)],
        "lr_schedulers": [{"base_lrs": [1e-5], "last_epoch": 9,
                           "_step_count": 10, "lr_lambdas": [None]}],
        "hparams_name": "config", "hyper_parameters": hyper,
    }, "state_dict"


def clip_plain():
    # OpenAI's CLIP weights are float16.
    return state_dict(clip_shapes(""), torch.float16), ""


def dtypes():
    base = torch.arange(20, dtype=torch.float32).reshape(4, 5)
    return {
        "f32": torch.randn(3, 4), "f16": torch.randn(5).half(),
        "bf16": torch.randn(2, 3).bfloat16(), "f64": torch.randn(2).double(),
        "i64": torch.tensor([-1, 2**40, 7]),
        "i32": torch.tensor([-(2**31), 5], dtype=torch.int32),
        "i16": torch.tensor([-3, 300], dtype=torch.int16),
        "i8": torch.tensor([-128, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5), "scalar_i64": torch.tensor(7),
        "empty": torch.empty(0, 3),
        "base": base, "transposed": base.t(), "slice": base[1:3, 2:],
        "column": base[:, 1], "expanded": torch.arange(3.0).expand(4, 3),
        "param": torch.nn.Parameter(torch.randn(2, 2)),
        "frozen_param": torch.nn.Parameter(torch.randn(2),
                                           requires_grad=False),
    }, ""


def protocol4():
    weights, _ = dtypes()
    return {"model": weights, "extras": {
        "bytes": b"\x00\xff", "set": {1, 2}, "frozen": frozenset({3}),
        "big": 2**70, "negative": -(2**40), "text": "\u00e9t\u00e9"}}, "model"


def evil(out):
    weights = state_dict([("w", [2])])
    return {"model": weights, "hook": Evil(f"touch {out}/pwned")}, "model"


class HugeStorage:
    """Stands for a storage whose persistent id claims 2**40 floats."""


class HugePickler(pickle.Pickler):
    def __init__(self, file, legacy):
        super().__init__(file, protocol=2)
        self.legacy = legacy

    def persistent_id(self, obj):
        if not isinstance(obj, HugeStorage):
            return None
        pid = ("storage", torch.FloatStorage, "0", "cpu", 2**40)
        return pid + (None,) if self.legacy else pid


def write_huge_storages(out):
    """A storage declared far larger than the file, in both formats: readers
    must refuse it before allocating anything."""
    data = io.BytesIO()
    HugePickler(data, legacy=False).dump({"w": HugeStorage()})
    with zipfile.ZipFile(os.path.join(out, "huge_storage.pth"), "w") as z:
        z.writestr("huge_storage/data.pkl", data.getvalue())
        z.writestr("huge_storage/data/0", bytes(16))
        z.writestr("huge_storage/version", b"3\n")
    with open(os.path.join(out, "huge_storage_legacy.pth"), "wb") as f:
        pickle.dump(0x1950a86a20f9469cfc6c, f, protocol=2)
        pickle.dump(1001, f, protocol=2)
        pickle.dump({"protocol_version": 1001, "little_endian": True}, f,
                    protocol=2)
        HugePickler(f, legacy=True).dump({"w": HugeStorage()})
        pickle.dump(["0"], f, protocol=2)
        f.write(struct.pack("<q", 2**40) + bytes(16))


def save_expected(out, name, checkpoint, key, **save_args):
    torch.save(checkpoint, os.path.join(out, name), **save_args)
    weights = checkpoint[key] if key else checkpoint
    stem = name.split(".")[0]
    write_safetensors(os.path.join(out, stem + ".expected.safetensors"),
                      weights)
    storages = collections.defaultdict(list)
    for n, t in weights.items():
        if t.numel():
            storages[t.storage().data_ptr()].append(n)
    return {
        "weights_key": key,
        "other_keys": [k for k in checkpoint if key and k != key],
        "expected": stem + ".expected.safetensors",
        "strides": {n: list(t.stride()) for n, t in weights.items()},
        "offsets": {n: t.storage_offset() for n, t in weights.items()},
        "shared": [names for names in storages.values() if len(names) > 1],
    }


def rezip(source, target, rename=None, drop=None, shorten=None,
          compression=zipfile.ZIP_STORED, extra=None):
    """Copies a torch.save archive record by record, damaging it on the way."""
    with zipfile.ZipFile(source) as src, \
            zipfile.ZipFile(target, "w", compression) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            base = info.filename.split("/", 1)[1]
            if base == drop:
                continue
            if base == shorten:
                data = data[:len(data) // 2]
            name = (rename or {}).get(info.filename, info.filename)
            dst.writestr(name, data)
        for name, data in (extra or {}).items():
            dst.writestr(name, data)


def write_damaged(out, good):
    blob = open(good, "rb").read()
    archive = zipfile.ZipFile(good).namelist()[0].split("/")[0]
    files = {
        "truncated.pth": blob[:len(blob) // 2],
        "truncated_end.pth": blob[:-10],
        "empty.pth": b"",
        "garbage.pth": np.random.RandomState(1).bytes(4096),
        "garbage_zip.pth": (b"PK\x03\x04" +
                            np.random.RandomState(2).bytes(4096)),
    }
    for name, data in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    rezip(good, os.path.join(out, "no_data_pkl.pth"), drop="data.pkl")
    rezip(good, os.path.join(out, "bad_storage_key.pth"),
          rename={f"{archive}/data/0": f"{archive}/data/zero"})
    rezip(good, os.path.join(out, "short_storage.pth"), shorten="data/0")
    rezip(good, os.path.join(out, "corrupt_pickle.pth"), shorten="data.pkl")
    rezip(good, os.path.join(out, "compressed.pth"),
          compression=zipfile.ZIP_DEFLATED)
    rezip(good, os.path.join(out, "big_endian.pth"),
          extra={f"{archive}/byteorder": b"big"})
    legacy = open(os.path.join(out, "legacy.pth"), "rb").read()
    with open(os.path.join(out, "legacy_truncated.pth"), "wb") as f:
        f.write(legacy[:-8])


def main(out):
    torch.manual_seed(0)
    manifest = {}
    for name, make in [("videomae_finetune.pth", videomae_finetune),
                       ("videomae_pretrain.pth", videomae_pretrain),
                       ("deepspeed_module.pth", deepspeed_module),
                       ("internvideo_mm.ckpt", internvideo_mm),
                       ("clip_plain.pth", clip_plain),
                       ("dtypes.pth", dtypes)]:
        checkpoint, key = make()
        manifest[name] = save_expected(out, name, checkpoint, key)
    checkpoint, key = dtypes()
    manifest["legacy.pth"] = save_expected(
        out, "legacy.pth", checkpoint, key,
        _use_new_zipfile_serialization=False)
    checkpoint, key = protocol4()
    manifest["protocol4.pth"] = save_expected(
        out, "protocol4.pth", checkpoint, key, pickle_protocol=4)
    checkpoint, key = evil(out)
    manifest["evil.pth"] = save_expected(out, "evil.pth", checkpoint, key)
    hook = Evil(f"touch {out}/pwned")
    torch.save({"model": {"w": torch.ones(2), "hook": hook}},
               os.path.join(out, "evil_weights.pth"))
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)),
                   os.path.join(out, "torchscript.pt"))
    write_damaged(out, os.path.join(out, "videomae_finetune.pth"))
    write_huge_storages(out)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
