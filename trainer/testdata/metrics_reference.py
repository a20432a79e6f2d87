"""Independent reference for trainer/evaluation.cc's metrics, written from
ActivityNet's eval_detection.py (compute_average_precision_detection,
interpolated_prec_rec) and Papineni et al.'s corpus BLEU, in plain Python.

Reads the cases file given as argv[1]; prints one JSON object with
map_0.3 ... map_0.7 (every 0.1), map_mean (of 0.3, 0.5, 0.7), map_0.3:0.7
(of all five) and bleu4.
"""
import collections
import json
import math
import sys


def tiou(a, b):
    inter = max(0.0, min(a["end_s"], b["end_s"]) - max(a["start_s"], b["start_s"]))
    union = (a["end_s"] - a["start_s"]) + (b["end_s"] - b["start_s"]) - inter
    return inter / union if union > 0 else 0.0


def interpolated_prec_rec(prec, rec):
    mprec = [0.0] + prec + [0.0]
    mrec = [0.0] + rec + [1.0]
    for i in range(len(mprec) - 2, -1, -1):
        mprec[i] = max(mprec[i], mprec[i + 1])
    return sum((mrec[i + 1] - mrec[i]) * mprec[i + 1]
               for i in range(len(mrec) - 1) if mrec[i + 1] != mrec[i])


def average_precision(preds, truth, threshold):
    """preds: [(video, seg)], truth: [(video, seg)] of one class."""
    if not truth:
        return 0.0
    preds = sorted(preds, key=lambda p: -p[1]["score"])
    by_video = collections.defaultdict(list)
    for index, (video, seg) in enumerate(truth):
        by_video[video].append((index, seg))
    used = set()
    tp, fp = [], []
    for video, seg in preds:
        candidates = sorted(by_video.get(video, []),
                            key=lambda g: -tiou(seg, g[1]))
        hit = False
        for index, g in candidates:
            if tiou(seg, g) < threshold:
                break
            if index in used:
                continue
            used.add(index)
            hit = True
            break
        tp.append(1 if hit else 0)
        fp.append(0 if hit else 1)
    prec, rec, ctp, cfp = [], [], 0, 0
    for t, f in zip(tp, fp):
        ctp += t
        cfp += f
        prec.append(ctp / (ctp + cfp))
        rec.append(ctp / len(truth))
    return interpolated_prec_rec(prec, rec)


def localization(case):
    preds = [(v, s) for v, segs in enumerate(case["predictions"]) for s in segs]
    truth = [(v, s) for v, segs in enumerate(case["ground_truth"]) for s in segs]
    labels = sorted({s["label"] for _, s in truth})
    out = {}
    for threshold in (0.3, 0.4, 0.5, 0.6, 0.7):
        aps = [average_precision([p for p in preds if p[1]["label"] == c],
                                 [g for g in truth if g[1]["label"] == c],
                                 threshold) for c in labels]
        out["map_%.1f" % threshold] = sum(aps) / len(aps)
    out["map_mean"] = (out["map_0.3"] + out["map_0.5"] + out["map_0.7"]) / 3
    out["map_0.3:0.7"] = sum(out["map_%.1f" % t] for t in (0.3, 0.4, 0.5, 0.6, 0.7)) / 5
    return out


def ngrams(words, n):
    return collections.Counter(tuple(words[i:i + n])
                               for i in range(len(words) - n + 1))


def bleu4(candidates, references):
    matches, totals = [0] * 4, [0] * 4
    c_len = r_len = 0
    for cand, ref in zip(candidates, references):
        c, r = cand.split(), ref.split()
        c_len += len(c)
        r_len += len(r)
        for n in range(1, 5):
            cg, rg = ngrams(c, n), ngrams(r, n)
            matches[n - 1] += sum(min(k, rg[g]) for g, k in cg.items())
            totals[n - 1] += max(0, len(c) - n + 1)
    if min(matches) == 0:
        return 0.0
    log_p = sum(math.log(m / t) for m, t in zip(matches, totals)) / 4
    bp = 1.0 if c_len > r_len else math.exp(1 - r_len / c_len)
    return bp * math.exp(log_p)


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    out = localization(cases["localization"])
    out["bleu4"] = bleu4(cases["bleu"]["candidates"], cases["bleu"]["references"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
