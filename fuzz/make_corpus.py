"""Writes the seed corpus of every fuzz target under fuzz/corpus/ (run it
from the repository root with Debian's python3, which has python3-torch):

  /usr/bin/python3 fuzz/make_corpus.py

Seeds are small valid inputs of each format, made with the reference tools
(torch.save, the ffmpeg CLI, protoc --encode), plus the hostile inputs the
tests and issues name. The service targets read one selector byte (which
RPC), then the request as a binary proto. Inputs a fuzz run found are added
by hand beside these (see README.md, "Fuzzing").
"""
import io
import json
import os
import pickle
import struct
import subprocess
import tempfile
import zipfile

import torch

ROOT = os.path.join("fuzz", "corpus")


def put(target, name, data):
    folder = os.path.join(ROOT, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def safetensors(header, data=b""):
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def safetensors_seeds():
    floats = struct.pack("<4f", 1, 2, 3, 4)
    put("safetensors", "valid", safetensors(
        {"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
         "b": {"dtype": "I64", "shape": [1], "data_offsets": [16, 24]},
         "__metadata__": {"format": "pt"}},
        floats + struct.pack("<q", 7)))
    put("safetensors", "dtypes", safetensors(
        {"h": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]},
         "m": {"dtype": "BOOL", "shape": [2], "data_offsets": [4, 6]},
         "s": {"dtype": "F16", "shape": [], "data_offsets": [6, 8]}},
        bytes(8)))
    put("safetensors", "empty", safetensors({}))
    # issue 17: overflowing shapes must be DATA_LOSS, not an allocation.
    put("safetensors", "overflow_shape", safetensors(
        {"w": {"dtype": "F32", "shape": [18446744073709551615, 0],
               "data_offsets": [0, 0]}}))
    put("safetensors", "huge_shape", safetensors(
        {"w": {"dtype": "U8", "shape": [2**32, 2**32],
               "data_offsets": [0, 0]}}))


def torch_save(obj, **kwargs):
    buffer = io.BytesIO()
    torch.save(obj, buffer, **kwargs)
    return buffer.getvalue()


class Evil:
    """Would run a command if anything executed the pickle."""

    def __reduce__(self):
        return (os.system, ("touch pwned",))


