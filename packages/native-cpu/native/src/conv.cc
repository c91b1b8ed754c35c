// oneDNN 2.x convolution primitives over TF.js buffers; see conv.h. The layout choice is the one
// issue 11 measured: activations stay NHWC (`nhwc`, TF.js's own layout, zero copy), the weights are
// `format_tag::any` so oneDNN picks its blocked layout and its direct JIT kernels; forcing HWIO
// weights makes it fall back to a GEMM path 2-3x slower. The HWIO <-> blocked reorder per call
// costs little next to the convolution.
#include "conv.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <stdexcept>
#include <string>
#include <unordered_map>

#include "lru_cache.h"

#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
#include <omp.h>
#define GNET_HAS_OMP 1
#else
#define GNET_HAS_OMP 0
#endif

namespace gnet {

using dnnl::algorithm;
using dnnl::memory;
using dnnl::prop_kind;
using dt = memory::data_type;
using tag = memory::format_tag;

namespace {

/** ConvShape in oneDNN's logical dims (always N, C, H, W; the tag says how they sit in memory). */
struct Dims {
  memory::dims src, weights, dst, bias, strides, pad_l, pad_r;
};

Dims dims_of(const ConvShape& s) {
  return {
      {s.n, s.cin, s.h, s.w},      {s.cout, s.cin, s.kh, s.kw}, {s.n, s.cout, s.oh, s.ow}, {s.cout},
      {s.sh, s.sw},                {s.pad_top, s.pad_left},     {s.pad_bottom, s.pad_right},
  };
}

/** oneDNN's own shape check (conv_desc_init), repeated so the message says which shape. */
void check_shape(const ConvShape& s) {
  auto out = [](int64_t in, int64_t k, int64_t stride, int64_t lo, int64_t hi) {
    return (in - k + lo + hi) / stride + 1;
  };
  if (s.n <= 0 || s.h <= 0 || s.w <= 0 || s.cin <= 0 || s.cout <= 0 || s.kh <= 0 || s.kw <= 0 ||
      s.sh <= 0 || s.sw <= 0 || s.pad_top < 0 || s.pad_left < 0 || s.pad_bottom < 0 || s.pad_right < 0 ||
      s.oh != out(s.h, s.kh, s.sh, s.pad_top, s.pad_bottom) || s.ow != out(s.w, s.kw, s.sw, s.pad_left, s.pad_right)) {
    throw std::invalid_argument(
        "conv shape [n=" + std::to_string(s.n) + ", " + std::to_string(s.h) + "x" + std::to_string(s.w) + "x" +
        std::to_string(s.cin) + "] * [" + std::to_string(s.kh) + "x" + std::to_string(s.kw) + "] stride " +
        std::to_string(s.sh) + "x" + std::to_string(s.sw) + " pads t" + std::to_string(s.pad_top) + " l" +
        std::to_string(s.pad_left) + " b" + std::to_string(s.pad_bottom) + " r" + std::to_string(s.pad_right) +
        " does not give the output " + std::to_string(s.oh) + "x" + std::to_string(s.ow) + "x" +
        std::to_string(s.cout));
  }
}

std::string cache_key(char kind, const ConvShape& s, int flags) {
  const int64_t* f = &s.n;
  std::string key(1, kind);
  for (size_t i = 0; i < kConvShapeFields; i++) key += ',' + std::to_string(f[i]);
  key += '/' + std::to_string(flags) + '/' + std::to_string(max_threads());
  return key;
}

/** A cached primitive with its memories; the memories' data handles are set on every call. */
struct Entry {
  virtual ~Entry() = default;
};

/**
 * Weights going into a primitive: the user's HWIO buffer, and when the primitive chose another
 * layout, an owned buffer in that layout plus the reorder into it.
 */
struct WeightsIn {
  memory user, prim;
  dnnl::reorder to_prim;
  bool reorders;

  WeightsIn(const dnnl::engine& eng, const memory::dims& dims, const memory::desc& prim_md)
      : user({dims, dt::f32, tag::hwio}, eng, DNNL_MEMORY_NONE) {
    reorders = prim_md != user.get_desc();
    prim = reorders ? memory(prim_md, eng) : user;
    if (reorders) to_prim = dnnl::reorder(user, prim);
  }

