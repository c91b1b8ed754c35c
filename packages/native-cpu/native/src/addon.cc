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
#include <node_api.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "conv.h"
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

NAPI_MODULE_INIT() {
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
      {"conv2dForward", nullptr, Conv2dForward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2dBackwardData", nullptr, Conv2dBackwardData, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2dBackwardWeights", nullptr, Conv2dBackwardWeights, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"pool2dForward", nullptr, Pool2dForward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"maxPool2dBackward", nullptr, MaxPool2dBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"avgPool2dBackward", nullptr, AvgPool2dBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setNumThreads", nullptr, SetNumThreads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"cacheStats", nullptr, CacheStats, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"poolCacheStats", nullptr, PoolCacheStats, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setCacheCapacity", nullptr, SetCacheCapacity, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return nullptr;
  return exports;
}
