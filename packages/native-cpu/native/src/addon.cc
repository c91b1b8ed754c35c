// N-API surface of the oneDNN addon: synchronous functions over Float32Array views (zero copy).
// Plain Node-API (node_api.h, no node-addon-api) so it builds from Node's own headers offline.
// Context-aware (NAPI_MODULE_INIT): each JS context that loads it (main thread, each
// worker_thread) gets its own engine, stream and primitive cache as instance data, so no locks.
//
// JS signatures (src/native_addon.ts declares them):
//   conv2dForward(shape: Int32Array(15), x, filter, bias | null, relu: boolean, y): void
//   conv2dBackwardData(shape, dy, filter, dx): void
//   conv2dBackwardWeights(shape, x, dy, dw): void
//   pool2dForward(shape: Int32Array(14), max: boolean, x, y): void
//   maxPool2dBackward(shape, x, dy, dx): void
//   avgPool2dBackward(shape, dy, dx): void
//   info(): { version, isa, cpuRuntime, maxThreads }
//   setNumThreads(n): number            (the thread count now in effect)
//   cacheStats(): { size, capacity, hits, misses }       (the convolutions' cache)
//   poolCacheStats(): { size, capacity, hits, misses }   (the poolings' cache)
//   setCacheCapacity(n): void                            (each cache)
//   binaryOp(op, a, b, out): void        (op: 0 add, 1 sub, 2 mul, 3 div; trailing broadcast)
//   relu(x, y): void;  step(x, alpha, y): void
//   batchNormForward(c, x, gamma, beta, epsilon, y, mean, variance, invStd): void
//   batchNormBackward(c, dy, x, mean, invStd, gamma, dx, dgamma, dbeta): void
//   copyBlock(src, dst, geometry: Float64Array(6)): void  (srcStride, srcOffset, dstStride, dstOffset, rows, cols)
//   batchMatMul(a, b, out, dims: Float64Array(7)): void   (batchA, batchB, m, k, n, transposeA, transposeB)
//   float16Supported(): boolean          (F16C + AVX2: float16Encode / float16Decode may run)
//   float16Encode(src: Float32Array, dst: Uint8Array(2 * src.length)): void
//   float16Decode(src: Uint8Array(2 * out.length), out: Float32Array, accumulate: boolean): void
//
// On load, on glibc, the addon keeps freed memory in the heap (mallopt: no mmap'd chunks, no
// trimming), as PyTorch's CPU guides advise with MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_: each
// kernel's output is a fresh Float32Array of up to ~25 MB, and with mmap'd chunks every one
// costs page faults and zeroing (a GoogLeNet step ran 1.6x slower). Set GNET_KEEP_MALLOC=1 to
// leave glibc's settings alone.
#include <node_api.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <malloc.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "conv.h"
#include "eltwise.h"
#include "half.h"
#include "pool.h"

namespace {

/**
 * Primitive-cache entries per JS context. GoogLeNet has ~65 convolutions, each with up to three
 * primitives (forward, dx, dW) per batch size: 512 holds a training batch size, an evaluation
 * batch size and a last partial batch without the LRU cycling through them every step.
 */
constexpr size_t kDefaultCacheCapacity = 512;

struct State {
  gnet::Convolutions convs{kDefaultCacheCapacity};
  /** GoogLeNet has ~15 poolings, each with up to two primitives per batch size: 512 is ample. */
  gnet::Poolings pools{kDefaultCacheCapacity};
};

/** Thrown inside a call, turned into a JS Error with `code` at the boundary. */
struct JsError : std::runtime_error {
  const char* code;
  JsError(const char* c, const std::string& message) : std::runtime_error(message), code(c) {}
};

constexpr const char* kBadArgument = "ONEDNN_BAD_ARGUMENT";
constexpr const char* kFailed = "ONEDNN_FAILED";

void check(napi_status status, const char* what) {
  if (status != napi_ok) throw JsError(kFailed, std::string("Node-API call failed: ") + what);
}

State& state(napi_env env) {
  void* data = nullptr;
  check(napi_get_instance_data(env, &data), "napi_get_instance_data");
  if (data == nullptr) throw JsError(kFailed, "addon state missing");
  return *static_cast<State*>(data);
}

/** The call's arguments; throws unless exactly `expected` were passed. */
template <size_t N>
void args(napi_env env, napi_callback_info info, const char* fn, napi_value (&argv)[N]) {
  size_t argc = N;
  check(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr), "napi_get_cb_info");
  if (argc != N) {
    throw JsError(kBadArgument, std::string(fn) + " takes " + std::to_string(N) + " arguments, but got " +
                                    std::to_string(argc));
  }
}

