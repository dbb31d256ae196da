//===- QuantizeWeights.cpp - Quantization of constant weights ---*- C++ -*-===//
//
// qopt-quantize-weights: replaces the float constant weight of each selected
// qopt.linear / qopt.embedding by qopt.dequantize(qopt.pack(codes, scales
// [, zeros])) whose constants are computed with the requested method (RTN,
// clipped RTN, GPTQ or Matryoshka-aware GPTQ: qopt/Quant/Methods.h, with H
// from a calibration file), groups along the input dimension. The
// codes are written in the storage form of the quantized type (Storage.h)
// and every new constant is a dense_resource blob, so bytecode stores it as
// a resource and qopt-run binds it by address like the imported weights.
//
//===----------------------------------------------------------------------===//

#include "HessianSource.h"
#include "WeightConstants.h"
#include "WeightRoles.h"

#include "qopt/Quant/Calibration.h"
#include "qopt/Quant/Methods.h"
#include "qopt/Runtime/QuantMath.h"
#include "qopt/Runtime/Storage.h"
#include "qopt/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "qopt-quantize-weights"

namespace mlir::qopt {
#define GEN_PASS_DEF_QUANTIZEWEIGHTSPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

namespace rt = ::qopt::runtime;
namespace quant = ::qopt::quant;

//===----------------------------------------------------------------------===//
// Quantization
//===----------------------------------------------------------------------===//

namespace {
/// The quantized form of one weight: its type and constant parts.
struct QuantizedWeight {
  QTensorType type;
  DenseResourceElementsAttr codes, scales, zeros;
};

/// The validated options.
struct QuantizeConfig {
  Layout layout;
  /// Set: the scales are rounded to this type instead of the weight's.
  std::optional<quant::ScaleType> scaleType;
  /// The method; its config's scale type is set per weight.
  quant::MethodOptions method;
};
} // namespace

/// The scale storage type of a weight of element type `type`.
static quant::ScaleType scaleTypeOf(FloatType type) {
  if (type.isF16())
    return quant::ScaleType::F16;
  if (type.isBF16())
    return quant::ScaleType::BF16;
  return quant::ScaleType::F32;
}

/// Quantizes the [N, K] float weight `values` of type `weightType`, groups
/// along K, into resource blobs named `base`.codes / .scales / .zeros, with
/// the method of `cfg` (`hessian` and `factor` as quantizeWithMethod reads
/// them). Emits an error on `user` and fails if the method does.
static FailureOr<QuantizedWeight>
quantizeWeight(RankedTensorType weightType, ArrayRef<float> values,
               const QuantizeConfig &cfg, ArrayRef<double> hessian,
               const quant::HessianFactor *factor, StringRef base,
               Operation *user) {
  MLIRContext *ctx = weightType.getContext();
  auto expressed = cast<FloatType>(weightType.getElementType());
  ArrayRef<int64_t> shape = weightType.getShape();
  int64_t rows = shape[0], cols = shape[1];
  quant::MethodOptions method = cfg.method;
  method.config.scaleType =
      cfg.scaleType ? *cfg.scaleType : scaleTypeOf(expressed);
  if (cfg.scaleType && expressed.isBF16()) {
    user->emitError() << "qopt-quantize-weights: scale-type=f16 needs an f32 "
                         "or f16 weight (the scales are stored in the "
                         "weight's type), got bf16";
    return failure();
  }
  const quant::QuantConfig &qc = method.config;
  bool perChannel = qc.groupSize == 0;
  llvm::Expected<quant::QuantizedWeight> result =
      quant::quantizeWithMethod(values, rows, cols, hessian, factor, method);
  if (!result) {
    user->emitError() << "qopt-quantize-weights: "
                      << llvm::toString(result.takeError());
    return failure();
  }
  QuantizedWeight q;
  q.type = QTensorType::get(
      ctx, shape, expressed, qc.bits, /*parentBits=*/0u,
      qc.scheme == rt::Scheme::Asymmetric ? QuantScheme::Asymmetric
                                          : QuantScheme::Symmetric,
      perChannel ? Granularity::PerChannel : Granularity::Group,
      perChannel ? 0 : qc.groupSize, /*axis=*/1, cfg.layout,
      // f16 scales of f32 weights are stored as f16 (half the bytes the
      // kernels stream); of f16 weights they already are.
      qc.scaleType == quant::ScaleType::F16 ? Type(Float16Type::get(ctx))
                                            : Type(expressed),
      /*superGroup=*/0, /*subBits=*/0);

  RankedTensorType storageType = q.type.getStorageType();
  SmallVector<uint8_t> storage(storageType.getNumElements());
  if (cfg.layout == Layout::Nested)
    rt::packNestedPlanes(result->codes.data(), rows, cols, qc.bits,
                         storage.data());
  else
    rt::packDenseRows(result->codes.data(), rows, cols, qc.bits,
                      storage.data());
  q.codes = DenseResourceElementsAttr::get(
      storageType, (base + ".codes").str(),
      HeapAsmResourceBlob::allocateAndCopyInferAlign(
          ArrayRef<uint8_t>(storage)));
  RankedTensorType scalesType = q.type.getScalesType();
  q.scales = makeFloatBlob(scalesType, (base + ".scales").str(),
                           ArrayRef<float>(result->scales));
  if (qc.scheme == rt::Scheme::Asymmetric)
    q.zeros = makeFloatBlob(scalesType, (base + ".zeros").str(),
                            ArrayRef<float>(result->zeros));
  return q;
}

//===----------------------------------------------------------------------===//
// Pass
//===----------------------------------------------------------------------===//

namespace {

struct QuantizeWeightsPass
    : public mlir::qopt::impl::QuantizeWeightsPassBase<QuantizeWeightsPass> {
  using Base::Base;

  void runOnOperation() override;

private:
  /// Checks the options; emits an error on the module and fails if one is
  /// invalid.
  LogicalResult parseOptions(QuantizeConfig &cfg, RoleSelection &roles);
};
} // namespace

LogicalResult QuantizeWeightsPass::parseOptions(QuantizeConfig &cfg,
                                                RoleSelection &roles) {
  ModuleOp module = getOperation();
  auto fail = [&](const Twine &message) {
    module.emitError() << "qopt-quantize-weights: " << message;
    return failure();
  };
  quant::MethodOptions &m = cfg.method;
  quant::QuantConfig &qc = m.config;
  if (!rt::isValidBits(bits))
    return fail("bits must be in 1..8, got " + Twine(bits));
  qc.bits = bits;
  if (group < 0)
    return fail("group must be positive, or 0 for per-channel scales, got " +
                Twine(group));
  qc.groupSize = group;
  if (scheme == "asym")
    qc.scheme = rt::Scheme::Asymmetric;
  else if (scheme == "sym")
    qc.scheme = rt::Scheme::Symmetric;
  else
    return fail("unknown scheme '" + scheme + "' (expected asym or sym)");
  if (qc.scheme == rt::Scheme::Symmetric && bits < 2)
    return fail("the symmetric scheme needs at least 2 bits, got " +
                Twine(bits));
  if (layout == "static" || layout == "dense")
    cfg.layout = Layout::Dense;
  else if (layout == "nested")
    cfg.layout = Layout::Nested;
  else
    return fail("unknown layout '" + layout +
                "' (expected static, dense or nested)");
  std::string error;
  if (!parseRoleSelection(layers, roles, error))
    return fail(error);

  if (scaleType == "f16")
    cfg.scaleType = quant::ScaleType::F16;
  else if (scaleType != "auto")
    return fail("unknown scale-type '" + std::string(scaleType) +
                "' (expected auto or f16)");
  std::optional<quant::Method> parsed = quant::parseMethod(method);
  if (!parsed)
    return fail("unknown method '" + std::string(method) +
                "' (expected rtn, gptq or matryoshka)");
  m.method = *parsed;
  m.clip = clip;
  if (!(damp >= 0.0 && damp <= 10.0))
    return fail("damp must be in [0, 10], got " + std::to_string(double(damp)));
  m.gptq.percDamp = damp;
  m.gptq.actOrder = actOrder;
  bool matryoshka = m.method == quant::Method::Matryoshka;
  if (!matryoshka && (!widths.empty() || !weights.empty()))
    return fail("widths and weights apply to method=matryoshka only");
  if (matryoshka) {
    if (llvm::Error err = quant::parseMatryoshkaOptions(
            widths, weights, feedback, sweeps, bits, m.matryoshka))
      return fail(llvm::toString(std::move(err)));
  }
  if (llvm::Error err = quant::checkMethodOptions(m))
    return fail(llvm::toString(std::move(err)));
  if (m.needsHessian() && calibration.empty())
    return fail(
        (m.clip ? std::string("clip=true") : "method=" + std::string(method)) +
        " needs calibration=FILE (record one with `qopt-run "
        "calibrate`)");
  return success();
}

namespace {
/// Rewrites the selected weight uses of one run of the pass: one
/// quantization per weight value (the same resource in @prefill and @decode
/// is quantized once), one pack per constant op, one dequantize per use.
class WeightRewriter {
public:
  WeightRewriter(const QuantizeConfig &cfg, HessianSource &hessians)
      : cfg(cfg), hessians(hessians) {}

