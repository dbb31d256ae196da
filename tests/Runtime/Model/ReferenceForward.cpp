//===- ReferenceForward.cpp - fp32 Llama forward pass (oracle) --*- C++ -*-===//
//
// Implementation of the test-only reference decoder; see ReferenceForward.h.
//
//===----------------------------------------------------------------------===//

#include "ReferenceForward.h"

#include <cmath>

using namespace qopt::model;
using namespace qopt::model::test;

/// Converts the tensor called `name` into `out`.
static llvm::Error loadF32(const Checkpoint &ckpt, const std::string &name,
                           std::vector<float> &out) {
  llvm::Expected<const TensorRef *> t = ckpt.get(name);
  if (!t)
    return t.takeError();
  llvm::Expected<std::vector<float>> v = toF32(**t);
  if (!v)
    return v.takeError();
  out = std::move(*v);
  return llvm::Error::success();
}

llvm::Expected<ReferenceModel> ReferenceModel::create(const Checkpoint &ckpt) {
  ReferenceModel m;
  m.cfg = ckpt.config;
  const ModelConfig &c = m.cfg;
  // The oracle implements plain Llama; the other families are checked
  // against transformers (tests/Runner/ArchReferenceTest.cpp).
  if (c.ropeScaling.type != RopeScalingType::None || c.attentionBias ||
      c.slidingWindow > 0)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "the reference forward has no scaled RoPE, biases or sliding window");
  if (llvm::Error e = loadF32(ckpt, "tok_embeddings", m.embeddings))
    return std::move(e);
  if (llvm::Error e = loadF32(ckpt, "norm", m.finalNorm))
    return std::move(e);
  if (c.tiedEmbeddings) {
    m.classifier = m.embeddings;
  } else if (llvm::Error e = loadF32(ckpt, "output", m.classifier)) {
    return std::move(e);
  }
  m.layers.resize(c.numLayers);
  for (int64_t l = 0; l < c.numLayers; ++l) {
    std::string p = "layers." + std::to_string(l) + ".";
    Layer &ly = m.layers[l];
    std::pair<const char *, std::vector<float> *> parts[] = {
        {"attention_norm", &ly.attentionNorm},
        {"wq", &ly.wq},
        {"wk", &ly.wk},
        {"wv", &ly.wv},
        {"wo", &ly.wo},
        {"ffn_norm", &ly.ffnNorm},
        {"w1", &ly.w1},
        {"w2", &ly.w2},
        {"w3", &ly.w3}};
    for (auto &part : parts)
      if (llvm::Error e = loadF32(ckpt, p + part.first, *part.second))
        return std::move(e);
  }
  m.keyCache.assign(c.numLayers * c.maxSeqLen * c.kvDim(), 0.0f);
  m.valueCache.assign(m.keyCache.size(), 0.0f);
  m.x.resize(c.dim);
  m.xb.resize(c.dim);
  m.xb2.resize(c.dim);
  m.q.resize(c.dim);
  m.k.resize(c.kvDim());
  m.v.resize(c.kvDim());
  m.att.resize(c.maxSeqLen);
  m.hb.resize(c.hiddenDim);
  m.hb2.resize(c.hiddenDim);
  m.logits.resize(c.vocabSize);
  return m;
}

/// out = weight * x / rms(x).
static void rmsnorm(float *out, const float *x, const float *weight, int64_t n,
                    float eps) {
  float ss = 0.0f;
  for (int64_t i = 0; i < n; ++i)
    ss += x[i] * x[i];
  ss = 1.0f / std::sqrt(ss / n + eps);
  for (int64_t i = 0; i < n; ++i)
    out[i] = weight[i] * (ss * x[i]);
}

/// out[rows] = W[rows, cols] * x[cols].
static void matmul(float *out, const float *x, const float *w, int64_t rows,
                   int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float *row = w + r * cols;
    float sum = 0.0f;
    for (int64_t c = 0; c < cols; ++c)
      sum += row[c] * x[c];
    out[r] = sum;
  }
}

/// In-place softmax.
static void softmax(float *x, int64_t n) {
  float maxVal = x[0];
  for (int64_t i = 1; i < n; ++i)
    maxVal = std::max(maxVal, x[i]);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - maxVal);
    sum += x[i];
  }
  for (int64_t i = 0; i < n; ++i)
    x[i] /= sum;
}