bool is_null(napi_env env, napi_value v) {
  napi_valuetype type;
  check(napi_typeof(env, v, &type), "napi_typeof");
  return type == napi_null || type == napi_undefined;
}

/** The elements of a typed array of `want` type and exactly `length` elements (zero copy). */
void* typed(napi_env env, napi_value v, napi_typedarray_type want, const char* type_name, size_t length,
            const char* fn, const char* name) {
  bool ok = false;
  check(napi_is_typedarray(env, v, &ok), "napi_is_typedarray");
  napi_typedarray_type type;
  size_t got = 0;
  void* data = nullptr;
  if (ok) check(napi_get_typedarray_info(env, v, &type, &got, &data, nullptr, nullptr), "napi_get_typedarray_info");
  if (!ok || type != want) {
    throw JsError(kBadArgument, std::string("`") + name + "` passed to " + fn + " must be a " + type_name);
  }
  if (got != length) {
    throw JsError(kBadArgument, std::string("`") + name + "` passed to " + fn + " must have " +
                                    std::to_string(length) + " elements, but got " + std::to_string(got));
  }
  return data;  // Node-API already adds the view's byte offset
}

float* f32(napi_env env, napi_value v, size_t length, const char* fn, const char* name) {
  return static_cast<float*>(typed(env, v, napi_float32_array, "Float32Array", length, fn, name));
}

gnet::ConvShape conv_shape(napi_env env, napi_value v, const char* fn) {
  auto* f = static_cast<int32_t*>(typed(env, v, napi_int32_array, "Int32Array", gnet::kConvShapeFields, fn, "shape"));
  gnet::ConvShape s;
  int64_t* out = &s.n;
  for (size_t i = 0; i < gnet::kConvShapeFields; i++) out[i] = f[i];
  return s;
}

gnet::PoolShape pool_shape(napi_env env, napi_value v, const char* fn) {
  auto* f = static_cast<int32_t*>(typed(env, v, napi_int32_array, "Int32Array", gnet::kPoolShapeFields, fn, "shape"));
  gnet::PoolShape s;
  int64_t* out = &s.n;
  for (size_t i = 0; i < gnet::kPoolShapeFields; i++) out[i] = f[i];
  return s;
}

/** A Float32Array of any length (zero copy); its length in `*length`. */
float* f32_any(napi_env env, napi_value v, const char* fn, const char* name, size_t* length) {
  bool ok = false;
  check(napi_is_typedarray(env, v, &ok), "napi_is_typedarray");
  napi_typedarray_type type;
  void* data = nullptr;
  if (ok) check(napi_get_typedarray_info(env, v, &type, length, &data, nullptr, nullptr), "napi_get_typedarray_info");
  if (!ok || type != napi_float32_array) {
    throw JsError(kBadArgument, std::string("`") + name + "` passed to " + fn + " must be a Float32Array");
  }
  return static_cast<float*>(data);
}

/** A Uint8Array's bytes (zero copy, any byte offset); its length in `*length`. */
uint8_t* u8_any(napi_env env, napi_value v, const char* fn, const char* name, size_t* length) {
  bool ok = false;
  check(napi_is_typedarray(env, v, &ok), "napi_is_typedarray");
  napi_typedarray_type type;
  void* data = nullptr;
  if (ok) check(napi_get_typedarray_info(env, v, &type, length, &data, nullptr, nullptr), "napi_get_typedarray_info");
  if (!ok || type != napi_uint8_array) {
    throw JsError(kBadArgument, std::string("`") + name + "` passed to " + fn + " must be a Uint8Array");
  }
  return static_cast<uint8_t*>(data);
}

/** Throws unless `bytes` is exactly 2 per element: a caller's length bug must not read or write past a frame. */
void check_half_bytes(size_t bytes, size_t elements, const char* fn, const char* name) {
  if (bytes != 2 * elements) {
    throw JsError(kBadArgument, std::string("`") + name + "` passed to " + fn + " must have " +
                                    std::to_string(2 * elements) + " bytes (2 per element), but has " + std::to_string(bytes));
  }
}

