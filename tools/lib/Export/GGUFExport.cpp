//===- GGUFExport.cpp - A qopt model as a llama.cpp GGUF file ---*- C++ -*-===//
//
// See GGUFExport.h for the type mapping. The weights are found in @prefill
// by what reads them: qopt.embedding's table, the qopt.rms_norm scales in
// program order (attention norm and FFN norm of each layer, then the final
// norm), and the role-tagged qopt.linear weights.
//
//===----------------------------------------------------------------------===//

#include "qopt/Tools/GGUFExport.h"

#include "ExportWeights.h"

#include "qopt/Dialect/QOpt/QOptOps.h"
#include "qopt/Model/GGUFWriter.h"
#include "qopt/Runtime/QuantMath.h"
#include "qopt/Runtime/Storage.h"
#include "qopt/Tools/ModelImporter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

using namespace mlir;
using namespace mlir::qopt;
namespace model = ::qopt::model;
namespace rt = ::qopt::runtime;
using namespace mlir::qopt::gguf_export;

namespace {
void appendHalf(std::vector<uint8_t> &out, uint16_t bits) {
  out.push_back(bits & 0xff);
  out.push_back(bits >> 8);
}

/// A qtensor weight unpacked from its constant pack: one byte per code,
/// the scales and zeros as floats, and the widths it is exported at.
struct UnpackedWeight {
  std::vector<uint8_t> codes;
  std::vector<float> scales, zeros;
  int64_t rows = 0, cols = 0;
  /// The stored width and the exported one (less only for a nested model
  /// exported at another width).
  unsigned c = 0, r = 0;
  int64_t group = 0, groupsPerRow = 0;

  /// `code` at the exported width.
  uint32_t sliced(uint8_t code) const {
    return r < c ? rt::sliceCode(code, c, r) : uint32_t(code);
  }
};

class Exporter {
public:
  Exporter(ModuleOp module, const model::ModelConfig &cfg,
           const GGUFExportOptions &options, std::vector<std::string> &warnings)
      : module(module), cfg(cfg), options(options), warnings(warnings) {}

  /// Writes weight `value` (rows x cols) as tensor `name`; `headDim` permutes
  /// rotate-half q/k rows.
  llvm::Error weight(StringRef name, Value value, int64_t headDim = 0);
  /// Writes a 1-D float constant as F32.
  llvm::Error norm(StringRef name, Value value);
  /// Writes the embedding table, the norms and the linear weights of
  /// `prefill`, found by what reads them.
  llvm::Error writeTensors(func::FuncOp prefill);

  model::GGUFWriter writer;
  int halfWeights = 0;
  /// Tensors written as each quantized type (Q8_0, Q4_0, the K-quants).
  std::map<model::GGMLType, int> quantizedWeights;
  /// llama_ftype of the file (general.file_type): the type most weights
  /// have, as llama.cpp labels a mixed file by its main type.
  uint32_t fileType() const;

private:
  llvm::Error quantized(StringRef name, PackOp pack, int64_t headDim);
  /// Unpacks the constant pack of quantized weight `name` into `w`.
  llvm::Error unpack(StringRef name, PackOp pack, UnpackedWeight &w);
  /// Writes `w` dequantized, as F32.
  void writeDequantized(StringRef name, QTensorType qt, const UnpackedWeight &w,
                        int64_t headDim);
  /// Writes `w` exactly, as Q8_0 or Q4_0 blocks.
  void writeBlocks(StringRef name, QTensorType qt, const UnpackedWeight &w,
                   int64_t headDim);

