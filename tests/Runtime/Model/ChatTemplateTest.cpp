//===- ChatTemplateTest.cpp - Chat template formatting ----------*- C++ -*-===//
//
// Each family's formatter against the string transformers'
// apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
// gives for the family's published template, on one conversation (system,
// user, assistant, user). ChatTemplateReferenceTest.* reads the real
// templates of the npm tokenizers (Llama-3, Qwen3; fixture
// QOptNpmTokenizers); the other tests use the families' templates quoted
// below. Also: recognition, the errors the templates raise, bounds.
//
//===----------------------------------------------------------------------===//

#include "TestUtils.h"

#include "qopt/Model/ChatTemplate.h"

#include "gmock/gmock.h"

using namespace qopt::model;
using namespace qopt::model::test;
using ::testing::HasSubstr;

namespace {

const std::vector<ChatMessage> kConversation = {
    {"system", "You are a helpful assistant."},
    {"user", "Hello!"},
    {"assistant", "Hi! How can I help?"},
    {"user", "What is 2+2?"}};

std::string render(const ChatTemplate &t,
                   const std::vector<ChatMessage> &messages = kConversation,
                   bool generationPrompt = true) {
  return unwrap(t.apply(messages, generationPrompt));
}

/// The template of the fetched npm tokenizer NAME.
ChatTemplate npmTemplate(llvm::StringRef name) {
  std::string dir = joinPath(QOPT_NPM_TOKENIZERS_DIR, name);
  EXPECT_TRUE(llvm::sys::fs::exists(joinPath(dir, "tokenizer_config.json")))
      << dir << " is missing: run the test through ctest (fixture "
      << "QOptFetchNpmTokenizers)";
  ChatTemplateSource source = unwrap(findChatTemplate(dir, ""));
  EXPECT_FALSE(source.jinja.empty());
  return unwrap(
      recognizeChatTemplate(source.jinja, source.bosToken, source.eosToken));
}

//===----------------------------------------------------------------------===//
// The real templates
//===----------------------------------------------------------------------===//

TEST(ChatTemplateReferenceTest, Llama3) {
  ChatTemplate t = npmTemplate("llama3");
  EXPECT_EQ(t.family, ChatFamily::Llama3);
  EXPECT_EQ(render(t),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
            "You are a helpful assistant.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n"
            "Hi! How can I help?<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?"
            "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  // `message['content'] | trim`; this template writes the assistant header
  // even without add_generation_prompt.
  EXPECT_EQ(render(t, {{"user", "  padded \n"}}, /*generationPrompt=*/false),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
            "padded<|eot_id|><|start_header_id|>assistant<|end_header_id|>"
            "\n\n");
  EXPECT_THAT(t.endOfTurn(), ::testing::ElementsAre("<|eot_id|>", "<|eom_id|>",
                                                    "<|end_of_text|>"));
}

TEST(ChatTemplateReferenceTest, Qwen3) {
  ChatTemplate t = npmTemplate("qwen3");
  EXPECT_EQ(t.family, ChatFamily::ChatML);
  EXPECT_TRUE(t.thinking);
  EXPECT_EQ(t.defaultSystem, "");
  EXPECT_EQ(render(t), "<|im_start|>system\nYou are a helpful assistant."
                       "<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n"
                       "<|im_start|>assistant\nHi! How can I help?<|im_end|>\n"
                       "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
                       "<|im_start|>assistant\n");
  // An answer before the last user message loses its reasoning; the last
  // one (add_generation_prompt=False) keeps it.
  std::vector<ChatMessage> thinking = {
      {"user", "Hi"},
      {"assistant", "<think>\nponder\n</think>\n\nHello."},
      {"user", "Bye"},
      {"assistant", "<think>\nagain\n</think>\n\nBye."}};
  EXPECT_EQ(render(t, thinking, /*generationPrompt=*/false),
            "<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello.<|im_end|>\n"
            "<|im_start|>user\nBye<|im_end|>\n"
            "<|im_start|>assistant\n<think>\nagain\n</think>\n\nBye."
            "<|im_end|>\n");
  EXPECT_THAT(t.endOfTurn(), ::testing::ElementsAre("<|im_end|>"));
}

//===----------------------------------------------------------------------===//
// The other families
//===----------------------------------------------------------------------===//

// Qwen2.5-Instruct's template (the part without tools).
const char *kQwen25 =
    "{%- if messages[0]['role'] == 'system' %}\n"
    "        {{- '<|im_start|>system\\n' + messages[0]['content'] + "
    "'<|im_end|>\\n' }}\n"
    "    {%- else %}\n"
    "        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba "
    "Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n"
    "    {%- endif %}\n"
    "{%- for message in messages %}{%- if (message.role == \"user\") or "
    "(message.role == \"system\" and not loop.first) %}{{- '<|im_start|>' + "
    "message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
    "{%- endif %}{%- endfor %}{%- if add_generation_prompt %}{{- "
    "'<|im_start|>assistant\\n' }}{%- endif %}";

TEST(ChatTemplateTest, Qwen25DefaultSystem) {
  ChatTemplate t = unwrap(recognizeChatTemplate(kQwen25, "", "<|im_end|>"));
  EXPECT_EQ(t.family, ChatFamily::ChatML);
  EXPECT_FALSE(t.thinking);
  EXPECT_EQ(render(t, {{"user", "Hello!"}}),
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You "
            "are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!"
            "<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(render(t), "<|im_start|>system\nYou are a helpful assistant."
                       "<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n"
                       "<|im_start|>assistant\nHi! How can I help?<|im_end|>\n"
                       "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
                       "<|im_start|>assistant\n");
}

// Llama-2-chat's template.
const char *kLlama2 =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = "
    "messages[1:] %}{% set system_message = messages[0]['content'] %}{% else "
    "%}{% set loop_messages = messages %}{% set system_message = false %}{% "
    "endif %}{% for message in loop_messages %}{% if (message['role'] == "
    "'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation "
    "roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% "
    "if loop.index0 == 0 and system_message != false %}{% set content = "
    "'<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] "
    "%}{% else %}{% set content = message['content'] %}{% endif %}{% if "
    "message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + "
    "' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + "
    "content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

TEST(ChatTemplateTest, Llama2) {
  ChatTemplate t = unwrap(recognizeChatTemplate(kLlama2, "<s>", "</s>"));
  EXPECT_EQ(t.family, ChatFamily::Llama2);
  EXPECT_EQ(render(t), "<s>[INST] <<SYS>>\nYou are a helpful assistant.\n"
                       "<</SYS>>\n\nHello! [/INST] Hi! How can I help? </s>"
                       "<s>[INST] What is 2+2? [/INST]");
  std::string err = errorOf(t.apply({{"user", "a"}, {"user", "b"}}, true));
  EXPECT_THAT(err, HasSubstr("alternate user/assistant"));
  err = errorOf(t.apply({{"user", "a"}, {"tool", "b"}}, true));
  EXPECT_THAT(err, HasSubstr("got 'tool'"));
}

// Mistral-7B-Instruct-v0.2's template.
const char *kMistral =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == "
    "'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation "
    "roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% "
    "if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' "
    "[/INST]' }}{% elif message['role'] == 'assistant' %}{{ "
    "message['content'] + eos_token}}{% else %}{{ raise_exception('Only user "
    "and assistant roles are supported!') }}{% endif %}{% endfor %}";

TEST(ChatTemplateTest, Mistral) {
  ChatTemplate t = unwrap(recognizeChatTemplate(kMistral, "<s>", "</s>"));
  EXPECT_EQ(t.family, ChatFamily::Mistral);
  EXPECT_FALSE(t.spaceAfterEos);
  std::vector<ChatMessage> noSystem(kConversation.begin() + 1,
                                    kConversation.end());
  EXPECT_EQ(render(t, noSystem), "<s>[INST] Hello! [/INST]Hi! How can I help?"
                                 "</s>[INST] What is 2+2? [/INST]");
  // qopt's extension: the system message opens the first user message.
  EXPECT_EQ(render(t), "<s>[INST] You are a helpful assistant.\n\nHello! "
                       "[/INST]Hi! How can I help?</s>[INST] What is 2+2? "
                       "[/INST]");
  EXPECT_THAT(t.endOfTurn(), ::testing::ElementsAre("</s>"));
}

TEST(ChatTemplateTest, Llama31) {
  // The signature strings of Llama-3.1's template.
  ChatTemplate t = unwrap(recognizeChatTemplate(
      "{{- bos_token }}{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n"
      "\" }}{{- \"Cutting Knowledge Date: December 2023\\n\" }}{%- if "
      "add_generation_prompt %}{%- endif %}",
      "<|begin_of_text|>", "<|eot_id|>"));
  EXPECT_EQ(t.family, ChatFamily::Llama31);
  EXPECT_EQ(render(t, {{"user", "Hello!"}}),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
            "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024"
            "\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello!"
            "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(render(t, {{"system", " Be brief. "}, {"user", "Hi"}}, false),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
            "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024"
            "\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>"
            "\n\nHi<|eot_id|>");
}

//===----------------------------------------------------------------------===//
// Names, errors and bounds
//===----------------------------------------------------------------------===//

TEST(ChatTemplateTest, Names) {
  for (llvm::StringRef name :
       {"llama3", "llama3.1", "chatml", "mistral", "llama2"})
    EXPECT_EQ(chatFamilyName(unwrap(parseChatFamily(name))), name);
  EXPECT_THAT(errorOf(parseChatFamily("zephyr")),
              HasSubstr("unknown chat template 'zephyr'; the families are "
                        "llama3, llama3.1, chatml, mistral, llama2"));
}

TEST(ChatTemplateTest, UnknownTemplate) {
  std::string err = errorOf(recognizeChatTemplate(
      "{% for m in messages %}<|user|>{{ m.content }}{% endfor %}", "", ""));
  EXPECT_THAT(err, HasSubstr("unrecognized chat template"));
  EXPECT_THAT(err, HasSubstr("llama3, llama3.1, chatml, mistral, llama2"));
  EXPECT_THAT(err, HasSubstr("--chat-template NAME"));
}

TEST(ChatTemplateTest, Bounds) {
  std::string huge(kMaxChatTemplateBytes + 1, 'x');
  EXPECT_THAT(errorOf(recognizeChatTemplate(huge, "", "")),
              HasSubstr("more than"));
  ChatTemplate t;
  t.family = ChatFamily::ChatML;
  std::vector<ChatMessage> big(
      3, {"user", std::string(kMaxChatTextBytes / 2, 'a')});
  EXPECT_THAT(errorOf(t.apply(big, true)), HasSubstr("longer than"));
}

TEST(ChatTemplateTest, FindsTemplateFiles) {
  TempDir dir;
  // No tokenizer_config.json: no template, no error.
  EXPECT_TRUE(unwrap(findChatTemplate(dir.path, "")).jinja.empty());
  writeFile(joinPath(dir.path, "tokenizer_config.json"),
            R"({"bos_token": {"content": "<s>"}, "eos_token": "</s>",
                "chat_template": [{"name": "tool_use", "template": "x"},
                                  {"name": "default", "template": "[INST]"}]})");
  ChatTemplateSource source = unwrap(findChatTemplate(dir.path, ""));
  EXPECT_EQ(source.jinja, "[INST]");
  EXPECT_EQ(source.bosToken, "<s>");
  EXPECT_EQ(source.eosToken, "</s>");
  // chat_template.jinja wins, as in transformers.
  writeFile(joinPath(dir.path, "chat_template.jinja"), "<|im_start|>");
  EXPECT_EQ(unwrap(findChatTemplate(dir.path, "")).jinja, "<|im_start|>");
  resizeFile(joinPath(dir.path, "chat_template.jinja"),
             kMaxChatTemplateBytes + 1);
  EXPECT_THAT(errorOf(findChatTemplate(dir.path, "")),
              HasSubstr("more than the 1048576 of a chat template"));
  llvm::sys::fs::remove(joinPath(dir.path, "chat_template.jinja"));
  writeFile(joinPath(dir.path, "tokenizer_config.json"),
            R"({"chat_template": 3})");
  EXPECT_THAT(errorOf(findChatTemplate(dir.path, "")),
              HasSubstr("must be a string or a list"));
}

} // namespace
