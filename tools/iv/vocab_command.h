// `iv vocab --manifest FILE [--manifest FILE...] --size N --out DIR`: learns
// a byte-level BPE vocabulary (common/text/bpe_trainer.h) from the captions
// and questions of SynthWorld-format manifests and writes it as a CLIP
// merges file, DIR/bpe_vocab.txt, which a model config names in
// multimodal_encoder.tokenizer.vocab_path (checkpoints carry a copy).
#ifndef TOOLS_IV_VOCAB_COMMAND_H_
#define TOOLS_IV_VOCAB_COMMAND_H_

#include <CLI/CLI.hpp>

namespace iv::cli {

void AddVocabCommand(CLI::App& iv);

}  // namespace iv::cli

#endif  // TOOLS_IV_VOCAB_COMMAND_H_
