# Finds every dependency through its Debian package. Heavy ones (LibTorch, dlib, FAISS) are
# linked only by the stage that needs them, so most of the tree never sees their headers.
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(OpenCV 4 REQUIRED COMPONENTS core imgproc imgcodecs dnn objdetect videoio)
find_package(Torch REQUIRED)            # libtorch-dev: /usr/share/cmake/Torch
find_package(SQLite3 REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(spdlog REQUIRED)
find_package(CURL REQUIRED)
find_package(OpenSSL REQUIRED)          # sha256 for model checksums
find_package(ZLIB REQUIRED)             # gzip BPE vocabulary
find_package(BZip2 REQUIRED)            # dlib's .dat.bz2 downloads
find_package(ICU REQUIRED COMPONENTS uc i18n)
pkg_check_modules(DLIB REQUIRED IMPORTED_TARGET dlib-1)
# dlib-1.pc names BLAS/LAPACK/libpng... as full paths that CMake turns into link *options*, placed
# before our objects, where --as-needed drops them: link them as libraries instead.
target_link_libraries(PkgConfig::DLIB INTERFACE ${DLIB_LDFLAGS_OTHER})
pkg_check_modules(CAIRO REQUIRED IMPORTED_TARGET cairo)
# serve: Debian's cpp-httplib is a compiled library; its .pc carries the feature macros
# (OpenSSL, zlib, brotli) the library was built with, which our code must see too.
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)  # API key hashes
# FFmpeg's libraries (the ones OpenCV's videoio links): src/video decodes files and streams and
# writes annotated video with them directly, for per-packet error handling, timestamps, interrupts
# and fragmented MP4 that OpenCV 4.6's wrapper does not expose.
pkg_check_modules(LIBAV REQUIRED IMPORTED_TARGET libavformat libavcodec libavutil libswscale)

# FAISS ships no CMake config in Debian 12.
find_path(FAISS_INCLUDE_DIR faiss/Index.h REQUIRED)
find_library(FAISS_LIBRARY faiss REQUIRED)
add_library(faiss_lib INTERFACE)
target_include_directories(faiss_lib SYSTEM INTERFACE ${FAISS_INCLUDE_DIR})
# libfaiss.a is static: its OpenMP runtime and BLAS/LAPACK (OpenBLAS) must be linked explicitly
# (libraries only: no -fopenmp for our own code).
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(BLAS REQUIRED)
find_package(LAPACK REQUIRED)
target_link_libraries(faiss_lib INTERFACE ${FAISS_LIBRARY} ${OpenMP_CXX_LIBRARIES} ${LAPACK_LIBRARIES}
                                          ${BLAS_LIBRARIES})

# oneDNN (libdnnl-dev): the libdnnl.so.2 that Debian's LibTorch itself links; src/clip calls it
# directly for packed-weight CPU inference (see src/clip/onednn.hpp).
find_path(DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.hpp REQUIRED)
find_library(DNNL_LIBRARY dnnl REQUIRED)
add_library(dnnl_lib INTERFACE)
target_include_directories(dnnl_lib SYSTEM INTERFACE ${DNNL_INCLUDE_DIR})
target_link_libraries(dnnl_lib INTERFACE ${DNNL_LIBRARY})

# Torch's exported flags carry -D_GLIBCXX_USE_CXX11_ABI etc.; keep its headers out of our warnings.
add_library(torch_lib INTERFACE)
target_include_directories(torch_lib SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
target_link_libraries(torch_lib INTERFACE ${TORCH_LIBRARIES})
target_compile_options(torch_lib INTERFACE ${TORCH_CXX_FLAGS})

find_package(GTest)
find_package(benchmark)