  ModuleOp module;
  const model::ModelConfig &cfg;
  const GGUFExportOptions &options;
  std::vector<std::string> &warnings;
};

llvm::Error Exporter::norm(StringRef name, Value value) {
  llvm::Expected<std::vector<char>> bytes = constantBytes(value, name);
  if (!bytes)
    return bytes.takeError();
  auto type = cast<ShapedType>(value.getType());
  std::vector<float> values =
      decodeFloatElements(*bytes, type.getElementType());
  writer.addTensorF32(name, type.getShape(), values);
  return llvm::Error::success();
}

llvm::Error Exporter::weight(StringRef name, Value value, int64_t headDim) {
  if (auto deq = value.getDefiningOp<DequantizeOp>()) {
    auto pack = deq.getInput().getDefiningOp<PackOp>();
    if (!pack)
      return exportError("weight '" + name +
                         "' is quantized but not a constant pack");
    return quantized(name, pack, headDim);
  }
  llvm::Expected<std::vector<char>> bytes = constantBytes(value, name);
  if (!bytes)
    return bytes.takeError();
  auto type = cast<RankedTensorType>(value.getType());
  Type element = type.getElementType();
  int64_t rows = type.getDimSize(0);
  size_t rowBytes = bytes->size() / rows;
  std::vector<uint8_t> data(bytes->size());
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(data.data() + r * rowBytes,
                bytes->data() + sourceRow(r, headDim) * rowBytes, rowBytes);
  model::GGMLType ggml = element.isF16()    ? model::GGMLType::F16
                         : element.isBF16() ? model::GGMLType::BF16
                                            : model::GGMLType::F32;
  halfWeights += !element.isF32();
  writer.addTensor(name, ggml, type.getShape(), data);
  return llvm::Error::success();
}

llvm::Error Exporter::unpack(StringRef name, PackOp pack, UnpackedWeight &w) {
  auto qt = cast<QTensorType>(pack.getType());
  if (llvm::Error err = checkExportWidth(name, qt, options.servedBits))
    return err;
  llvm::Expected<PackBytes> parts = packBytes(pack, name);
  if (!parts)
    return parts.takeError();
  Type scaleType =
      cast<ShapedType>(pack.getScales().getType()).getElementType();
  std::vector<float> scales = decodeFloatElements(parts->scales, scaleType);
  std::vector<float> zeros;
  if (pack.getZeros())
    zeros = decodeFloatElements(parts->zeros, scaleType);
  int64_t rows = qt.getShape()[0], cols = qt.getShape()[1];
  unsigned c = qt.getBits();
  std::vector<uint8_t> codes(static_cast<size_t>(rows * cols));
  const auto *packed = reinterpret_cast<const uint8_t *>(parts->codes.data());
  if (qt.getLayout() == Layout::Nested)
    rt::unpackNestedPlanes(packed, rows, cols, c, c, codes.data());
  else
    rt::unpackDenseRows(packed, rows, cols, c, codes.data());
  unsigned r = options.servedBits == 0 || options.servedBits >= c
                   ? c
                   : options.servedBits;
  bool grouped = qt.getGranularity() == Granularity::Group;
  int64_t group = grouped ? qt.getElementsPerGroup() : cols;
  int64_t groupsPerRow = (cols + group - 1) / group;
  w.codes = std::move(codes);
  w.scales = std::move(scales);
  w.zeros = std::move(zeros);
  w.rows = rows;
  w.cols = cols;
  w.c = c;
  w.r = r;
  w.group = group;
  w.groupsPerRow = groupsPerRow;
  return llvm::Error::success();
}

void Exporter::writeDequantized(StringRef name, QTensorType qt,
                                const UnpackedWeight &w, int64_t headDim) {
  const std::vector<uint8_t> &codes = w.codes;
  const std::vector<float> &scales = w.scales, &zeros = w.zeros;
  int64_t rows = w.rows, cols = w.cols, group = w.group,
          groupsPerRow = w.groupsPerRow;
  unsigned c = w.c, r = w.r;
  // Rows not a multiple of 32: dequantized, as llama.cpp keeps them.
  std::vector<float> values(static_cast<size_t>(rows * cols));
  for (int64_t row = 0; row < rows; ++row) {
    int64_t src = sourceRow(row, headDim);
    for (int64_t col = 0; col < cols; ++col) {
      int64_t g = src * groupsPerRow + col / group;
      uint32_t q = w.sliced(codes[src * cols + col]) << (c - r);
      float zero = zeros.empty() ? float(rt::symmetricZero(c)) : zeros[g];
      values[row * cols + col] = rt::dequantizeValue(q, scales[g], zero);
    }
  }
  warnings.push_back("'" + name.str() + "': " + std::to_string(cols) +
                     " columns are not a multiple of 32; written "
                     "dequantized as F32");
  writer.addTensorF32(name, qt.getShape(), values);
}

void Exporter::writeBlocks(StringRef name, QTensorType qt,
                           const UnpackedWeight &w, int64_t headDim) {
  const std::vector<uint8_t> &codes = w.codes;
  const std::vector<float> &scales = w.scales;
  int64_t rows = w.rows, cols = w.cols, groupsPerRow = w.groupsPerRow;
  unsigned c = w.c, r = w.r;
  // Exact block types: value = a * (q - 2^(c-1)) = d * q' per element.
  bool q8 = r == 8;
  double unit = std::ldexp(1.0, int(c - r)); // d = a * 2^(c-r)
  std::vector<uint8_t> data;
  data.reserve(rows * groupsPerRow *
               (q8 ? model::kQ8_0BlockBytes : model::kQ4_0BlockBytes));
  double worst = 0;
  for (int64_t row = 0; row < rows; ++row) {
    int64_t src = sourceRow(row, headDim);
    for (int64_t g = 0; g < groupsPerRow; ++g) {
      float d = static_cast<float>(scales[src * groupsPerRow + g] * unit);
      uint16_t half = model::floatToHalf(d);
      if (d != 0)
        worst = std::max<double>(
            worst, std::fabs(model::halfToFloat(half) - d) / std::fabs(d));
      appendHalf(data, half);
      const uint8_t *block = codes.data() + src * cols + g * 32;
      if (q8) {
        for (int i = 0; i < 32; ++i)
          data.push_back(static_cast<uint8_t>(int(block[i]) - 128));
      } else {
        for (int i = 0; i < 16; ++i)
          data.push_back(static_cast<uint8_t>(w.sliced(block[i]) |
                                              w.sliced(block[i + 16]) << 4));
      }
    }
  }
  if (worst > 0)
    warnings.push_back(
        "'" + name.str() + "': scales rounded to f16 (relative change up to " +
        llvm::formatv("{0:e2}", worst).str() +
        "; quantize with qopt-run quantize -o FILE.gguf for f16 scales)");
  ++quantizedWeights[q8 ? model::GGMLType::Q8_0 : model::GGMLType::Q4_0];
  writer.addTensor(name, q8 ? model::GGMLType::Q8_0 : model::GGMLType::Q4_0,
                   qt.getShape(), data);
}

llvm::Error Exporter::quantized(StringRef name, PackOp pack, int64_t headDim) {
  auto qt = cast<QTensorType>(pack.getType());
  if (qt.isSliced() || qt.getRank() != 2)
    return exportError("weight '" + name + "' is a sliced or non-2-D qtensor");
  // Two-level scales (imported K-quants): the K-quant blocks they came from.
  if (qt.isTwoLevel()) {
    llvm::Expected<model::GGMLType> type =
        writeKQuantWeight(writer, name, pack, headDim, options.servedBits);
    if (!type)
      return type.takeError();
    ++quantizedWeights[*type];
    return llvm::Error::success();
  }
  UnpackedWeight w;
  if (llvm::Error err = unpack(name, pack, w))
    return err;
  int64_t cols = w.cols, group = w.group;
  unsigned r = w.r;
  bool symmetric = !qt.isAsymmetric();
  bool blockType = symmetric && group == model::kGGMLBlockSize &&
                   cols % model::kGGMLBlockSize == 0 && (r == 8 || r == 4);
  if (!blockType) {
    std::string why = !symmetric ? "asymmetric"
                      : group != model::kGGMLBlockSize
                          ? "groups of " + std::to_string(group)
                      : r != 8 && r != 4 ? std::to_string(r) + "-bit"
                                         : "";
    if (!why.empty())
      return exportError(
          "weight '" + name + "' is " + why +
          "; GGUF has Q8_0 and Q4_0 for qopt's symmetric groups of 32 at 8 "
          "or 4 bits (quantize with --scheme sym --group 32 --bits 8|4, or "
          "export a nested int8 with --export-bits 4)");
    writeDequantized(name, qt, w, headDim);
    return llvm::Error::success();
  }
  writeBlocks(name, qt, w, headDim);
  return llvm::Error::success();
}

/// Whether `a` and `b` are the same value or constants of the same data.
uint32_t Exporter::fileType() const {
  // The first of the most written types, in GGMLType order (ties go to
  // Q4_0, then Q8_0, then the K-quants by width).
  auto most = std::max_element(
      quantizedWeights.begin(), quantizedWeights.end(),
      [](const auto &a, const auto &b) { return a.second < b.second; });
  if (most == quantizedWeights.end())
    return halfWeights ? 1 : 0; // MOSTLY_F16, ALL_F32
  // llama_ftype: MOSTLY_Q4_0 = 2, MOSTLY_Q8_0 = 7, MOSTLY_Q2_K = 10,
  // MOSTLY_Q3_K_M = 12, MOSTLY_Q4_K_M = 15, MOSTLY_Q5_K_M = 17,
  // MOSTLY_Q6_K = 18.
  switch (most->first) {
  case model::GGMLType::Q4_0:
    return 2;
  case model::GGMLType::Q8_0:
    return 7;
  case model::GGMLType::Q2_K:
    return 10;
  case model::GGMLType::Q3_K:
    return 12;
  case model::GGMLType::Q4_K:
    return 15;
  case model::GGMLType::Q5_K:
    return 17;
  default:
    return 18;
  }
}

bool sameConstant(Value a, Value b) {
  if (a == b)
    return true;
  auto ca = a ? a.getDefiningOp<arith::ConstantOp>() : nullptr;
  auto cb = b ? b.getDefiningOp<arith::ConstantOp>() : nullptr;
  return ca && cb && ca.getValue() == cb.getValue();
}

/// GGUF's name of a linear role.
std::optional<StringRef> ggufLinearName(StringRef role) {
  return llvm::StringSwitch<std::optional<StringRef>>(role)
      .Case("q", "attn_q")
      .Case("k", "attn_k")
      .Case("v", "attn_v")
      .Case("o", "attn_output")
      .Case("gate", "ffn_gate")
      .Case("up", "ffn_up")
      .Case("down", "ffn_down")
      .Default(std::nullopt);
}

llvm::Error Exporter::writeTensors(func::FuncOp prefill) {
  bool rotateHalf = cfg.ropeStyle == model::RopeStyle::RotateHalf;
  Value embeddingTable;
  int64_t norms = 0;
  llvm::Error error = llvm::Error::success();
  auto check = [&](llvm::Error err) {
    if (err && !error)
      error = std::move(err);
    else
      llvm::consumeError(std::move(err));
  };
  prefill.walk([&](Operation *op) {
    if (error)
      return;
    if (auto emb = dyn_cast<EmbeddingOp>(op)) {
      embeddingTable = emb.getTable();
      if (isa<QTensorType>(embeddingTable.getType()))
        return check(exportError("a quantized embedding table is not exported "
                                 "(quantize the linear roles only)"));
      check(weight("token_embd.weight", embeddingTable));
    } else if (auto n = dyn_cast<RMSNormOp>(op)) {
      int64_t i = norms++;
      std::string name = i == 2 * cfg.numLayers
                             ? std::string("output_norm.weight")
                             : llvm::formatv("blk.{0}.{1}.weight", i / 2,
                                             i % 2 ? "ffn_norm" : "attn_norm")
                                   .str();
      check(norm(name, n.getWeight()));
    } else if (auto linear = dyn_cast<LinearOp>(op)) {
      auto role = linear->getAttrOfType<StringAttr>("qopt.role");
      auto layer = linear->getAttrOfType<IntegerAttr>("qopt.layer");
      if (!role)
        return check(exportError("a linear without qopt.role (import the model "
                                 "with qopt-import)"));
      if (role.getValue() == "classifier") {
        // Tied: the same table (qopt-fuse-norms gives the classifier its
        // own copy, which is then written).
        if (sameConstant(linear.getWeight(), embeddingTable))
          return;
        return check(weight("output.weight", linear.getWeight()));
      }
      std::optional<StringRef> name = ggufLinearName(role.getValue());
      if (!name || !layer)
        return check(
            exportError("unexpected linear role '" + role.getValue() + "'"));
      int64_t headDim = 0;
      if (rotateHalf && (role.getValue() == "q" || role.getValue() == "k"))
        headDim = cfg.headDim();
      check(weight(
          llvm::formatv("blk.{0}.{1}.weight", layer.getInt(), *name).str(),
          linear.getWeight(), headDim));
    }
  });
  if (error)
    return error;
  if (norms != 2 * cfg.numLayers + 1)
    return exportError("expected " + llvm::Twine(2 * cfg.numLayers + 1) +
                       " RMSNorms in @prefill, found " + llvm::Twine(norms));
  return llvm::Error::success();
}
} // namespace

