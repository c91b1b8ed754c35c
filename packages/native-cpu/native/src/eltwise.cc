// See eltwise.h. Loops parallelise only above kParallelMin elements: below that, waking the
// OpenMP team costs more than the work.
#include "eltwise.h"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include <omp.h>

namespace gnet {

namespace {

constexpr int64_t kParallelMin = 1 << 15;

template <typename F>
void for_range(int64_t n, F f) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; i++) f(i);
}

template <BinaryOp Op>
inline float apply(float a, float b) {
  if constexpr (Op == BinaryOp::kAdd) return a + b;
  if constexpr (Op == BinaryOp::kSub) return a - b;
  if constexpr (Op == BinaryOp::kMul) return a * b;
  return a / b;
}

template <BinaryOp Op>
void binary_op(const float* a, int64_t a_len, const float* b, int64_t b_len, float* out, int64_t n) {
  if (a_len == n && b_len == n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; i++) out[i] = apply<Op>(a[i], b[i]);
  } else if (a_len == n && b_len == 1) {
    const float s = b[0];
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; i++) out[i] = apply<Op>(a[i], s);
  } else if (b_len == n && a_len == 1) {
    const float s = a[0];
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; i++) out[i] = apply<Op>(s, b[i]);
  } else if (a_len == n) {  // b repeats every b_len elements
    const int64_t rows = n / b_len;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t r = 0; r < rows; r++) {
      const float* ar = a + r * b_len;
      float* o = out + r * b_len;
#pragma omp simd
      for (int64_t j = 0; j < b_len; j++) o[j] = apply<Op>(ar[j], b[j]);
    }
  } else {  // a repeats every a_len elements
    const int64_t rows = n / a_len;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t r = 0; r < rows; r++) {
      const float* br = b + r * a_len;
      float* o = out + r * a_len;
#pragma omp simd
      for (int64_t j = 0; j < a_len; j++) o[j] = apply<Op>(a[j], br[j]);
    }
  }
}

/**
 * Per-channel sums over row blocks, one block per thread, combined in thread order:
 * body(row_begin, row_end, partial) adds its rows into `partial` (`width` doubles, zeroed);
 * returns the combined `width` sums.
 */
template <typename Body>
std::vector<double> channel_sums(int64_t rows, int64_t width, int64_t elements, Body body) {
  const int threads = elements >= kParallelMin ? omp_get_max_threads() : 1;
  std::vector<double> partial(static_cast<size_t>(threads) * width, 0.0);
  int used = 1;
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    const int nt = omp_get_num_threads();
#pragma omp single
    used = nt;
    const int64_t begin = rows * t / nt;
    const int64_t end = rows * (t + 1) / nt;
    body(begin, end, partial.data() + static_cast<size_t>(t) * width);
  }
  std::vector<double> sums(partial.begin(), partial.begin() + width);
  for (int t = 1; t < used; t++) {
    const double* p = partial.data() + static_cast<size_t>(t) * width;
    for (int64_t j = 0; j < width; j++) sums[j] += p[j];
  }
  return sums;
}

}  // namespace

void binary(BinaryOp op, const float* a, int64_t a_len, const float* b, int64_t b_len, float* out, int64_t n) {
  const bool a_ok = a_len == n || (a_len > 0 && n % a_len == 0);
  const bool b_ok = b_len == n || (b_len > 0 && n % b_len == 0);
  if (n <= 0 || !a_ok || !b_ok || (a_len != n && b_len != n)) {
    throw std::invalid_argument("binary: operand lengths " + std::to_string(a_len) + " and " + std::to_string(b_len) +
                                " are not a trailing broadcast to " + std::to_string(n) + " elements");
  }
  switch (op) {
    case BinaryOp::kAdd: return binary_op<BinaryOp::kAdd>(a, a_len, b, b_len, out, n);
    case BinaryOp::kSub: return binary_op<BinaryOp::kSub>(a, a_len, b, b_len, out, n);
    case BinaryOp::kMul: return binary_op<BinaryOp::kMul>(a, a_len, b, b_len, out, n);
    case BinaryOp::kDiv: return binary_op<BinaryOp::kDiv>(a, a_len, b, b_len, out, n);
  }
  throw std::invalid_argument("binary: unknown op " + std::to_string(static_cast<int32_t>(op)));
}

void relu(const float* x, float* y, int64_t n) {
  // NaN stays NaN and -0 becomes +0, as tfjs's cpu kernel does (std::max would do neither).
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : (x[i] != x[i] ? x[i] : 0.0f);
}

void step(const float* x, float alpha, float* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; i++) y[i] = std::isnan(x[i]) ? x[i] : (x[i] > 0.0f ? 1.0f : alpha);
}

