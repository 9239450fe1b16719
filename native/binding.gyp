# Built by node-pre-gyp (native/install.mjs), which passes module_name,
# module_path and napi_build_version; the defaults below let a bare
# `node-gyp rebuild` in native/ work too.
{
  "variables": {
    "module_name%": "veilbox_native",
    "module_path%": "lib/binding/manual",
    "napi_build_version%": "8",
  },
  "targets": [
    {
      "target_name": "<(module_name)",
      "sources": ["src/addon.cc", "src/simd_base.cc"],
      # Node's common.gypi adds -fno-exceptions (the boundary must catch
      # std::bad_alloc), -fno-rtti and -std=gnu++17; and its -O3 stays.
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      # Exactness (src/engine/exec/quantum.ts): no fused multiply-add, no
      # fast-math reassociation or finite-math assumptions. No -march: the
      # baseline ISA of the compiler (SSE2 on x86-64) runs on any machine.
      "cflags_cc": [
        "-std=c++17",
        "-O3",
        "-fexceptions",
        "-ffp-contract=off",
        "-fno-fast-math",
        "-fno-finite-math-only",
        "-fno-associative-math",
        "-fvisibility=hidden",
      ],
      "defines": [
        "NAPI_VERSION=<(napi_build_version)",
        "VEILBOX_NATIVE_FLAGS=\"-std=c++17 -O3 -ffp-contract=off -fno-fast-math (baseline ISA; -mavx2 for the avx2 variant)\"",
        # The hash of the sources this build is made from; the loader compares it
        # with the checked-out sources (source-hash.cjs).
        "VEILBOX_NATIVE_SOURCE=\"<!(node source-hash.cjs)\"",
      ],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-ffp-contract=off", "-fno-fast-math"],
      },
      "conditions": [
        ["target_arch == 'x64' and OS != 'win'", {
          "dependencies": ["veilbox_avx2"],
          "defines": ["VEILBOX_HAVE_AVX2"],
        }],
      ],
    },
    {
      # The AVX2 variant of the kernels, in a library of its own because gyp
      # has no per-file flags. Only this file gets -mavx2; addon.cc calls it
      # only on a CPU and OS that support AVX2. No -mfma: fused multiply-add
      # would break exactness (and -ffp-contract=off forbids it anyway).
      "target_name": "veilbox_avx2",
      "type": "static_library",
      "conditions": [
        ["target_arch == 'x64' and OS != 'win'", {
          "sources": ["src/simd_avx2.cc"],
        }],
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": [
        "-std=c++17",
        "-O3",
        "-fPIC",
        "-mavx2",
        "-ffp-contract=off",
        "-fno-fast-math",
        "-fno-finite-math-only",
        "-fno-associative-math",
        "-fvisibility=hidden",
      ],
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-mavx2", "-ffp-contract=off", "-fno-fast-math"],
      },
    },
    {
      "target_name": "action_after_build",
      "type": "none",
      "dependencies": ["<(module_name)"],
      "copies": [
        {
          "files": ["<(PRODUCT_DIR)/<(module_name).node"],
          "destination": "<(module_path)",
        }
      ],
    },
  ],
}