  const memory& bind(dnnl::stream& stream, const float* hwio) {
    user.set_data_handle(const_cast<float*>(hwio));
    if (reorders) to_prim.execute(stream, user, prim);
    return prim;
  }
};

dnnl::convolution_forward::primitive_desc forward_pd(const dnnl::engine& eng, const Dims& d, bool bias, bool relu) {
  memory::desc src({d.src, dt::f32, tag::nhwc}), dst({d.dst, dt::f32, tag::nhwc});
  memory::desc weights({d.weights, dt::f32, tag::any});
  auto desc = bias ? dnnl::convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, src,
                                                     weights, memory::desc({d.bias, dt::f32, tag::x}), dst,
                                                     d.strides, d.pad_l, d.pad_r)
                   : dnnl::convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, src,
                                                     weights, dst, d.strides, d.pad_l, d.pad_r);
  dnnl::primitive_attr attr;
  if (relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(ops);
  }
  return {desc, attr, eng};
}

struct ForwardEntry : Entry {
  dnnl::convolution_forward conv;
  memory src, dst, bias;
  WeightsIn weights;

  ForwardEntry(const dnnl::engine& eng, const Dims& d, const dnnl::convolution_forward::primitive_desc& pd,
               bool has_bias)
      : conv(pd),
        src(pd.src_desc(), eng, DNNL_MEMORY_NONE),
        dst(pd.dst_desc(), eng, DNNL_MEMORY_NONE),
        weights(eng, d.weights, pd.weights_desc()) {
    if (has_bias) bias = memory(pd.bias_desc(), eng, DNNL_MEMORY_NONE);
  }
};

struct BackwardDataEntry : Entry {
  dnnl::convolution_backward_data conv;
  memory diff_src, diff_dst;
  WeightsIn weights;

  BackwardDataEntry(const dnnl::engine& eng, const Dims& d, const dnnl::convolution_backward_data::primitive_desc& pd)
      : conv(pd),
        diff_src(pd.diff_src_desc(), eng, DNNL_MEMORY_NONE),
        diff_dst(pd.diff_dst_desc(), eng, DNNL_MEMORY_NONE),
        weights(eng, d.weights, pd.weights_desc()) {}
};

struct BackwardWeightsEntry : Entry {
  dnnl::convolution_backward_weights conv;
  memory src, diff_dst;
  /** The user's HWIO output, and the primitive's own-layout buffer with the reorder out of it. */
  memory user, prim;
  dnnl::reorder to_user;
  bool reorders;

  BackwardWeightsEntry(const dnnl::engine& eng, const Dims& d,
                       const dnnl::convolution_backward_weights::primitive_desc& pd)
      : conv(pd),
        src(pd.src_desc(), eng, DNNL_MEMORY_NONE),
        diff_dst(pd.diff_dst_desc(), eng, DNNL_MEMORY_NONE),
        user({d.weights, dt::f32, tag::hwio}, eng, DNNL_MEMORY_NONE) {
    reorders = pd.diff_weights_desc() != user.get_desc();
    prim = reorders ? memory(pd.diff_weights_desc(), eng) : user;
    if (reorders) to_user = dnnl::reorder(prim, user);
  }
};

}  // namespace

struct Convolutions::Impl {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{eng};
  LruCache<Entry> cache;

  explicit Impl(size_t capacity) : cache(capacity) {}

  /** The cached entry for `key`, or one made by `make` and cached. */
  template <typename T, typename Make>
  T* lookup(const std::string& key, Make make) {
    if (Entry* hit = cache.get(key)) return static_cast<T*>(hit);
    return static_cast<T*>(cache.put(key, make()));
  }
};

Convolutions::Convolutions(size_t cache_capacity) : impl_(std::make_unique<Impl>(cache_capacity)) {}
Convolutions::~Convolutions() = default;

void Convolutions::forward(const ConvShape& s, const float* x, const float* w_hwio, const float* bias, bool relu,
                           float* y) {
  check_shape(s);
  const bool has_bias = bias != nullptr;
  auto* e = impl_->lookup<ForwardEntry>(cache_key('F', s, (has_bias ? 1 : 0) | (relu ? 2 : 0)), [&] {
    Dims d = dims_of(s);
    return std::make_unique<ForwardEntry>(impl_->eng, d, forward_pd(impl_->eng, d, has_bias, relu), has_bias);
  });
  auto& stream = impl_->stream;
  e->src.set_data_handle(const_cast<float*>(x));
  e->dst.set_data_handle(y);
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, e->src}, {DNNL_ARG_WEIGHTS, e->weights.bind(stream, w_hwio)}, {DNNL_ARG_DST, e->dst}};
  if (has_bias) {
    e->bias.set_data_handle(const_cast<float*>(bias));
    args.emplace(DNNL_ARG_BIAS, e->bias);
  }
  e->conv.execute(stream, args);
  stream.wait();
}