def torch_seeds():
    weights = {"model": {"w": torch.ones(2, 2), "b": torch.arange(3)},
               "epoch": 3, "args": {"lr": 0.5, "name": "vit"}}
    zipped = torch_save(weights)
    put("torch_checkpoint", "zip.pth", zipped)
    put("torch_checkpoint", "legacy.pth",
        torch_save(weights, _use_new_zipfile_serialization=False))
    put("torch_checkpoint", "shared_storage.pth", torch_save(
        {"a": torch.zeros(4), "view": torch.zeros(4)[1:3].half()}))
    put("torch_checkpoint", "truncated.pth", zipped[:len(zipped) // 2])
    with zipfile.ZipFile(io.BytesIO(zipped)) as z:
        for name in z.namelist():
            if name.endswith("data.pkl"):
                put("torch_pickle", "state_dict.pkl", z.read(name))
    put("torch_pickle", "evil.pkl", pickle.dumps({"hook": Evil()}, protocol=2))
    put("torch_pickle", "values.pkl", pickle.dumps(
        {"big": 2**70, "neg": -(2**40), "bytes": b"\x00\xff", "set": {1, 2},
         "frozen": frozenset({3}), "text": "\u00e9t\u00e9", "f": 1.5,
         "tuple": (None, True, [1, 2])}, protocol=4))


def video_seeds():
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in [
                ("mjpeg.avi", ["-c:v", "mjpeg", "-q:v", "20"]),
                ("h264.mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p",
                              "-preset", "ultrafast"]),
                ("vp9.webm", ["-c:v", "libvpx-vp9", "-b:v", "10k"])]:
            path = os.path.join(tmp, name)
            subprocess.run(
                ["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                 "testsrc=s=16x16:r=3:d=1", *args, path], check=True)
            with open(path, "rb") as f:
                put("video_decoder", name, f.read())


def text_seeds():
    for name, text in [
            ("caption", "a small red cube rotates slowly"),
            ("entities", "&amp;amp;amp; &lt;b&gt; &eacute;t&eacute; &#x1F642;"
                         " &#0; &notit; &am"),
            ("unicode", "Caf\u00e9 \ufb01ne \uff21\uff22 \u201cquoted\u201d "
                        "\u039f\u0394\u039f\u03a3 \u65e5\u672c\u8a9e \U0001f642"
                        " \u0080\u009f\x1b[31m \u200b"),
            ("special", "<|startoftext|>what is it?<|endoftext|>  \t\n x"),
            ("merges", "#version: 0.2\na b</w>\nc d</w>\nab cd</w>")]:
        put("text", name, text.encode())
    put("text", "invalid_utf8", b"\xc3 \xf0\x80\x80 \xed\xa0\x80 ok\xff")


def encode(message, text, proto):
    return subprocess.run(
        ["protoc", "-I.", "-I/usr/include", "--encode=internvideo.v1." + message,
         os.path.join("protos", proto)],
        input=text.encode(), stdout=subprocess.PIPE, check=True).stdout


def escaped(data):
    return "".join("\\%03o" % b for b in data)


def request_seeds():
    filters = {
        "equals": 'must { key: "label" equals { string_value: "cube" } }',
        "any_of": 'must { key: "n" any_of { values { int_value: 1 } '
                  'values { int_value: 2 } } }',
        "range": 'must_not { key: "duration_s" range { gte: 1 lt: 3.5 } }',
        "mixed": 'must { key: "x" any_of { values { int_value: 1 } '
                 'values { string_value: "a" } } }',
    }
    for name, text in filters.items():
        put("filter", name, encode("Filter", text, "index_service.proto"))

    index = [
        ("create_flat", 0, "Collection",
         'name: "x" dimension: 4 metric: METRIC_L2 index_factory: "Flat"'),
        ("create_hnsw", 0, "Collection",
         'name: "y" dimension: 8 index_factory: "HNSW16" '
         'params { hnsw_ef_construction: 40 hnsw_ef_search: 64 }'),
        ("create_ivf", 0, "Collection",
         'name: "z" dimension: 4 index_factory: "IVF4,PQ2" '
         'params { ivf_nprobe: 2 }'),
        ("upsert", 1, "UpsertRequest",
         'collection: "c" records { id: "new" embedding { values: [1, 0, 0, 0] }'
         ' metadata { key: "label" value { string_value: "a" } } '
         'segment { start_s: 1 end_s: 2 } }'),
        ("upsert_bad_dimension", 1, "UpsertRequest",
         'collection: "h" records { id: "r1" embedding { values: [1] } }'),
        ("search", 2, "SearchRequest",
         'collection: "c" vector { values: [1, 0, 0, 0] } k: 3 '
         'filter { must { key: "label" equals { string_value: "a" } } } '
         'scope: SEGMENT_SCOPE_SEGMENTS'),
        ("search_hnsw", 2, "SearchRequest",
         'collection: "h" vector { values: [0, 1, 0, 0] } k: 5 '
         'hnsw_ef_search: 16'),
        ("search_ivf", 2, "SearchRequest",
         'collection: "v" vector { values: [0, 0, 1, 0] } k: 8 ivf_nprobe: 2 '
         'include_vectors: true'),
    ]
    for name, selector, message, text in index:
        put("index_requests", name,
            bytes([selector]) + encode(message, text, "index_service.proto"))

    video = open(os.path.join(ROOT, "video_decoder", "mjpeg.avi"), "rb").read()
    content = escaped(video)
    encoder = [
        ("embed_video", 0, "EmbedVideoRequest",
         f'video {{ content: "{content}" }} '
         'sampling { num_frames: 4 num_clips: 1 } '
         'segments { window_s: 0.5 stride_s: 0.25 }'),
        ("embed_video_path", 0, "EmbedVideoRequest",
         'video { path: "../../etc/passwd" }'),
        ("embed_video_chunked", 0, "EmbedVideoRequest",
         'video { chunked { total_bytes: 10 } } skip_video_embedding: true'),
        ("embed_text", 1, "EmbedTextRequest",
         'texts: "a red cube" texts: "&amp;amp; \\303\\251t\\303\\251"'),
        ("batch", 2, "BatchEmbedVideosRequest",
         f'requests {{ video {{ content: "{content}" }} }} '
         'requests { video { path: "missing.mp4" } model_id: "other" }'),
    ]
    for name, selector, message, text in encoder:
        put("encoder_requests", name,
            bytes([selector]) + encode(message, text, "encoder_service.proto"))

    tasks = [
        ("recognize", 0, "RecognizeRequest",
         f'video {{ content: "{content}" }} top_k: 3'),
        ("recognize_zero_shot", 0, "RecognizeRequest",
         f'video {{ content: "{content}" }} zero_shot {{ labels: "jump" '
         'labels: "spin" prompt_template: "a video of {label}" }'),
        ("localize", 1, "LocalizeRequest",
         f'video {{ content: "{content}" }} max_segments: 5 '
         'score_threshold: 0.1'),
        ("answer", 2, "AnswerQuestionRequest",
         f'video {{ content: "{content}" }} question: "what color is it?" '
         'candidates: "red" candidates: "blue" top_k: 1'),
        ("answer_open", 2, "AnswerQuestionRequest",
         'video { path: "/etc/passwd" } question: "what?"'),
    ]
    for name, selector, message, text in tasks:
        put("task_requests", name,
            bytes([selector]) + encode(message, text, "task_service.proto"))


if __name__ == "__main__":
    safetensors_seeds()
    torch_seeds()
    video_seeds()
    text_seeds()
    request_seeds()
