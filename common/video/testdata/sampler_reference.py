"""Test-mode frame sampling as mmaction2 (SampleFrames, 1.x) and VideoMAE
(Something-Something loader) compute it, written independently with numpy.
Prints {"uniform": [...], "dense": [...], "windows": [...]} as JSON."""
import json

import numpy as np


def uniform(num_frames, num_segments):
    tick = num_frames / float(num_segments)
    return [min(int(tick / 2.0 + tick * x), num_frames - 1)
            for x in range(num_segments)]


def dense(num_frames, clip_len, interval, num_clips):
    max_offset = max(num_frames - clip_len * interval, 0)
    if num_clips > 1:
        offsets = np.round(np.arange(num_clips) * (max_offset / (num_clips - 1)))
    else:
        offsets = np.array([max_offset // 2])
    inds = offsets.astype(int)[:, None] + np.arange(clip_len)[None] * interval
    return np.minimum(inds, num_frames - 1).tolist()


def windows(times, duration, window, stride, per_window):
    eps = 1e-9
    starts, i = [], 0
    while i * stride + window <= duration + eps:
        starts.append(i * stride)
        i += 1
    if starts[-1] + window < duration - eps:
        starts.append(duration - window)
    out = []
    times = np.asarray(times)
    for s in starts:
        first = int(np.searchsorted(times, s - eps, side="left"))
        last = int(np.searchsorted(times, s + window - eps, side="left"))
        count = max(last - first, 1)
        first = min(first, len(times) - 1)
        count = min(count, len(times) - first)
        out.append({"start": s, "end": s + window,
                    "frames": [first + k for k in uniform(count, per_window)]})
    return out


cases = {
    "uniform": [[n, s, uniform(n, s)] for n, s in
                [(32, 8), (32, 16), (300, 16), (17, 16), (5, 8), (1, 4), (100, 3)]],
    "dense": [[n, c, i, k, dense(n, c, i, k)] for n, c, i, k in
              [(300, 16, 4, 1), (300, 16, 4, 5), (64, 8, 8, 1), (20, 16, 4, 1),
               (101, 8, 2, 3), (33, 4, 1, 4), (10, 4, 4, 2)]],
    "windows": [],
}
vfr = sorted(set(np.round(np.cumsum(np.r_[0, np.tile([0.05, 0.08], 80)]), 6)))
for times, duration, window, stride, per in [
        ([k / 16 for k in range(160)], 10.0, 2.0, 1.0, 8),
        ([k / 16 for k in range(163)], 163 / 16, 2.0, 0.5, 4),
        ([k / 30 for k in range(75)], 2.5, 2.0, 2.0, 16),
        (vfr, vfr[-1] + 0.05, 1.5, 0.75, 6)]:
    cases["windows"].append({"times": times, "duration": duration,
                             "window": window, "stride": stride,
                             "per_window": per,
                             "expected": windows(times, duration, window,
                                                 stride, per)})
print(json.dumps(cases))
