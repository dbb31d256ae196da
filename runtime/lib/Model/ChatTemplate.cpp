//===- ChatTemplate.cpp - Chat templates of instruct models -----*- C++ -*-===//
//
// Recognizes a Jinja chat template's family by strings only its family's
// templates contain, and formats conversations with each family's rules,
// written from the published templates (quoted in docs/chat.md). The
// template text is only searched, never executed: a hostile template can
// cost at most a linear scan of its (bounded) bytes.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/ChatTemplate.h"

#include "ModelUtils.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <ctime>

using namespace qopt::model;
using detail::makeError;
using llvm::StringRef;

//===----------------------------------------------------------------------===//
// Family names
//===----------------------------------------------------------------------===//

namespace {
struct FamilyName {
  ChatFamily family;
  const char *name;
};
} // namespace

static const FamilyName kFamilies[] = {{ChatFamily::Llama3, "llama3"},
                                       {ChatFamily::Llama31, "llama3.1"},
                                       {ChatFamily::ChatML, "chatml"},
                                       {ChatFamily::Mistral, "mistral"},
                                       {ChatFamily::Llama2, "llama2"}};

StringRef qopt::model::chatFamilyName(ChatFamily family) {
  for (const FamilyName &f : kFamilies)
    if (f.family == family)
      return f.name;
  return "unknown";
}

std::string qopt::model::chatFamilyList() {
  std::vector<StringRef> names;
  for (const FamilyName &f : kFamilies)
    names.push_back(f.name);
  return llvm::join(names, ", ");
}

llvm::Expected<ChatFamily> qopt::model::parseChatFamily(StringRef name) {
  for (const FamilyName &f : kFamilies)
    if (name == f.name)
      return f.family;
  return makeError("unknown chat template '" + name + "'; the families are " +
                   chatFamilyList());
}

//===----------------------------------------------------------------------===//
// Formatting helpers
//===----------------------------------------------------------------------===//

/// Python's str.strip() on ASCII whitespace (Jinja's `trim`).
static StringRef strip(StringRef s) { return s.trim(" \t\n\r\v\f"); }

/// Appends while checking the bound on the formatted text.
namespace {
class Output {
public:
  Output &operator<<(StringRef s) {
    if (text.size() + s.size() > kMaxChatTextBytes)
      overflow = true;
    else
      text += s;
    return *this;
  }
  llvm::Expected<std::string> take() {
    if (overflow)
      return makeError(llvm::formatv("the formatted conversation is longer "
                                     "than {0} bytes",
                                     kMaxChatTextBytes)
                           .str());
    return std::move(text);
  }

private:
  std::string text;
  bool overflow = false;
};
} // namespace

/// Llama-2 and Mistral raise unless the roles alternate user/assistant.
static llvm::Error checkAlternating(llvm::ArrayRef<ChatMessage> messages,
                                    StringRef family) {
  for (auto [i, m] : llvm::enumerate(messages)) {
    if (m.role != "user" && m.role != "assistant")
      return makeError("the " + family + " chat template supports only user " +
                       "and assistant roles (and a first system message), "
                       "got '" +
                       m.role + "'");
    if ((m.role == "user") != (i % 2 == 0))
      return makeError("the " + family +
                       " chat template needs roles that alternate "
                       "user/assistant/user/assistant/...");
  }
  return llvm::Error::success();
}

/// Today as strftime("%d %b %Y") (Llama-3.2's strftime_now).
static std::string today() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  size_t n = std::strftime(buf, sizeof(buf), "%d %b %Y", &tm);
  return std::string(buf, n);
}

//===----------------------------------------------------------------------===//
// The families
//===----------------------------------------------------------------------===//

static void llama3Header(Output &out, StringRef role) {
  out << "<|start_header_id|>" << role << "<|end_header_id|>\n\n";
}