void Convolutions::backward_data(const ConvShape& s, const float* dy, const float* w_hwio, float* dx) {
  check_shape(s);
  auto* e = impl_->lookup<BackwardDataEntry>(cache_key('D', s, 0), [&] {
    Dims d = dims_of(s);
    memory::desc diff_src({d.src, dt::f32, tag::nhwc}), diff_dst({d.dst, dt::f32, tag::nhwc});
    memory::desc weights({d.weights, dt::f32, tag::any});
    dnnl::convolution_backward_data::desc desc(algorithm::convolution_direct, diff_src, weights, diff_dst, d.strides,
                                               d.pad_l, d.pad_r);
    dnnl::convolution_backward_data::primitive_desc pd(desc, impl_->eng, forward_pd(impl_->eng, d, false, false));
    return std::make_unique<BackwardDataEntry>(impl_->eng, d, pd);
  });
  auto& stream = impl_->stream;
  e->diff_dst.set_data_handle(const_cast<float*>(dy));
  e->diff_src.set_data_handle(dx);
  e->conv.execute(stream, {{DNNL_ARG_DIFF_DST, e->diff_dst},
                           {DNNL_ARG_WEIGHTS, e->weights.bind(stream, w_hwio)},
                           {DNNL_ARG_DIFF_SRC, e->diff_src}});
  stream.wait();
}

void Convolutions::backward_weights(const ConvShape& s, const float* x, const float* dy, float* dw_hwio) {
  check_shape(s);
  auto* e = impl_->lookup<BackwardWeightsEntry>(cache_key('W', s, 0), [&] {
    Dims d = dims_of(s);
    memory::desc src({d.src, dt::f32, tag::nhwc}), diff_dst({d.dst, dt::f32, tag::nhwc});
    memory::desc diff_weights({d.weights, dt::f32, tag::any});
    dnnl::convolution_backward_weights::desc desc(algorithm::convolution_direct, src, diff_weights, diff_dst,
                                                  d.strides, d.pad_l, d.pad_r);
    dnnl::convolution_backward_weights::primitive_desc pd(desc, impl_->eng, forward_pd(impl_->eng, d, false, false));
    return std::make_unique<BackwardWeightsEntry>(impl_->eng, d, pd);
  });
  auto& stream = impl_->stream;
  e->src.set_data_handle(const_cast<float*>(x));
  e->diff_dst.set_data_handle(const_cast<float*>(dy));
  e->user.set_data_handle(dw_hwio);
  e->conv.execute(stream, {{DNNL_ARG_SRC, e->src}, {DNNL_ARG_DIFF_DST, e->diff_dst}, {DNNL_ARG_DIFF_WEIGHTS, e->prim}});
  if (e->reorders) e->to_user.execute(stream, e->prim, e->user);
  stream.wait();
}

CacheStats Convolutions::cache_stats() const {
  const auto& c = impl_->cache;
  return {c.size(), c.capacity(), c.hits(), c.misses()};
}

void Convolutions::set_cache_capacity(size_t capacity) { impl_->cache.set_capacity(capacity); }

const char* version_string() {
  static std::string text = [] {
    const dnnl_version_t* v = dnnl_version();
    return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
  }();
  return text.c_str();
}

const char* isa_name() {
  switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_all: return "all";
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
  }
  return "unknown";
}

const char* cpu_runtime_name() {
  switch (dnnl_version()->cpu_runtime) {
    case DNNL_RUNTIME_OMP: return "omp";
    case DNNL_RUNTIME_TBB: return "tbb";
    case DNNL_RUNTIME_SEQ: return "seq";
    case DNNL_RUNTIME_THREADPOOL: return "threadpool";
  }
  return "unknown";
}

int max_threads() {
#if GNET_HAS_OMP
  return omp_get_max_threads();
#else
  return 0;
#endif
}

bool set_num_threads(int threads) {
#if GNET_HAS_OMP
  omp_set_num_threads(threads);
  return true;
#else
  (void)threads;
  return false;
#endif
}

}  // namespace gnet
