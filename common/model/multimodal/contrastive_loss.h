// The video-text contrastive loss of CLIP and InternVideo-MM: a symmetric
// InfoNCE over the batch, whose i-th video and i-th text are the positive
// pair and every other pairing a negative.
#ifndef COMMON_MODEL_MULTIMODAL_CONTRASTIVE_LOSS_H_
#define COMMON_MODEL_MULTIMODAL_CONTRASTIVE_LOSS_H_

#include <torch/torch.h>

namespace iv::model {

// logits = exp(logit_scale) * normalize(video) normalize(text)^T, [B, B];
// returns (CE(logits, i) + CE(logits^T, i)) / 2: video-to-text and
// text-to-video retrieval weighted equally. Embeddings [B, D], unnormalized;
// logit_scale a scalar (the learned log temperature).
torch::Tensor SymmetricInfoNce(const torch::Tensor& video_embeds,
                               const torch::Tensor& text_embeds,
                               const torch::Tensor& logit_scale);

}  // namespace iv::model

#endif  // COMMON_MODEL_MULTIMODAL_CONTRASTIVE_LOSS_H_
