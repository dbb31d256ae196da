//===- ArtifactManifest.cpp - The manifest of a compiled artifact ---------===//
//
// See Artifact.h. Everything in a manifest is untrusted: an artifact
// directory may come from anyone. Every number is range-checked and every
// file name must stay inside the directory.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Artifact.h"

#include "qopt/Model/Input.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/TargetParser/Host.h"

#include <optional>

using namespace qopt::model;
using llvm::json::Array;
using llvm::json::Object;

static llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

unsigned qopt::model::kvElementBytes(llvm::StringRef kvType) {
  if (kvType == "f32")
    return 4;
  if (kvType == "f16" || kvType == "bf16")
    return 2;
  return 0;
}

/// Why `name` is not a plain file name inside the artifact directory, or
/// empty.
static std::string badFileName(llvm::StringRef name) {
  if (name.empty())
    return "an empty file name";
  if (llvm::sys::path::is_absolute(name) || name.starts_with("/"))
    return "an absolute path";
  if (name == "." || name == ".." || name.contains("/..") ||
      name.starts_with("../") || name.contains('/') || name.contains('\\'))
    return "not a file name inside the artifact directory";
  return "";
}

/// The model configuration of a manifest's "config" object.
static std::optional<ModelConfig> readConfig(const Object *obj) {
  if (!obj)
    return std::nullopt;
  ModelConfig c;
  c.architecture = obj->getString("architecture").value_or("llama").str();
  struct Field {
    const char *key;
    int64_t *value;
  } fields[] = {{"dim", &c.dim},
                {"hidden_dim", &c.hiddenDim},
                {"layers", &c.numLayers},
                {"heads", &c.numHeads},
                {"kv_heads", &c.numKVHeads},
                {"vocab_size", &c.vocabSize},
                {"context", &c.maxSeqLen}};
  for (const Field &f : fields) {
    std::optional<int64_t> v = obj->getInteger(f.key);
    if (!v || *v < 1 || *v > kMaxContextLength)
      return std::nullopt;
    *f.value = *v;
  }
  if (c.dim % c.numHeads != 0 || c.numHeads % c.numKVHeads != 0)
    return std::nullopt;
  c.tiedEmbeddings = obj->getBoolean("tied_embeddings").value_or(true);
  return c;
}

/// The weight table: {name, offset, bytes} objects.
static llvm::Error
readWeightTable(const Array *entries, ArtifactManifest &m,
                llvm::function_ref<llvm::Error(const llvm::Twine &)> fail) {
  if (!entries)
    return fail("lacks its weight_table");
  for (const llvm::json::Value &value : *entries) {
    const Object *entry = value.getAsObject();
    std::optional<llvm::StringRef> name =
        entry ? entry->getString("name") : std::nullopt;
    std::optional<int64_t> offset =
        entry ? entry->getInteger("offset") : std::nullopt;
    std::optional<int64_t> bytes =
        entry ? entry->getInteger("bytes") : std::nullopt;
    if (!name || !offset || !bytes || *offset < 0 || *bytes < 0 ||
        *offset % kArtifactWeightAlignment != 0)
      return fail("has a malformed weight_table entry (name, offset aligned "
                  "to " +
                  llvm::Twine(kArtifactWeightAlignment) + ", bytes)");
    m.weightTable.push_back({name->str(), uint64_t(*offset), uint64_t(*bytes)});
  }
  return llvm::Error::success();
}

/// The width table: {name, parent_bits, layer?, role?} objects.
static llvm::Error
readWidthTable(const llvm::json::Value *table, ArtifactManifest &m,
               llvm::function_ref<llvm::Error(const llvm::Twine &)> fail) {
  if (!table)
    return llvm::Error::success();
  const Array *entries = table->getAsArray();
  if (!entries)
    return fail("has a width_table that is not an array");
  for (const llvm::json::Value &value : *entries) {
    const Object *entry = value.getAsObject();
    std::optional<llvm::StringRef> name =
        entry ? entry->getString("name") : std::nullopt;
    std::optional<int64_t> parent =
        entry ? entry->getInteger("parent_bits") : std::nullopt;
    std::optional<int64_t> layer =
        entry ? entry->getInteger("layer") : std::nullopt;
    if (!name || !parent || *parent < 1 || *parent > 8 || (layer && *layer < 0))
      return fail("has a malformed width_table entry");
    WidthSlot slot;
    slot.name = name->str();
    slot.parentBits = *parent;
    slot.layer = layer.value_or(-1);
    slot.role = entry->getString("role").value_or("").str();
    m.widthTable.push_back(std::move(slot));
  }
  return llvm::Error::success();
}

/// The file names: library, weights and the optional tokenizer.
static llvm::Error
readFileNames(const Object &obj, ArtifactManifest &m,
              llvm::function_ref<llvm::Error(const llvm::Twine &)> fail) {
  std::optional<llvm::StringRef> library = obj.getString("library");
  std::optional<llvm::StringRef> weights = obj.getString("weights");
  if (!library || !weights)
    return fail("lacks library or weights");
  std::optional<llvm::StringRef> tokenizer = obj.getString("tokenizer");
  if (obj.get("tokenizer") && !tokenizer)
    return fail("has a tokenizer that is not a string");
  // Every file is in the artifact directory, never a path out of it.
  for (std::optional<llvm::StringRef> name : {library, weights, tokenizer}) {
    if (!name)
      continue;
    std::string why = badFileName(*name);
    if (!why.empty())
      return fail("names '" + *name + "', " + why +
                  " (an artifact names its files relative to its directory)");
  }
  m.library = library->str();
  m.weights = weights->str();
  m.tokenizer = tokenizer.value_or("").str();
  return llvm::Error::success();
}