/// Llama-3 Instruct; Llama-3.1/3.2 add a system header with the dates and
/// always emit it.
static llvm::Expected<std::string> formatLlama3(const ChatTemplate &t,
                                                llvm::ArrayRef<ChatMessage> ms,
                                                bool generationPrompt) {
  Output out;
  if (!ms.empty() || t.family == ChatFamily::Llama31)
    out << t.bosToken;
  if (t.family == ChatFamily::Llama31) {
    StringRef system;
    if (!ms.empty() && ms[0].role == "system") {
      system = strip(ms[0].content);
      ms = ms.drop_front();
    }
    llama3Header(out, "system");
    out << "Cutting Knowledge Date: December 2023\nToday Date: " << t.dateString
        << "\n\n"
        << system << "<|eot_id|>";
  }
  for (const ChatMessage &m : ms) {
    llama3Header(out, m.role);
    out << strip(m.content) << "<|eot_id|>";
  }
  if (generationPrompt)
    llama3Header(out, "assistant");
  return out.take();
}

/// Qwen3's split of an answer into reasoning and content at </think>.
static void splitThinking(StringRef message, std::string &reasoning,
                          std::string &content) {
  content = message.str();
  reasoning.clear();
  size_t close = message.rfind("</think>");
  if (close == StringRef::npos)
    return;
  content = message.drop_front(close + 8).ltrim('\n').str();
  StringRef head = message.substr(0, message.find("</think>")).rtrim('\n');
  size_t open = head.rfind("<think>");
  if (open != StringRef::npos)
    head = head.drop_front(open + 7);
  reasoning = head.ltrim('\n').str();
}

/// ChatML: Qwen2/2.5 (a default system message) and Qwen3 (answers after
/// the last user message keep their <think> block, earlier ones lose it).
static llvm::Expected<std::string> formatChatML(const ChatTemplate &t,
                                                llvm::ArrayRef<ChatMessage> ms,
                                                bool generationPrompt) {
  Output out;
  if (!t.defaultSystem.empty() && (ms.empty() || ms[0].role != "system"))
    out << "<|im_start|>system\n" << t.defaultSystem << "<|im_end|>\n";
  size_t lastQuery = ms.empty() ? 0 : ms.size() - 1;
  for (size_t i = ms.size(); i-- > 0;)
    if (ms[i].role == "user") {
      lastQuery = i;
      break;
    }
  for (auto [i, m] : llvm::enumerate(ms)) {
    if (m.role != "assistant" || !t.thinking) {
      out << "<|im_start|>" << m.role << "\n" << m.content << "<|im_end|>\n";
      continue;
    }
    std::string reasoning, content;
    splitThinking(m.content, reasoning, content);
    out << "<|im_start|>assistant\n";
    if (i > lastQuery && (i + 1 == ms.size() || !reasoning.empty()))
      out << "<think>\n"
          << StringRef(reasoning).trim('\n') << "\n</think>\n\n"
          << StringRef(content).ltrim('\n');
    else
      out << content;
    out << "<|im_end|>\n";
  }
  if (generationPrompt)
    out << "<|im_start|>assistant\n";
  return out.take();
}

/// Mistral Instruct v0.1/v0.2. Their templates refuse a system message;
/// qopt puts it before the first user message, separated by a blank line
/// (as Mistral's later templates do).
static llvm::Expected<std::string>
formatMistral(const ChatTemplate &t, llvm::ArrayRef<ChatMessage> ms, bool) {
  std::string system;
  if (!ms.empty() && ms[0].role == "system") {
    system = ms[0].content + "\n\n";
    ms = ms.drop_front();
  }
  if (llvm::Error err = checkAlternating(ms, "mistral"))
    return std::move(err);
  Output out;
  out << t.bosToken;
  for (auto [i, m] : llvm::enumerate(ms)) {
    if (m.role == "user")
      out << "[INST] " << (i == 0 ? system : "") << m.content << " [/INST]";
    else
      out << m.content << t.eosToken << (t.spaceAfterEos ? " " : "");
  }
  return out.take();
}

/// Llama-2 chat: the system message in <<SYS>> inside the first [INST].
static llvm::Expected<std::string>
formatLlama2(const ChatTemplate &t, llvm::ArrayRef<ChatMessage> ms, bool) {
  std::optional<std::string> system;
  if (!ms.empty() && ms[0].role == "system") {
    system = ms[0].content;
    ms = ms.drop_front();
  }
  if (llvm::Error err = checkAlternating(ms, "llama2"))
    return std::move(err);
  Output out;
  for (auto [i, m] : llvm::enumerate(ms)) {
    std::string content = m.content;
    if (i == 0 && system)
      content = "<<SYS>>\n" + *system + "\n<</SYS>>\n\n" + content;
    if (m.role == "user")
      out << t.bosToken << "[INST] " << strip(content) << " [/INST]";
    else
      out << " " << strip(content) << " " << t.eosToken;
  }
  return out.take();
}