/// Refuses what llama.cpp's llama architecture does not have (exporting it
/// would silently change the model) and a tokenizer larger than the model's
/// vocabulary.
static llvm::Error checkExportable(func::FuncOp prefill,
                                   const model::ModelConfig &cfg,
                                   const model::GGUFVocabulary &vocabulary) {
  std::string unsupported;
  prefill.walk([&](Operation *op) {
    if (!unsupported.empty())
      return;
    if (auto rope = dyn_cast<RopeOp>(op);
        rope && (rope.getInvFreq() || rope.getScale() || rope.getNtkFactor()))
      unsupported = "a scaled RoPE (rope_scaling)";
    else if (isa<BiasAddOp>(op))
      unsupported = "q/k/v biases";
    else if (auto attn = dyn_cast<AttentionOp>(op);
             attn && attn.getSlidingWindow())
      unsupported = "sliding-window attention";
  });
  if (!unsupported.empty())
    return exportError("the model uses " + unsupported +
                       ", which the GGUF exporter does not write");
  bool online = false;
  prefill.walk([&](HadamardOp) { online = true; });
  if (online)
    return exportError("the model computes online Hadamard transforms "
                       "(qopt-fold-rotations R3/R4), which llama.cpp does not; "
                       "fold only r1,r2 to export it");
  if (static_cast<int64_t>(vocabulary.tokens.size()) > cfg.vocabSize)
    return exportError(
        "the tokenizer has more tokens than the model's vocabulary");
  return llvm::Error::success();
}

