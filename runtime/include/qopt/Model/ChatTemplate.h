//===- ChatTemplate.h - Chat templates of instruct models -------*- C++ -*-===//
//
// Formats a conversation the way an instruct model was trained to read it.
// Checkpoints ship their template as Jinja (tokenizer_config.json's
// "chat_template", GGUF's tokenizer.chat_template); qopt does not interpret
// Jinja but recognizes the template's family by signature, as llama.cpp's
// llama_chat_apply_template did, and formats with that family's rules,
// which reproduce transformers' apply_chat_template for the families'
// published templates (docs/chat.md lists them). Depends on LLVM Support
// only.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_MODEL_CHATTEMPLATE_H
#define QOPT_MODEL_CHATTEMPLATE_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <string>
#include <vector>

namespace qopt {
namespace model {

/// The template families qopt formats.
enum class ChatFamily {
  Llama3,  ///< Llama-3 Instruct: <|start_header_id|>role<|end_header_id|>
  Llama31, ///< Llama-3.1: Llama-3 plus a system header with the dates
  ChatML,  ///< Qwen2, Qwen2.5, Qwen3 and others: <|im_start|>role\n...
  Mistral, ///< Mistral Instruct v0.1/v0.2: [INST] user [/INST]answer</s>
  Llama2,  ///< Llama-2 chat: <s>[INST] <<SYS>>...<</SYS>> user [/INST]
};

/// One message of a conversation; role is "system", "user" or "assistant".
struct ChatMessage {
  std::string role;
  std::string content;
};

/// The name --chat-template takes for `family` ("llama3", "chatml", ...).
llvm::StringRef chatFamilyName(ChatFamily family);
/// "llama3, llama3.1, chatml, mistral, llama2".
std::string chatFamilyList();
/// The family named `name`; the error lists the names.
llvm::Expected<ChatFamily> parseChatFamily(llvm::StringRef name);

/// The most bytes of a template, of a formatted conversation.
constexpr size_t kMaxChatTemplateBytes = 1 << 20;
constexpr size_t kMaxChatTextBytes = 64 << 20;

/// A chat template: a family and the strings its formatter needs.
struct ChatTemplate {
  ChatFamily family = ChatFamily::ChatML;
  /// The text of the tokenizer's BOS and EOS tokens (bos_token and
  /// eos_token of the Jinja context; empty when the tokenizer has none).
  std::string bosToken, eosToken;
  /// ChatML: the system message the template adds when the conversation has
  /// none (Qwen2/2.5's "You are a helpful assistant."), empty if none.
  std::string defaultSystem;
  /// Mistral v0.1: a space follows the EOS after each answer.
  bool spaceAfterEos = false;
  /// Qwen3: answers lose their <think> block before the last user message.
  bool thinking = false;
  /// The original Llama-3 template ends with the assistant header even
  /// without add_generation_prompt.
  bool alwaysGenerationPrompt = false;
  /// Llama-3.1: the template's default date_string (Llama-3.2: today).
  std::string dateString = "26 Jul 2024";

  /// The conversation as transformers' apply_chat_template(messages,
  /// tokenize=False, add_generation_prompt=...) renders it. Fails where the
  /// template raises (roles that do not alternate in Llama-2 and Mistral,
  /// unknown roles) and beyond kMaxChatTextBytes.
  llvm::Expected<std::string> apply(llvm::ArrayRef<ChatMessage> messages,
                                    bool addGenerationPrompt) const;
  /// The texts of the tokens that end an assistant turn ("<|eot_id|>",
  /// "<|im_end|>", EOS), EOS included when known.
  std::vector<std::string> endOfTurn() const;
};

/// Recognizes the family of the Jinja template `jinja` by signature; the
/// error names the families supported and --chat-template.
llvm::Expected<ChatTemplate> recognizeChatTemplate(llvm::StringRef jinja,
                                                   llvm::StringRef bosToken,
                                                   llvm::StringRef eosToken);

/// What a checkpoint ships for chatting: its Jinja template (empty if it
/// has none) and the text of its BOS/EOS tokens.
struct ChatTemplateSource {
  std::string jinja;
  std::string bosToken, eosToken;
  /// The file it was read from, for messages.
  std::string origin;
};

/// Reads the chat template of a model: from `tokenizerPath` when given
/// (tokenizer_config.json beside a tokenizer.json or in a directory, or a
/// GGUF file's metadata), else from the checkpoint (an HF directory's
/// tokenizer_config.json, a GGUF file's metadata). A model without one
/// gives an empty `jinja`; a malformed file is an error.
llvm::Expected<ChatTemplateSource>
findChatTemplate(llvm::StringRef checkpointPath, llvm::StringRef tokenizerPath);

/// The tokenizer.chat_template of a GGUF file and the text of its BOS/EOS
/// tokens (GGUF.cpp).
llvm::Expected<ChatTemplateSource> readGGUFChatTemplate(llvm::StringRef path);

} // namespace model
} // namespace qopt

#endif // QOPT_MODEL_CHATTEMPLATE_H
