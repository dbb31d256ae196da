//===- ArchReferenceTest.cpp - Model families vs transformers ---*- C++ -*-===//
//
// Imports each small random checkpoint of tests/Inputs/arch (Llama with the
// RoPE scaling types linear, dynamic, llama3 and yarn; Qwen2 tied and
// untied, with q/k/v biases; Mistral with and without a sliding window),
// compiles it with the qopt-to-llvm pipeline and compares its logits with
// transformers' (reference.json, scripts/make_arch_references.py):
//  - prefill: one forward over all tokens;
//  - incremental: the tokens fed one at a time through the KV cache.
// Both must agree within 1e-4 (max abs diff). The same configurations in the
// transformers 4.x spelling (rope_scaling, top-level rope_theta) must give
// the same logits.
//
// WeightPlacement checks where the JIT keeps the weights: those the module
// owns move into one buffer laid out like an artifact's weights.bin, those
// viewed in the mapped checkpoint stay there.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Artifact.h"
#include "qopt/Model/Checkpoint.h"
#include "qopt/Tools/ModelImporter.h"
#include "qopt/Tools/ModelRunner.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <set>
#include <thread>

using namespace mlir;
using namespace mlir::qopt;
namespace model = ::qopt::model;

namespace {

/// reference.json: the tokens and transformers' logits.
struct Reference {
  std::vector<int32_t> tokens;
  std::vector<std::vector<float>> prefill, incremental;
};

std::string inputDir(llvm::StringRef name) {
  llvm::SmallString<256> p(QOPT_ARCH_INPUTS);
  llvm::sys::path::append(p, name);
  return std::string(p);
}

/// Reads a [rows][vocab] array of numbers.
bool readMatrix(const llvm::json::Object &obj, llvm::StringRef key,
                std::vector<std::vector<float>> &out) {
  const llvm::json::Array *rows = obj.getArray(key);
  if (!rows)
    return false;
  for (const llvm::json::Value &row : *rows) {
    const llvm::json::Array *values = row.getAsArray();
    if (!values)
      return false;
    out.emplace_back();
    for (const llvm::json::Value &v : *values)
      out.back().push_back(static_cast<float>(v.getAsNumber().value_or(NAN)));
  }
  return true;
}

Reference readReference(llvm::StringRef dir) {
  Reference ref;
  std::string path = (dir + "/reference.json").str();
  auto buffer = llvm::MemoryBuffer::getFile(path);
  EXPECT_TRUE(bool(buffer)) << path;
  if (!buffer)
    return ref;
  llvm::Expected<llvm::json::Value> json =
      llvm::json::parse((*buffer)->getBuffer());
  EXPECT_TRUE(bool(json)) << path << ": " << llvm::toString(json.takeError());
  if (!json)
    return ref;
  const llvm::json::Object *obj = json->getAsObject();
  EXPECT_NE(obj, nullptr);
  if (!obj)
    return ref;
  if (const llvm::json::Array *tokens = obj->getArray("tokens"))
    for (const llvm::json::Value &t : *tokens)
      ref.tokens.push_back(static_cast<int32_t>(t.getAsInteger().value_or(-1)));
  EXPECT_TRUE(readMatrix(*obj, "prefill_logits", ref.prefill)) << path;
  EXPECT_TRUE(readMatrix(*obj, "incremental_logits", ref.incremental)) << path;
  return ref;
}

/// Max |a - b| over the rows of `logits` ([tokens][vocab], flat) and `ref`.
double maxAbsDiff(const std::vector<float> &logits,
                  const std::vector<std::vector<float>> &ref, int64_t vocab) {
  double worst = 0.0;
  for (size_t t = 0; t < ref.size(); ++t) {
    EXPECT_EQ(static_cast<int64_t>(ref[t].size()), vocab);
    for (int64_t i = 0; i < vocab && i < int64_t(ref[t].size()); ++i) {
      double d = std::fabs(double(logits[t * vocab + i]) - double(ref[t][i]));
      if (!(d <= worst)) // NaN counts as the worst
        worst = std::isnan(d) ? INFINITY : d;
    }
  }
  return worst;
}

/// A compiled checkpoint. The weights are the checkpoint's mapped bytes
/// (zero copy), so the checkpoint lives as long as the runner.
struct Compiled {
  std::unique_ptr<model::Checkpoint> checkpoint;
  OwningOpRef<ModuleOp> module;
  std::unique_ptr<ModelRunner> runner;
};

/// Loads, imports and compiles the checkpoint at `dir`.
Compiled compile(MLIRContext &context, llvm::StringRef dir,
                 const ImportOptions &options = ImportOptions()) {
  Compiled c;
  llvm::Expected<std::unique_ptr<model::Checkpoint>> ckpt =
      model::loadCheckpoint(dir);
  EXPECT_TRUE(bool(ckpt)) << llvm::toString(ckpt.takeError());
  if (!ckpt)
    return c;
  c.checkpoint = std::move(*ckpt);
  llvm::Expected<OwningOpRef<ModuleOp>> module =
      importCheckpoint(context, *c.checkpoint, options);
  EXPECT_TRUE(bool(module)) << llvm::toString(module.takeError());
  if (!module)
    return c;
  c.module = std::move(*module);
  llvm::Expected<std::unique_ptr<ModelRunner>> runner =
      ModelRunner::compile(*c.module, CompileOptions());
  EXPECT_TRUE(bool(runner)) << llvm::toString(runner.takeError());
  if (runner)
    c.runner = std::move(*runner);
  return c;
}

/// Checks the checkpoint at `dir` against `ref`: prefill and incremental.
/// `check` sees the runner before it runs.
void checkAgainst(
    llvm::StringRef dir, const Reference &ref, llvm::StringRef label,
    const ImportOptions &options = ImportOptions(),
    llvm::function_ref<void(const ModelRunner &)> check = nullptr) {
  DialectRegistry registry;
  registerImportDialects(registry);
  MLIRContext context(registry);
  Compiled compiled = compile(context, dir, options);
  ASSERT_NE(compiled.runner, nullptr);
  ModelRunner *runner = compiled.runner.get();
  if (check)
    check(*runner);
  int64_t vocab = runner->config().vocabSize;
  ASSERT_EQ(ref.prefill.size(), ref.tokens.size());
  ASSERT_EQ(ref.incremental.size(), ref.tokens.size());

  std::vector<float> prefill(ref.tokens.size() * vocab);
  if (llvm::Error err = runner->forward(ref.tokens, 0, prefill.data()))
    FAIL() << llvm::toString(std::move(err));
  double prefillDiff = maxAbsDiff(prefill, ref.prefill, vocab);

  // A fresh cache is not needed: every position is overwritten in order.
  std::vector<float> incremental(ref.tokens.size() * vocab);
  for (size_t t = 0; t < ref.tokens.size(); ++t)
    if (llvm::Error err =
            runner->forward({ref.tokens[t]}, t, incremental.data() + t * vocab))
      FAIL() << "position " << t << ": " << llvm::toString(std::move(err));
  double incrementalDiff = maxAbsDiff(incremental, ref.incremental, vocab);

  llvm::outs() << llvm::format("%-28s prefill max abs diff %.3g, "
                               "incremental %.3g\n",
                               label.str().c_str(), prefillDiff,
                               incrementalDiff);
  EXPECT_LT(prefillDiff, 1e-4) << label.str() << " prefill";
  EXPECT_LT(incrementalDiff, 1e-4) << label.str() << " incremental";
}

class ArchReferenceTest : public ::testing::TestWithParam<const char *> {};

TEST_P(ArchReferenceTest, MatchesTransformers) {
  std::string dir = inputDir(GetParam());
  Reference ref = readReference(dir);
  ASSERT_FALSE(ref.tokens.empty());
  checkAgainst(dir, ref, GetParam());
}

/// The transformers 4.x spelling of the same config: "rope_parameters"
/// becomes "rope_scaling" (without rope_theta) plus a top-level
/// "rope_theta"; the logits must not change.
TEST_P(ArchReferenceTest, TransformersV4ConfigSpelling) {
  std::string dir = inputDir(GetParam());
  Reference ref = readReference(dir);
  ASSERT_FALSE(ref.tokens.empty());
  auto buffer = llvm::MemoryBuffer::getFile(dir + "/config.json");
  ASSERT_TRUE(bool(buffer));
  llvm::Expected<llvm::json::Value> json =
      llvm::json::parse((*buffer)->getBuffer());
  ASSERT_TRUE(bool(json)) << llvm::toString(json.takeError());
  llvm::json::Object &config = *json->getAsObject();
  llvm::json::Object *params = config.getObject("rope_parameters");
  ASSERT_NE(params, nullptr);
  llvm::json::Object scaling = *params;
  std::optional<double> theta = scaling.getNumber("rope_theta");
  ASSERT_TRUE(theta.has_value());
  scaling.erase("rope_theta");
  config.erase("rope_parameters");
  config["rope_theta"] = *theta;
  if (scaling.getString("rope_type") != "default")
    config["rope_scaling"] = std::move(scaling);

  llvm::SmallString<128> tmp;
  ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("qopt-arch-v4", tmp));
  {
    std::error_code ec;
    llvm::raw_fd_ostream os((tmp + "/config.json").str(), ec);
    ASSERT_FALSE(ec);
    os << llvm::json::Value(std::move(config));
  }
  ASSERT_FALSE(llvm::sys::fs::create_link(dir + "/model.safetensors",
                                          tmp + "/model.safetensors"));
  checkAgainst(tmp, ref, (llvm::Twine(GetParam()) + " (4.x config)").str());
  llvm::sys::fs::remove(tmp + "/model.safetensors");
  llvm::sys::fs::remove(tmp + "/config.json");
  llvm::sys::fs::remove(tmp);
}

