//===- HFTokenizerLoad.cpp - Reading tokenizer.json -----------------------===//
//
// Builds an HFBPETokenizer from a Hugging Face tokenizer.json with a BPE
// model: vocab, merges (as "a b" or ["a", "b"]), added_tokens, and the
// pipeline steps whose behaviour HFTokenizer.cpp reproduces. Any other
// step (WordPiece/Unigram models, normalizers such as NFKC or Lowercase,
// Split regexes other than the GPT-2/Llama-3/Qwen2 ones) is refused with an
// error rather than guessed at. BOS and EOS come from tokenizer_config.json
// beside the file, else the post-processor.
//
//===----------------------------------------------------------------------===//

#include "HFTokenizer.h"
#include "ModelUtils.h"
#include "PairMerge.h"

#include "qopt/Model/Input.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <cstdio>
#include <optional>

using namespace qopt::model;
using namespace qopt::model::detail;

namespace {
/// The reader of one tokenizer.json: errors name the file.
class TokenizerJSONReader {
public:
  TokenizerJSONReader(llvm::StringRef path, const llvm::json::Object &root,
                      HFBPETokenizer &tok)
      : path(path), root(root), tok(tok) {}

  llvm::Error readModel();
  llvm::Error readAddedTokens();
  llvm::Error readMerges(const llvm::json::Array &mergeList);
  llvm::Error readNormalizer();
  llvm::Error readPreTokenizer();
  llvm::Error readDecoder();
  llvm::Error readSpecialTokens();

private:
  llvm::Error error(const llvm::Twine &what) {
    return makeError("tokenizer '" + path + "': " + what);
  }
  llvm::Error unsupported(const llvm::Twine &what) {
    return error(what + " is not supported (supported: BPE models, "
                        "SentencePiece-style as Llama 2 (Metaspace, "
                        "byte_fallback) or ByteLevel as GPT-2, Llama 3 and "
                        "Qwen2)");
  }
  llvm::Error addToken(llvm::StringRef s, int64_t id);

  llvm::StringRef path;
  const llvm::json::Object &root;
  HFBPETokenizer &tok;
  /// The number of vocab and added_tokens entries: every id is below it.
  int64_t numEntries = 0;
};
} // namespace

/// The string of a tokenizer_config.json special token: "x" or
/// {"content": "x", ...}.
static std::optional<std::string>
specialTokenString(const llvm::json::Value *v) {
  if (!v)
    return std::nullopt;
  if (std::optional<llvm::StringRef> s = v->getAsString())
    return s->str();
  if (const llvm::json::Object *o = v->getAsObject())
    if (std::optional<llvm::StringRef> s = o->getString("content"))
      return s->str();
  return std::nullopt;
}

/// Walks one pipeline step of a tokenizer.json section (`normalizer`,
/// `pre_tokenizer`, `decoder`): null is an empty step, `Sequence` recurses
/// into its `listKey` array, and every other step is passed to `step` with
/// its type. `what` names the section in the malformed-input error.
static llvm::Error walkTokenizerSteps(
    const llvm::json::Value *v, llvm::StringRef path, llvm::StringRef what,
    llvm::StringRef listKey,
    llvm::function_ref<llvm::Error(const llvm::json::Object &, llvm::StringRef)>
        step) {
  if (!v || v->kind() == llvm::json::Value::Null)
    return llvm::Error::success();
  const llvm::json::Object *o = v->getAsObject();
  std::optional<llvm::StringRef> t = o ? o->getString("type") : std::nullopt;
  if (!t)
    return makeError("tokenizer '" + path + "': malformed " + what);
  if (*t == "Sequence") {
    if (const llvm::json::Array *a = o->getArray(listKey))
      for (const llvm::json::Value &n : *a)
        if (llvm::Error e = walkTokenizerSteps(&n, path, what, listKey, step))
          return e;
    return llvm::Error::success();
  }
  return step(*o, *t);
}

