// Element-wise, BatchNorm and strided-copy loops over TF.js's NHWC Float32Arrays, the memory-bound
// part of a training step that oneDNN has no primitive worth a reorder for. Plain loops that the
// compiler vectorises, split across the same OpenMP threads oneDNN uses (setNumThreads applies).
// Every reduction combines its per-thread partial sums in thread order, so results are
// bit-identical run to run for a given thread count (replicas must stay bit-identical).
#pragma once

#include <cstdint>

namespace gnet {

enum class BinaryOp : int32_t { kAdd = 0, kSub = 1, kMul = 2, kDiv = 3 };
constexpr int32_t kBinaryOps = 4;

/**
 * out[i] = a[i % a_len] op b[i % b_len] for i < n, where each of a_len and b_len is n or divides
 * it (a trailing broadcast: a `[c]` bias against `[n, h, w, c]`, or a scalar), and at least one of
 * them is n. Throws std::invalid_argument otherwise.
 */
void binary(BinaryOp op, const float* a, int64_t a_len, const float* b, int64_t b_len, float* out, int64_t n);

/** y = max(x, 0), NaN stays NaN (TF's Relu). */
void relu(const float* x, float* y, int64_t n);

/** y = x > 0 ? 1 : alpha, NaN stays NaN (TF's Step, behind the ReLU gradient). */
void step(const float* x, float alpha, float* y, int64_t n);

/**
 * Training-mode BatchNorm over `rows` = n*h*w rows of `c` channels:
 * mean, biased var and inv_std = 1/sqrt(var + eps) per channel (sums in double), and
 * y = (x - mean) * gamma * inv_std + beta.
 */
void batch_norm_forward(int64_t rows, int64_t c, const float* x, const float* gamma, const float* beta, float eps,
                        float* y, float* mean, float* var, float* inv_std);

/**
 * Its analytic backward (m = rows, xhat = (x - mean) * inv_std):
 *   dbeta = sum(dy), dgamma = sum(dy * xhat),
 *   dx = gamma * inv_std * (dy - dbeta / m - xhat * dgamma / m).
 */
void batch_norm_backward(int64_t rows, int64_t c, const float* dy, const float* x, const float* mean,
                         const float* inv_std, const float* gamma, float* dx, float* dgamma, float* dbeta);

/**
 * Copies a `rows x cols` block: dst[r * dst_stride + dst_offset + j] = src[r * src_stride +
 * src_offset + j]. Concat along the last axis is one call per input, SplitV one per output.
 */
void copy_block(const float* src, int64_t src_stride, int64_t src_offset, float* dst, int64_t dst_stride,
                int64_t dst_offset, int64_t rows, int64_t cols);

}  // namespace gnet
