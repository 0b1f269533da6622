/* SPDX-License-Identifier: MIT
 * status.c - ndlrt_strerror: one message per NdlrtStatus, lowercase without a period.
 */
#include "../ndlrt.h"

NDLRT_API const char *ndlrt_strerror(int code)
{
    static const char *const msgs[NDLRT_STATUS_COUNT] = {
        [NDLRT_OK] = "success",
        [NDLRT_ENOMEM] = "out of memory",
        [NDLRT_EARG] = "invalid argument (a NULL pointer or a negative size)",
        [NDLRT_ESIZE] = "a size is above its declared bound or inconsistent",
        [NDLRT_EWEIGHTS] = "the weight file is missing, malformed or does not match the model",
        [NDLRT_EINDEX] = "an index is out of range",
        [NDLRT_ENOWEIGHTS] = "the model was built with external weights but created without a path",
        [NDLRT_EDEVICE] = "the CUDA device failed (no usable GPU, or a kernel launch or copy error)",
    };
    _Static_assert(sizeof msgs / sizeof msgs[0] == NDLRT_STATUS_COUNT, "one message per status");
    if (code < 0 || code >= NDLRT_STATUS_COUNT || !msgs[code]) return "unknown error";
    return msgs[code];
}
