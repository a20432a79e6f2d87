"""An independent float64 reference of caption generation with the caption
decoder (greedy and beam search), that common/model/multimodal's
GenerateCaptions is checked against. It reuses the architecture of
multimodal_reference.py (the CLIP text transformer and the CoCa-style
decoder) and decodes one hypothesis at a time, recomputing every prefix from
scratch, with none of the C++ batching.

  caption_generation_reference.py OUT_DIR

writes OUT_DIR/gen.weights.safetensors (the video-text model),
OUT_DIR/gen.caption_decoder.weights.safetensors and OUT_DIR/gen.io.safetensors
with `video_tokens` [B, T, L, C] (float32, the decoder's input) and, for each
decoding MODE, `MODE.tokens` [B, max_length - 1] (generated ids without SOT
and EOT, padded with -1), `MODE.finished` [B] (1 when ended by EOT),
`MODE.log_prob` [B] and `MODE.score` [B]. Its metadata holds the model config
(`config`, protobuf text), `sot`, `eot` and `max_length`.

The decoding rules (the C++ header documents the same):
- a caption is SOT then generated tokens; it ends at EOT or when it holds
  max_length tokens counting SOT and EOT (so at most max_length - 1 generated
  tokens, counting the EOT);
- log_prob sums the log-softmax of every generated token, the EOT included;
  length counts the generated tokens, the EOT included;
- score: "none" log_prob, "average" log_prob / length, "gnmt"
  log_prob / ((5 + length) / 6) ** alpha;
- greedy takes the argmax each step;
- beam search keeps `beam` live hypotheses. Each step ranks every (live
  hypothesis, next token) pair by its summed log_prob; walking the ranking
  best first, an EOT pair among the first `beam` finishes a hypothesis, and
  other pairs become the next live hypotheses until there are `beam`. It
  stops once `beam` hypotheses have finished (or at max_length, where the
  live ones finish unended), and returns the finished hypothesis of the
  highest score (the first finished on ties).
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import multimodal_reference as mm  # noqa: E402
from torch_writer import write_safetensors  # noqa: E402  (path set by mm)

SOT_OFFSET, EOT_OFFSET = 2, 1  # SOT = vocab - 2, EOT = vocab - 1, as CLIP's
GNMT_ALPHA = 0.6
WEIGHT_SCALE, EOT_BIAS = 2.0, 5.0


def next_log_probs(prefix, video_tokens, p, d, cfg):
    # prefix: list of ids starting with SOT; video_tokens [1, T, L, C].
    text = torch.tensor([prefix], dtype=torch.int64)
    features = mm.text_token_features(text, p, cfg)
    logits = mm.caption_logits(video_tokens, features, d, cfg)
    return F.log_softmax(logits[0, -1], -1)


def score(log_prob, length, penalty):
    if penalty == "none":
        return log_prob
    if penalty == "average":
        return log_prob / length
    return log_prob / ((5 + length) / 6) ** GNMT_ALPHA


def greedy(video_tokens, p, d, cfg, sot, eot, max_length, penalty):
    tokens, log_prob = [], 0.0
    while len(tokens) < max_length - 1:
        lp = next_log_probs([sot] + tokens, video_tokens, p, d, cfg)
        best = int(lp.argmax())
        log_prob += float(lp[best])
        if best == eot:
            return tokens, True, log_prob, score(log_prob, len(tokens) + 1,
                                                 penalty)
        tokens.append(best)
    return tokens, False, log_prob, score(log_prob, len(tokens), penalty)


def beam_search(video_tokens, p, d, cfg, sot, eot, max_length, penalty, beam):
    live = [([], 0.0)]
    done = []  # (tokens, finished, log_prob, score)
    for step in range(max_length - 1):
        ranked = []
        for tokens, log_prob in live:
            lp = next_log_probs([sot] + tokens, video_tokens, p, d, cfg)
            for v in range(lp.shape[0]):
                ranked.append((log_prob + float(lp[v]), tokens, v))
        # Python's sort is stable: ties keep (hypothesis, token) order.
        ranked.sort(key=lambda c: -c[0])
        nxt = []
        for rank, (total, tokens, v) in enumerate(ranked):
            if v == eot:
                if rank < beam:
                    done.append((tokens, True, total,
                                 score(total, len(tokens) + 1, penalty)))
            else:
                nxt.append((tokens + [v], total))
                if len(nxt) == beam:
                    break
        live = nxt
        if len(done) >= beam:
            break
        if step == max_length - 2:
            done += [(t, False, lp, score(lp, len(t), penalty))
                     for t, lp in live]
    best = 0
    for i, hyp in enumerate(done):
        if hyp[3] > done[best][3]:
            best = i
    return done[best]


def main():
    out_dir = sys.argv[1]
    torch.set_grad_enabled(False)
    cfg = mm.config([1, 2], False)
    proto = mm.PROTO.format(
        branch="n_layers: 2",
        decoder="caption_decoder { layers: 2 heads: 2 max_length: 12 }")
    gen = torch.Generator().manual_seed(11)
    weights = mm.random_weights(mm.shapes(cfg), gen)
    decoder = mm.random_weights(mm.decoder_shapes(cfg), gen)
    decoder.update(mm.decoder_buffers(cfg))
    vocab = cfg["text"]["vocab"]
    sot, eot = vocab - SOT_OFFSET, vocab - EOT_OFFSET
    # Random weights rarely pick EOT; raise its bias so that some captions
    # end before max_length and others do not.
    # Random weights give a near-constant, near-uniform next-token
    # distribution; sharpen it and let the text and video matter (a larger
    # output projection, no output bias), and raise EOT's logit so that some
    # captions end before max_length and others do not.
    decoder["predictor.4.weight"] *= WEIGHT_SCALE
    decoder["predictor.4.bias"].zero_()
    decoder["predictor.4.bias"][eot] = EOT_BIAS
    batch, frames, res = 4, 3, cfg["vision"]["resolution"]
    video = torch.randn(batch, 3, frames, res, res, generator=gen)
    p = {k: v.double() for k, v in weights.items()}
    d = {k: v.double() for k, v in decoder.items()}
    # The decoder's input, rounded to float32 so both sides read the same.
    video_tokens = mm.video_token_features(video.double(), p, cfg).float()
    io = {"video_tokens": video_tokens}
    max_length = 12
    modes = {"greedy": ("none", 0), "greedy_gnmt": ("gnmt", 0),
             "beam3": ("none", 3), "beam3_average": ("average", 3),
             "beam3_gnmt": ("gnmt", 3), "beam2_short": ("none", 2)}
    for mode, (penalty, beam) in modes.items():
        length = 5 if mode == "beam2_short" else max_length
        rows = []
        for b in range(batch):
            v = video_tokens[b:b + 1].double()
            if beam == 0:
                rows.append(greedy(v, p, d, cfg, sot, eot, length, penalty))
            else:
                rows.append(beam_search(v, p, d, cfg, sot, eot, length,
                                        penalty, beam))
        tokens = torch.full((batch, max_length - 1), -1, dtype=torch.int64)
        for b, row in enumerate(rows):
            tokens[b, :len(row[0])] = torch.tensor(row[0], dtype=torch.int64)
        io[mode + ".tokens"] = tokens
        io[mode + ".finished"] = torch.tensor([int(r[1]) for r in rows])
        io[mode + ".log_prob"] = torch.tensor([r[2] for r in rows],
                                              dtype=torch.float64)
        io[mode + ".score"] = torch.tensor([r[3] for r in rows],
                                           dtype=torch.float64)
        print(mode, [(r[0], r[1], round(r[3], 4)) for r in rows])
    write_safetensors(f"{out_dir}/gen.weights.safetensors", weights, {})
    write_safetensors(f"{out_dir}/gen.caption_decoder.weights.safetensors",
                      decoder, {})
    write_safetensors(f"{out_dir}/gen.io.safetensors", io,
                      {"config": proto, "sot": str(sot), "eot": str(eot),
                       "max_length": str(max_length),
                       "gnmt_alpha": str(GNMT_ALPHA)},
                      float64_as_float32=False)


if __name__ == "__main__":
    main()