void require_f16c(const char* fn) {
  if (!gnet::float16_supported()) {
    throw JsError(kFailed, std::string(fn) + ": this CPU has no F16C/AVX2; convert in JS (float16Supported() is false)");
  }
}

double number(napi_env env, napi_value v, const char* fn, const char* name) {
  double d = 0;
  if (napi_get_value_double(env, v, &d) != napi_ok || !std::isfinite(d)) {
    throw JsError(kBadArgument, std::string("`") + name + "` passed to " + fn + " must be a finite number");
  }
  return d;
}

/** A channel count: a positive integer dividing `length` (the rows are length / channels). */
int64_t channels_of(napi_env env, napi_value v, size_t length, const char* fn) {
  const double c = number(env, v, fn, "channels");
  if (c < 1 || c != std::floor(c) || length == 0 || length % static_cast<size_t>(c) != 0) {
    throw JsError(kBadArgument, std::string("`channels` passed to ") + fn + " must be a positive integer dividing " +
                                    std::to_string(length) + ", but got " + std::to_string(c));
  }
  return static_cast<int64_t>(c);
}

int64_t x_size(const gnet::PoolShape& s) { return s.n * s.h * s.w * s.c; }
int64_t y_size(const gnet::PoolShape& s) { return s.n * s.oh * s.ow * s.c; }

int64_t x_size(const gnet::ConvShape& s) { return s.n * s.h * s.w * s.cin; }
int64_t y_size(const gnet::ConvShape& s) { return s.n * s.oh * s.ow * s.cout; }
int64_t w_size(const gnet::ConvShape& s) { return s.kh * s.kw * s.cin * s.cout; }

/** Runs `body`, turning any C++ exception into a thrown JS Error with a `code` property. */
template <typename Body>
napi_value guarded(napi_env env, Body body) {
  std::string code, message;
  try {
    return body();
  } catch (const JsError& e) {
    code = e.code;
    message = e.what();
  } catch (const dnnl::error& e) {
    code = kFailed;
    message = std::string("oneDNN: ") + e.what() + " (dnnl_status_t " + std::to_string(e.status) + ")";
  } catch (const std::invalid_argument& e) {
    code = kBadArgument;
    message = e.what();
  } catch (const std::exception& e) {
    code = kFailed;
    message = e.what();
  }
  napi_throw_error(env, code.c_str(), message.c_str());
  return nullptr;
}

napi_value undefined(napi_env env) {
  napi_value v;
  check(napi_get_undefined(env, &v), "napi_get_undefined");
  return v;
}

void set_string(napi_env env, napi_value obj, const char* key, const char* value) {
  napi_value v;
  check(napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v), "napi_create_string_utf8");
  check(napi_set_named_property(env, obj, key, v), "napi_set_named_property");
}

void set_number(napi_env env, napi_value obj, const char* key, double value) {
  napi_value v;
  check(napi_create_double(env, value, &v), "napi_create_double");
  check(napi_set_named_property(env, obj, key, v), "napi_set_named_property");
}

napi_value Conv2dForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    const char* fn = "conv2dForward";
    napi_value argv[6];
    args(env, info, fn, argv);
    gnet::ConvShape s = conv_shape(env, argv[0], fn);
    const float* x = f32(env, argv[1], x_size(s), fn, "x");
    const float* w = f32(env, argv[2], w_size(s), fn, "filter");
    const float* bias = is_null(env, argv[3]) ? nullptr : f32(env, argv[3], s.cout, fn, "bias");
    bool relu = false;
    check(napi_get_value_bool(env, argv[4], &relu), "`relu` must be a boolean");
    float* y = f32(env, argv[5], y_size(s), fn, "y");
    state(env).convs.forward(s, x, w, bias, relu, y);
    return undefined(env);
  });
}

napi_value Conv2dBackwardData(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    const char* fn = "conv2dBackwardData";
    napi_value argv[4];
    args(env, info, fn, argv);
    gnet::ConvShape s = conv_shape(env, argv[0], fn);
    const float* dy = f32(env, argv[1], y_size(s), fn, "dy");
    const float* w = f32(env, argv[2], w_size(s), fn, "filter");
    float* dx = f32(env, argv[3], x_size(s), fn, "dx");
    state(env).convs.backward_data(s, dy, w, dx);
    return undefined(env);
  });
}

