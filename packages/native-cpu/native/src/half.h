// fp16 <-> fp32 conversion of all-reduce chunks with the CPU's F16C instructions: 15-25x faster
// than the JS loops in @gnet/protocol (~2.7 ns per element each way), which left fp16 rounds at
// 1 Gbit CPU-bound (bench/cluster_allreduce.bench.ts). Results equal protocol's
// float16BitsFromFloat32Bits (round to nearest even, NaN as sign | 0x7e00) and its decode table.
#pragma once

#include <cstdint>

namespace gnet {

/** Whether this CPU has F16C and AVX2 (every x86-64 since 2013); without them nothing here may run. */
bool float16_supported();

/** dst[i] = fp16 bits of src[i], little-endian, for i < n; `dst` needs no alignment. */
void float16_encode(const float* src, uint8_t* dst, int64_t n);

/** out[i] = (accumulate ? out[i] : 0) + the fp16 at src[2i..2i+1] (little-endian), for i < n. */
void float16_decode(const uint8_t* src, float* out, int64_t n, bool accumulate);

}  // namespace gnet
