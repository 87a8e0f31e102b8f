"""Build macros for Vigil's own code: warnings are errors here, not in system headers."""

VIGIL_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
]

# Under --config=tsan, executables get the annotations that make Debian's
# uninstrumented Abseil mutexes visible to ThreadSanitizer.
_TSAN_DEPS = select({
    str(Label("//tools/tsan:enabled")): [str(Label("//tools/tsan:absl_sync_annotations"))],
    "//conditions:default": [],
})

def vigil_cc_library(name, copts = [], **kwargs):
    native.cc_library(name = name, copts = VIGIL_COPTS + copts, **kwargs)

def vigil_cc_binary(name, copts = [], deps = [], **kwargs):
    native.cc_binary(
        name = name,
        copts = VIGIL_COPTS + copts,
        deps = deps + _TSAN_DEPS,
        **kwargs
    )

def vigil_cc_test(name, copts = [], deps = [], **kwargs):
    native.cc_test(
        name = name,
        copts = VIGIL_COPTS + copts,
        deps = deps + ["@system//:gtest_main"] + _TSAN_DEPS,
        **kwargs
    )

def vigil_cc_benchmark(name, copts = [], deps = [], **kwargs):
    """A Google Benchmark binary; run it with `bazel run --config=opt`."""
    native.cc_binary(
        name = name,
        copts = VIGIL_COPTS + copts,
        deps = deps + ["@system//:benchmark_main"],
        testonly = True,
        **kwargs
    )