napi_value Conv2dBackwardWeights(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    const char* fn = "conv2dBackwardWeights";
    napi_value argv[4];
    args(env, info, fn, argv);
    gnet::ConvShape s = conv_shape(env, argv[0], fn);
    const float* x = f32(env, argv[1], x_size(s), fn, "x");
    const float* dy = f32(env, argv[2], y_size(s), fn, "dy");
    float* dw = f32(env, argv[3], w_size(s), fn, "dw");
    state(env).convs.backward_weights(s, x, dy, dw);
    return undefined(env);
  });
}

napi_value Pool2dForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    const char* fn = "pool2dForward";
    napi_value argv[4];
    args(env, info, fn, argv);
    gnet::PoolShape s = pool_shape(env, argv[0], fn);
    bool max = false;
    check(napi_get_value_bool(env, argv[1], &max), "`max` must be a boolean");
    const float* x = f32(env, argv[2], x_size(s), fn, "x");
    float* y = f32(env, argv[3], y_size(s), fn, "y");
    state(env).pools.forward(s, max, x, y);
    return undefined(env);
  });
}

napi_value MaxPool2dBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    const char* fn = "maxPool2dBackward";
    napi_value argv[4];
    args(env, info, fn, argv);
    gnet::PoolShape s = pool_shape(env, argv[0], fn);
    const float* x = f32(env, argv[1], x_size(s), fn, "x");
    const float* dy = f32(env, argv[2], y_size(s), fn, "dy");
    float* dx = f32(env, argv[3], x_size(s), fn, "dx");
    state(env).pools.max_backward(s, x, dy, dx);
    return undefined(env);
  });
}

napi_value AvgPool2dBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    const char* fn = "avgPool2dBackward";
    napi_value argv[3];
    args(env, info, fn, argv);
    gnet::PoolShape s = pool_shape(env, argv[0], fn);
    const float* dy = f32(env, argv[1], y_size(s), fn, "dy");
    float* dx = f32(env, argv[2], x_size(s), fn, "dx");
    state(env).pools.avg_backward(s, dy, dx);
    return undefined(env);
  });
}

napi_value BinaryOp(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    const char* fn = "binaryOp";
    napi_value argv[4];
    args(env, info, fn, argv);
    const double op = number(env, argv[0], fn, "op");
    if (op < 0 || op >= gnet::kBinaryOps || op != std::floor(op)) {
      throw JsError(kBadArgument, "`op` passed to binaryOp must be 0 (add), 1 (sub), 2 (mul) or 3 (div), but got " +
                                      std::to_string(op));
    }
    size_t na = 0, nb = 0, n = 0;
    const float* a = f32_any(env, argv[1], fn, "a", &na);
    const float* b = f32_any(env, argv[2], fn, "b", &nb);
    float* out = f32_any(env, argv[3], fn, "out", &n);
    gnet::binary(static_cast<gnet::BinaryOp>(static_cast<int32_t>(op)), a, static_cast<int64_t>(na), b,
                 static_cast<int64_t>(nb), out, static_cast<int64_t>(n));
    return undefined(env);
  });
}

napi_value Relu(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    const char* fn = "relu";
    napi_value argv[2];
    args(env, info, fn, argv);
    size_t n = 0;
    const float* x = f32_any(env, argv[0], fn, "x", &n);
    float* y = f32(env, argv[1], n, fn, "y");
    gnet::relu(x, y, static_cast<int64_t>(n));
    return undefined(env);
  });
}

napi_value Step(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    const char* fn = "step";
    napi_value argv[3];
    args(env, info, fn, argv);
    size_t n = 0;
    const float* x = f32_any(env, argv[0], fn, "x", &n);
    const float alpha = static_cast<float>(number(env, argv[1], fn, "alpha"));
    float* y = f32(env, argv[2], n, fn, "y");
    gnet::step(x, alpha, y, static_cast<int64_t>(n));
    return undefined(env);
  });
}

napi_value BatchNormForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    const char* fn = "batchNormForward";
    napi_value argv[9];
    args(env, info, fn, argv);
    size_t n = 0;
    const float* x = f32_any(env, argv[1], fn, "x", &n);
    const int64_t c = channels_of(env, argv[0], n, fn);
    const float* gamma = f32(env, argv[2], c, fn, "gamma");
    const float* beta = f32(env, argv[3], c, fn, "beta");
    const double eps = number(env, argv[4], fn, "epsilon");
    if (eps <= 0) throw JsError(kBadArgument, "`epsilon` passed to batchNormForward must be positive");
    float* y = f32(env, argv[5], n, fn, "y");
    float* mean = f32(env, argv[6], c, fn, "mean");
    float* var = f32(env, argv[7], c, fn, "variance");
    float* inv_std = f32(env, argv[8], c, fn, "invStd");
    gnet::batch_norm_forward(static_cast<int64_t>(n) / c, c, x, gamma, beta, static_cast<float>(eps), y, mean, var,
                             inv_std);
    return undefined(env);
  });
}