/// The id of the special token that a TemplateProcessing post-processor puts
/// first, or -1.
static int32_t templateBos(const llvm::json::Object &root,
                           const HFBPETokenizer &tok) {
  const llvm::json::Object *pp = root.getObject("post_processor");
  if (!pp || pp->getString("type") !=
                 std::optional<llvm::StringRef>("TemplateProcessing"))
    return -1;
  const llvm::json::Array *single = pp->getArray("single");
  const llvm::json::Object *first =
      single && !single->empty() ? (*single)[0].getAsObject() : nullptr;
  const llvm::json::Object *st =
      first ? first->getObject("SpecialToken") : nullptr;
  std::optional<llvm::StringRef> name = st ? st->getString("id") : std::nullopt;
  if (!name)
    return -1;
  if (const llvm::json::Object *map = pp->getObject("special_tokens"))
    if (const llvm::json::Object *e = map->getObject(*name))
      if (const llvm::json::Array *ids = e->getArray("ids"))
        if (!ids->empty() && (*ids)[0].getAsInteger())
          return static_cast<int32_t>(*(*ids)[0].getAsInteger());
  return tok.find(*name);
}

llvm::Error TokenizerJSONReader::addToken(llvm::StringRef s, int64_t id) {
  // Ids are dense: each is below the number of entries, which bounds the
  // id table by the file's size.
  if (id < 0 || id >= numEntries)
    return error("token '" + s + "' has id " + llvm::Twine(id) +
                 "; ids must be in [0, " + llvm::Twine(numEntries) +
                 "), the number of vocab and added_tokens entries");
  if (static_cast<size_t>(id) >= tok.idToToken.size())
    tok.idToToken.resize(id + 1);
  tok.idToToken[id] = s.str();
  tok.tokenToId[s] = static_cast<int32_t>(id);
  return llvm::Error::success();
}

llvm::Error TokenizerJSONReader::readModel() {
  const llvm::json::Object *model = root.getObject("model");
  if (!model)
    return makeError("tokenizer '" + path + "' has no \"model\" object");
  std::optional<llvm::StringRef> type = model->getString("type");
  if (type && *type != "BPE")
    return unsupported("model type '" + *type + "'");
  const llvm::json::Object *vocab = model->getObject("vocab");
  const llvm::json::Array *mergeList = model->getArray("merges");
  if (!vocab || !mergeList)
    return error("BPE model needs \"vocab\" (object) and \"merges\"");
  for (llvm::StringRef key :
       {"continuing_subword_prefix", "end_of_word_suffix"})
    if (std::optional<llvm::StringRef> s = model->getString(key);
        s && !s->empty())
      return unsupported(("BPE option \"" + key + "\"").str());
  tok.byteFallback = model->getBoolean("byte_fallback").value_or(false);
  tok.ignoreMerges = model->getBoolean("ignore_merges").value_or(false);
  tok.fuseUnk = model->getBoolean("fuse_unk").value_or(false);

  const llvm::json::Array *added = root.getArray("added_tokens");
  numEntries = vocab->size() + (added ? added->size() : 0);
  for (const auto &kv : *vocab) {
    std::optional<int64_t> id = kv.second.getAsInteger();
    if (!id)
      return error("vocab entry '" + kv.first.str() + "' has no integer id");
    if (llvm::Error e = addToken(kv.first, *id))
      return e;
  }
  if (llvm::Error e = readAddedTokens())
    return e;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    snprintf(name, sizeof(name), "<0x%02X>", b);
    tok.byteTokens[b] = tok.find(name);
  }
  if (llvm::Error e = readMerges(*mergeList))
    return e;
  if (std::optional<llvm::StringRef> unk = model->getString("unk_token"))
    tok.unkId = tok.find(*unk);
  return llvm::Error::success();
}

