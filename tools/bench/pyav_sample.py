"""The PyAV baseline of `iv bench decode`: the seek-and-decode sampling that
Python video loaders do with PyAV (Debian's python3-av), for the same frame
indices. Prints {"seconds": median wall time of one sampling, open included}.

Usage: pyav_sample.py VIDEO INDEX,INDEX,... REPEATS"""
import json
import sys
import time

import av


def sample(path, indices):
    frames = []
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate)
        start = stream.start_time or 0
        for index in sorted(indices):
            target = start + int(round(index / fps / stream.time_base))
            container.seek(target, stream=stream, backward=True, any_frame=False)
            for frame in container.decode(stream):
                if frame.pts is not None and frame.pts >= target:
                    frames.append(frame.to_ndarray(format="rgb24"))
                    break
    return frames


def main():
    path, indices, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
    indices = [int(i) for i in indices.split(",")]
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        frames = sample(path, indices)
        times.append(time.perf_counter() - begin)
        assert len(frames) == len(indices), (len(frames), len(indices))
    times.sort()
    print(json.dumps({"seconds": times[len(times) // 2]}))


if __name__ == "__main__":
    main()
