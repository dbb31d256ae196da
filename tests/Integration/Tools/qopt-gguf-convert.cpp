//===- qopt-gguf-convert.cpp - llama2.c checkpoint to GGUF ------*- C++ -*-===//
//
// A test utility: converts a llama2.c legacy (version 0) checkpoint and its
// llama2.c tokenizer.bin into a llama GGUF v3 file, so that the GGUF path of
// qopt-import and qopt-run can be tested on a real model:
//
//   qopt-gguf-convert INPUT.bin --tokenizer tok.bin -o OUT.gguf
//                     [--type f32|f16|q8_0|q4_0]
//
// 2-D weights are stored as --type; as llama.cpp does, a weight whose rows
// are not a multiple of 32 stays f32 for q8_0/q4_0, and 1-D norms always
// stay f32. llama2.c's q/k rows are already in the interleaved RoPE order
// GGUF llama uses, so nothing is permuted. The vocabulary is written as
// tokenizer.ggml.model "llama" (Tokenizer::ggufVocabulary: pieces with
// U+2581 for ' ', <0xXX> byte tokens typed 6, <unk>/<s>/</s> at ids 0/1/2).
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Checkpoint.h"
#include "qopt/Model/GGUFWriter.h"
#include "qopt/Model/Tokenizer.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/WithColor.h"

#include <cstring>

namespace cl = llvm::cl;
using namespace qopt::model;

static cl::opt<std::string> inputPath(cl::Positional, cl::Required,
                                      cl::desc("<llama2.c checkpoint .bin>"));
static cl::opt<std::string> tokenizerPath("tokenizer", cl::Required,
                                          cl::desc("llama2.c tokenizer.bin"),
                                          cl::value_desc("file"));
static cl::opt<std::string> outputPath("o", cl::Required,
                                       cl::desc("Output GGUF file"),
                                       cl::value_desc("file"));
static cl::opt<GGMLType> weightType(
    "type", cl::desc("Type of the 2-D weights"), cl::init(GGMLType::F32),
    cl::values(clEnumValN(GGMLType::F32, "f32", "float32 (default)"),
               clEnumValN(GGMLType::F16, "f16", "float16"),
               clEnumValN(GGMLType::Q8_0, "q8_0",
                          "ggml Q8_0 (rows not a multiple of 32 stay f32)"),
               clEnumValN(GGMLType::Q4_0, "q4_0",
                          "ggml Q4_0 (rows not a multiple of 32 stay f32)")));

static int fail(const llvm::Twine &message) {
  llvm::WithColor::error(llvm::errs(), "qopt-gguf-convert") << message << "\n";
  return 1;
}

/// The GGUF name of canonical tensor `name` (Checkpoint.h).
static std::string ggufName(llvm::StringRef name) {
  static const llvm::StringMap<const char *> global = {
      {"tok_embeddings", "token_embd.weight"},
      {"norm", "output_norm.weight"},
      {"output", "output.weight"}};
  static const llvm::StringMap<const char *> perLayer = {
      {"attention_norm", "attn_norm.weight"},
      {"wq", "attn_q.weight"},
      {"wk", "attn_k.weight"},
      {"wv", "attn_v.weight"},
      {"wo", "attn_output.weight"},
      {"ffn_norm", "ffn_norm.weight"},
      {"w1", "ffn_gate.weight"},
      {"w2", "ffn_down.weight"},
      {"w3", "ffn_up.weight"}};
  auto it = global.find(name);
  if (it != global.end())
    return it->second;
  // layers.L.KIND
  llvm::StringRef rest = name;
  if (!rest.consume_front("layers."))
    return "";
  auto [layer, kind] = rest.split('.');
  auto jt = perLayer.find(kind);
  if (jt == perLayer.end())
    return "";
  return ("blk." + layer + "." + jt->second).str();
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(
      argc, argv,
      "qopt-gguf-convert: llama2.c checkpoint + tokenizer to a llama GGUF\n");

  llvm::Expected<std::unique_ptr<Checkpoint>> ckptOr = loadLlama2c(inputPath);
  if (!ckptOr)
    return fail(llvm::toString(ckptOr.takeError()));
  const Checkpoint &ckpt = **ckptOr;
  const ModelConfig &c = ckpt.config;

  llvm::Expected<std::unique_ptr<Tokenizer>> tokenizer =
      loadLlama2cTokenizer(tokenizerPath, c.vocabSize);
  if (!tokenizer)
    return fail(llvm::toString(tokenizer.takeError()));
  std::optional<GGUFVocabulary> vocab = (*tokenizer)->ggufVocabulary();
  if (!vocab)
    return fail("tokenizer '" + tokenizerPath + "' has no GGUF form");

  GGUFWriter writer;
  writer.addString("general.architecture", "llama");
  writer.addString("general.name", "llama2.c");
  writer.addUInt32("general.file_type", weightType == GGMLType::F32    ? 0
                                        : weightType == GGMLType::F16  ? 1
                                        : weightType == GGMLType::Q4_0 ? 2
                                                                       : 7);
  writer.addUInt32("llama.context_length", uint32_t(c.maxSeqLen));
  writer.addUInt32("llama.embedding_length", uint32_t(c.dim));
  writer.addUInt32("llama.feed_forward_length", uint32_t(c.hiddenDim));
  writer.addUInt32("llama.block_count", uint32_t(c.numLayers));
  writer.addUInt32("llama.attention.head_count", uint32_t(c.numHeads));
  writer.addUInt32("llama.attention.head_count_kv", uint32_t(c.numKVHeads));
  writer.addFloat32("llama.attention.layer_norm_rms_epsilon", c.normEps);
  writer.addFloat32("llama.rope.freq_base", c.ropeTheta);
  writer.addUInt32("llama.rope.dimension_count", uint32_t(c.headDim()));

  writer.addString("tokenizer.ggml.model", "llama");
  writer.addStringArray("tokenizer.ggml.tokens", vocab->tokens);
  writer.addFloat32Array("tokenizer.ggml.scores", vocab->scores);
  writer.addInt32Array("tokenizer.ggml.token_type", vocab->types);
  writer.addUInt32("tokenizer.ggml.bos_token_id", 1);
  writer.addUInt32("tokenizer.ggml.eos_token_id", 2);
  writer.addUInt32("tokenizer.ggml.unknown_token_id", 0);

  for (const TensorRef &t : ckpt.tensors) {
    std::string name = ggufName(t.name);
    if (name.empty())
      return fail("'" + inputPath + "': no GGUF name for tensor '" + t.name +
                  "'");
    llvm::Expected<std::vector<float>> values = toF32(t);
    if (!values)
      return fail(llvm::toString(values.takeError()));
    GGMLType type = GGMLType::F32;
    if (t.shape.size() == 2) {
      type = weightType;
      if ((type == GGMLType::Q8_0 || type == GGMLType::Q4_0) &&
          t.shape[1] % kGGMLBlockSize != 0)
        type = GGMLType::F32;
    }
    writer.addTensorF32(name, t.shape, *values, type);
  }
  if (llvm::Error err = writer.write(outputPath))
    return fail(llvm::toString(std::move(err)));
  return 0;
}
