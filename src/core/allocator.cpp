#include "clipface/allocator.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace clipface {

void keep_freed_memory_for_reuse() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);  // DEFAULT_MMAP_THRESHOLD_MAX on 64-bit
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
#endif
}

}  // namespace clipface
