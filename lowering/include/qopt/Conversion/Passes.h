//===- Passes.h - qopt conversion passes and pipelines ----------*- C++ -*-===//
//
// The lowering passes of qopt and the named `qopt-to-llvm` pipeline: what a
// tool that runs the lowering needs. The patterns, the type converter and the
// dialects the passes create are in qopt/Conversion/Patterns.h, for the
// passes themselves (this header stays light for the tools that include it).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_CONVERSION_PASSES_H
#define QOPT_CONVERSION_PASSES_H

#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassOptions.h"
#include "llvm/Support/Error.h"

#include <optional>

namespace mlir {
class DialectRegistry;

namespace qopt {

#define GEN_PASS_DECL
#include "qopt/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "qopt/Conversion/Passes.h.inc"

struct WidthSlots;

/// How the int8 dot products of the integer matmul path are emitted.
enum class IntDot {
  /// Vector integer arithmetic any x86-64 (or other) target can run.
  Generic,
  /// `vpdpbusd`: AVX-512 VNNI on 512-bit vectors (vector width 16), AVX-512
  /// VNNI with VL or AVX-VNNI on 256-bit ones (vector width 8).
  Vnni,
};

/// Parses "generic" or "vnni".
std::optional<IntDot> parseIntDot(StringRef name);

/// Attaches the BufferizableOpInterface models of the qopt.kernel_* ops.
void registerBufferizableOpInterfaceExternalModels(DialectRegistry &registry);

/// Everything a context needs to run the qopt-to-llvm pipeline: the
/// dialects it creates and the bufferization and LLVM-translation
/// interfaces of upstream and qopt.
void registerLoweringDialects(DialectRegistry &registry);

/// Options of the `qopt-to-llvm` pipeline.
struct QOptToLLVMPipelineOptions
    : public PassPipelineOptions<QOptToLLVMPipelineOptions> {
  Option<int64_t> vectorWidth{
      *this, "vector-width",
      llvm::cl::desc("f32 lanes of the vector kernels (8: AVX2, 16: AVX-512)"),
      llvm::cl::init(8)};
  Option<bool> openmp{
      *this, "openmp",
      llvm::cl::desc("Run the kernels' parallel loops (matmul rows, attention "
                     "heads) on OpenMP threads (libomp); false: serial loops "
                     "and no OpenMP runtime calls"),
      llvm::cl::init(true)};
  Option<bool> int8Activations{
      *this, "int8-activations",
      llvm::cl::desc("Quantized-weight matmuls quantize their activations to "
                     "int8 per block of 32 and use integer dot products "
                     "(approximate; docs/lowering.md). false: the exact f32 "
                     "path"),
      llvm::cl::init(false)};
  Option<std::string> intDot{
      *this, "int-dot",
      llvm::cl::desc("How int8 dot products are emitted: 'vnni' (vpdpbusd: "
                     "AVX-512 VNNI, or AVX-VNNI / AVX-512 VL at vector "
                     "width 8) or 'generic' (portable vector code)"),
      llvm::cl::init("generic")};
  Option<int64_t> panelTokens{
      *this, "panel-tokens",
      llvm::cl::desc("Integer-path matmul calls with at least this many "
                     "tokens take the packed GEMM over panels of weight rows "
                     "(0: the row-wise kernel for every call)"),
      llvm::cl::init(8)};
  Option<bool> gfni{
      *this, "gfni",
      llvm::cl::desc("Assemble nested codes of 4 or more planes with GFNI's "
                     "vgf2p8affineqb on the integer path at vector width 16 "
                     "(the target needs GFNI, AVX-512 BW and VBMI: gfniFor)"),
      llvm::cl::init(false)};
  Option<bool> amx{
      *this, "amx",
      llvm::cl::desc("The integer path's prefill GEMM multiplies with AMX "
                     "tiles at vector width 16 (the target needs AMX-TILE "
                     "and AMX-INT8: amxFor; the running process needs the "
                     "OS's permission: requestAmxTiles)"),
      llvm::cl::init(false)};
  Option<bool> amxBf16{
      *this, "amx-bf16",
      llvm::cl::desc("The integer path's prefill GEMM multiplies bf16 weights "
                     "(dequantized once per call) and bf16 activations with "
                     "AMX tiles at vector width 16 instead of int8 codes (the "
                     "target needs AMX-TILE and AMX-BF16: amxBf16For; the "
                     "running process needs the OS's permission)"),
      llvm::cl::init(false)};
  Option<int64_t> decodePrefetchBits{
      *this, "decode-prefetch-bits",
      llvm::cl::desc("On the integer path, decode-sized calls prefetch the "
                     "next row's superblock for rows of at most this many "
                     "bits (0 to 8; 0: never). qopt-run picks it for the "
                     "CPU compiled for: decodePrefetchBitsFor"),
      llvm::cl::init(8)};
  Option<std::string> parallelSchedule{
      *this, "parallel-schedule",
      llvm::cl::desc("Schedule of the OpenMP loops: auto (each kernel's hint: "
                     "guided for matmul rows of 4 KiB or more, static "
                     "elsewhere), static, guided or dynamic "
                     "(qopt-parallel-schedule; docs/lowering.md, stop 35)"),
      llvm::cl::init("auto")};
  Option<bool> f16Activations{
      *this, "f16-activations",
      llvm::cl::desc("Matmuls of f16 weights round their activations to f16 "
                     "with a power-of-two scale per token (approximate, as "
                     "llama.cpp's f16 path; docs/lowering.md). false: f32 "
                     "activations, the exact path"),
      llvm::cl::init(false)};
};

/// Registers the translations to LLVM IR that qopt-to-llvm's output needs
/// (builtin, LLVM and OpenMP dialects). Code that runs it must be linked
/// with the OpenMP runtime (libomp) unless the pipeline ran with
/// `openmp=false`.
void registerLoweringTranslations(DialectRegistry &registry);

/// Loads the OpenMP runtime that qopt was built with (libomp) into the
/// process, so that a JIT resolving symbols in the process finds the calls
/// of the kernels' parallel loops whether or not the executable linked it.
llvm::Error loadOpenMPRuntime();

/// The vector width (f32 lanes) qopt uses on this host: 16 with AVX-512F,
/// otherwise 8.
int64_t hostVectorWidth();

/// The int8 dot products a CPU with the features `has` answers for runs
/// best at `vectorWidth`: VNNI when it has `vpdpbusd` at that width
/// (AVX-512 VNNI + BW for 16 lanes; AVX-512 VNNI + VL, or AVX-VNNI, for 8),
/// otherwise generic code. `has` takes LLVM's x86 feature names.
IntDot intDotFor(llvm::function_ref<bool(StringRef feature)> has,
                 int64_t vectorWidth);

/// intDotFor on this host's CPU features.
IntDot hostIntDot(int64_t vectorWidth);

/// Whether a CPU with the features `has` runs the GFNI nested-code reader
/// (the `gfni` option) at `vectorWidth`: width 16 with GFNI, AVX-512 BW and
/// AVX-512 VBMI (the byte transpose is one vpermb).
bool gfniFor(llvm::function_ref<bool(StringRef feature)> has,
             int64_t vectorWidth);

/// gfniFor on this host's CPU features.
bool hostGfni(int64_t vectorWidth);

/// The `decode-prefetch-bits` that pays on the CPU named `cpu` (LLVM's
/// names: "znver4", "sapphirerapids"): 3 on AMD Zen, where prefetching the
/// next row slowed the decode of 4- and 8-bit rows and sped up 2-bit
/// K-quant rows (measured on a Zen 4 EPYC; the likely cause: its hardware
/// prefetcher already keeps up with one stream per core, and the
/// prefetches take load slots); 8 (every width) elsewhere, as measured on
/// an Intel Xeon (docs/lowering.md, "Prefetch").
int64_t decodePrefetchBitsFor(StringRef cpu);

/// decodePrefetchBitsFor on this host's CPU.
int64_t hostDecodePrefetchBits();

/// Whether a CPU with the features `has` runs the AMX prefill GEMM (the
/// `amx` option) at `vectorWidth`: width 16 with AMX-TILE and AMX-INT8.
bool amxFor(llvm::function_ref<bool(StringRef feature)> has,
            int64_t vectorWidth);

/// amxFor on this host's CPU features, and the OS lets this process use
/// the tiles (requestAmxTiles).
bool hostAmx(int64_t vectorWidth);

/// Whether a CPU with the features `has` runs the bf16 AMX prefill GEMM
/// (the `amx-bf16` option) at `vectorWidth`: width 16 with AMX-TILE,
/// AMX-BF16 and AVX-512 BF16 (the f32 -> bf16 conversions).
bool amxBf16For(llvm::function_ref<bool(StringRef feature)> has,
                int64_t vectorWidth);

/// amxBf16For on this host's CPU features, and the OS lets this process
/// use the tiles (requestAmxTiles).
bool hostAmxBf16(int64_t vectorWidth);

/// Appends the lowering from qopt model IR on tensors to loops on buffers
/// (the `qopt-to-loops` pipeline: everything before the LLVM conversion).
void buildQOptToLoopsPipeline(OpPassManager &pm,
                              const QOptToLLVMPipelineOptions &options);

/// Appends the full lowering from qopt model IR on tensors to the LLVM
/// dialect (docs/lowering.md lists the passes in order).
void buildQOptToLLVMPipeline(OpPassManager &pm,
                             const QOptToLLVMPipelineOptions &options);

/// Registers `qopt-to-loops` and `qopt-to-llvm` with the pass registry.
void registerQOptToLLVMPipeline();

} // namespace qopt
} // namespace mlir

#endif // QOPT_CONVERSION_PASSES_H
