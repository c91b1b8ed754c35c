// See half.h. The vector loops are compiled for AVX2 + F16C by function attribute, so the rest of
// the addon keeps its baseline flags; float16_supported() guards every call.
#include "half.h"

#include <immintrin.h>

#include <cstring>

namespace gnet {

bool float16_supported() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx2");
}

namespace {

/**
 * 8 fp16 from 8 floats, rounding to nearest even. vcvtps2ph keeps a NaN's top payload bits; the
 * JS conversion gives every NaN the one quiet pattern sign | 0x7e00, so clear the rest of the
 * payload in NaN lanes (a lane is NaN when its bits without the sign exceed 0x7c00).
 */
__attribute__((target("avx2,f16c"))) inline __m128i encode8(__m256 x) {
  const __m128i half = _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m128i magnitude = _mm_and_si128(half, _mm_set1_epi16(0x7fff));
  const __m128i is_nan = _mm_cmpgt_epi16(magnitude, _mm_set1_epi16(0x7c00));
  return _mm_andnot_si128(_mm_and_si128(is_nan, _mm_set1_epi16(0x01ff)), half);
}

__attribute__((target("avx2,f16c"))) void encode(const float* src, uint8_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 2 * i), encode8(_mm256_loadu_ps(src + i)));
  }
  if (i < n) {
    alignas(32) float tail_in[8] = {0};
    alignas(16) uint16_t tail_out[8];
    std::memcpy(tail_in, src + i, static_cast<size_t>(n - i) * sizeof(float));
    _mm_store_si128(reinterpret_cast<__m128i*>(tail_out), encode8(_mm256_load_ps(tail_in)));
    std::memcpy(dst + 2 * i, tail_out, static_cast<size_t>(n - i) * 2);
  }
}

__attribute__((target("avx2,f16c"))) void decode(const uint8_t* src, float* out, int64_t n, bool accumulate) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 x = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i)));
    if (accumulate) x = _mm256_add_ps(_mm256_loadu_ps(out + i), x);
    _mm256_storeu_ps(out + i, x);
  }
  if (i < n) {
    alignas(16) uint16_t tail_in[8] = {0};
    alignas(32) float tail_out[8];
    std::memcpy(tail_in, src + 2 * i, static_cast<size_t>(n - i) * 2);
    _mm256_store_ps(tail_out, _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(tail_in))));
    for (int64_t j = 0; j < n - i; j++) out[i + j] = accumulate ? out[i + j] + tail_out[j] : tail_out[j];
  }
}

}  // namespace

void float16_encode(const float* src, uint8_t* dst, int64_t n) { encode(src, dst, n); }

void float16_decode(const uint8_t* src, float* out, int64_t n, bool accumulate) { decode(src, out, n, accumulate); }

}  // namespace gnet
