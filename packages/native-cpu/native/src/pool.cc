// oneDNN 2.x pooling primitives over TF.js buffers; see pool.h. Everything stays NHWC (`nhwc`),
// TF.js's own layout: pooling has no weights, so no layout choice or reorder is needed.
#include "pool.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "lru_cache.h"

namespace gnet {

using dnnl::algorithm;
using dnnl::memory;
using dnnl::prop_kind;
using dt = memory::data_type;
using tag = memory::format_tag;

namespace {

/** PoolShape in oneDNN's logical dims (N, C, H, W; the tag says how they sit in memory). */
struct Dims {
  memory::dims src, dst, strides, kernel, pad_l, pad_r;
};

Dims dims_of(const PoolShape& s) {
  return {{s.n, s.c, s.h, s.w}, {s.n, s.c, s.oh, s.ow}, {s.sh, s.sw},
          {s.kh, s.kw},         {s.pad_top, s.pad_left}, {s.pad_bottom, s.pad_right}};
}

/** The shape check oneDNN makes, plus pads below the window (else a window may hold no input). */
void check_shape(const PoolShape& s) {
  auto out = [](int64_t in, int64_t k, int64_t stride, int64_t lo, int64_t hi) {
    return (in - k + lo + hi) / stride + 1;
  };
  if (s.n <= 0 || s.h <= 0 || s.w <= 0 || s.c <= 0 || s.kh <= 0 || s.kw <= 0 || s.sh <= 0 || s.sw <= 0 ||
      s.pad_top < 0 || s.pad_left < 0 || s.pad_bottom < 0 || s.pad_right < 0 || s.pad_top >= s.kh ||
      s.pad_bottom >= s.kh || s.pad_left >= s.kw || s.pad_right >= s.kw ||
      s.oh != out(s.h, s.kh, s.sh, s.pad_top, s.pad_bottom) || s.ow != out(s.w, s.kw, s.sw, s.pad_left, s.pad_right)) {
    throw std::invalid_argument(
        "pool shape [n=" + std::to_string(s.n) + ", " + std::to_string(s.h) + "x" + std::to_string(s.w) + "x" +
        std::to_string(s.c) + "] window " + std::to_string(s.kh) + "x" + std::to_string(s.kw) + " stride " +
        std::to_string(s.sh) + "x" + std::to_string(s.sw) + " pads t" + std::to_string(s.pad_top) + " l" +
        std::to_string(s.pad_left) + " b" + std::to_string(s.pad_bottom) + " r" + std::to_string(s.pad_right) +
        " does not give the output " + std::to_string(s.oh) + "x" + std::to_string(s.ow) +
        " (or a pad is not smaller than the window)");
  }
}

std::string cache_key(char kind, const PoolShape& s) {
  const int64_t* f = &s.n;
  std::string key(1, kind);
  for (size_t i = 0; i < kPoolShapeFields; i++) key += ',' + std::to_string(f[i]);
  key += '/' + std::to_string(max_threads());
  return key;
}

algorithm algo(bool max) { return max ? algorithm::pooling_max : algorithm::pooling_avg_exclude_padding; }

dnnl::pooling_forward::primitive_desc forward_pd(const dnnl::engine& eng, const Dims& d, prop_kind prop, bool max) {
  dnnl::pooling_forward::desc desc(prop, algo(max), memory::desc(d.src, dt::f32, tag::nhwc),
                                   memory::desc(d.dst, dt::f32, tag::nhwc), d.strides, d.kernel, d.pad_l, d.pad_r);
  return {desc, eng};
}

dnnl::pooling_backward::primitive_desc backward_pd(const dnnl::engine& eng, const Dims& d, bool max,
                                                   const dnnl::pooling_forward::primitive_desc& hint) {
  dnnl::pooling_backward::desc desc(algo(max), memory::desc(d.src, dt::f32, tag::nhwc),
                                    memory::desc(d.dst, dt::f32, tag::nhwc), d.strides, d.kernel, d.pad_l, d.pad_r);
  return {desc, eng, hint};
}

struct Entry {
  virtual ~Entry() = default;
};

struct ForwardEntry : Entry {
  dnnl::pooling_forward pool;
  memory src, dst;

  ForwardEntry(const dnnl::engine& eng, const dnnl::pooling_forward::primitive_desc& pd)
      : pool(pd), src(pd.src_desc(), eng, DNNL_MEMORY_NONE), dst(pd.dst_desc(), eng, DNNL_MEMORY_NONE) {}
};

/**
 * Average-pool backward: diff_dst in, diff_src out. Max-pool backward also holds the training
 * forward; its output (discarded: TF.js already has y) and workspace (the argmax per window) live
 * in the Impl's scratch buffers, shared by every shape, so the cache holds no activation-sized
 * buffers (at width 1, batch 128, one 3x3/1 pool's output is 128 MiB).
 */
struct BackwardEntry : Entry {
  dnnl::pooling_backward pool;
  memory diff_src, diff_dst;
  dnnl::pooling_forward fwd;
  memory src, dst, workspace;

