"""InternVideo-MM's demo pipeline, the independent reference of
tests/official_pipeline_test: what the official demo
(InternVideo1/Pretrain/Multi-Modalities-Pretraining: demo.py,
InternVideo/internvideo.py load_video, video_transform.py) computes for a
video and the demo's three prompts, with an official-format checkpoint of
random weights.

  official_mm_pipeline.py OUT_DIR VIDEO...

The pipeline, as the official code runs it:
  - frames np.linspace(0, len - 1, 8).astype(np.intc) (here decoded by the
    ffmpeg CLI, rotation applied as it applies it; the demo's decord decodes
    through FFmpeg too);
  - TensorToNumpy makes PIL images, so video_transform.Resize(256) takes its
    PIL branch, where the default interpolation 'nearest' selects
    PIL.Image.BILINEAR; the long side is int(256 * long / short), and frames
    whose short side is already 256 are left alone;
  - CenterCrop(224) at int(round((size - 224) / 2.)) (Python's rounding);
  - ClipToTensor: float64 / ... -> float32, divided by 255; Normalize with
    CLIP's mean and std;
  - encode_video / encode_text (the project's float64 model reference,
    common/model/multimodal/testdata/multimodal_reference.py), L2-normalized;
    probabilities softmax(logit_scale.exp() * video @ text.T).

The checkpoint has InternVideo-MM-B/16's geometry where preprocessing sees
it (patch 16, 224-pixel frames, 8 frames, Lightning layout 'clip.*') and a
small width and depth to stay fast (64 wide, 2 layers, 1 head: B/16's
heads are 64 wide, and the importer infers the head count from that); the
vocabulary is a CLIP merges file of 2 merges (516 ids).

Writes OUT_DIR/mm_b16.ckpt, OUT_DIR/vocab.txt and OUT_DIR/expected.safetensors:
clip_<i> [3, 8, 224, 224] (the model's input for VIDEO i), video_<i>
[embed_dim], probs_<i> [3], text [3, embed_dim]; metadata `indices_<i>`,
the sampled frame indices.
"""
import collections
import json
import os
import subprocess
import sys

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "common", "model",
                                "multimodal", "testdata"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "common", "text",
                                "testdata"))
import multimodal_reference as ref  # noqa: E402
import clip_tokenizer_reference as tokenizer_ref  # noqa: E402

PROMPTS = ["an airplane is taking off", "an airplane is flying",
           "a dog is chasing a ball"]
FRAMES, SCALE_SIZE, CROP_SIZE = 8, 256, 224
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
CFG = {
    "embed_dim": 32,
    "vision": {"resolution": 224, "patch": 16, "width": 64, "layers": 2,
               "heads": 1, "n_head": 1, "return_list": [0, 1],
               "mlp_factor": 4.0},
    "text": {"context": 77, "vocab": 516, "width": 64, "heads": 1,
             "layers": 2},
    "caption": {"layers": 1, "heads": 2},
}


def probe(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
         "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path],
        check=True, capture_output=True, text=True).stdout
    return int(out.strip().split(",")[0])


def decode(path, indices):
    """RGB frames at `indices` as the ffmpeg CLI decodes them."""
    unique = sorted(set(indices))
    select = "+".join("eq(n\\,%d)" % i for i in unique)
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", path, "-vf",
         "select='%s'" % select, "-fps_mode", "passthrough", "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    # The frame size after rotation: from the bytes of one frame.
    size = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", path, "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], check=True,
        capture_output=True).stdout
    dims = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=width,height:stream_side_data=rotation", "-of", "json",
         path], check=True, capture_output=True, text=True).stdout
    stream = json.loads(dims)["streams"][0]
    w, h = stream["width"], stream["height"]
    rotation = next((int(d["rotation"]) for d in stream.get("side_data_list",
                                                            [])
                     if "rotation" in d), 0)
    if rotation % 180:
        w, h = h, w
    assert len(size) == w * h * 3, (path, len(size), w, h)
    frames = np.frombuffer(raw, np.uint8).reshape(len(unique), h, w, 3)
    return [frames[unique.index(i)] for i in indices]


def load_video(path):
    """internvideo.load_video, frames from the ffmpeg CLI."""
    length = probe(path)
    indices = np.linspace(0, length - 1, FRAMES).astype(np.intc).tolist()
    images = [Image.fromarray(f).convert("RGB") for f in decode(path, indices)]
    w, h = images[0].size
    if not ((w <= h and w == SCALE_SIZE) or (h <= w and h == SCALE_SIZE)):
        if w < h:
            size = (SCALE_SIZE, int(SCALE_SIZE * h / w))
        else:
            size = (int(SCALE_SIZE * w / h), SCALE_SIZE)
        images = [im.resize(size, Image.BILINEAR) for im in images]
    w, h = images[0].size
    x1 = int(round((w - CROP_SIZE) / 2.))
    y1 = int(round((h - CROP_SIZE) / 2.))
    images = [im.crop((x1, y1, x1 + CROP_SIZE, y1 + CROP_SIZE))
              for im in images]
    clip = np.zeros([3, FRAMES, CROP_SIZE, CROP_SIZE])
    for t, im in enumerate(images):
        clip[:, t] = np.array(im).transpose(2, 0, 1)
    clip = torch.from_numpy(clip).float().div(255)
    mean = torch.tensor(CLIP_MEAN, dtype=clip.dtype)
    std = torch.tensor(CLIP_STD, dtype=clip.dtype)
    clip.sub_(mean[:, None, None, None]).div_(std[:, None, None, None])
    return clip, indices


def normalize(x):
    return x / x.norm(dim=-1, keepdim=True)


def main(out, videos):
    gen = torch.Generator().manual_seed(23)
    p = ref.random_weights(ref.shapes(CFG), gen)
    torch.save({"epoch": 0, "global_step": 0, "state_dict":
                collections.OrderedDict(("clip." + k, v)
                                        for k, v in p.items())},
               os.path.join(out, "mm_b16.ckpt"))
    vocab = os.path.join(out, "vocab.txt")
    with open(vocab, "w") as f:
        f.write("#version: 0.2\nt h\nth e</w>")  # no final newline: 2 merges

    p64 = {k: v.double() for k, v in p.items()}
    tokenizer = tokenizer_ref.Tokenizer(vocab)
    tokens = torch.zeros(len(PROMPTS), 77, dtype=torch.int64)
    for i, prompt in enumerate(PROMPTS):
        ids = tokenizer.encode_for_model(prompt, 77)
        tokens[i, :len(ids)] = torch.tensor(ids)
    text = normalize(ref.encode_text(tokens, p64, CFG))
    outputs, metadata = {"text": text}, {}
    for i, path in enumerate(videos):
        clip, indices = load_video(path)
        video = normalize(ref.encode_video(clip[None].double(), p64, CFG))[0]
        logits = p64["logit_scale"].exp() * video @ text.T
        outputs.update({"clip_%d" % i: clip, "video_%d" % i: video,
                        "probs_%d" % i: logits.softmax(-1)})
        metadata["indices_%d" % i] = ",".join(map(str, indices))
    ref.write_safetensors(os.path.join(out, "expected.safetensors"), outputs,
                          metadata, float64_as_float32=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