void batch_norm_forward(int64_t rows, int64_t c, const float* x, const float* gamma, const float* beta, float eps,
                        float* y, float* mean, float* var, float* inv_std) {
  if (rows <= 0 || c <= 0) throw std::invalid_argument("batch_norm_forward: rows and channels must be positive");
  const int64_t n = rows * c;
  const std::vector<double> sum = channel_sums(rows, c, n, [&](int64_t r0, int64_t r1, double* p) {
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = x + r * c;
      for (int64_t j = 0; j < c; j++) p[j] += xr[j];
    }
  });
  std::vector<float> mu(c);
  for (int64_t j = 0; j < c; j++) mu[j] = static_cast<float>(sum[j] / static_cast<double>(rows));
  // Two passes (mean, then squared deviations): no cancellation when |mean| >> std.
  const std::vector<double> sq = channel_sums(rows, c, n, [&](int64_t r0, int64_t r1, double* p) {
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = x + r * c;
      for (int64_t j = 0; j < c; j++) {
        const float d = xr[j] - mu[j];
        p[j] += static_cast<double>(d) * d;
      }
    }
  });
  std::vector<float> scale(c), shift(c);
  for (int64_t j = 0; j < c; j++) {
    mean[j] = mu[j];
    var[j] = static_cast<float>(sq[j] / static_cast<double>(rows));
    inv_std[j] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(var[j]) + eps));
    scale[j] = gamma[j] * inv_std[j];
    shift[j] = beta[j];
  }
  const float* mp = mu.data();
  const float* sp = scale.data();
  const float* hp = shift.data();
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * c;
    float* yr = y + r * c;
#pragma omp simd
    for (int64_t j = 0; j < c; j++) yr[j] = (xr[j] - mp[j]) * sp[j] + hp[j];
  }
}

void batch_norm_backward(int64_t rows, int64_t c, const float* dy, const float* x, const float* mean,
                         const float* inv_std, const float* gamma, float* dx, float* dgamma, float* dbeta) {
  if (rows <= 0 || c <= 0) throw std::invalid_argument("batch_norm_backward: rows and channels must be positive");
  const int64_t n = rows * c;
  // [sum(dy) | sum(dy * (x - mean))] per channel in one pass.
  const std::vector<double> sums = channel_sums(rows, 2 * c, n, [&](int64_t r0, int64_t r1, double* p) {
    double* p_dy = p;
    double* p_dyxc = p + c;
    for (int64_t r = r0; r < r1; r++) {
      const float* dyr = dy + r * c;
      const float* xr = x + r * c;
      for (int64_t j = 0; j < c; j++) {
        p_dy[j] += dyr[j];
        p_dyxc[j] += static_cast<double>(dyr[j]) * (xr[j] - mean[j]);
      }
    }
  });
  const double m = static_cast<double>(rows);
  // dx = dy * k + (x - mean) * b + c0 per channel, with k = gamma * inv_std,
  // b = -k * inv_std * dgamma / m and c0 = -k * dbeta / m.
  std::vector<float> k(c), b(c), c0(c);
  for (int64_t j = 0; j < c; j++) {
    dbeta[j] = static_cast<float>(sums[j]);
    const double dg = sums[c + j] * inv_std[j];
    dgamma[j] = static_cast<float>(dg);
    const double kj = static_cast<double>(gamma[j]) * inv_std[j];
    k[j] = static_cast<float>(kj);
    b[j] = static_cast<float>(-kj * inv_std[j] * dg / m);
    c0[j] = static_cast<float>(-kj * sums[j] / m);
  }
  const float* kp = k.data();
  const float* bp = b.data();
  const float* cp = c0.data();
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t r = 0; r < rows; r++) {
    const float* dyr = dy + r * c;
    const float* xr = x + r * c;
    float* dxr = dx + r * c;
#pragma omp simd
    for (int64_t j = 0; j < c; j++) dxr[j] = dyr[j] * kp[j] + (xr[j] - mean[j]) * bp[j] + cp[j];
  }
}

void copy_block(const float* src, int64_t src_stride, int64_t src_offset, float* dst, int64_t dst_stride,
                int64_t dst_offset, int64_t rows, int64_t cols) {
  if (src_stride == cols && dst_stride == cols) {
    std::memcpy(dst + dst_offset, src + src_offset, static_cast<size_t>(rows * cols) * sizeof(float));
    return;
  }
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMin)
  for (int64_t r = 0; r < rows; r++) {
    std::memcpy(dst + r * dst_stride + dst_offset, src + r * src_stride + src_offset,
                static_cast<size_t>(cols) * sizeof(float));
  }
}

}  // namespace gnet