/// The KV cache and target: kv_type, static_positions, target_*.
static llvm::Error
readTarget(const Object &obj, ArtifactManifest &m,
           llvm::function_ref<llvm::Error(const llvm::Twine &)> fail) {
  m.kvType = obj.getString("kv_type").value_or("").str();
  if (!kvElementBytes(m.kvType))
    return fail("has kv_type '" + m.kvType + "' (f32, f16 or bf16)");
  m.staticPositions = obj.getInteger("static_positions").value_or(0);
  if (m.staticPositions < 0 || m.staticPositions > m.config.maxSeqLen)
    return fail("has static_positions out of range");
  m.targetTriple = obj.getString("target_triple").value_or("").str();
  m.targetCPU = obj.getString("target_cpu").value_or("").str();
  const Array *features = obj.getArray("target_features");
  if (!features)
    return fail("lacks target_features");
  for (const llvm::json::Value &f : *features) {
    std::optional<llvm::StringRef> name = f.getAsString();
    if (!name || name->empty())
      return fail("has a target_features entry that is not a feature name");
    m.targetFeatures.push_back(name->str());
  }
  m.prefillGemm = obj.getString("prefill_gemm").value_or("").str();
  if (!m.prefillGemm.empty() &&
      !llvm::is_contained({"exact", "amx-bf16", "amx-int8", "vnni", "generic"},
                          m.prefillGemm))
    return fail("has prefill_gemm '" + m.prefillGemm +
                "' (exact, amx-bf16, amx-int8, vnni or generic)");
  return llvm::Error::success();
}

llvm::Expected<ArtifactManifest>
qopt::model::readArtifactManifest(llvm::StringRef path) {
  auto fail = [&](const llvm::Twine &why) -> llvm::Error {
    return makeError("'" + path + "' " + why);
  };
  llvm::Expected<llvm::json::Value> json = readJSONFile(path);
  if (!json)
    return json.takeError();
  const Object *obj = json->getAsObject();
  std::optional<llvm::StringRef> format =
      obj ? obj->getString("format") : std::nullopt;
  if (format && format->starts_with("qopt-aot-") && *format != kArtifactFormat)
    return fail("is a " + *format + " manifest; this qopt reads " +
                kArtifactFormat + " (compile the model again)");
  if (!format || *format != kArtifactFormat)
    return fail("is not a " + kArtifactFormat + " manifest");
  ArtifactManifest m;
  if (llvm::Error err = readFileNames(*obj, m, fail))
    return std::move(err);
  std::optional<ModelConfig> config = readConfig(obj->getObject("config"));
  if (!config)
    return fail("lacks a valid config (dim, hidden_dim, layers, heads, "
                "kv_heads, vocab_size, context: positive, heads dividing dim, "
                "kv_heads dividing heads)");
  m.config = *config;
  if (llvm::Error err = readTarget(*obj, m, fail))
    return std::move(err);
  if (llvm::Error err = readWeightTable(obj->getArray("weight_table"), m, fail))
    return std::move(err);
  if (llvm::Error err = readWidthTable(obj->get("width_table"), m, fail))
    return std::move(err);
  return m;
}

llvm::Error qopt::model::writeArtifactManifest(llvm::StringRef path,
                                               const ArtifactManifest &m) {
  Array weights, widths;
  for (const ArtifactWeight &w : m.weightTable)
    weights.push_back(Object{{"name", w.name},
                             {"offset", int64_t(w.offset)},
                             {"bytes", int64_t(w.bytes)}});
  for (const WidthSlot &slot : m.widthTable) {
    Object entry{{"name", slot.name}, {"parent_bits", slot.parentBits}};
    if (slot.layer >= 0)
      entry["layer"] = slot.layer;
    if (!slot.role.empty())
      entry["role"] = slot.role;
    widths.push_back(std::move(entry));
  }
  Array features;
  for (const std::string &f : m.targetFeatures)
    features.push_back(f);
  const ModelConfig &c = m.config;
  Object manifest{
      {"format", kArtifactFormat},
      {"library", m.library},
      {"weights", m.weights},
      {"config", Object{{"architecture", c.architecture},
                        {"dim", c.dim},
                        {"hidden_dim", c.hiddenDim},
                        {"layers", c.numLayers},
                        {"heads", c.numHeads},
                        {"kv_heads", c.numKVHeads},
                        {"vocab_size", c.vocabSize},
                        {"context", c.maxSeqLen},
                        {"tied_embeddings", c.tiedEmbeddings}}},
      {"kv_type", m.kvType},
      {"static_positions", m.staticPositions},
      {"target_triple", m.targetTriple},
      {"target_cpu", m.targetCPU},
      {"target_features", std::move(features)},
      {"weight_table", std::move(weights)},
      {"width_table", std::move(widths)},
  };
  if (!m.tokenizer.empty())
    manifest["tokenizer"] = m.tokenizer;
  if (!m.prefillGemm.empty())
    manifest["prefill_gemm"] = m.prefillGemm;
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_Text);
  if (ec)
    return makeError("cannot write '" + path + "': " + ec.message());
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(manifest))) << "\n";
  os.close();
  if (os.has_error())
    return makeError("cannot write '" + path + "': " + os.error().message());
  return llvm::Error::success();
}

std::vector<std::string>
qopt::model::missingHostFeatures(llvm::ArrayRef<std::string> features) {
  llvm::StringMap<bool> host = llvm::sys::getHostCPUFeatures();
  std::vector<std::string> missing;
  for (const std::string &f : features) {
    auto it = host.find(f);
    if (it == host.end() || !it->second)
      missing.push_back(f);
  }
  return missing;
}
