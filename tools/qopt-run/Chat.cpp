//===- Chat.cpp - qopt-run chat ---------------------------------*- C++ -*-===//
//
// Chats with an instruct model: each user turn (a line of stdin, or -p) is
// added to the conversation, which the model's chat template formats
// (qopt/Model/ChatTemplate.h); only the text past what the KV cache already
// holds is encoded and fed, so the cache carries over from turn to turn.
// The answer ends at the template's end-of-turn token or EOS, after -n
// tokens, or when the context is full; each turn says which.
//
//===----------------------------------------------------------------------===//

#include "LoadModel.h"
#include "Options.h"
#include "Subcommands.h"
#include "Support.h"

#include "qopt/Model/ChatTemplate.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <iostream>

using namespace qopt::run;
namespace model = ::qopt::model;

//===----------------------------------------------------------------------===//
// Options
//===----------------------------------------------------------------------===//

static cl::opt<std::string>
    chatPrompt("prompt",
               cl::desc("One user turn; without it, turns are read from "
                        "stdin, one a line, until EOF"),
               cl::sub(chatCommand()), cl::cat(generateCategory()));
static cl::alias chatPromptShort("p", cl::desc("Alias for --prompt"),
                                 cl::aliasopt(chatPrompt), cl::NotHidden);
static cl::opt<std::string>
    systemPrompt("system", cl::desc("System message of the conversation"),
                 cl::sub(chatCommand()), cl::cat(generateCategory()));
static cl::opt<std::string> templateName(
    "chat-template",
    cl::desc("Format with this template family instead of recognizing the "
             "model's: llama3, llama3.1, chatml, mistral or llama2"),
    cl::value_desc("name"), cl::sub(chatCommand()),
    cl::cat(generateCategory()));
static cl::opt<bool> printPrompt(
    "print-prompt",
    cl::desc("Echo on stderr the formatted text and token ids fed each turn, "
             "and the position they start at"),
    cl::sub(chatCommand()), cl::cat(generateCategory()));
static cl::alias printPromptLong("verbose-prompt",
                                 cl::desc("Alias for --print-prompt"),
                                 cl::aliasopt(printPrompt), cl::NotHidden);

static llvm::Error chatError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

//===----------------------------------------------------------------------===//
// The template
//===----------------------------------------------------------------------===//

/// The model's chat template, or the family --chat-template names.
static llvm::Expected<model::ChatTemplate> resolveTemplate() {
  llvm::Expected<model::ChatTemplateSource> source =
      model::findChatTemplate(modelPath(), tokenizerPath);
  if (!source)
    return source.takeError();
  if (templateName.getNumOccurrences()) {
    llvm::Expected<model::ChatFamily> family =
        model::parseChatFamily(templateName);
    if (!family)
      return family.takeError();
    model::ChatTemplate t;
    t.family = *family;
    t.bosToken = source->bosToken;
    t.eosToken = source->eosToken;
    return t;
  }
  if (source->jinja.empty())
    return chatError("'" + modelPath() +
                     "' has no chat template (tokenizer_config.json's "
                     "chat_template or GGUF's tokenizer.chat_template); pass "
                     "--chat-template NAME, one of " +
                     model::chatFamilyList());
  llvm::Expected<model::ChatTemplate> t = model::recognizeChatTemplate(
      source->jinja, source->bosToken, source->eosToken);
  if (!t)
    return chatError("chat template of '" + source->origin +
                     "': " + llvm::toString(t.takeError()));
  return t;
}

namespace {
/// Special-token texts of the template and the ids they stand for.
struct Special {
  std::string text;
  int32_t id;
};

/// The template with the token ids of its special texts.
struct ChatTokens {
  model::ChatTemplate tmpl;
  std::vector<Special> specials; ///< longest first
  std::vector<int32_t> stopIds;
};

/// A conversation and what the KV cache holds of it.
class ChatSession {
public:
  ChatSession(LoadedModel &m, ChatTokens chat, int64_t context, uint64_t seed);

