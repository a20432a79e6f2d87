// The "internvideo" arch of `iv model`: the whole InternVideo model
// (internvideo_model.h) as the trainer writes it and `models/iv-tiny` holds
// it, a native checkpoint folder only (its config is in the folder; an
// official file holds one part, read by that part's arch).
//
// Inputs: `video` float32 [B,3,T,S,S], T and S the model's clip (the
// multimodal encoder's frames and input resolution when it has one, else the
// masked encoder's: `iv model info` prints the config), normalized with that
// encoder's statistics, exactly as the services feed it; `text_tokens` int64
// [B,N] (N <= the context length) for a model with a text encoder. Outputs,
// for what the model has: `video_embeds` [B,embed_dim] (projected, not yet
// L2-normalized; through CMA when CMA projects into the joint space),
// `logits` [B,classes] (the recognizer: CMA's, else the masked encoder's
// head), `features` [B,D] (the masked encoder's pooled features),
// `encoder_tokens` [B,N,D] (a masked encoder in its pretraining layout) and
// `text_embeds` [B,embed_dim].
#ifndef COMMON_MODEL_ARCH_INTERNVIDEO_ARCH_H_
#define COMMON_MODEL_ARCH_INTERNVIDEO_ARCH_H_

#include "common/model/arch/arch.h"

namespace iv::model {

const Arch* InternVideoArch();

}  // namespace iv::model

#endif  // COMMON_MODEL_ARCH_INTERNVIDEO_ARCH_H_