  /// Quantizes the weight of `use`, if it is a static 2-D float constant or
  /// an already quantized weight with constant codes (other weights are left
  /// alone). Fails, with an error, if quantizing fails.
  LogicalResult rewrite(OpOperand *use);

  /// Erases the constants and packs the rewrite left without uses.
  void eraseDeadWeights();

private:
  FailureOr<QuantizedWeight> quantizeFor(Operation *user, RankedTensorType type,
                                         ArrayRef<float> values,
                                         StringRef base);
  LogicalResult requantize(OpOperand *use, DequantizeOp deq);
  static Value createPack(Operation *after, const QuantizedWeight &q);

  const QuantizeConfig &cfg;
  HessianSource &hessians;
  llvm::DenseMap<Attribute, QuantizedWeight> quantized;
  llvm::DenseMap<Operation *, Value> packs;
  SmallVector<Operation *> replacedConstants;
  SmallVector<PackOp> requantizedPacks;
};
} // namespace

/// Quantizes one weight with the H of `user`'s input. A weight without an H
/// (the embedding table) falls back to RTN, with a warning.
FailureOr<QuantizedWeight> WeightRewriter::quantizeFor(Operation *user,
                                                       RankedTensorType type,
                                                       ArrayRef<float> values,
                                                       StringRef base) {
  ArrayRef<double> h;
  const quant::HessianFactor *factor = nullptr;
  if (cfg.method.needsHessian() &&
      failed(hessians.lookup(user, type.getDimSize(1), h, factor)))
    return failure();
  if (!cfg.method.needsHessian() || !h.empty())
    return quantizeWeight(type, values, cfg, h, factor, base, user);
  user->emitWarning() << "qopt-quantize-weights: no calibration data for "
                         "this weight's input; quantized with RTN";
  QuantizeConfig rtn = cfg;
  rtn.method.method = quant::Method::RTN;
  rtn.method.clip = false;
  return quantizeWeight(type, values, rtn, {}, nullptr, base, user);
}

/// A qopt.pack of `q`'s constants, right after `after`.
Value WeightRewriter::createPack(Operation *after, const QuantizedWeight &q) {
  OpBuilder b(after);
  b.setInsertionPointAfter(after);
  Location loc = after->getLoc();
  Value codes = arith::ConstantOp::create(b, loc, q.codes);
  Value scales = arith::ConstantOp::create(b, loc, q.scales);
  Value zeros =
      q.zeros ? Value(arith::ConstantOp::create(b, loc, q.zeros)) : Value();
  return PackOp::create(b, loc, q.type, codes, scales, zeros);
}

/// A weight that is already quantized (e.g. a GGUF Q8_0 matrix) with
/// constant codes is re-quantized from its dequantized values: the user
/// asked for this scheme, and `--bits` must reach every selected weight.
LogicalResult WeightRewriter::requantize(OpOperand *use, DequantizeOp deq) {
  Operation *user = use->getOwner();
  auto pack = deq.getInput().getDefiningOp<PackOp>();
  Attribute key;
  if (pack)
    matchPattern(pack.getCodes(), m_Constant(&key));
  auto type = dyn_cast<RankedTensorType>(use->get().getType());
  if (!key || !type || type.getRank() != 2 || !type.hasStaticShape() ||
      !isWeightFloat(type.getElementType())) {
    LLVM_DEBUG(llvm::dbgs()
               << DEBUG_TYPE ": " << user->getName() << " at " << user->getLoc()
               << ": quantized weight without constant "
                  "codes, left alone\n");
    return success();
  }
  auto it = quantized.find(key);
  if (it == quantized.end()) {
    FailureOr<SmallVector<float>> values = evaluateConstantPack(pack);
    if (failed(values)) {
      LLVM_DEBUG(llvm::dbgs() << DEBUG_TYPE ": " << user->getName()
                              << ": quantized weight data is elided or "
                                 "malformed, left alone\n");
      return success();
    }
    std::string base = blobBaseName(cast<ElementsAttr>(key), user);
    StringRef stem = base;
    stem.consume_back(".codes");
    FailureOr<QuantizedWeight> q =
        quantizeFor(user, type, *values, (stem + ".requantized").str());
    if (failed(q))
      return failure();
    it = quantized.insert({key, *q}).first;
  }
  Value &repacked = packs[pack];
  if (!repacked) {
    repacked = createPack(pack, it->second);
    requantizedPacks.push_back(pack);
  }
  OpBuilder b(user);
  use->set(DequantizeOp::create(b, user->getLoc(), type, repacked));
  if (deq->use_empty())
    deq->erase();
  return success();
}

LogicalResult WeightRewriter::rewrite(OpOperand *use) {
  Operation *user = use->getOwner();
  Value weight = use->get();
  if (isa<QTensorType>(weight.getType()))
    return success(); // a quantized embedding table: nothing float to quantize
  if (auto deq = weight.getDefiningOp<DequantizeOp>())
    return requantize(use, deq);
  auto cst = weight.getDefiningOp<arith::ConstantOp>();
  auto attr = cst ? dyn_cast<ElementsAttr>(cst.getValue()) : ElementsAttr();
  auto type = dyn_cast<RankedTensorType>(weight.getType());
  if (!attr || !type || type.getRank() != 2 || !type.hasStaticShape() ||
      !isWeightFloat(type.getElementType())) {
    LLVM_DEBUG(llvm::dbgs()
               << DEBUG_TYPE ": " << user->getName() << " at " << user->getLoc()
               << ": weight is not a static 2-D f32/f16/bf16 "
                  "constant, left alone\n");
    return success();
  }
  auto it = quantized.find(attr);
  if (it == quantized.end()) {
    FailureOr<SmallVector<float>> values = readWeight(attr);
    if (failed(values)) {
      LLVM_DEBUG(llvm::dbgs() << DEBUG_TYPE ": " << user->getName()
                              << ": weight data is elided or malformed, "
                                 "left alone\n");
      return success();
    }
    FailureOr<QuantizedWeight> q =
        quantizeFor(user, type, *values, blobBaseName(attr, user));
    if (failed(q))
      return failure();
    it = quantized.insert({attr, *q}).first;
  }
  Value &pack = packs[cst];
  if (!pack) {
    pack = createPack(cst, it->second);
    replacedConstants.push_back(cst);
  }
  OpBuilder b(user);
  use->set(DequantizeOp::create(b, user->getLoc(), type, pack).getResult());
  return success();
}

void WeightRewriter::eraseDeadWeights() {
  for (Operation *cst : replacedConstants)
    if (cst->use_empty())
      cst->erase();
  // Packs whose every dequantize was re-quantized are dead, and so are their
  // constants.
  for (PackOp pack : requantizedPacks) {
    if (!pack->use_empty())
      continue;
    SmallVector<Operation *> operands;
    for (Value v : pack->getOperands())
      if (Operation *def = v.getDefiningOp())
        operands.push_back(def);
    pack->erase();
    for (Operation *def : operands)
      if (def->use_empty())
        def->erase();
  }
}

void QuantizeWeightsPass::runOnOperation() {
  QuantizeConfig cfg;
  RoleSelection roles;
  if (failed(parseOptions(cfg, roles)))
    return signalPassFailure();
  HessianSource hessians;
  if (!calibration.empty() &&
      failed(hessians.open(calibration, getOperation(), cfg.method)))
    return signalPassFailure();

  WeightRewriter rewriter(cfg, hessians);
  for (OpOperand *use : roles.selectedWeights(getOperation()))
    if (failed(rewriter.rewrite(use)))
      return signalPassFailure();
  rewriter.eraseDeadWeights();
}