  /// One user turn: formats, feeds the new tokens, generates the answer.
  llvm::Error turn(llvm::StringRef user, int index);
  void addSystem(llvm::StringRef text) {
    messages.push_back({"system", text.str()});
  }

private:
  std::vector<int32_t> encode(llvm::StringRef text) const;
  llvm::Error feed(const std::string &text);
  llvm::StringRef generate(std::string &answer, int64_t &generated);
  void report(int index, llvm::StringRef answer, int64_t generated,
              llvm::StringRef stop, double seconds);

  LoadedModel &m;
  model::Tokenizer &tok;
  model::ChatTemplate tmpl;
  std::vector<Special> specials;
  std::vector<int32_t> stopIds;
  int64_t context;
  model::Sampler sampler;
  std::vector<model::ChatMessage> messages;
  /// The tokens in the KV cache (position i holds cached[i]), the end of
  /// each one's text in cachedText, and that text.
  std::vector<int32_t> cached;
  std::vector<size_t> cachedEnd;
  std::string cachedText;
  std::vector<float> logits;
  int64_t promptTokens = 0, startPosition = 0;
  int32_t stopToken = -1;
};
} // namespace

ChatSession::ChatSession(LoadedModel &m, ChatTokens chat, int64_t context,
                         uint64_t seed)
    : m(m), tok(*m.tokenizer), tmpl(std::move(chat.tmpl)),
      specials(std::move(chat.specials)), stopIds(std::move(chat.stopIds)),
      context(context), sampler(m.config.vocabSize, samplingParams(), seed) {}

/// Maps the template's BOS/EOS/end-of-turn texts to token ids of `tok`;
/// fails when nothing can end a turn.
static llvm::Error findSpecials(const model::Tokenizer &tok, ChatTokens &chat) {
  model::ChatTemplate &tmpl = chat.tmpl;
  std::vector<Special> &specials = chat.specials;
  std::vector<int32_t> &stopIds = chat.stopIds;
  // A template forced on a tokenizer whose special texts are unknown uses
  // the family's usual names for BOS/EOS.
  bool llama3 = tmpl.family == model::ChatFamily::Llama3 ||
                tmpl.family == model::ChatFamily::Llama31;
  if (tmpl.bosToken.empty() && tok.bosId() >= 0 &&
      tmpl.family != model::ChatFamily::ChatML)
    tmpl.bosToken = llama3 ? "<|begin_of_text|>" : "<s>";
  if (tmpl.eosToken.empty() && tok.eosId() >= 0)
    tmpl.eosToken = llama3 ? "<|end_of_text|>"
                    : tmpl.family == model::ChatFamily::ChatML ? "<|im_end|>"
                                                               : "</s>";
  if (!tmpl.bosToken.empty() && tok.bosId() >= 0)
    specials.push_back({tmpl.bosToken, tok.bosId()});
  if (!tmpl.eosToken.empty() && tok.eosId() >= 0)
    specials.push_back({tmpl.eosToken, tok.eosId()});
  for (const std::string &text : tmpl.endOfTurn()) {
    std::vector<int32_t> ids = tok.encode(text, false, false);
    if (text == tmpl.eosToken && tok.eosId() >= 0)
      ids = {tok.eosId()};
    if (ids.size() != 1)
      continue; // not a token of this vocabulary
    stopIds.push_back(ids[0]);
    if (text != tmpl.eosToken)
      specials.push_back({text, ids[0]});
  }
  if (tok.eosId() >= 0 && !llvm::is_contained(stopIds, tok.eosId()))
    stopIds.push_back(tok.eosId());
  if (stopIds.empty())
    return chatError("the tokenizer has none of the tokens that end a " +
                     model::chatFamilyName(tmpl.family) +
                     " turn and no EOS; this template does not fit it");
  llvm::stable_sort(specials, [](const Special &a, const Special &b) {
    return a.text.size() > b.text.size();
  });
  return llvm::Error::success();
}

