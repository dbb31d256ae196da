//===- ChatTemplateLoad.cpp - Find a model's chat template ------*- C++ -*-===//
//
// Where checkpoints keep their chat template: chat_template.jinja (newer
// transformers) or tokenizer_config.json's "chat_template" (a string, or a
// list of {"name", "template"} of which "default" is used) beside the
// tokenizer, or a GGUF file's tokenizer.chat_template.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/ChatTemplate.h"
#include "qopt/Model/Format.h"
#include "qopt/Model/Input.h"

#include "ModelUtils.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

using namespace qopt::model;
using detail::makeError;
using llvm::StringRef;

/// The text of a tokenizer_config.json special token: "x" or {"content":
/// "x"}; empty when absent or null.
static std::string tokenText(const llvm::json::Value *v) {
  if (!v)
    return "";
  if (std::optional<StringRef> s = v->getAsString())
    return s->str();
  if (const llvm::json::Object *o = v->getAsObject())
    if (std::optional<StringRef> s = o->getString("content"))
      return s->str();
  return "";
}

/// tokenizer_config.json's "chat_template": a string or a list of named
/// templates.
static llvm::Error readTemplateField(const llvm::json::Value *v, StringRef path,
                                     std::string &jinja) {
  if (!v || v->getAsNull())
    return llvm::Error::success();
  if (std::optional<StringRef> s = v->getAsString()) {
    jinja = s->str();
    return llvm::Error::success();
  }
  if (const llvm::json::Array *list = v->getAsArray()) {
    for (const llvm::json::Value &entry : *list) {
      const llvm::json::Object *o = entry.getAsObject();
      if (o && o->getString("name") == StringRef("default"))
        if (std::optional<StringRef> s = o->getString("template")) {
          jinja = s->str();
          return llvm::Error::success();
        }
    }
    return makeError("'" + path +
                     "': \"chat_template\" is a list without a "
                     "\"default\" template");
  }
  return makeError("'" + path +
                   "': \"chat_template\" must be a string or a list");
}

/// The chat template kept in directory `dir`, if any.
static llvm::Expected<ChatTemplateSource> readDirectory(StringRef dir) {
  ChatTemplateSource source;
  llvm::SmallString<256> config(dir);
  llvm::sys::path::append(config, "tokenizer_config.json");
  if (llvm::sys::fs::is_regular_file(config)) {
    llvm::Expected<llvm::json::Value> json = readJSONFile(config);
    if (!json)
      return json.takeError();
    const llvm::json::Object *o = json->getAsObject();
    if (!o)
      return makeError("'" + config + "' is not a JSON object");
    source.bosToken = tokenText(o->get("bos_token"));
    source.eosToken = tokenText(o->get("eos_token"));
    if (llvm::Error err =
            readTemplateField(o->get("chat_template"), config, source.jinja))
      return std::move(err);
    source.origin = config.str().str();
  }
  llvm::SmallString<256> jinjaFile(dir);
  llvm::sys::path::append(jinjaFile, "chat_template.jinja");
  if (llvm::sys::fs::is_regular_file(jinjaFile)) {
    uint64_t size = 0;
    if (std::error_code ec = llvm::sys::fs::file_size(jinjaFile, size))
      return makeError("cannot read '" + jinjaFile + "': " + ec.message());
    if (size > kMaxChatTemplateBytes)
      return makeError(llvm::formatv("'{0}' has {1} bytes, more than the "
                                     "{2} of a chat template",
                                     jinjaFile, size, kMaxChatTemplateBytes)
                           .str());
    auto buffer = llvm::MemoryBuffer::getFile(jinjaFile, /*IsText=*/false,
                                              /*RequiresNullTerminator=*/false);
    if (!buffer)
      return makeError("cannot read '" + jinjaFile +
                       "': " + buffer.getError().message());
    source.jinja = (*buffer)->getBuffer().str();
    source.origin = jinjaFile.str().str();
  }
  return source;
}

/// The chat template that belongs to the file or directory `path`.
static llvm::Expected<ChatTemplateSource> readAt(StringRef path) {
  if (llvm::sys::fs::is_directory(path))
    return readDirectory(path);
  llvm::Expected<ModelFormat> format = detectModelFormat(path);
  if (!format)
    return format.takeError();
  if (*format == ModelFormat::GGUF)
    return readGGUFChatTemplate(path);
  StringRef parent = llvm::sys::path::parent_path(path);
  return readDirectory(parent.empty() ? "." : parent);
}

llvm::Expected<ChatTemplateSource>
qopt::model::findChatTemplate(StringRef checkpointPath,
                              StringRef tokenizerPath) {
  if (!tokenizerPath.empty())
    return readAt(tokenizerPath);
  return readAt(checkpointPath);
}