llvm::Error TokenizerJSONReader::readAddedTokens() {
  const llvm::json::Array *added = root.getArray("added_tokens");
  if (!added)
    return llvm::Error::success();
  for (const llvm::json::Value &v : *added) {
    const llvm::json::Object *o = v.getAsObject();
    std::optional<llvm::StringRef> content =
        o ? o->getString("content") : std::nullopt;
    std::optional<int64_t> id = o ? o->getInteger("id") : std::nullopt;
    if (!content || !id)
      return error("added_tokens entries need \"id\" and \"content\"");
    if (llvm::Error e = addToken(*content, *id))
      return e;
    if (content->empty())
      continue;
    AddedToken t{content->str(), static_cast<int32_t>(*id)};
    t.lstrip = o->getBoolean("lstrip").value_or(false);
    t.rstrip = o->getBoolean("rstrip").value_or(false);
    t.singleWord = o->getBoolean("single_word").value_or(false);
    tok.addedTokens.push_back(std::move(t));
  }
  std::stable_sort(tok.addedTokens.begin(), tok.addedTokens.end(),
                   [](const AddedToken &a, const AddedToken &b) {
                     return a.content.size() > b.content.size();
                   });
  for (auto [i, t] : llvm::enumerate(tok.addedTokens))
    tok.addedByFirstByte[static_cast<uint8_t>(t.content[0])].push_back(i);
  return llvm::Error::success();
}

llvm::Error
TokenizerJSONReader::readMerges(const llvm::json::Array &mergeList) {
  int32_t rank = 0;
  for (const llvm::json::Value &m : mergeList) {
    llvm::StringRef left, right;
    if (std::optional<llvm::StringRef> s = m.getAsString()) {
      // "a b": split at the first space (pieces spell spaces as ▁ or Ġ).
      size_t sp = s->find(' ');
      if (sp == llvm::StringRef::npos)
        return error("merge " + llvm::Twine(rank) + " ('" + *s +
                     "') is not \"left right\"");
      left = s->take_front(sp);
      right = s->drop_front(sp + 1);
    } else if (const llvm::json::Array *a = m.getAsArray();
               a && a->size() == 2 && (*a)[0].getAsString() &&
               (*a)[1].getAsString()) {
      left = *(*a)[0].getAsString();
      right = *(*a)[1].getAsString();
    } else {
      return error("merge " + llvm::Twine(rank) +
                   " is neither \"a b\" nor [a, b]");
    }
    int32_t l = tok.find(left), r = tok.find(right);
    int32_t merged = tok.find((left + right).str());
    if (l < 0 || r < 0 || merged < 0)
      return error("merge " + llvm::Twine(rank) + " ('" + left + "' + '" +
                   right + "') uses a piece missing from the vocab");
    tok.merges.try_emplace(pairKey(l, r), rank, merged);
    addInnerBytes(tok.inner, tok.idToToken[merged]);
    ++rank;
  }
  return llvm::Error::success();
}

llvm::Error TokenizerJSONReader::readNormalizer() {
  // null, Prepend, Replace (string pattern), NFC, or a Sequence of them.
  auto add = [&](const llvm::json::Object &o,
                 llvm::StringRef type) -> llvm::Error {
    if (type == "Prepend") {
      std::optional<llvm::StringRef> p = o.getString("prepend");
      if (!p)
        return error("Prepend needs \"prepend\"");
      tok.normalizer.push_back({NormalizeStep::Prepend, p->str(), ""});
      return llvm::Error::success();
    }
    if (type == "Replace") {
      const llvm::json::Object *pat = o.getObject("pattern");
      std::optional<llvm::StringRef> from =
          pat ? pat->getString("String") : std::nullopt;
      std::optional<llvm::StringRef> to = o.getString("content");
      if (!from || !to)
        return unsupported("a Replace normalizer without a String pattern");
      tok.normalizer.push_back(
          {NormalizeStep::Replace, from->str(), to->str()});
      return llvm::Error::success();
    }
    if (type == "NFC") {
      tok.normalizer.push_back({NormalizeStep::NFC, "", ""});
      return llvm::Error::success();
    }
    return unsupported("normalizer '" + type + "'");
  };
  return walkTokenizerSteps(root.get("normalizer"), path, "normalizer",
                            "normalizers", add);
}

