#include "kernels/kernels_impl.h"
const kvlm_kernel_ops *kvlm_kernels_avx512(void) { return NULL; }
