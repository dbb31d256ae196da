//===- QuantizeWeights.cpp - RTN quantization of constant weights -*- C++ -*-===//
//
// qopt-quantize-weights: replaces the float constant weight of each selected
// qopt.linear / qopt.embedding by qopt.dequantize(qopt.pack(codes, scales
// [, zeros])) whose constants are computed here with QuantMath's
// round-to-nearest min-max formulas, groups along the input dimension. The
// codes are written in the storage form of the quantized type (Storage.h)
// and every new constant is a dense_resource blob, so bytecode stores it as
// a resource and qopt-run binds it by address like the imported weights.
//
//===----------------------------------------------------------------------===//

#include "WeightConstants.h"
#include "WeightRoles.h"

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
  unsigned bits;
  int64_t group; // 0: per channel
  rt::Scheme scheme;
  Layout layout;
};
} // namespace

/// Quantizes the [N, K] float weight `values` of type `weightType`, groups
/// along K, into resource blobs named `base`.codes / .scales / .zeros.
static QuantizedWeight quantizeWeight(RankedTensorType weightType,
                                      ArrayRef<float> values,
                                      const QuantizeConfig &cfg,
                                      StringRef base) {
  MLIRContext *ctx = weightType.getContext();
  auto expressed = cast<FloatType>(weightType.getElementType());
  ArrayRef<int64_t> shape = weightType.getShape();
  int64_t rows = shape[0], cols = shape[1];
  bool perChannel = cfg.group == 0;
  QuantizedWeight q;
  q.type = QTensorType::get(
      ctx, shape, expressed, cfg.bits, /*parentBits=*/0u,
      cfg.scheme == rt::Scheme::Asymmetric ? QuantScheme::Asymmetric
                                           : QuantScheme::Symmetric,
      perChannel ? Granularity::PerChannel : Granularity::Group,
      perChannel ? 0 : cfg.group, /*axis=*/1, cfg.layout);

  rt::GroupIndexer indexer(shape.data(), shape.size(), /*axis=*/1,
                           perChannel ? std::max<int64_t>(cols, 1)
                                      : cfg.group);
  int64_t numGroups = indexer.numGroups();
  SmallVector<float> scales(numGroups), zeros(numGroups);
  for (int64_t g = 0; g < numGroups; ++g) {
    rt::GroupParams p =
        rt::computeGroupParams(values.data() + indexer.first(g),
                               indexer.count(g), indexer.stride(), cfg.bits,
                               cfg.scheme);
    // Codes are computed with the scale as it will be stored.
    scales[g] = roundTo(p.scale, expressed);
    zeros[g] = p.zero;
  }
  SmallVector<uint8_t> codes(values.size());
  for (int64_t i = 0, e = values.size(); i < e; ++i) {
    int64_t g = indexer.scaleIndex(i);
    codes[i] = static_cast<uint8_t>(
        rt::quantizeValue(values[i], scales[g], zeros[g], cfg.bits));
  }

  RankedTensorType storageType = q.type.getStorageType();
  SmallVector<uint8_t> storage(storageType.getNumElements());
  if (cfg.layout == Layout::Nested)
    rt::packNestedPlanes(codes.data(), rows, cols, cfg.bits, storage.data());
  else
    rt::packDenseRows(codes.data(), rows, cols, cfg.bits, storage.data());
  q.codes = DenseResourceElementsAttr::get(
      storageType, (base + ".codes").str(),
      HeapAsmResourceBlob::allocateAndCopyInferAlign(
          ArrayRef<uint8_t>(storage)));
  RankedTensorType scalesType = q.type.getScalesType();
  q.scales = makeFloatBlob(scalesType, (base + ".scales").str(), scales);
  if (cfg.scheme == rt::Scheme::Asymmetric)
    q.zeros = makeFloatBlob(scalesType, (base + ".zeros").str(), zeros);
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
  if (!rt::isValidBits(bits))
    return fail("bits must be in 1..8, got " + Twine(bits));
  cfg.bits = bits;
  if (group < 0)
    return fail("group must be positive, or 0 for per-channel scales, got " +
                Twine(group));
  cfg.group = group;
  if (scheme == "asym")
    cfg.scheme = rt::Scheme::Asymmetric;
  else if (scheme == "sym")
    cfg.scheme = rt::Scheme::Symmetric;
  else
    return fail("unknown scheme '" + scheme + "' (expected asym or sym)");
  if (cfg.scheme == rt::Scheme::Symmetric && bits < 2)
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
  return success();
}

