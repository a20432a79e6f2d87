"""The test-time transform pipeline (frames -> [0,1] float [C,T,H,W] ->
short-side resize -> centre crop -> normalize), written independently with
python3-torch. The frames are a formula both sides compute:
frame[t, y, x, c] = (7t + 3y + 5x + 11c) % 256.
Usage: transforms_reference.py T H W SHORT CROP OUT.bin  (float32, C-order)"""
import sys

import torch
import torch.nn.functional as F

t, h, w, short, crop = (int(a) for a in sys.argv[1:6])
tt, yy, xx, cc = torch.meshgrid(torch.arange(t), torch.arange(h),
                                torch.arange(w), torch.arange(3), indexing="ij")
frames = ((7 * tt + 3 * yy + 5 * xx + 11 * cc) % 256).to(torch.uint8)

clip = frames.float().div(255).permute(0, 3, 1, 2)  # [T, C, H, W]
scale = short / min(h, w)
size = (int(h * scale + 0.5), int(w * scale + 0.5))
clip = F.interpolate(clip, size=size, mode="bilinear", align_corners=False)
top = (size[0] - crop) // 2
left = (size[1] - crop) // 2
clip = clip[:, :, top:top + crop, left:left + crop]
mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
clip = ((clip - mean) / std).permute(1, 0, 2, 3).contiguous()  # [C, T, H, W]
clip.numpy().tofile(sys.argv[6])
