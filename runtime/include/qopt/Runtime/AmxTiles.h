//===- AmxTiles.h - The OS's permission to use AMX tiles --------*- C++ -*-===//
//
// Linux (5.16 and later) enables AMX tile data per process, on request: the
// first tile instruction of a process that did not ask dies of SIGILL even
// where the CPU has AMX. Whoever runs code with AMX tiles (the JIT when it
// lowers with the `amx` option, the loader of an artifact compiled for
// AMX) asks first. Header-only, so that libraries with no runtime
// dependency (the lowering) can ask too.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_RUNTIME_AMXTILES_H
#define QOPT_RUNTIME_AMXTILES_H

#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace qopt {
namespace runtime {

/// Asks the OS to let every thread of this process use AMX tile data
/// (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`), once; true when
/// granted. False on other systems and where the kernel or the CPU has no
/// AMX.
inline bool requestAmxTiles() {
#if defined(__linux__) && defined(__x86_64__)
  static const bool granted = [] {
    constexpr long kArchReqXcompPerm = 0x1023;
    constexpr long kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return granted;
#else
  return false;
#endif
}

} // namespace runtime
} // namespace qopt

#endif // QOPT_RUNTIME_AMXTILES_H