/// Weights the module owns (--no-mmap copies) leave their blobs for one
/// buffer, in weight-table order, each at the artifact alignment: the
/// layout an artifact's weights.bin has. The logits do not change.
TEST(WeightPlacement, OwnedWeightsShareOneBufferInTableOrder) {
  std::string dir = inputDir("qwen2");
  Reference ref = readReference(dir);
  ASSERT_FALSE(ref.tokens.empty());
  ImportOptions options;
  options.copyWeights = true;
  checkAgainst(
      dir, ref, "qwen2 (copied weights)", options,
      [](const ModelRunner &runner) {
        llvm::ArrayRef<model::WeightSpan> spans = runner.weightBuffers();
        ASSERT_GT(spans.size(), 2u);
        for (size_t i = 0; i < spans.size(); ++i) {
          auto at = reinterpret_cast<uintptr_t>(spans[i].data);
          EXPECT_EQ(at % model::kArtifactWeightAlignment, 0u) << spans[i].name;
          if (i == 0)
            continue;
          auto end = reinterpret_cast<uintptr_t>(spans[i - 1].data) +
                     spans[i - 1].bytes;
          EXPECT_EQ(at, llvm::alignTo(end, model::kArtifactWeightAlignment))
              << spans[i].name << " does not follow " << spans[i - 1].name;
        }
      });
}

