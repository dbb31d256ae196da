//===- ArtifactManifest.cpp - The manifest of a compiled artifact ---------===//
//
// See ArtifactManifest.h. Everything in the manifest is untrusted: an
// artifact directory may come from anyone.
//
//===----------------------------------------------------------------------===//

#include "qopt/Tools/ArtifactManifest.h"

#include "qopt/Model/Input.h"

#include "llvm/ADT/Twine.h"
#include "llvm/Support/JSON.h"

#include <optional>

using namespace mlir::qopt;

static llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

llvm::Expected<ArtifactManifest>
mlir::qopt::readArtifactManifest(llvm::StringRef path) {
  auto fail = [&](const llvm::Twine &why) {
    return makeError("'" + path + "' " + why);
  };
  llvm::Expected<llvm::json::Value> json = ::qopt::model::readJSONFile(path);
  if (!json)
    return json.takeError();
  const llvm::json::Object *obj = json->getAsObject();
  std::optional<llvm::StringRef> format =
      obj ? obj->getString("format") : std::nullopt;
  if (!format || *format != kArtifactFormat)
    return fail("is not a " + kArtifactFormat + " manifest");
  const llvm::json::Array *names = obj->getArray("weight_table");
  std::optional<llvm::StringRef> library = obj->getString("library");
  std::optional<llvm::StringRef> weights = obj->getString("weights");
  if (!names || !library || !weights)
    return fail("lacks library, weights or weight_table");
  // Both are files of the artifact directory, never paths out of it.
  for (llvm::StringRef name : {*library, *weights})
    if (name.empty() || name.contains('/') || name == "." || name == "..")
      return fail("names '" + name +
                  "', not a file name inside the artifact directory");
  ArtifactManifest manifest;
  manifest.library = library->str();
  manifest.weights = weights->str();
  manifest.tokenizerSource =
      obj->getString("tokenizer_source").value_or("").str();
  manifest.kvType = obj->getString("kv_type").value_or("").str();
  for (const llvm::json::Value &name : *names) {
    std::optional<llvm::StringRef> key = name.getAsString();
    if (!key)
      return fail("has a weight_table entry that is not a string");
    manifest.weightTable.push_back(key->str());
  }
  if (const llvm::json::Value *table = obj->get("width_table")) {
    const llvm::json::Array *entries = table->getAsArray();
    if (!entries)
      return fail("has a width_table that is not an array");
    for (const llvm::json::Value &value : *entries) {
      const llvm::json::Object *entry = value.getAsObject();
      std::optional<llvm::StringRef> name =
          entry ? entry->getString("name") : std::nullopt;
      std::optional<int64_t> parent =
          entry ? entry->getInteger("parent_bits") : std::nullopt;
      std::optional<int64_t> layer =
          entry ? entry->getInteger("layer") : std::nullopt;
      if (!name || !parent || *parent < 1 || *parent > 8 ||
          (layer && *layer < 0))
        return fail("has a malformed width_table entry");
      WidthSlot slot;
      slot.name = name->str();
      slot.parentBits = *parent;
      slot.layer = layer.value_or(-1);
      slot.role = entry->getString("role").value_or("").str();
      manifest.widthTable.push_back(std::move(slot));
    }
  }
  return manifest;
}
