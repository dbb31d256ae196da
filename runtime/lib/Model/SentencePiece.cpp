//===- SentencePiece.cpp - SentencePiece .model files -----------*- C++ -*-===//
//
// A tokenizer over Google's SentencePiece library (Debian's
// libsentencepiece-dev): tokenizer.model files of Llama 1/2, Mistral and
// others, encoded and decoded by the library itself, so normalization,
// the dummy prefix, BPE or unigram segmentation and byte fallback are the
// model's own. Built when CMake finds the library (QOPT_HAVE_SENTENCEPIECE);
// otherwise loading a .model is an error that says how to get it.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Tokenizer.h"

#include "ModelUtils.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"

#ifdef QOPT_HAVE_SENTENCEPIECE
#include <sentencepiece_processor.h>
#endif

using namespace qopt::model;
using detail::makeError;

/// The most bytes of a .model file (Llama's is 500 KB, Gemma's 4 MB).
static constexpr uint64_t kMaxModelBytes = 64 << 20;

#ifdef QOPT_HAVE_SENTENCEPIECE
namespace {
class SentencePieceTokenizer : public Tokenizer {
public:
  sentencepiece::SentencePieceProcessor sp;

  std::optional<GGUFVocabulary> ggufVocabulary() const override {
    GGUFVocabulary vocab;
    for (int id = 0, n = sp.GetPieceSize(); id < n; ++id) {
      vocab.tokens.push_back(sp.IdToPiece(id));
      vocab.scores.push_back(sp.GetScore(id));
      vocab.types.push_back(sp.IsUnknown(id)   ? 2
                            : sp.IsControl(id) ? 3
                            : sp.IsByte(id)    ? 6
                            : sp.IsUnused(id)  ? 5
                                               : 1);
    }
    vocab.bos = sp.bos_id();
    vocab.eos = sp.eos_id();
    vocab.unknown = sp.unk_id();
    return vocab;
  }

  std::vector<int32_t> encode(llvm::StringRef text, bool bos,
                              bool eos) const override {
    std::vector<int> ids;
    if (!sp.Encode(std::string_view(text.data(), text.size()), &ids).ok())
      ids.clear();
    std::vector<int32_t> out;
    out.reserve(ids.size() + 2);
    if (bos && bosId() >= 0)
      out.push_back(bosId());
    out.insert(out.end(), ids.begin(), ids.end());
    if (eos && eosId() >= 0)
      out.push_back(eosId());
    return out;
  }

  std::string decode(int32_t prev, int32_t token) const override {
    if (token < 0 || token >= sp.GetPieceSize() || sp.IsControl(token))
      return "";
    if (sp.IsByte(token)) {
      // "<0xXX>"
      llvm::StringRef piece = sp.IdToPiece(token);
      unsigned byte = 0;
      if (piece.size() == 6 && !piece.substr(3, 2).getAsInteger(16, byte))
        return std::string(1, static_cast<char>(byte));
      return "";
    }
    if (sp.IsUnknown(token))
      return " \xE2\x81\x87 "; // SentencePiece's surface of <unk>: " ⁇ "
    std::string text;
    llvm::StringRef piece = sp.IdToPiece(token);
    for (size_t i = 0; i < piece.size();) {
      if (piece.substr(i).starts_with("\xE2\x96\x81")) { // U+2581
        text += ' ';
        i += 3;
      } else {
        text += piece[i++];
      }
    }
    // The dummy prefix space of the first word, as SentencePiece drops it.
    if ((prev < 0 || prev == bosId()) && !text.empty() && text[0] == ' ')
      text.erase(0, 1);
    return text;
  }

  int32_t bosId() const override { return sp.bos_id(); }
  int32_t eosId() const override { return sp.eos_id(); }
  int64_t vocabSize() const override { return sp.GetPieceSize(); }
};
} // namespace
#endif

llvm::Expected<std::unique_ptr<Tokenizer>>
qopt::model::loadSentencePieceTokenizer(llvm::StringRef path) {
  uint64_t size = 0;
  if (!llvm::sys::fs::is_regular_file(path))
    return makeError("SentencePiece model '" + path +
                     "' is not a regular file");
  if (std::error_code ec = llvm::sys::fs::file_size(path, size))
    return makeError("cannot read SentencePiece model '" + path +
                     "': " + ec.message());
  if (size > kMaxModelBytes)
    return makeError(llvm::formatv("SentencePiece model '{0}' has {1} bytes, "
                                   "more than {2}",
                                   path, size, kMaxModelBytes)
                         .str());
#ifdef QOPT_HAVE_SENTENCEPIECE
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return makeError("cannot read SentencePiece model '" + path +
                     "': " + buffer.getError().message());
  auto tok = std::make_unique<SentencePieceTokenizer>();
  llvm::StringRef bytes = (*buffer)->getBuffer();
  sentencepiece::util::Status status = tok->sp.LoadFromSerializedProto(
      std::string_view(bytes.data(), bytes.size()));
  if (!status.ok())
    return makeError("SentencePiece model '" + path +
                     "' is not valid: " + status.ToString());
  if (tok->sp.GetPieceSize() <= 0)
    return makeError("SentencePiece model '" + path + "' has no pieces");
  return std::unique_ptr<Tokenizer>(std::move(tok));
#else
  return makeError("cannot read SentencePiece model '" + path +
                   "': qopt was built without the SentencePiece library "
                   "(install libsentencepiece-dev and reconfigure)");
#endif
}
