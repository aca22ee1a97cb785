/* Give atheris's libFuzzer back its coverage callbacks under GCC's AddressSanitizer.
 *
 * Python must run with GCC's libasan preloaded to load the sanitizer build of the core
 * (fuzz/README.md). libasan defines every __sanitizer_cov_* callback as a weak no-op, and the
 * dynamic linker binds the first definition it finds, so atheris's calls that register its
 * Python coverage counters land in libasan and libFuzzer sees no coverage at all ("Coverage
 * symbols are being provided by a library other than libFuzzer", and the corpus never grows).
 *
 * Preloaded *before* libasan, this library defines the callbacks and forwards each one to the
 * definition inside atheris's core_with_libfuzzer module (found with dlopen(RTLD_NOLOAD) once
 * atheris has loaded it; before that, a call is dropped, as libasan's no-op would). The
 * comparison callbacks are tail calls, so libFuzzer still sees the caller's return address.
 *
 *   gcc -O2 -shared -fPIC -o fuzz/sancov_forward.so fuzz/sancov_forward.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>

static void *target(const char *name) {
    static void *lib;
    if (!lib) {
        const char *path = getenv("CMPP_FUZZ_LIBFUZZER");
        if (!path) return 0;
        lib = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
        if (!lib) return 0;
    }
    return dlsym(lib, name);
}

#define FORWARD(name, params, args)                                          \
    void name params {                                                       \
        static void (*fn) params;                                            \
        if (!fn) fn = (void (*) params)target(#name);                        \
        if (fn) fn args;                                                     \
    }

FORWARD(__sanitizer_cov_8bit_counters_init, (uint8_t *a, uint8_t *b), (a, b))
FORWARD(__sanitizer_cov_bool_flag_init, (_Bool *a, _Bool *b), (a, b))
FORWARD(__sanitizer_cov_pcs_init, (const uintptr_t *a, const uintptr_t *b), (a, b))
FORWARD(__sanitizer_cov_trace_pc_guard_init, (uint32_t *a, uint32_t *b), (a, b))
FORWARD(__sanitizer_cov_trace_pc_guard, (uint32_t *a), (a))
FORWARD(__sanitizer_cov_trace_pc_indir, (uintptr_t a), (a))
FORWARD(__sanitizer_cov_trace_cmp1, (uint8_t a, uint8_t b), (a, b))
FORWARD(__sanitizer_cov_trace_cmp2, (uint16_t a, uint16_t b), (a, b))
FORWARD(__sanitizer_cov_trace_cmp4, (uint32_t a, uint32_t b), (a, b))
FORWARD(__sanitizer_cov_trace_cmp8, (uint64_t a, uint64_t b), (a, b))
FORWARD(__sanitizer_cov_trace_const_cmp1, (uint8_t a, uint8_t b), (a, b))
FORWARD(__sanitizer_cov_trace_const_cmp2, (uint16_t a, uint16_t b), (a, b))
FORWARD(__sanitizer_cov_trace_const_cmp4, (uint32_t a, uint32_t b), (a, b))
FORWARD(__sanitizer_cov_trace_const_cmp8, (uint64_t a, uint64_t b), (a, b))
FORWARD(__sanitizer_cov_trace_switch, (uint64_t a, uint64_t *b), (a, b))
FORWARD(__sanitizer_cov_trace_div4, (uint32_t a), (a))
FORWARD(__sanitizer_cov_trace_div8, (uint64_t a), (a))
FORWARD(__sanitizer_cov_trace_gep, (uintptr_t a), (a))