napi_value BatchNormBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    const char* fn = "batchNormBackward";
    napi_value argv[9];
    args(env, info, fn, argv);
    size_t n = 0;
    const float* dy = f32_any(env, argv[1], fn, "dy", &n);
    const int64_t c = channels_of(env, argv[0], n, fn);
    const float* x = f32(env, argv[2], n, fn, "x");
    const float* mean = f32(env, argv[3], c, fn, "mean");
    const float* inv_std = f32(env, argv[4], c, fn, "invStd");
    const float* gamma = f32(env, argv[5], c, fn, "gamma");
    float* dx = f32(env, argv[6], n, fn, "dx");
    float* dgamma = f32(env, argv[7], c, fn, "dgamma");
    float* dbeta = f32(env, argv[8], c, fn, "dbeta");
    gnet::batch_norm_backward(static_cast<int64_t>(n) / c, c, dy, x, mean, inv_std, gamma, dx, dgamma, dbeta);
    return undefined(env);
  });
}

napi_value CopyBlock(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    const char* fn = "copyBlock";
    napi_value argv[3];
    args(env, info, fn, argv);
    size_t ns = 0, nd = 0;
    const float* src = f32_any(env, argv[0], fn, "src", &ns);
    float* dst = f32_any(env, argv[1], fn, "dst", &nd);
    bool ok = false;
    check(napi_is_typedarray(env, argv[2], &ok), "napi_is_typedarray");
    napi_typedarray_type type;
    size_t ng = 0;
    void* data = nullptr;
    if (ok) check(napi_get_typedarray_info(env, argv[2], &type, &ng, &data, nullptr, nullptr), "napi_get_typedarray_info");
    if (!ok || type != napi_float64_array || ng != 6) {
      throw JsError(kBadArgument, "`geometry` passed to copyBlock must be a Float64Array of 6 elements");
    }
    const double* g = static_cast<const double*>(data);
    int64_t v[6];
    for (int i = 0; i < 6; i++) {
      if (g[i] < 0 || g[i] != std::floor(g[i]) || g[i] > 9.0e15) {
        throw JsError(kBadArgument, "`geometry` passed to copyBlock must hold non-negative integers");
      }
      v[i] = static_cast<int64_t>(g[i]);
    }
    const int64_t src_stride = v[0], src_offset = v[1], dst_stride = v[2], dst_offset = v[3], rows = v[4], cols = v[5];
    auto fits = [&](int64_t stride, int64_t offset, size_t length) {
      return rows == 0 || cols == 0 ||
             (offset + cols <= stride && (rows - 1) * stride + offset + cols <= static_cast<int64_t>(length));
    };
    if (!fits(src_stride, src_offset, ns) || !fits(dst_stride, dst_offset, nd)) {
      throw JsError(kBadArgument, "copyBlock: a " + std::to_string(rows) + "x" + std::to_string(cols) +
                                      " block does not fit src (" + std::to_string(ns) + ") or dst (" +
                                      std::to_string(nd) + ") with the given strides and offsets");
    }
    if (rows > 0 && cols > 0) gnet::copy_block(src, src_stride, src_offset, dst, dst_stride, dst_offset, rows, cols);
    return undefined(env);
  });
}