llvm::Error TokenizerJSONReader::readPreTokenizer() {
  // null, one Metaspace, or Split/Digits/ByteLevel steps.
  auto add = [&](const llvm::json::Object &o,
                 llvm::StringRef type) -> llvm::Error {
    if (tok.byteLevel)
      return unsupported("a pre_tokenizer step after ByteLevel");
    if (type == "Metaspace") {
      if (tok.metaspace)
        return unsupported("more than one Metaspace pre-tokenizer");
      tok.metaspace = true;
      if (std::optional<llvm::StringRef> r = o.getString("replacement"))
        tok.metaspaceReplacement = r->str();
      if (std::optional<llvm::StringRef> s = o.getString("prepend_scheme")) {
        if (*s == "always")
          tok.metaspacePrepend = HFBPETokenizer::Prepend::Always;
        else if (*s == "first")
          tok.metaspacePrepend = HFBPETokenizer::Prepend::First;
        else if (*s == "never")
          tok.metaspacePrepend = HFBPETokenizer::Prepend::Never;
        else
          return unsupported("Metaspace prepend_scheme '" + *s + "'");
      } else if (std::optional<bool> b = o.getBoolean("add_prefix_space")) {
        tok.metaspacePrepend = *b ? HFBPETokenizer::Prepend::Always
                                  : HFBPETokenizer::Prepend::Never;
      }
      tok.metaspaceSplit = o.getBoolean("split").value_or(true);
      return llvm::Error::success();
    }
    PreTokenizeStep step;
    if (type == "Split") {
      const llvm::json::Object *pat = o.getObject("pattern");
      std::optional<llvm::StringRef> regex =
          pat ? pat->getString("Regex") : std::nullopt;
      std::optional<SplitPattern> p =
          regex ? recognizeSplitPattern(*regex) : std::nullopt;
      if (!p)
        return error(
            "Split pattern " +
            (regex ? "'" + *regex + "'" : llvm::Twine("without a Regex")) +
            " is not supported (only the regexes of GPT-2, Llama 3 "
            "and Qwen2 are)");
      if (o.getString("behavior") !=
              std::optional<llvm::StringRef>("Isolated") ||
          o.getBoolean("invert").value_or(false))
        return unsupported("Split other than behavior Isolated, not inverted");
      step.kind = PreTokenizeStep::Split;
      step.pattern = *p;
    } else if (type == "Digits") {
      step.kind = PreTokenizeStep::Digits;
      step.option = o.getBoolean("individual_digits").value_or(false);
    } else if (type == "ByteLevel") {
      step.kind = PreTokenizeStep::ByteLevel;
      step.option = o.getBoolean("add_prefix_space").value_or(true);
      step.useRegex = o.getBoolean("use_regex").value_or(true);
      tok.byteLevel = true;
    } else {
      return unsupported("pre_tokenizer '" + type + "'");
    }
    tok.preTokenizer.push_back(step);
    return llvm::Error::success();
  };
  if (llvm::Error e = walkTokenizerSteps(root.get("pre_tokenizer"), path,
                                         "pre_tokenizer", "pretokenizers", add))
    return e;
  if (tok.metaspace && !tok.preTokenizer.empty())
    return unsupported("Metaspace together with Split, Digits or ByteLevel");
  return llvm::Error::success();
}