/// The ids of `text`: its special-token texts as their ids, the text
/// between them as the tokenizer encodes it (no BOS/EOS added).
std::vector<int32_t> ChatSession::encode(llvm::StringRef text) const {
  std::vector<int32_t> ids;
  while (!text.empty()) {
    size_t at = llvm::StringRef::npos;
    const Special *found = nullptr;
    for (const Special &s : specials) {
      size_t pos = text.find(s.text);
      if (pos < at) {
        at = pos;
        found = &s;
      }
    }
    std::vector<int32_t> part =
        tok.encode(text.take_front(at), /*bos=*/false, /*eos=*/false);
    ids.insert(ids.end(), part.begin(), part.end());
    if (!found)
      break;
    ids.push_back(found->id);
    text = text.drop_front(at + found->text.size());
  }
  return ids;
}

//===----------------------------------------------------------------------===//
// Turns
//===----------------------------------------------------------------------===//

/// Feeds the formatted conversation `text`: keeps the cached tokens whose
/// text is a prefix of it, encodes and runs the rest.
llvm::Error ChatSession::feed(const std::string &text) {
  size_t common = 0;
  size_t limit = std::min(text.size(), cachedText.size());
  while (common < limit && text[common] == cachedText[common])
    ++common;
  size_t keep = 0;
  while (keep < cached.size() && cachedEnd[keep] <= common)
    ++keep;
  size_t textStart = keep ? cachedEnd[keep - 1] : 0;
  cached.resize(keep);
  cachedEnd.resize(keep);
  cachedText.resize(textStart);
  llvm::StringRef newText = llvm::StringRef(text).drop_front(textStart);
  std::vector<int32_t> ids = encode(newText);
  if (ids.empty())
    return chatError("the chat template added no tokens for this turn");
  int64_t total = static_cast<int64_t>(keep + ids.size());
  if (total >= context)
    return chatError("the conversation has " + llvm::Twine(total) +
                     " tokens; the context is " + llvm::Twine(context));
  if (printPrompt) {
    llvm::errs() << "[prompt: " << ids.size() << " tokens at position " << keep
                 << "]\n"
                 << newText << "\n[tokens:";
    for (int32_t id : ids)
      llvm::errs() << " " << id;
    llvm::errs() << "]\n";
  }
  if (llvm::Error err = reserveCache(
          *m.runner, std::min<int64_t>(total + maxNewTokens(), context), total))
    return err;
  logits.resize(ids.size() * m.config.vocabSize);
  if (llvm::Error err = m.runner->forward(ids, keep, logits.data()))
    return err;
  promptTokens = ids.size();
  startPosition = keep;
  cachedText += newText;
  for (int32_t id : ids) {
    cached.push_back(id);
    cachedEnd.push_back(cachedText.size());
  }
  return llvm::Error::success();
}

/// Samples the answer after feed(); returns why it stopped.
llvm::StringRef ChatSession::generate(std::string &answer, int64_t &generated) {
  const int64_t vocab = m.config.vocabSize;
  float *last = logits.data() + (promptTokens - 1) * vocab;
  generated = 0;
  stopToken = -1;
  while (true) {
    if (generated == maxNewTokens())
      return "length";
    int32_t next = sampler.sample(last, cached);
    if (llvm::is_contained(stopIds, next)) {
      stopToken = next;
      return next == tok.eosId() ? "eos" : "eot";
    }
    std::string piece = tok.decode(cached.back(), next);
    answer += piece;
    if (!jsonOutput) {
      llvm::outs() << piece;
      llvm::outs().flush();
    }
    cachedText += piece;
    cached.push_back(next);
    cachedEnd.push_back(cachedText.size());
    ++generated;
    if (static_cast<int64_t>(cached.size()) >= context)
      return "context";
    if (generated == maxNewTokens())
      return "length"; // the last token need not be run
    if (llvm::Error err = m.runner->forward(
            {next}, static_cast<int64_t>(cached.size()) - 1, logits.data())) {
      llvm::consumeError(std::move(err));
      return "error";
    }
    last = logits.data();
  }
}

