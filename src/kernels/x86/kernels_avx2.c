#include "kernels/kernels_impl.h"
const kvlm_kernel_ops *kvlm_kernels_avx2(void) { return NULL; }
