// A process-wide setting for programs built on clipface (the CLI and the benchmarks call it
// first thing; a library does not change its host's allocator behind its back).
#pragma once

namespace clipface {

// Keeps large freed blocks in the process for reuse. glibc's malloc returns every block over its
// mmap threshold (and the top of the heap) to the kernel, so the tensors that inference and
// fine-tuning allocate and free many times a second fault in and zero their pages again each
// time: about half of a fine-tuning step on this machine. Raises the mmap threshold to glibc's
// maximum (32 MiB) and the trim threshold to 1 GiB. No-op off glibc.
void keep_freed_memory_for_reuse();

}  // namespace clipface
