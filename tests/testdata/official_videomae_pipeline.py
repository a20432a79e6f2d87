"""VideoMAE's finetuning evaluation pipeline, the independent reference of
tests/official_pipeline_test: what the official code (InternVideo1/Pretrain/
VideoMAE: ssv2.py / kinetics.py in test mode, video_transforms.py,
functional.py, volume_transforms.py) computes for a video with a finetuned
checkpoint of random weights.

  official_videomae_pipeline.py OUT_DIR VIDEO...

The pipeline:
  - 16 frames, one from the middle of each of 16 equal segments:
    int(tick / 2 + tick * x), tick = len / 16 (ssv2.py's test view that
    starts half a segment in), decoded by the ffmpeg CLI;
  - video_transforms.Resize(224, 'bilinear') on the numpy frames:
    cv2.resize(INTER_LINEAR), long side int(224 * long / short), frames
    already 224 on their short side left alone;
  - CenterCrop(224) at int(round((size - 224) / 2.));
  - ClipToTensor (/ 255, float32) and ImageNet's mean and std;
  - the finetuning ViT (the project's float64 VideoMAE reference,
    common/model/videomae/testdata/videomae_reference.py): logits and their
    softmax.

The checkpoint is ViT-B/16's geometry where preprocessing and positions see
it (patch 16, tubelets of 2, 16 frames of 224), 128 wide with 2 heads and 2
blocks, mean pooling, 5 classes, saved as the released finetuned files are:
{'module': state_dict}.

Writes OUT_DIR/videomae_b16.pth and OUT_DIR/videomae_expected.safetensors:
clip_<i> [3, 16, 224, 224], logits_<i> [5], probs_<i> [5]; metadata
`indices_<i>`.
"""
import os
import sys

import cv2
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "common", "model",
                                "videomae", "testdata"))
import official_mm_pipeline as frames_from  # noqa: E402  (probe, decode)
import videomae_reference as ref  # noqa: E402

FRAMES, SIZE = 16, 224
CFG = {"patch": 16, "tubelet": 2, "dim": 128, "depth": 2, "heads": 2,
       "qkv_bias": True, "layer_scale": False, "classes": 5,
       "mean_pooling": True, "img_size": SIZE, "num_frames": FRAMES}


def load_video(path):
    length = frames_from.probe(path)
    tick = length / float(FRAMES)
    indices = [int(tick / 2.0 + tick * x) for x in range(FRAMES)]
    buffer = frames_from.decode(path, indices)
    h, w = buffer[0].shape[:2]
    if not ((w <= h and w == SIZE) or (h <= w and h == SIZE)):
        if w < h:
            size = (SIZE, int(SIZE * h / w))
        else:
            size = (int(SIZE * w / h), SIZE)
        buffer = [cv2.resize(f, size, interpolation=cv2.INTER_LINEAR)
                  for f in buffer]
    h, w = buffer[0].shape[:2]
    x1 = int(round((w - SIZE) / 2.))
    y1 = int(round((h - SIZE) / 2.))
    buffer = [f[y1:y1 + SIZE, x1:x1 + SIZE, :] for f in buffer]
    clip = np.zeros([3, FRAMES, SIZE, SIZE])
    for t, f in enumerate(buffer):
        clip[:, t] = f.transpose(2, 0, 1)
    clip = torch.from_numpy(clip).float().div(255)
    mean = torch.tensor(ref.IMAGENET_MEAN, dtype=clip.dtype)
    std = torch.tensor(ref.IMAGENET_STD, dtype=clip.dtype)
    clip.sub_(mean[:, None, None, None]).div_(std[:, None, None, None])
    return clip, indices


def main(out, videos):
    gen = torch.Generator().manual_seed(29)
    shapes = ref.encoder_shapes("", CFG)
    shapes.update({"fc_norm.weight": [CFG["dim"]],
                   "fc_norm.bias": [CFG["dim"]],
                   "head.weight": [CFG["classes"], CFG["dim"]],
                   "head.bias": [CFG["classes"]]})
    p = ref.random_weights(gen, shapes)
    torch.save({"module": {k: v.float() for k, v in p.items()}},
               os.path.join(out, "videomae_b16.pth"))
    outputs, metadata = {}, {}
    for i, path in enumerate(videos):
        clip, indices = load_video(path)
        _, logits = ref.finetune_forward(p, clip[None].double(), CFG)
        outputs.update({"clip_%d" % i: clip, "logits_%d" % i: logits[0],
                        "probs_%d" % i: logits[0].softmax(-1)})
        metadata["indices_%d" % i] = ",".join(map(str, indices))
    ref.write_safetensors(os.path.join(out, "videomae_expected.safetensors"),
                          outputs, metadata, float64_as_float32=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
