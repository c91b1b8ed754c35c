// 2-D max and average pooling, forward and backward, on TF.js's own NHWC buffers, with oneDNN 2.x
// primitives cached by shape as in conv.h. Follows oneDNN's "pooling" example
// (examples/primitives/pooling.cpp) and, for the max-pool backward, its CNN training example: the
// backward primitive needs the forward's workspace (the argmax of each window), so the backward
// call runs the forward (prop_kind forward_training) first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "conv.h"

namespace gnet {

/**
 * One pooling's shape, dilation 1, in TF.js's terms: x `[n, h, w, c]`, y `[n, oh, ow, c]`, a
 * `[kh, kw]` window; pads are TF's (top/left may differ from bottom/right), each smaller than the
 * window so that every window holds at least one input element.
 */
struct PoolShape {
  int64_t n, h, w, c, oh, ow, kh, kw, sh, sw, pad_top, pad_left, pad_bottom, pad_right;
};

/** How many int32 values describe a PoolShape on the JS side, in the field order above. */
constexpr size_t kPoolShapeFields = 14;

/**
 * The poolings of one JS context, like Convolutions: an engine, a stream and a primitive cache.
 * Max pooling takes the largest of the window's input elements (padding is never a candidate) and
 * its gradient goes to the first largest in row-major window order, as TF's; average pooling
 * divides by the number of input elements in the window, padding excluded (TF's 'same' average,
 * oneDNN's `pooling_avg_exclude_padding`), forward and backward.
 */
class Poolings {
 public:
  explicit Poolings(size_t cache_capacity);
  ~Poolings();

  /** y `[n, oh, ow, c]` = max or average of x `[n, h, w, c]` over each window. */
  void forward(const PoolShape& s, bool max, const float* x, float* y);
  /** dx `[n, h, w, c]` of max pooling from x and dy `[n, oh, ow, c]` (runs the forward for its argmax). */
  void max_backward(const PoolShape& s, const float* x, const float* dy, float* dx);
  /** dx `[n, h, w, c]` of average pooling from dy `[n, oh, ow, c]`. */
  void avg_backward(const PoolShape& s, const float* dy, float* dx);

  CacheStats cache_stats() const;
  void set_cache_capacity(size_t capacity);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gnet
