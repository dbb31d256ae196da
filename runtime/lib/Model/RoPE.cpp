//===- RoPE.cpp - Scaled RoPE frequency tables ------------------*- C++ -*-===//
//
// The inverse-frequency tables of the scaled RoPE variants that transformers'
// Llama supports (`rope_type` linear, llama3, yarn), computed once per model
// by the importer and carried by the rope ops, so that no kernel holds a
// variant's formula. Dynamic NTK depends on the length of each call and is
// left to the op (ntk_factor); the default RoPE needs no table unless a GGUF
// file divides its frequencies (rope_freqs.weight).
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Checkpoint.h"

#include <algorithm>
#include <cmath>

using namespace qopt::model;

llvm::StringRef qopt::model::ropeScalingName(RopeScalingType type) {
  switch (type) {
  case RopeScalingType::None:
    return "default";
  case RopeScalingType::Linear:
    return "linear";
  case RopeScalingType::Dynamic:
    return "dynamic";
  case RopeScalingType::Llama3:
    return "llama3";
  case RopeScalingType::Yarn:
    return "yarn";
  }
  return "unknown";
}

/// YaRN's magnitude correction for a context extended `scale` times.
static double yarnMscale(double scale, double mscale) {
  return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

RopeFrequencies
qopt::model::computeRopeFrequencies(int64_t headDim, float theta,
                                    const RopeScaling &scaling) {
  RopeFrequencies out;
  if ((scaling.type == RopeScalingType::None && scaling.freqFactors.empty()) ||
      scaling.type == RopeScalingType::Dynamic || headDim < 2)
    return out;
  const double pi = 3.14159265358979323846;
  int64_t half = headDim / 2;
  double base = theta, dim = static_cast<double>(headDim);
  // theta^(2j / head_dim): the default RoPE's wavelength / (2 pi).
  std::vector<double> posFreq(half);
  for (int64_t j = 0; j < half; ++j)
    posFreq[j] = std::pow(base, static_cast<double>(2 * j) / dim);
  std::vector<double> inv(half);
  switch (scaling.type) {
  case RopeScalingType::Linear:
    for (int64_t j = 0; j < half; ++j)
      inv[j] = 1.0 / posFreq[j] / scaling.factor;
    break;
  case RopeScalingType::Llama3: {
    double oldContext = static_cast<double>(scaling.originalMaxPositions);
    double lowWavelen = oldContext / scaling.lowFreqFactor;
    double highWavelen = oldContext / scaling.highFreqFactor;
    for (int64_t j = 0; j < half; ++j) {
      double f = 1.0 / posFreq[j];
      double wavelen = 2.0 * pi / f;
      if (wavelen < highWavelen) {
        inv[j] = f;
      } else if (wavelen > lowWavelen) {
        inv[j] = f / scaling.factor;
      } else {
        double smooth = (oldContext / wavelen - scaling.lowFreqFactor) /
                        (scaling.highFreqFactor - scaling.lowFreqFactor);
        inv[j] = (1.0 - smooth) * f / scaling.factor + smooth * f;
      }
    }
    break;
  }
  case RopeScalingType::Yarn: {
    double factor = scaling.factor;
    double original = static_cast<double>(scaling.originalMaxPositions);
    // The dimension whose wavelength turns `rotations` times in the
    // original context.
    auto correctionDim = [&](double rotations) {
      return dim * std::log(original / (rotations * 2.0 * pi)) /
             (2.0 * std::log(base));
    };
    double low = correctionDim(scaling.betaFast);
    double high = correctionDim(scaling.betaSlow);
    if (scaling.truncate) {
      low = std::floor(low);
      high = std::ceil(high);
    }
    low = std::max(low, 0.0);
    high = std::min(high, dim - 1.0);
    if (low == high)
      high += 0.001; // transformers' guard against a zero-width ramp
    for (int64_t j = 0; j < half; ++j) {
      double ramp =
          std::clamp((static_cast<double>(j) - low) / (high - low), 0.0, 1.0);
      double extrapolation = 1.0 - ramp;
      double extrapolated = 1.0 / posFreq[j];
      double interpolated = 1.0 / (factor * posFreq[j]);
      inv[j] =
          interpolated * (1.0 - extrapolation) + extrapolated * extrapolation;
    }
    if (scaling.attentionFactor > 0.0)
      out.scale = static_cast<float>(scaling.attentionFactor);
    else if (scaling.mscale != 0.0 && scaling.mscaleAllDim != 0.0)
      out.scale = static_cast<float>(yarnMscale(factor, scaling.mscale) /
                                     yarnMscale(factor, scaling.mscaleAllDim));
    else
      out.scale = static_cast<float>(yarnMscale(factor, 1.0));
    break;
  }
  case RopeScalingType::None:
    for (int64_t j = 0; j < half; ++j)
      inv[j] = 1.0 / posFreq[j];
    break;
  case RopeScalingType::Dynamic:
    break;
  }
  // llama.cpp's per-dimension divisors (rope_freqs.weight).
  if (static_cast<int64_t>(scaling.freqFactors.size()) == half)
    for (int64_t j = 0; j < half; ++j)
      inv[j] /= scaling.freqFactors[j];
  out.invFreq.assign(inv.begin(), inv.end());
  return out;
}
