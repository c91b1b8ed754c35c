// 2-D convolution forward, backward-data and backward-weights on TF.js's own buffers (NHWC
// activations, HWIO filters), with oneDNN 2.x primitives cached by shape. Follows oneDNN's
// "CNN f32 training" example (examples/cnn_training_f32.cpp): `format_tag::any` for the weights so
// the primitive picks its blocked layout, user-layout memories around it, and reorders between.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace gnet {

/**
 * One convolution's shape, dilation 1, in TF.js's terms: x `[n, h, w, cin]`, filter
 * `[kh, kw, cin, cout]`, y `[n, oh, ow, cout]`; pads are TF's (top/left may differ from
 * bottom/right, e.g. 'same' with stride 2 on an even size pads only bottom/right).
 */
struct ConvShape {
  int64_t n, h, w, cin, oh, ow, cout, kh, kw, sh, sw, pad_top, pad_left, pad_bottom, pad_right;
};

/** How many int32 values describe a ConvShape on the JS side, in the field order above. */
constexpr size_t kConvShapeFields = 15;

/** Hits, misses and size of one Convolutions object's primitive cache. */
struct CacheStats {
  size_t size, capacity;
  uint64_t hits, misses;
};

/**
 * The convolutions of one JS context (the main thread or one worker thread): a oneDNN CPU engine,
 * a stream, and the primitive cache. Not thread-safe; each context owns its own.
 * All pointers are dense, row-major, float32; the caller checks their lengths.
 * Errors are thrown as dnnl::error (oneDNN) or std::invalid_argument (a shape oneDNN refuses).
 */
class Convolutions {
 public:
  explicit Convolutions(size_t cache_capacity);
  ~Convolutions();

  /** y = relu?(conv(x, w) + bias?); bias `[cout]` may be null. */
  void forward(const ConvShape& s, const float* x, const float* w_hwio, const float* bias, bool relu, float* y);
  /** dx `[n, h, w, cin]` from dy `[n, oh, ow, cout]` and w `[kh, kw, cin, cout]`. */
  void backward_data(const ConvShape& s, const float* dy, const float* w_hwio, float* dx);
  /** dw `[kh, kw, cin, cout]` from x `[n, h, w, cin]` and dy `[n, oh, ow, cout]`. */
  void backward_weights(const ConvShape& s, const float* x, const float* dy, float* dw_hwio);

  /**
   * Primitives are cached per thread count too: oneDNN's JIT kernels split their work for the
   * thread count in effect when the primitive is created (oneDNN's own primitive cache keys on it
   * for the same reason), so a primitive made for 1 thread keeps using 1 after set_num_threads(2).
   */
  CacheStats cache_stats() const;
  void set_cache_capacity(size_t capacity);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/** oneDNN's version as "major.minor.patch". */
const char* version_string();
/** The instruction set oneDNN dispatches to on this machine, e.g. "avx512_core". */
const char* isa_name();
/** oneDNN's CPU threading runtime: "omp", "tbb", "seq", "threadpool" or "unknown". */
const char* cpu_runtime_name();
/** Threads oneDNN's next call from this OS thread may use (OpenMP's max threads; 0 if not OpenMP). */
int max_threads();
/** Sets that for this OS thread (OpenMP's ICV, read by oneDNN at each call); false if not OpenMP. */
bool set_num_threads(int threads);

}  // namespace gnet