/// Rotates the heads in `vec` (`numHeads` heads of `headSize`) for `pos`.
static void rope(float *vec, int64_t numHeads, int64_t headSize, int64_t pos,
                 float theta, RopeStyle style) {
  for (int64_t h = 0; h < numHeads; ++h) {
    float *head = vec + h * headSize;
    for (int64_t i = 0; i < headSize / 2; ++i) {
      float freq = 1.0f / std::pow(theta, (2.0f * i) / headSize);
      float angle = pos * freq;
      float fcr = std::cos(angle), fci = std::sin(angle);
      // Interleaved pairs (2i, 2i+1); rotate-half pairs (i, i + hs/2).
      bool interleaved = style == RopeStyle::Interleaved;
      int64_t a = interleaved ? 2 * i : i;
      int64_t b = interleaved ? 2 * i + 1 : i + headSize / 2;
      float v0 = head[a], v1 = head[b];
      head[a] = v0 * fcr - v1 * fci;
      head[b] = v0 * fci + v1 * fcr;
    }
  }
}

const std::vector<float> &ReferenceModel::forward(int32_t token, int64_t pos) {
  const ModelConfig &c = cfg;
  int64_t dim = c.dim, kvDim = c.kvDim(), hs = c.headDim();
  int64_t kvMul = c.numHeads / c.numKVHeads;
  std::copy_n(embeddings.begin() + token * dim, dim, x.begin());

  for (int64_t l = 0; l < c.numLayers; ++l) {
    const Layer &ly = layers[l];
    rmsnorm(xb.data(), x.data(), ly.attentionNorm.data(), dim, c.normEps);
    matmul(q.data(), xb.data(), ly.wq.data(), dim, dim);
    matmul(k.data(), xb.data(), ly.wk.data(), kvDim, dim);
    matmul(v.data(), xb.data(), ly.wv.data(), kvDim, dim);
    rope(q.data(), c.numHeads, hs, pos, c.ropeTheta, c.ropeStyle);
    rope(k.data(), c.numKVHeads, hs, pos, c.ropeTheta, c.ropeStyle);
    float *kc = keyCache.data() + l * c.maxSeqLen * kvDim;
    float *vc = valueCache.data() + l * c.maxSeqLen * kvDim;
    std::copy(k.begin(), k.end(), kc + pos * kvDim);
    std::copy(v.begin(), v.end(), vc + pos * kvDim);

    for (int64_t h = 0; h < c.numHeads; ++h) {
      const float *qh = q.data() + h * hs;
      int64_t kvh = h / kvMul;
      for (int64_t t = 0; t <= pos; ++t) {
        const float *kt = kc + t * kvDim + kvh * hs;
        float score = 0.0f;
        for (int64_t i = 0; i < hs; ++i)
          score += qh[i] * kt[i];
        att[t] = score / std::sqrt(static_cast<float>(hs));
      }
      softmax(att.data(), pos + 1);
      float *out = xb.data() + h * hs;
      std::fill(out, out + hs, 0.0f);
      for (int64_t t = 0; t <= pos; ++t) {
        const float *vt = vc + t * kvDim + kvh * hs;
        for (int64_t i = 0; i < hs; ++i)
          out[i] += att[t] * vt[i];
      }
    }
    matmul(xb2.data(), xb.data(), ly.wo.data(), dim, dim);
    for (int64_t i = 0; i < dim; ++i)
      x[i] += xb2[i];

    rmsnorm(xb.data(), x.data(), ly.ffnNorm.data(), dim, c.normEps);
    matmul(hb.data(), xb.data(), ly.w1.data(), c.hiddenDim, dim);
    matmul(hb2.data(), xb.data(), ly.w3.data(), c.hiddenDim, dim);
    for (int64_t i = 0; i < c.hiddenDim; ++i) {
      float g = hb[i];
      hb[i] = g / (1.0f + std::exp(-g)) * hb2[i];
    }
    matmul(xb.data(), hb.data(), ly.w2.data(), dim, c.hiddenDim);
    for (int64_t i = 0; i < dim; ++i)
      x[i] += xb[i];
  }
  rmsnorm(x.data(), x.data(), finalNorm.data(), dim, c.normEps);
  matmul(logits.data(), x.data(), classifier.data(), c.vocabSize, dim);
  return logits;
}

double qopt::model::test::sequenceNLL(ReferenceModel &model,
                                      const std::vector<int32_t> &tokens,
                                      int64_t &count) {
  double total = 0.0;
  for (size_t pos = 0; pos + 1 < tokens.size(); ++pos) {
    const std::vector<float> &logits = model.forward(tokens[pos], pos);
    double maxVal = logits[0];
    for (float l : logits)
      maxVal = std::max(maxVal, double(l));
    double sum = 0.0;
    for (float l : logits)
      sum += std::exp(double(l) - maxVal);
    total += std::log(sum) + maxVal - double(logits[tokens[pos + 1]]);
    ++count;
  }
  return total;
}