void ChatSession::report(int index, llvm::StringRef answer, int64_t generated,
                         llvm::StringRef stop, double seconds) {
  double rate = seconds > 0 ? generated / seconds : 0.0;
  if (jsonOutput) {
    llvm::json::Object result{{"turn", index},
                              {"text", answer},
                              {"prompt_tokens", promptTokens},
                              {"position", startPosition},
                              {"generated_tokens", generated},
                              {"context", context},
                              {"stop_reason", stop},
                              {"decode_tokens_per_second", rate}};
    llvm::outs() << llvm::json::Value(std::move(result)) << "\n";
    llvm::outs().flush();
    return;
  }
  llvm::outs() << "\n";
  llvm::outs().flush();
  llvm::errs() << llvm::format("[%lld tokens, %.1f tok/s] stopped: ",
                               static_cast<long long>(generated), rate)
               << stop;
  if (stop == "eos" || stop == "eot") {
    std::string text = tok.decode(-1, stopToken);
    for (const Special &special : specials)
      if (special.id == stopToken)
        text = special.text;
    llvm::errs() << " (" << (stop == "eos" ? "end of text " : "end of turn ")
                 << text << ")";
  } else if (stop == "length")
    llvm::errs() << " (-n " << maxNewTokens() << ")";
  else
    llvm::errs() << " (context of " << context << " tokens full)";
  llvm::errs() << "\n";
}

llvm::Error ChatSession::turn(llvm::StringRef user, int index) {
  messages.push_back({"user", user.str()});
  llvm::Expected<std::string> text =
      tmpl.apply(messages, /*addGenerationPrompt=*/true);
  if (!text)
    return text.takeError();
  if (llvm::Error err = feed(*text))
    return err;
  std::string answer;
  int64_t generated = 0;
  double start = now();
  llvm::StringRef stop = generate(answer, generated);
  if (stop == "error")
    return chatError("the model failed while generating");
  report(index, answer, generated, stop, now() - start);
  messages.push_back({"assistant", answer});
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// chat
//===----------------------------------------------------------------------===//

int qopt::run::runChat() {
  if (llvm::Error err = checkGenerateOptions())
    return fail(llvm::toString(std::move(err)));
  llvm::Expected<model::ChatTemplate> tmpl = resolveTemplate();
  if (!tmpl)
    return fail(llvm::toString(tmpl.takeError()));
  uint64_t seed = generationSeed();
  int64_t context = 0;
  ChatTokens chat{std::move(*tmpl), {}, {}};
  // The context and the special tokens are checked before compiling.
  auto prepare = [&](LoadedModel &m) -> llvm::Error {
    context = m.config.maxSeqLen;
    if (contextSize > context)
      return chatError("-c " + llvm::Twine(contextSize.getValue()) +
                       " is more than the model's context of " +
                       llvm::Twine(context) + " tokens");
    if (contextSize > 0)
      context = contextSize;
    return findSpecials(*m.tokenizer, chat);
  };
  llvm::Expected<LoadedModel> m = loadModel(/*needTokenizer=*/true, prepare);
  if (!m)
    return fail(llvm::toString(m.takeError()));
  auto session =
      std::make_unique<ChatSession>(*m, std::move(chat), context, seed);
  llvm::errs() << "seed: " << seed << "\n";
  if (systemPrompt.getNumOccurrences())
    session->addSystem(systemPrompt);
  if (chatPrompt.getNumOccurrences()) {
    if (llvm::Error err = session->turn(chatPrompt, 0))
      return fail(llvm::toString(std::move(err)));
    return 0;
  }
  bool interactive = llvm::sys::Process::StandardInIsUserInput();
  std::string line;
  for (int index = 0;;) {
    if (interactive)
      llvm::errs() << "> ";
    if (!std::getline(std::cin, line))
      break;
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line.empty())
      continue;
    if (line.size() > model::kMaxChatTextBytes)
      return fail("a turn is longer than the chat text limit");
    if (llvm::Error err = session->turn(line, index++))
      return fail(llvm::toString(std::move(err)));
  }
  return 0;
}