napi_value BatchMatMul(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    const char* fn = "batchMatMul";
    napi_value argv[4];
    args(env, info, fn, argv);
    size_t na = 0, nb = 0, nout = 0, nd = 0;
    const float* a = f32_any(env, argv[0], fn, "a", &na);
    const float* b = f32_any(env, argv[1], fn, "b", &nb);
    float* out = f32_any(env, argv[2], fn, "out", &nout);
    bool ok = false;
    check(napi_is_typedarray(env, argv[3], &ok), "napi_is_typedarray");
    napi_typedarray_type type;
    void* data = nullptr;
    if (ok) check(napi_get_typedarray_info(env, argv[3], &type, &nd, &data, nullptr, nullptr), "napi_get_typedarray_info");
    if (!ok || type != napi_float64_array || nd != 7) {
      throw JsError(kBadArgument, "`dims` passed to batchMatMul must be a Float64Array of 7 elements");
    }
    const double* d = static_cast<const double*>(data);
    int64_t v[7];
    for (int i = 0; i < 7; i++) {
      if (d[i] < 0 || d[i] != std::floor(d[i]) || d[i] > 2147483647.0) {
        throw JsError(kBadArgument, "`dims` passed to batchMatMul must hold non-negative integers below 2^31");
      }
      v[i] = static_cast<int64_t>(d[i]);
    }
    const int64_t batch_a = v[0], batch_b = v[1], m = v[2], k = v[3], n = v[4];
    const bool ta = v[5] != 0, tb = v[6] != 0;
    const int64_t batch = std::max(batch_a, batch_b);
    if (batch_a < 1 || batch_b < 1 || (batch_a != batch_b && batch_a != 1 && batch_b != 1) || m < 1 || k < 1 || n < 1 ||
        static_cast<int64_t>(na) != batch_a * m * k || static_cast<int64_t>(nb) != batch_b * k * n ||
        static_cast<int64_t>(nout) != batch * m * n) {
      throw JsError(kBadArgument, "batchMatMul: dims [" + std::to_string(batch_a) + ", " + std::to_string(batch_b) + ", " +
                                      std::to_string(m) + ", " + std::to_string(k) + ", " + std::to_string(n) +
                                      "] do not match a (" + std::to_string(na) + "), b (" + std::to_string(nb) +
                                      ") and out (" + std::to_string(nout) + ") elements");
    }
    for (int64_t i = 0; i < batch; i++) {
      const float* ai = a + (batch_a == 1 ? 0 : i) * m * k;
      const float* bi = b + (batch_b == 1 ? 0 : i) * k * n;
      // Row-major: A is m x k (stored k x m when transposed), B is k x n (stored n x k when transposed).
      const dnnl_status_t status = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1.0f, ai, ta ? m : k, bi,
                                              tb ? k : n, 0.0f, out + i * m * n, n);
      if (status != dnnl_success) {
        throw JsError(kFailed, "oneDNN: dnnl_sgemm failed (dnnl_status_t " + std::to_string(status) + ")");
      }
    }
    return undefined(env);
  });
}

napi_value Float16Supported(napi_env env, napi_callback_info) {
  return guarded(env, [&] {
    napi_value v;
    check(napi_get_boolean(env, gnet::float16_supported(), &v), "napi_get_boolean");
    return v;
  });
}

napi_value Float16Encode(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    const char* fn = "float16Encode";
    napi_value argv[2];
    args(env, info, fn, argv);
    size_t n = 0, bytes = 0;
    const float* src = f32_any(env, argv[0], fn, "src", &n);
    uint8_t* dst = u8_any(env, argv[1], fn, "dst", &bytes);
    check_half_bytes(bytes, n, fn, "dst");
    require_f16c(fn);
    gnet::float16_encode(src, dst, static_cast<int64_t>(n));
    return undefined(env);
  });
}

napi_value Float16Decode(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    const char* fn = "float16Decode";
    napi_value argv[3];
    args(env, info, fn, argv);
    size_t bytes = 0, n = 0;
    const uint8_t* src = u8_any(env, argv[0], fn, "src", &bytes);
    float* out = f32_any(env, argv[1], fn, "out", &n);
    check_half_bytes(bytes, n, fn, "src");
    bool accumulate = false;
    check(napi_get_value_bool(env, argv[2], &accumulate), "`accumulate` must be a boolean");
    require_f16c(fn);
    gnet::float16_decode(src, out, static_cast<int64_t>(n), accumulate);
    return undefined(env);
  });
}

napi_value Info(napi_env env, napi_callback_info) {
  return guarded(env, [&] {
    napi_value obj;
    check(napi_create_object(env, &obj), "napi_create_object");
    set_string(env, obj, "version", gnet::version_string());
    set_string(env, obj, "isa", gnet::isa_name());
    set_string(env, obj, "cpuRuntime", gnet::cpu_runtime_name());
    set_number(env, obj, "maxThreads", gnet::max_threads());
    return obj;
  });
}