/// Adds the llama.* and tokenizer.ggml.* metadata to `w`.
static void writeMetadata(model::GGUFWriter &w, const model::ModelConfig &cfg,
                          const model::GGUFVocabulary &vocabulary,
                          const GGUFExportOptions &options) {
  w.addString("general.architecture", "llama");
  w.addString("general.name", options.name);
  w.addUInt32("llama.context_length", uint32_t(cfg.maxSeqLen));
  w.addUInt32("llama.embedding_length", uint32_t(cfg.dim));
  w.addUInt32("llama.feed_forward_length", uint32_t(cfg.hiddenDim));
  w.addUInt32("llama.block_count", uint32_t(cfg.numLayers));
  w.addUInt32("llama.attention.head_count", uint32_t(cfg.numHeads));
  w.addUInt32("llama.attention.head_count_kv", uint32_t(cfg.numKVHeads));
  w.addFloat32("llama.attention.layer_norm_rms_epsilon", cfg.normEps);
  w.addFloat32("llama.rope.freq_base", cfg.ropeTheta);
  w.addUInt32("llama.rope.dimension_count", uint32_t(cfg.headDim()));
  w.addString("tokenizer.ggml.model", "llama");
  w.addStringArray("tokenizer.ggml.tokens", vocabulary.tokens);
  w.addFloat32Array("tokenizer.ggml.scores", vocabulary.scores);
  w.addInt32Array("tokenizer.ggml.token_type", vocabulary.types);
  w.addUInt32("tokenizer.ggml.bos_token_id", uint32_t(vocabulary.bos));
  w.addUInt32("tokenizer.ggml.eos_token_id", uint32_t(vocabulary.eos));
  w.addUInt32("tokenizer.ggml.unknown_token_id", uint32_t(vocabulary.unknown));
}

llvm::Error mlir::qopt::exportGGUF(ModuleOp module,
                                   const model::GGUFVocabulary &vocabulary,
                                   llvm::StringRef path,
                                   const GGUFExportOptions &options,
                                   std::vector<std::string> &warnings) {
  llvm::Expected<model::ModelConfig> cfg = readModelConfig(module);
  if (!cfg)
    return cfg.takeError();
  if (cfg->architecture != "llama")
    return exportError("GGUF export writes llama models; this one is '" +
                       cfg->architecture + "'");
  auto prefill = module.lookupSymbol<func::FuncOp>(kPrefillFunction);
  if (!prefill)
    return exportError("the module has no @prefill function");
  if (llvm::Error err = checkExportable(prefill, *cfg, vocabulary))
    return err;

  Exporter e(module, *cfg, options, warnings);
  model::GGUFWriter &w = e.writer;
  writeMetadata(w, *cfg, vocabulary, options);
  // The file type is decided after the tensors; the writer keeps KVs in
  // order, so it is added last (GGUF readers look keys up by name).
  if (llvm::Error err = e.writeTensors(prefill))
    return err;
  w.addUInt32("general.file_type", e.fileType());
  return w.write(path);
}