llvm::Error TokenizerJSONReader::readDecoder() {
  // Only the steps that Llama's and the ByteLevel tokenizers' decoding
  // consists of.
  bool byteLevelDecoder = false;
  auto check = [&](const llvm::json::Object &,
                   llvm::StringRef type) -> llvm::Error {
    if (type == "ByteLevel") {
      byteLevelDecoder = true;
      return llvm::Error::success();
    }
    if (type == "Replace" || type == "ByteFallback" || type == "Fuse" ||
        type == "Strip" || type == "Metaspace")
      return llvm::Error::success();
    return unsupported("decoder '" + type + "'");
  };
  if (llvm::Error e = walkTokenizerSteps(root.get("decoder"), path, "decoder",
                                         "decoders", check))
    return e;
  if (byteLevelDecoder != tok.byteLevel)
    return unsupported(byteLevelDecoder
                           ? "a ByteLevel decoder without a ByteLevel "
                             "pre_tokenizer"
                           : "a ByteLevel pre_tokenizer without a ByteLevel "
                             "decoder");
  if (!byteLevelDecoder)
    return llvm::Error::success();
  // A token decodes to the bytes its characters stand for, or to its own
  // UTF-8 if one of them stands for none.
  tok.byteLevelText.resize(tok.idToToken.size());
  for (auto [id, piece] : llvm::enumerate(tok.idToToken)) {
    std::string &text = tok.byteLevelText[id];
    llvm::StringRef rest = piece;
    while (!rest.empty()) {
      size_t n;
      int byte = byteLevelByte(rest, n);
      if (byte < 0) {
        text = piece;
        break;
      }
      text.push_back(static_cast<char>(byte));
      rest = rest.drop_front(n);
    }
  }
  return llvm::Error::success();
}

llvm::Error TokenizerJSONReader::readSpecialTokens() {
  // BOS/EOS: tokenizer_config.json beside the file, else the
  // post-processor's leading special token, else "<s>" / "</s>" (not for
  // ByteLevel vocabularies).
  llvm::SmallString<256> cfgPath(llvm::sys::path::parent_path(path));
  llvm::sys::path::append(cfgPath, "tokenizer_config.json");
  if (llvm::sys::fs::exists(cfgPath)) {
    llvm::Expected<llvm::json::Value> cfg = readJSONFile(cfgPath);
    if (!cfg)
      return cfg.takeError();
    if (const llvm::json::Object *o = cfg->getAsObject()) {
      if (std::optional<std::string> s =
              specialTokenString(o->get("bos_token")))
        tok.bos = tok.find(*s);
      if (std::optional<std::string> s =
              specialTokenString(o->get("eos_token")))
        tok.eos = tok.find(*s);
    }
  }
  if (tok.bos < 0)
    tok.bos = templateBos(root, tok);
  // SentencePiece's names; in a ByteLevel vocabulary "<s>" may be text.
  if (tok.bos < 0 && !tok.byteLevel)
    tok.bos = tok.find("<s>");
  if (tok.eos < 0 && !tok.byteLevel)
    tok.eos = tok.find("</s>");
  return llvm::Error::success();
}

llvm::Expected<std::unique_ptr<Tokenizer>>
qopt::model::loadHuggingFaceTokenizer(llvm::StringRef path) {
  llvm::Expected<llvm::json::Value> json = readJSONFile(path, "tokenizer");
  if (!json)
    return json.takeError();
  const llvm::json::Object *root = json->getAsObject();
  if (!root)
    return makeError("tokenizer '" + path + "' has no \"model\" object");
  auto tok = std::make_unique<HFBPETokenizer>();
  TokenizerJSONReader reader(path, *root, *tok);
  for (llvm::Error (TokenizerJSONReader::*step)() :
       {&TokenizerJSONReader::readModel, &TokenizerJSONReader::readNormalizer,
        &TokenizerJSONReader::readPreTokenizer,
        &TokenizerJSONReader::readDecoder,
        &TokenizerJSONReader::readSpecialTokens})
    if (llvm::Error e = (reader.*step)())
      return std::move(e);
  return std::unique_ptr<Tokenizer>(std::move(tok));
}