napi_value SetNumThreads(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    const char* fn = "setNumThreads";
    napi_value argv[1];
    args(env, info, fn, argv);
    int32_t n = 0;
    if (napi_get_value_int32(env, argv[0], &n) != napi_ok || n < 1) {
      throw JsError(kBadArgument, "`threads` passed to setNumThreads must be a positive integer");
    }
    if (!gnet::set_num_threads(n)) {
      throw JsError(kFailed, std::string("setNumThreads: oneDNN's CPU runtime is '") + gnet::cpu_runtime_name() +
                                 "', not OpenMP; set its thread count through that runtime");
    }
    napi_value v;
    check(napi_create_int32(env, gnet::max_threads(), &v), "napi_create_int32");
    return v;
  });
}

napi_value stats_object(napi_env env, const gnet::CacheStats& c) {
  napi_value obj;
  check(napi_create_object(env, &obj), "napi_create_object");
  set_number(env, obj, "size", static_cast<double>(c.size));
  set_number(env, obj, "capacity", static_cast<double>(c.capacity));
  set_number(env, obj, "hits", static_cast<double>(c.hits));
  set_number(env, obj, "misses", static_cast<double>(c.misses));
  return obj;
}

napi_value CacheStats(napi_env env, napi_callback_info) {
  return guarded(env, [&] { return stats_object(env, state(env).convs.cache_stats()); });
}

napi_value PoolCacheStats(napi_env env, napi_callback_info) {
  return guarded(env, [&] { return stats_object(env, state(env).pools.cache_stats()); });
}

napi_value SetCacheCapacity(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    const char* fn = "setCacheCapacity";
    napi_value argv[1];
    args(env, info, fn, argv);
    int32_t n = -1;
    if (napi_get_value_int32(env, argv[0], &n) != napi_ok || n < 0) {
      throw JsError(kBadArgument, "`entries` passed to setCacheCapacity must be a non-negative integer");
    }
    state(env).convs.set_cache_capacity(static_cast<size_t>(n));
    state(env).pools.set_cache_capacity(static_cast<size_t>(n));
    return undefined(env);
  });
}

void DeleteState(napi_env, void* data, void*) { delete static_cast<State*>(data); }

}  // namespace

/** See the file comment: keep freed heap memory for the next kernel's output (once per process). */
void keep_freed_memory() {
#ifdef __GLIBC__
  // A function-local static initialises once even when worker threads load the addon together.
  static const bool applied = [] {
    const char* opt_out = std::getenv("GNET_KEEP_MALLOC");
    if (opt_out != nullptr && opt_out[0] == '1') return false;
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    return true;
  }();
  (void)applied;
#endif
}

/** Writable like any JS method, so tests can count calls by wrapping one. */
constexpr napi_property_attributes kMethod =
    static_cast<napi_property_attributes>(napi_writable | napi_enumerable | napi_configurable);

NAPI_MODULE_INIT() {
  keep_freed_memory();
  State* s = nullptr;
  try {
    s = new State();
  } catch (const std::exception& e) {
    napi_throw_error(env, kFailed, (std::string("oneDNN CPU engine could not start: ") + e.what()).c_str());
    return nullptr;
  }
  if (napi_set_instance_data(env, s, DeleteState, nullptr) != napi_ok) {
    delete s;
    napi_throw_error(env, kFailed, "napi_set_instance_data failed");
    return nullptr;
  }
  napi_property_descriptor props[] = {
      {"conv2dForward", nullptr, Conv2dForward, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"conv2dBackwardData", nullptr, Conv2dBackwardData, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"conv2dBackwardWeights", nullptr, Conv2dBackwardWeights, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"pool2dForward", nullptr, Pool2dForward, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"maxPool2dBackward", nullptr, MaxPool2dBackward, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"avgPool2dBackward", nullptr, AvgPool2dBackward, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"setNumThreads", nullptr, SetNumThreads, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"cacheStats", nullptr, CacheStats, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"poolCacheStats", nullptr, PoolCacheStats, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"setCacheCapacity", nullptr, SetCacheCapacity, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"binaryOp", nullptr, BinaryOp, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"relu", nullptr, Relu, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"step", nullptr, Step, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"batchNormForward", nullptr, BatchNormForward, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"batchNormBackward", nullptr, BatchNormBackward, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"copyBlock", nullptr, CopyBlock, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"batchMatMul", nullptr, BatchMatMul, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"float16Supported", nullptr, Float16Supported, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"float16Encode", nullptr, Float16Encode, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"float16Decode", nullptr, Float16Decode, nullptr, nullptr, nullptr, kMethod, nullptr},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return nullptr;
  return exports;
}
