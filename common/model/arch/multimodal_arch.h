// The InternVideo-MM arches of `iv model`: internvideo-mm-b16 and
// internvideo-mm-l14 (clip_utils/model.py's CLIP: UniFormerV2 frame ViT with
// its global branch, CLIP text transformer). Inputs `video` float32
// [B,3,T,H,W] (CLIP-normalized, H = W = the input resolution, any T) and
// `text_tokens` int64 [B,N] (CLIP token ids, N <= the context length, each
// row's end-of-text its largest id), either one or both; outputs
// `video_embeds` and `text_embeds` [B, embed_dim], projected but not yet L2
// normalized (encode_video / encode_text).
//
// Official files:
//  - InternVideo-MM Lightning checkpoints ({'state_dict': ...}): the model
//    under `clip.` (and, if trained with one, the caption decoder under
//    `caption_decoder.`, which is loaded too); like the official
//    load_model, other entries of the state dict are dropped. A `module.`
//    prefix is dropped first.
//  - OpenAI CLIP state dicts (ViT-B/16, ViT-L/14): `visual.proj`,
//    `visual.ln_post.*` and the Conv2d `visual.conv1.weight` become
//    `visual_proj`, `visual_ln_post.*` and a Conv3d of one frame. Such a
//    file has no UniFormerV2 global branch (`visual.transformer.dpe.*`,
//    `dec.*`, `temporal_cls_token`, `balance`) and no `text_mask_embedding`;
//    these keep their official initialization, under which the global
//    branch starts as the identity: the video feature is half the frames'
//    mean class token.
// Sizes come from the shapes (heads of 64 channels as CLIP; the extractor
// layers' heads equal the backbone's, and they read the last backbone
// layers, as the official build_model; a CLIP file gets min(4, layers)
// extractor layers). The frame count is not part of the weights: any T is
// accepted at forward time (the config keeps the default 8).
#ifndef COMMON_MODEL_ARCH_MULTIMODAL_ARCH_H_
#define COMMON_MODEL_ARCH_MULTIMODAL_ARCH_H_

#include <vector>

#include "common/model/arch/arch.h"

namespace iv::model {

std::vector<const Arch*> MultimodalArches();

}  // namespace iv::model

#endif  // COMMON_MODEL_ARCH_MULTIMODAL_ARCH_H_
