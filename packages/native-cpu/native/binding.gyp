# node-gyp build of the oneDNN addon. Needs libdnnl-dev (Debian: `apt-get install libdnnl-dev`,
# oneDNN 2.6, OpenMP runtime) at build time and libdnnl2 wherever it runs.
{
  "targets": [
    {
      "target_name": "onednn_addon",
      "sources": ["src/addon.cc", "src/conv.cc", "src/pool.cc", "src/eltwise.cc", "src/half.cc"],
      # dnnl.hpp reports errors as C++ exceptions; node-gyp's defaults turn them off.
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O3", "-fopenmp"],
      # libgomp for omp_set_num_threads and eltwise.cc's loops (-fopenmp): the same OpenMP runtime Debian's libdnnl links.
      "libraries": ["-ldnnl", "-lgomp"],
      "ldflags": ["-fopenmp"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