llvm::Expected<std::string>
ChatTemplate::apply(llvm::ArrayRef<ChatMessage> messages,
                    bool addGenerationPrompt) const {
  bool generationPrompt = addGenerationPrompt || alwaysGenerationPrompt;
  switch (family) {
  case ChatFamily::Llama3:
  case ChatFamily::Llama31:
    return formatLlama3(*this, messages, generationPrompt);
  case ChatFamily::ChatML:
    return formatChatML(*this, messages, generationPrompt);
  case ChatFamily::Mistral:
    return formatMistral(*this, messages, generationPrompt);
  case ChatFamily::Llama2:
    return formatLlama2(*this, messages, generationPrompt);
  }
  return makeError("unknown chat template family");
}

std::vector<std::string> ChatTemplate::endOfTurn() const {
  std::vector<std::string> stops;
  if (family == ChatFamily::Llama3 || family == ChatFamily::Llama31)
    stops = {"<|eot_id|>", "<|eom_id|>"};
  else if (family == ChatFamily::ChatML)
    stops = {"<|im_end|>"};
  if (!eosToken.empty() && !llvm::is_contained(stops, eosToken))
    stops.push_back(eosToken);
  return stops;
}

//===----------------------------------------------------------------------===//
// Recognition
//===----------------------------------------------------------------------===//

/// Undoes the escapes of a Jinja string literal (\n, \', \", \\).
static std::string unescapeJinja(StringRef s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    char c = s[++i];
    out += c == 'n' ? '\n' : c == 't' ? '\t' : c;
  }
  return out;
}

/// The system message a ChatML template writes as one literal when the
/// conversation has none: '<|im_start|>system\nTEXT<|im_end|>\n' with TEXT
/// free of quotes (Qwen2/2.5); empty if there is none.
static std::string defaultChatMLSystem(StringRef jinja) {
  for (StringRef marker : {StringRef("<|im_start|>system\\n"),
                           StringRef("<|im_start|>system\n")}) {
    for (size_t pos = jinja.find(marker); pos != StringRef::npos;
         pos = jinja.find(marker, pos + 1)) {
      StringRef rest = jinja.drop_front(pos + marker.size());
      size_t end = rest.find("<|im_end|>");
      if (end == 0 || end == StringRef::npos)
        continue;
      StringRef text = rest.take_front(end);
      if (text.find_first_of("'\"{}") == StringRef::npos)
        return unescapeJinja(text);
    }
  }
  return "";
}

llvm::Expected<ChatTemplate>
qopt::model::recognizeChatTemplate(StringRef jinja, StringRef bosToken,
                                   StringRef eosToken) {
  if (jinja.size() > kMaxChatTemplateBytes)
    return makeError(llvm::formatv("the chat template has {0} bytes, more "
                                   "than {1}",
                                   jinja.size(), kMaxChatTemplateBytes)
                         .str());
  ChatTemplate t;
  t.bosToken = bosToken.str();
  t.eosToken = eosToken.str();
  if (jinja.contains("<|start_header_id|>")) {
    t.family = jinja.contains("Cutting Knowledge Date") ? ChatFamily::Llama31
                                                        : ChatFamily::Llama3;
    t.alwaysGenerationPrompt = !jinja.contains("add_generation_prompt");
    if (jinja.contains("strftime_now"))
      t.dateString = today();
  } else if (jinja.contains("<|im_start|>")) {
    t.family = ChatFamily::ChatML;
    t.thinking = jinja.contains("</think>");
    t.defaultSystem = defaultChatMLSystem(jinja);
  } else if (jinja.contains("[INST]") && jinja.contains("<<SYS>>")) {
    t.family = ChatFamily::Llama2;
  } else if (jinja.contains("[INST]")) {
    t.family = ChatFamily::Mistral;
    t.spaceAfterEos = jinja.contains("eos_token + ' '") ||
                      jinja.contains("eos_token + \" \"");
  } else {
    return makeError("unrecognized chat template; qopt formats the families " +
                     chatFamilyList() + ": pass --chat-template NAME to use " +
                     "one of them");
  }
  return t;
}