void QuantizeWeightsPass::runOnOperation() {
  QuantizeConfig cfg;
  RoleSelection roles;
  if (failed(parseOptions(cfg, roles)))
    return signalPassFailure();

  // The weight operand of every selected op.
  SmallVector<OpOperand *> uses = roles.selectedWeights(getOperation());

  // One quantization per weight value (the same resource in @prefill and
  // @decode is quantized once), one pack per constant op, one dequantize
  // per use.
  llvm::DenseMap<Attribute, QuantizedWeight> quantized;
  llvm::DenseMap<Operation *, Value> packs;
  SmallVector<Operation *> replacedConstants;
  SmallVector<PackOp> requantizedPacks;
  for (OpOperand *use : uses) {
    Operation *user = use->getOwner();
    Value weight = use->get();
    if (isa<QTensorType>(weight.getType()))
      continue; // a quantized embedding table: nothing float to quantize
    // A weight that is already quantized (e.g. a GGUF Q8_0 matrix) with
    // constant codes is re-quantized from its dequantized values: the user
    // asked for this scheme, and `--bits` must reach every selected weight.
    if (auto deq = weight.getDefiningOp<DequantizeOp>()) {
      auto pack = deq.getInput().getDefiningOp<PackOp>();
      Attribute key;
      if (pack)
        matchPattern(pack.getCodes(), m_Constant(&key));
      auto type = dyn_cast<RankedTensorType>(weight.getType());
      if (!key || !type || type.getRank() != 2 || !type.hasStaticShape() ||
          !isWeightFloat(type.getElementType())) {
        LLVM_DEBUG(llvm::dbgs() << DEBUG_TYPE ": " << user->getName()
                                << " at " << user->getLoc()
                                << ": quantized weight without constant "
                                   "codes, left alone\n");
        continue;
      }
      auto it = quantized.find(key);
      if (it == quantized.end()) {
        FailureOr<SmallVector<float>> values = evaluateConstantPack(pack);
        if (failed(values)) {
          LLVM_DEBUG(llvm::dbgs() << DEBUG_TYPE ": " << user->getName()
                                  << ": quantized weight data is elided or "
                                     "malformed, left alone\n");
          continue;
        }
        std::string base = blobBaseName(cast<ElementsAttr>(key), user);
        StringRef stem = base;
        stem.consume_back(".codes");
        it = quantized
                 .insert({key, quantizeWeight(type, *values, cfg,
                                              (stem + ".requantized").str())})
                 .first;
      }
      const QuantizedWeight &q = it->second;
      Value &repacked = packs[pack];
      if (!repacked) {
        OpBuilder b(pack);
        b.setInsertionPointAfter(pack);
        Location loc = pack.getLoc();
        Value codes = arith::ConstantOp::create(b, loc, q.codes);
        Value scales = arith::ConstantOp::create(b, loc, q.scales);
        Value zeros = q.zeros ? Value(arith::ConstantOp::create(b, loc, q.zeros))
                              : Value();
        repacked = PackOp::create(b, loc, q.type, codes, scales, zeros);
        requantizedPacks.push_back(pack);
      }
      OpBuilder b(user);
      use->set(DequantizeOp::create(b, user->getLoc(), type, repacked));
      if (deq->use_empty())
        deq->erase();
      continue;
    }
    auto cst = weight.getDefiningOp<arith::ConstantOp>();
    auto attr = cst ? dyn_cast<ElementsAttr>(cst.getValue()) : ElementsAttr();
    auto type = dyn_cast<RankedTensorType>(weight.getType());
    if (!attr || !type || type.getRank() != 2 || !type.hasStaticShape() ||
        !isWeightFloat(type.getElementType())) {
      LLVM_DEBUG(llvm::dbgs() << DEBUG_TYPE ": " << user->getName() << " at "
                              << user->getLoc()
                              << ": weight is not a static 2-D f32/f16/bf16 "
                                 "constant, left alone\n");
      continue;
    }

    auto it = quantized.find(attr);
    if (it == quantized.end()) {
      FailureOr<SmallVector<float>> values = readWeight(attr);
      if (failed(values)) {
        LLVM_DEBUG(llvm::dbgs() << DEBUG_TYPE ": " << user->getName()
                                << ": weight data is elided or malformed, "
                                   "left alone\n");
        continue;
      }
      it = quantized
               .insert({attr, quantizeWeight(type, *values, cfg,
                                             blobBaseName(attr, user))})
               .first;
    }
    const QuantizedWeight &q = it->second;

    Value &pack = packs[cst];
    if (!pack) {
      OpBuilder b(cst);
      b.setInsertionPointAfter(cst);
      Location loc = cst.getLoc();
      Value codes = arith::ConstantOp::create(b, loc, q.codes);
      Value scales = arith::ConstantOp::create(b, loc, q.scales);
      Value zeros =
          q.zeros ? Value(arith::ConstantOp::create(b, loc, q.zeros)) : Value();
      pack = PackOp::create(b, loc, q.type, codes, scales, zeros);
      replacedConstants.push_back(cst);
    }
    OpBuilder b(user);
    Value dequantized =
        DequantizeOp::create(b, user->getLoc(), type, pack).getResult();
    use->set(dequantized);
  }
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
