"""The PyTorch eager baseline of `iv bench encoder`: VideoMAE's ViT for
finetuning and serving, built as the official modeling_finetune.py builds it
(nn.Modules, qkv without bias plus q_bias / v_bias, exact GELU, LayerNorm eps
1e-6, fixed sinusoid table, mean pooling + fc_norm, no head), with random
weights, timed (fastest of --iters forwards after a warm-up) in inference
mode in fp32 and under CPU bf16 autocast (or CUDA bf16 autocast with SDPA
on a GPU and PyTorch >= 2).

  videomae_eager.py --dim 768 --depth 12 --heads 12 --frames 16 --size 224 \
      --threads 1 --batch 1 --iters 3 --precisions fp32,bf16 [--device cpu]

Prints one JSON object: {"torch": version, "device": ..., "results":
{"fp32_wall": clips/s, "fp32_cpu": clips per CPU second, "bf16_wall": ...}}.
CPU time is what a run takes on a machine shared with other work.
"""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def sinusoid_table(n_position, d_hid):
    # Official get_sinusoid_encoding_table.
    pos = np.arange(n_position, dtype=np.float64)[:, None]
    j = np.arange(d_hid)
    angle = pos / np.power(10000, 2 * (j // 2) / d_hid)
    table = np.where(j % 2 == 0, np.sin(angle), np.cos(angle))
    return torch.tensor(table, dtype=torch.float32).unsqueeze(0)


class Attention(nn.Module):
    def __init__(self, dim, heads, sdpa):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.sdpa = sdpa
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv_bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias,
                                                            requires_grad=False),
                              self.v_bias))
        qkv = F.linear(input=x, weight=self.qkv.weight, bias=qkv_bias)
        qkv = qkv.reshape(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if self.sdpa:
            x = F.scaled_dot_product_attention(q, k, v)
        else:
            q = q * self.scale
            attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
            x = attn @ v
        x = x.transpose(1, 2).reshape(b, n, -1)
        return self.proj(x)


class LayerNorm(nn.LayerNorm):
    # Under CPU bf16 autocast the official residual stream is bf16 (the
    # patch embedding's output is), and LibTorch 1.13's CPU layer_norm
    # rejects bf16 input with fp32 weights: normalize in fp32, as CUDA
    # autocast does for layer_norm anyway.
    def forward(self, x):
        return F.layer_norm(x.float(), self.normalized_shape, self.weight,
                            self.bias, self.eps)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, sdpa):
        super().__init__()
        self.norm1 = LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, sdpa)
        self.norm2 = LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * 4.0))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    def __init__(self, dim, depth, heads, frames, size, sdpa, patch=16,
                 tubelet=2):
        super().__init__()
        self.proj = nn.Conv3d(3, dim, (tubelet, patch, patch),
                              stride=(tubelet, patch, patch))
        tokens = (frames // tubelet) * (size // patch) ** 2
        self.register_buffer("pos_embed", sinusoid_table(tokens, dim))
        self.blocks = nn.ModuleList(
            [Block(dim, heads, sdpa) for _ in range(depth)])
        self.fc_norm = LayerNorm(dim, eps=1e-6)

    def forward(self, x):
        x = self.proj(x).flatten(2).transpose(1, 2)
        x = x + self.pos_embed.type_as(x).to(x.device).clone().detach()
        for blk in self.blocks:
            x = blk(x)
        return self.fc_norm(x.mean(1))


def clips_per_second(model, video, iters, device, bf16):
    """(wall, cpu): clips per second of wall time and of process CPU time,
    each in the fastest of `iters` forwards after a warm-up one."""
    def run():
        with torch.inference_mode(), torch.autocast(device, torch.bfloat16,
                                                    enabled=bf16):
            model(video)
        if device == "cuda":
            torch.cuda.synchronize()

    run()  # warm-up: allocator, oneDNN primitives, CUDA kernels
    wall, cpu = [], []
    for _ in range(iters):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return video.shape[0] / min(wall), video.shape[0] / min(cpu)


def main():
    parser = argparse.ArgumentParser()
    for name in ("dim", "depth", "heads", "frames", "size"):
        parser.add_argument("--" + name, type=int, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = args.device
    sdpa = hasattr(F, "scaled_dot_product_attention")
    model = VisionTransformer(args.dim, args.depth, args.heads, args.frames,
                              args.size, sdpa).eval().to(device)
    video = torch.randn(args.batch, 3, args.frames, args.size, args.size,
                        device=device)
    results = {}
    for precision in args.precisions.split(","):
        wall, cpu = clips_per_second(model, video, args.iters, device,
                                     precision == "bf16")
        results[precision + "_wall"] = wall
        results[precision + "_cpu"] = cpu
    print(json.dumps({"torch": torch.__version__, "device": device,
                      "sdpa": sdpa, "threads": torch.get_num_threads(),
                      "results": results}))


if __name__ == "__main__":
    main()
