//===- FuzzInput.h - Fuzz inputs as files -----------------------*- C++ -*-===//
//
// The readers under fuzz take paths (they map or stream files and check
// that what they open is a regular file), so each input is written to a
// file in a directory private to the fuzzing process, under /dev/shm when
// it exists.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_FUZZ_FUZZINPUT_H
#define QOPT_FUZZ_FUZZINPUT_H

#include <cstddef>
#include <cstdint>
#include <string>

namespace qopt {
namespace fuzz {

/// The fuzzing process's private directory (created on first use).
const std::string &scratchDirectory();

/// Writes `size` bytes at `data` to `name` in scratchDirectory() (replacing
/// it) and returns its path. Aborts if the file cannot be written: that is a
/// broken fuzzing setup, not a finding.
std::string writeInput(const std::string &name, const uint8_t *data,
                       size_t size);
inline std::string writeInput(const std::string &name,
                              const std::string &text) {
  return writeInput(name, reinterpret_cast<const uint8_t *>(text.data()),
                    text.size());
}

/// Removes `name` from scratchDirectory() if it exists.
void removeInput(const std::string &name);

} // namespace fuzz
} // namespace qopt

#endif // QOPT_FUZZ_FUZZINPUT_H
