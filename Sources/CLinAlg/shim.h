#include <cblas.h>
#include <lapacke.h>
/* From OpenBLAS; declared here because not every cblas.h variant exports them. */
void openblas_set_num_threads(int num_threads);
