//===- CApiSmoke.c - QOptRuntime.h compiled as C ------------------*- C -*-===//
//
// Proves that QOptRuntime.h is valid C and that the library links from C:
// a small pack / slice / quantize round trip, called from ErrorsTest.cpp.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/QOptRuntime.h"

/// Returns 0 on success, or the number of the first failed check.
int qopt_c_api_smoke(void);

int qopt_c_api_smoke(void) {
  uint8_t codes[3] = {5, 3, 7};
  uint8_t packed[2];
  uint8_t nested[3];
  uint8_t out[3];
  float x[4] = {-1.0f, 0.0f, 0.5f, 2.0f};
  uint8_t q[4];
  float scale, zero, w[4];
  qopt_quant_params p;

  if (qopt_dense_size(3, 3) != 2)
    return 1;
  if (qopt_pack_dense(codes, 3, 3, packed) != QOPT_OK || packed[0] != 0xDD ||
      packed[1] != 0x01)
    return 2;
  if (qopt_pack_nested(codes, 3, 3, nested) != QOPT_OK)
    return 3;
  if (qopt_slice_nested(nested, 3, 3, 1, out) != QOPT_OK || out[0] != 1 ||
      out[1] != 1 || out[2] != 1)
    return 4;
  p.bits = 2;
  p.parent_bits = 0;
  p.scheme = QOPT_ASYMMETRIC;
  p.group = 4;
  if (qopt_quantize_rtn(x, 1, 4, &p, q, &scale, &zero) != QOPT_OK)
    return 5;
  if (qopt_dequantize(q, 1, 4, &p, &scale, &zero, w) != QOPT_OK || w[3] != 2.0f)
    return 6;
  if (qopt_status_string(QOPT_ERR_GROUP)[0] == '\0')
    return 7;
  return 0;
}