/// Weights viewed in place in the mapped checkpoint stay there: copying
/// them would make them resident twice.
TEST(WeightPlacement, MappedWeightsStayInTheCheckpoint) {
  std::string dir = inputDir("qwen2");
  DialectRegistry registry;
  registerImportDialects(registry);
  MLIRContext context(registry);
  Compiled compiled = compile(context, dir);
  ASSERT_NE(compiled.runner, nullptr);
  llvm::DenseSet<const void *> mapped;
  for (const model::TensorRef &t : compiled.checkpoint->tensors)
    mapped.insert(t.data);
  size_t inPlace = 0;
  for (const model::WeightSpan &w : compiled.runner->weightBuffers())
    inPlace += mapped.contains(w.data);
  EXPECT_EQ(inPlace, compiled.runner->weightBuffers().size());
}

/// onKernelThreads runs its body once on each thread of the kernels'
/// team, on distinct threads, at every team size -t sets; the team size
/// is restored afterwards.
TEST(KernelThreads, BodyRunsOncePerTeamThread) {
  unsigned before = kernelThreads();
  for (unsigned n : {1u, 2u, 3u, 8u}) {
    setKernelThreads(n);
    ASSERT_EQ(kernelThreads(), n);
    std::vector<std::atomic<int>> calls(n);
    std::vector<std::thread::id> ids(n);
    std::atomic<unsigned> wrongCount{0};
    onKernelThreads([&](unsigned t, unsigned threads) {
      if (threads != n || t >= n) {
        ++wrongCount;
        return;
      }
      ++calls[t];
      ids[t] = std::this_thread::get_id();
    });
    EXPECT_EQ(wrongCount.load(), 0u) << n << " threads";
    for (unsigned t = 0; t < n; ++t)
      EXPECT_EQ(calls[t].load(), 1) << "thread " << t << " of " << n;
    std::set<std::thread::id> distinct(ids.begin(), ids.end());
    EXPECT_EQ(distinct.size(), n);
    // The calling thread is the team's thread 0, as for the kernels.
    EXPECT_EQ(ids[0], std::this_thread::get_id());
  }
  setKernelThreads(before);
  EXPECT_EQ(kernelThreads(), before);
}

INSTANTIATE_TEST_SUITE_P(
    Checkpoints, ArchReferenceTest,
    ::testing::Values("llama-rope-linear", "llama-rope-dynamic",
                      "llama-rope-llama3", "llama-rope-yarn", "qwen2",
                      "qwen2-tied", "mistral", "mistral-swa"),
    [](const ::testing::TestParamInfo<const char *> &info) {
      std::string name = info.param;
      for (char &c : name)
        if (!isalnum(static_cast<unsigned char>(c)))
          c = '_';
      return name;
    });

} // namespace