  BackwardEntry(const dnnl::engine& eng, const Dims& d, bool max) {
    auto fpd = forward_pd(eng, d, max ? prop_kind::forward_training : prop_kind::forward_inference, max);
    auto bpd = backward_pd(eng, d, max, fpd);
    pool = dnnl::pooling_backward(bpd);
    diff_src = memory(bpd.diff_src_desc(), eng, DNNL_MEMORY_NONE);
    diff_dst = memory(bpd.diff_dst_desc(), eng, DNNL_MEMORY_NONE);
    if (max) {
      fwd = dnnl::pooling_forward(fpd);
      src = memory(fpd.src_desc(), eng, DNNL_MEMORY_NONE);
      dst = memory(fpd.dst_desc(), eng, DNNL_MEMORY_NONE);
      workspace = memory(fpd.workspace_desc(), eng, DNNL_MEMORY_NONE);
    }
  }
};

/** At least `bytes` of `buf` (grown, never shrunk) as a data handle, aligned for any scalar type. */
void* scratch(std::vector<std::max_align_t>& buf, size_t bytes) {
  size_t n = (bytes + sizeof(std::max_align_t) - 1) / sizeof(std::max_align_t);
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

}  // namespace

struct Poolings::Impl {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{eng};
  LruCache<Entry> cache;
  /** The max-pool backward's forward output and workspace, sized for the largest shape seen. */
  std::vector<std::max_align_t> dst_scratch, workspace_scratch;

  explicit Impl(size_t capacity) : cache(capacity) {}

  template <typename T, typename Make>
  T* lookup(const std::string& key, Make make) {
    if (Entry* hit = cache.get(key)) return static_cast<T*>(hit);
    return static_cast<T*>(cache.put(key, make()));
  }
};

Poolings::Poolings(size_t cache_capacity) : impl_(std::make_unique<Impl>(cache_capacity)) {}
Poolings::~Poolings() = default;

void Poolings::forward(const PoolShape& s, bool max, const float* x, float* y) {
  check_shape(s);
  auto* e = impl_->lookup<ForwardEntry>(cache_key(max ? 'M' : 'A', s), [&] {
    return std::make_unique<ForwardEntry>(impl_->eng, forward_pd(impl_->eng, dims_of(s), prop_kind::forward_inference, max));
  });
  e->src.set_data_handle(const_cast<float*>(x));
  e->dst.set_data_handle(y);
  e->pool.execute(impl_->stream, {{DNNL_ARG_SRC, e->src}, {DNNL_ARG_DST, e->dst}});
  impl_->stream.wait();
}

void Poolings::max_backward(const PoolShape& s, const float* x, const float* dy, float* dx) {
  check_shape(s);
  auto* e = impl_->lookup<BackwardEntry>(cache_key('m', s), [&] {
    return std::make_unique<BackwardEntry>(impl_->eng, dims_of(s), true);
  });
  auto& stream = impl_->stream;
  e->src.set_data_handle(const_cast<float*>(x));
  e->dst.set_data_handle(scratch(impl_->dst_scratch, e->dst.get_desc().get_size()));
  e->workspace.set_data_handle(scratch(impl_->workspace_scratch, e->workspace.get_desc().get_size()));
  e->fwd.execute(stream, {{DNNL_ARG_SRC, e->src}, {DNNL_ARG_DST, e->dst}, {DNNL_ARG_WORKSPACE, e->workspace}});
  e->diff_dst.set_data_handle(const_cast<float*>(dy));
  e->diff_src.set_data_handle(dx);
  e->pool.execute(stream,
                  {{DNNL_ARG_DIFF_DST, e->diff_dst}, {DNNL_ARG_WORKSPACE, e->workspace}, {DNNL_ARG_DIFF_SRC, e->diff_src}});
  stream.wait();
}

void Poolings::avg_backward(const PoolShape& s, const float* dy, float* dx) {
  check_shape(s);
  auto* e = impl_->lookup<BackwardEntry>(cache_key('a', s), [&] {
    return std::make_unique<BackwardEntry>(impl_->eng, dims_of(s), false);
  });
  e->diff_dst.set_data_handle(const_cast<float*>(dy));
  e->diff_src.set_data_handle(dx);
  e->pool.execute(impl_->stream, {{DNNL_ARG_DIFF_DST, e->diff_dst}, {DNNL_ARG_DIFF_SRC, e->diff_src}});
  impl_->stream.wait();
}

CacheStats Poolings::cache_stats() const {
  const auto& c = impl_->cache;
  return {c.size(), c.capacity(), c.hits(), c.misses()};
}

void Poolings::set_cache_capacity(size_t capacity) { impl_->cache.set_capacity(capacity); }

}  // namespace gnet
