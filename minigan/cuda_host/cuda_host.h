// cuda_host.h -- compile unchanged CUDA C kernels with g++ and run them on the CPU.
//
// minigan.cuda_host force-includes this header in front of a .cu source (g++ -include
// cuda_host.h -x c++). It maps the CUDA C language extensions a kernel uses onto plain
// C++ and runs every CUDA thread of a block as a user-level fiber (its own stack; a
// 15-instruction context switch, see cuda_host_switch below):
//
//   * a fiber runs until it reaches __syncthreads() or a warp collective (shuffle, vote,
//     __syncwarp), then hands over to the next fiber of the block;
//   * when no fiber can run, the scheduler releases the warps whose lanes all arrived at
//     the same collective (exchanging their values), or the whole block when every live
//     thread waits at the same __syncthreads();
//   * a barrier that can never be released (some threads exited, or wait elsewhere) is an
//     error, reported to Python with the kernel, the block, the counts and the source lines.
//
// Blocks run one after another on the calling OS thread, so atomics need no hardware
// atomicity: a fiber is never interrupted inside a read-modify-write.
// See docs/cuda_host.md.

#pragma once

#include <math.h>

#include <cassert>
#include <cfloat>
#include <cstdarg>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <utility>

#include <sys/mman.h>
#include <unistd.h>

#if !defined(__x86_64__)
#error "cuda_host switches fibers with x86-64 assembly; this machine is not x86-64"
#endif

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define CUDA_HOST_ASAN 1
#else
#define CUDA_HOST_ASAN 0
#endif

// Version of the harness ABI (the Launch and ParamInfo layouts); the loader checks it.
#define CUDA_HOST_ABI_VERSION 3
#define CUDA_HOST_API extern "C" __attribute__((visibility("default")))

// ---------------------------------------------------------------------------------------
// Function and variable qualifiers.
// ---------------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __constant__
// Static shared memory: one copy per kernel (blocks run one at a time), shared by the
// block's fibers. `extern __shared__` arrays are rewritten by the loader to point at
// cuda_host::dynamic_shared_memory.
#define __shared__ static

// ---------------------------------------------------------------------------------------
// Built-in types and vector types.
// ---------------------------------------------------------------------------------------
struct uint3 {
    unsigned int x, y, z;
};
struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1)
        : x(x_), y(y_), z(z_) {}
};
struct __align__(8) float2 { float x, y; };
struct __align__(16) float4 { float x, y, z, w; };
struct __align__(16) double2 { double x, y; };
struct __align__(8) int2 { int x, y; };
struct __align__(16) int4 { int x, y, z, w; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline double2 make_double2(double x, double y) { return {x, y}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }

// The current fiber's coordinates; the scheduler sets threadIdx at every switch. These
// globals (like the scheduler's) have external linkage on purpose: the compiler must then
// assume that the context switch may change them, and reload them after every switch.
uint3 threadIdx;
uint3 blockIdx;
dim3 blockDim;
dim3 gridDim;
static constexpr int warpSize = 32;

// ---------------------------------------------------------------------------------------
// Math: <math.h> provides expf, logf, tanhf, sqrtf, fmaxf, log1pf, INFINITY, ...
// Below: CUDA's extra functions and intrinsics (host precision, not the GPU's ulp errors).
// ---------------------------------------------------------------------------------------
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __log2f(float x) { return log2f(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __tanf(float x) { return tanf(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __saturatef(float x) { return fminf(fmaxf(x, 0.0f), 1.0f); }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __fadd_rn(float x, float y) { return x + y; }
inline float __fmul_rn(float x, float y) { return x * y; }
inline float __fmaf_rn(float x, float y, float z) { return fmaf(x, y, z); }
inline double __dadd_rn(double x, double y) { return x + y; }
inline double __dmul_rn(double x, double y) { return x * y; }
inline double __fma_rn(double x, double y, double z) { return fma(x, y, z); }
inline float exp10f(float x) { return powf(10.0f, x); }

namespace cuda_host {
template <class To, class From>
inline To bit_cast(From v) {
    static_assert(sizeof(To) == sizeof(From), "bit_cast between types of different sizes");
    To out;
    std::memcpy(&out, &v, sizeof(To));
    return out;
}
}  // namespace cuda_host
inline float __int_as_float(int v) { return cuda_host::bit_cast<float>(v); }
inline int __float_as_int(float v) { return cuda_host::bit_cast<int>(v); }
inline float __uint_as_float(unsigned int v) { return cuda_host::bit_cast<float>(v); }
inline unsigned int __float_as_uint(float v) { return cuda_host::bit_cast<unsigned int>(v); }
inline double __longlong_as_double(long long v) { return cuda_host::bit_cast<double>(v); }
inline long long __double_as_longlong(double v) { return cuda_host::bit_cast<long long>(v); }
inline int __popc(unsigned int v) { return __builtin_popcount(v); }
inline int __popcll(unsigned long long v) { return __builtin_popcountll(v); }
inline int __clz(int v) { return v == 0 ? 32 : __builtin_clz(static_cast<unsigned int>(v)); }
inline int __ffs(int v) { return __builtin_ffs(v); }
template <class T>
inline T __ldg(const T* p) { return *p; }

// CUDA's overloaded min/max, the same set of overloads (so that a call CUDA finds ambiguous,
// such as max(int, long long), is ambiguous here too): integers compare in the result type,
// floating point uses fminf/fmaxf (NaN-ignoring).
#define CUDA_HOST_MIN_MAX(R, A, B)                                                        \
    inline R max(A a, B b) { return static_cast<R>(a) > static_cast<R>(b) ? a : b; }     \
    inline R min(A a, B b) { return static_cast<R>(a) < static_cast<R>(b) ? a : b; }
#define CUDA_HOST_MIN_MAX_SIGNED_UNSIGNED(S, U) \
    CUDA_HOST_MIN_MAX(S, S, S)                  \
    CUDA_HOST_MIN_MAX(U, U, U)                  \
    CUDA_HOST_MIN_MAX(U, S, U)                  \
    CUDA_HOST_MIN_MAX(U, U, S)
CUDA_HOST_MIN_MAX_SIGNED_UNSIGNED(int, unsigned int)
CUDA_HOST_MIN_MAX_SIGNED_UNSIGNED(long, unsigned long)
CUDA_HOST_MIN_MAX_SIGNED_UNSIGNED(long long, unsigned long long)
#undef CUDA_HOST_MIN_MAX_SIGNED_UNSIGNED
#undef CUDA_HOST_MIN_MAX
inline float max(float a, float b) { return fmaxf(a, b); }
inline float min(float a, float b) { return fminf(a, b); }
inline double max(double a, double b) { return fmax(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(float a, double b) { return fmax(a, b); }
inline double min(float a, double b) { return fmin(a, b); }
inline double max(double a, float b) { return fmax(a, b); }
inline double min(double a, float b) { return fmin(a, b); }

// Memory fences order memory between real threads; fibers switch only at barriers and
// collectives, so a compiler barrier is all they need.
inline void __threadfence() { __asm__ __volatile__("" ::: "memory"); }
inline void __threadfence_block() { __asm__ __volatile__("" ::: "memory"); }
// A device-side trap kills the CUDA context; here it aborts the process (as a failed assert).
[[noreturn]] inline void __trap() { abort(); }

// ---------------------------------------------------------------------------------------
// Atomics: plain read-modify-write (see the top of the file), returning the old value.
// ---------------------------------------------------------------------------------------
namespace cuda_host {
template <class T, class F>
inline T read_modify_write(T* address, F update) {
    T old = *address;
    *address = update(old);
    return old;
}
}  // namespace cuda_host

#define CUDA_HOST_ATOMIC(NAME, T, EXPR)                                      \
    inline T NAME(T* address, T val) {                                       \
        return cuda_host::read_modify_write(address, [val](T old) {          \
            static_cast<void>(old); /* unused by atomicExch */               \
            return EXPR;                                                     \
        });                                                                  \
    }
CUDA_HOST_ATOMIC(atomicAdd, int, old + val)
CUDA_HOST_ATOMIC(atomicAdd, unsigned int, old + val)
CUDA_HOST_ATOMIC(atomicAdd, unsigned long long, old + val)
CUDA_HOST_ATOMIC(atomicAdd, float, old + val)
CUDA_HOST_ATOMIC(atomicAdd, double, old + val)
CUDA_HOST_ATOMIC(atomicSub, int, old - val)
CUDA_HOST_ATOMIC(atomicSub, unsigned int, old - val)
CUDA_HOST_ATOMIC(atomicMax, int, max(old, val))
CUDA_HOST_ATOMIC(atomicMax, unsigned int, max(old, val))
CUDA_HOST_ATOMIC(atomicMax, long long, max(old, val))
CUDA_HOST_ATOMIC(atomicMax, unsigned long long, max(old, val))
CUDA_HOST_ATOMIC(atomicMin, int, min(old, val))
CUDA_HOST_ATOMIC(atomicMin, unsigned int, min(old, val))
CUDA_HOST_ATOMIC(atomicMin, long long, min(old, val))
CUDA_HOST_ATOMIC(atomicMin, unsigned long long, min(old, val))
CUDA_HOST_ATOMIC(atomicExch, int, val)
CUDA_HOST_ATOMIC(atomicExch, unsigned int, val)
CUDA_HOST_ATOMIC(atomicExch, unsigned long long, val)
CUDA_HOST_ATOMIC(atomicExch, float, val)
CUDA_HOST_ATOMIC(atomicAnd, int, old & val)
CUDA_HOST_ATOMIC(atomicAnd, unsigned int, old & val)
CUDA_HOST_ATOMIC(atomicOr, int, old | val)
CUDA_HOST_ATOMIC(atomicOr, unsigned int, old | val)
CUDA_HOST_ATOMIC(atomicXor, int, old ^ val)
CUDA_HOST_ATOMIC(atomicXor, unsigned int, old ^ val)
CUDA_HOST_ATOMIC(atomicInc, unsigned int, old >= val ? 0u : old + 1u)
CUDA_HOST_ATOMIC(atomicDec, unsigned int, (old == 0u || old > val) ? val : old - 1u)
#undef CUDA_HOST_ATOMIC

template <class T>
inline T atomicCAS(T* address, T compare, T val) {
    static_assert(std::is_same_v<T, int> || std::is_same_v<T, unsigned int> ||
                      std::is_same_v<T, unsigned long long> ||
                      std::is_same_v<T, unsigned short>,
                  "atomicCAS: CUDA defines it for int, unsigned int, unsigned long long and "
                  "unsigned short");
    return cuda_host::read_modify_write(address,
                                        [=](T old) { return old == compare ? val : old; });
}

// ---------------------------------------------------------------------------------------
// The fiber scheduler.
// ---------------------------------------------------------------------------------------
namespace cuda_host {

// Filled by the loader (ctypes mirrors these layouts).
struct Launch {
    unsigned int grid[3];
    unsigned int block[3];
    unsigned long long shared_mem;
    char* error;  // message buffer for a failed launch
    unsigned long long error_capacity;
    int order;              // Order: the sequence in which a pass runs the fibers
    unsigned long long seed;  // for Order::random
};
struct ParamInfo {
    int is_pointer;     // pointer parameter (a device array)
    int is_arithmetic;  // the value (or pointee) is an arithmetic type
    int is_floating;
    int is_signed;
    int is_bool;
    int is_const;  // const pointee (for messages)
    int size;  // bytes of the value (or pointee; 0 for void)
};

constexpr int kMaxThreadsPerBlock = 1024;
constexpr unsigned long long kMaxDynamicSharedMemory = 227 * 1024;  // as an H100 (opt-in)
constexpr size_t kStackSize = CUDA_HOST_ASAN ? 256 * 1024 : 64 * 1024;
constexpr unsigned int kFullMask = 0xffffffffu;

alignas(256) unsigned char dynamic_shared_memory[kMaxDynamicSharedMemory];

enum class State : unsigned char { runnable, at_barrier, at_warp_op, done };

// The order in which each pass runs a block's runnable fibers. Correct kernels give the same
// results in every order; a missing barrier usually does not (see docs/cuda_host.md).
enum class Order : int { forward = 0, reverse = 1, random = 2 };

struct Fiber {
    void* sp;     // saved stack pointer while switched out
    char* stack;  // lowest usable address; a guard page lies below it
    uint3 tid;
    State state;
    // Where the fiber waits (for mismatch checks and error messages).
    const char* op;  // "__syncthreads", "__shfl_down_sync", ... (a string literal)
    const char* file;
    int line;
    // Warp-collective exchange: set by the lane before waiting, by the scheduler after.
    unsigned int mask;
    int src_lane;
    unsigned long long value;
    unsigned long long result;
    unsigned int group;  // the lanes that took part
};

struct Scheduler {
    Fiber* fibers = nullptr;
    int allocated = 0;  // fibers with a stack
    int count = 0;      // threads in the current block
    int pass_order[kMaxThreadsPerBlock];  // fiber indices in the order of the current pass
    int pass_position = 0;                // of the running fiber in pass_order
    unsigned long long rng = 0;           // xorshift state for Order::random
    int current = -1;   // running fiber, -1: the scheduler (launching OS thread)
    int previous = -1;  // the context that switched to the running one
    void* main_sp;  // the scheduler's saved stack pointer
    void (*body)(void*) = nullptr;
    void* body_arg = nullptr;
    const Launch* launch = nullptr;
    const char* kernel = nullptr;
    bool failed = false;
#if CUDA_HOST_ASAN
    const void* main_stack_bottom = nullptr;
    size_t main_stack_size = 0;
#endif
};
Scheduler sched;

// Formats the launch's error message (first error wins).
__attribute__((format(printf, 1, 2))) static void report(const char* fmt, ...) {
    if (sched.failed) return;
    sched.failed = true;
    const Launch* l = sched.launch;
    int n = snprintf(l->error, l->error_capacity, "kernel '%s', block (%u, %u, %u): ", sched.kernel,
                     blockIdx.x, blockIdx.y, blockIdx.z);
    if (n < 0 || static_cast<unsigned long long>(n) >= l->error_capacity) return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(l->error + n, l->error_capacity - n, fmt, args);
    va_end(args);
}

}  // namespace cuda_host

// cuda_host_switch(save, next): pushes the callee-saved registers on the current stack,
// stores the stack pointer in *save, loads `next` as the stack pointer, pops the registers
// saved there and returns into the other context. Everything else (caller-saved registers)
// is saved by the compiler around the call, as for any function call.
extern "C" void cuda_host_switch(void** save, void* next);
__asm__(
    ".text\n"
    ".p2align 4\n"
    ".globl cuda_host_switch\n"
    ".hidden cuda_host_switch\n"
    ".type cuda_host_switch, @function\n"
    "cuda_host_switch:\n"
    "    pushq %rbp\n"
    "    pushq %rbx\n"
    "    pushq %r12\n"
    "    pushq %r13\n"
    "    pushq %r14\n"
    "    pushq %r15\n"
    "    movq %rsp, (%rdi)\n"
    "    movq %rsi, %rsp\n"
    "    popq %r15\n"
    "    popq %r14\n"
    "    popq %r13\n"
    "    popq %r12\n"
    "    popq %rbx\n"
    "    popq %rbp\n"
    "    ret\n"
    ".size cuda_host_switch, .-cuda_host_switch\n");

namespace cuda_host {

// Switches from the running context to fiber `next` (-1: back to the scheduler).
// `dying`: the running fiber has finished and will never be resumed.
static void switch_to(int next, bool dying = false) {
    void** from = sched.current < 0 ? &sched.main_sp : &sched.fibers[sched.current].sp;
    void* to = next < 0 ? sched.main_sp : sched.fibers[next].sp;
    if (next >= 0) threadIdx = sched.fibers[next].tid;
    sched.previous = sched.current;
    sched.current = next;
#if CUDA_HOST_ASAN
    void* fake_stack = nullptr;
    if (next < 0)
        __sanitizer_start_switch_fiber(dying ? nullptr : &fake_stack, sched.main_stack_bottom,
                                       sched.main_stack_size);
    else
        __sanitizer_start_switch_fiber(dying ? nullptr : &fake_stack, sched.fibers[next].stack,
                                       kStackSize);
#else
    (void)dying;
#endif
    cuda_host_switch(from, to);
#if CUDA_HOST_ASAN
    __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#endif
}

// Hands over to the next runnable fiber of this pass, or back to the scheduler.
static void yield_fiber(bool dying = false) {
    int pos = sched.current < 0 ? 0 : sched.pass_position + 1;
    while (pos < sched.count && sched.fibers[sched.pass_order[pos]].state != State::runnable) ++pos;
    if (pos == sched.count && sched.current < 0) return;  // the scheduler, nothing to run
    sched.pass_position = pos;
    switch_to(pos < sched.count ? sched.pass_order[pos] : -1, dying);
}

// The first code a fiber runs (cuda_host_switch "returns" into it); it never returns.
[[noreturn]] static void fiber_main() {
#if CUDA_HOST_ASAN
    const void* bottom;
    size_t size;
    __sanitizer_finish_switch_fiber(nullptr, &bottom, &size);
    if (sched.previous < 0) {  // started by the scheduler: remember its stack
        sched.main_stack_bottom = bottom;
        sched.main_stack_size = size;
    }
#endif
    sched.body(sched.body_arg);
    sched.fibers[sched.current].state = State::done;
    yield_fiber(/*dying=*/true);
    __builtin_unreachable();
}

// Lays out a fresh stack as cuda_host_switch left it: six zero registers, then the return
// address fiber_main, then a dummy return address for fiber_main itself, so that fiber_main
// starts with the stack alignment of a called function (rsp + 8 a multiple of 16).
static void start_fiber(Fiber& f) {
#if CUDA_HOST_ASAN
    // The previous fiber on this stack never unwound its last frames: clear their redzones.
    ASAN_UNPOISON_MEMORY_REGION(f.stack, kStackSize);
#endif
    void** top = reinterpret_cast<void**>(f.stack + kStackSize);
    top[-1] = nullptr;
    top[-2] = reinterpret_cast<void*>(&fiber_main);
    for (int r = 3; r <= 8; ++r) top[-r] = nullptr;
    f.sp = top - 8;
}

static Fiber& self() { return sched.fibers[sched.current]; }

static void wait_here(State state, const char* op, const char* file, int line) {
    Fiber& f = self();
    f.state = state;
    f.op = op;
    f.file = file;
    f.line = line;
    yield_fiber();
}

// An error detected inside a fiber: record it and return to the scheduler for good.
[[noreturn]] static void fail_in_fiber() {
    self().state = State::done;
    switch_to(-1, /*dying=*/true);
    __builtin_unreachable();
}

// A block barrier; returns how many threads of the block passed a nonzero `pred`
// (__syncthreads_count/_and/_or; plain __syncthreads passes 0).
inline int block_barrier(const char* op, const char* file, int line, int pred) {
    Fiber& f = self();
    f.value = pred != 0;
    wait_here(State::at_barrier, op, file, line);
    return static_cast<int>(f.result);
}

static int linear_tid(uint3 t) { return static_cast<int>(t.x + blockDim.x * (t.y + blockDim.y * t.z)); }
static int lane_of_self() { return linear_tid(threadIdx) % warpSize; }

// Waits until the lanes of `mask` reach the same collective; returns the exchanged result.
static unsigned long long warp_collective(const char* op, const char* file, int line,
                                          unsigned int mask, int src_lane,
                                          unsigned long long value) {
    Fiber& f = self();
    f.mask = mask;
    f.src_lane = src_lane;
    f.value = value;
    wait_here(State::at_warp_op, op, file, line);
    return f.result;
}

enum class ShuffleKind { idx, up, down, bfly };

// The lane whose value a shuffle reads (CUDA's rules; the own lane when out of range).
static int shuffle_source(ShuffleKind kind, int lane, int arg, int width) {
    int segment = lane & ~(width - 1);
    int in_segment = lane - segment;
    int src = lane;
    switch (kind) {
        case ShuffleKind::idx: src = segment + (arg & (width - 1)); break;
        case ShuffleKind::up: src = in_segment - arg >= 0 ? lane - arg : lane; break;
        case ShuffleKind::down: src = in_segment + arg < width ? lane + arg : lane; break;
        case ShuffleKind::bfly: src = (lane ^ arg) < segment + width ? lane ^ arg : lane; break;
    }
    return src >= 0 && src < warpSize ? src : lane;
}

template <class T>
inline T shuffle(const char* op, const char* file, int line, ShuffleKind kind, unsigned int mask,
                 T var, int arg, int width) {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8,
                  "warp shuffles move values of at most 8 bytes");
    if (width < 1 || width > warpSize || (width & (width - 1)) != 0) {
        report("%s (%s:%d): width %d is not a power of two in [1, 32] (thread (%u, %u, %u))", op,
               file, line, width, threadIdx.x, threadIdx.y, threadIdx.z);
        fail_in_fiber();
    }
    unsigned long long bits = 0;
    std::memcpy(&bits, &var, sizeof(T));
    int src = shuffle_source(kind, lane_of_self(), arg, width);
    bits = warp_collective(op, file, line, mask, src, bits);
    T out;
    std::memcpy(&out, &bits, sizeof(T));
    return out;
}

inline unsigned int vote(const char* op, const char* file, int line, unsigned int mask, int pred) {
    return static_cast<unsigned int>(warp_collective(op, file, line, mask, -1, pred != 0));
}

}  // namespace cuda_host

// The intrinsics are macros so that their call site (file:line, mapped to the .cu source by
// #line) reaches the error messages.
#define __syncthreads() \
    static_cast<void>(::cuda_host::block_barrier("__syncthreads", __FILE__, __LINE__, 0))
#define __syncthreads_count(pred) \
    ::cuda_host::block_barrier("__syncthreads_count", __FILE__, __LINE__, pred)
#define __syncthreads_and(pred)                                                     \
    (::cuda_host::block_barrier("__syncthreads_and", __FILE__, __LINE__, pred) ==   \
     static_cast<int>(blockDim.x * blockDim.y * blockDim.z))
#define __syncthreads_or(pred) \
    (::cuda_host::block_barrier("__syncthreads_or", __FILE__, __LINE__, pred) != 0)
#define __syncwarp(...) \
    ::cuda_host::syncwarp(__FILE__, __LINE__, ::cuda_host::mask_or_full(__VA_ARGS__))
#define __shfl_sync(mask, var, src, ...)                                                   \
    ::cuda_host::shuffle("__shfl_sync", __FILE__, __LINE__, ::cuda_host::ShuffleKind::idx, \
                         mask, var, src, ::cuda_host::width_or_warp(__VA_ARGS__))
#define __shfl_up_sync(mask, var, delta, ...)                                                \
    ::cuda_host::shuffle("__shfl_up_sync", __FILE__, __LINE__, ::cuda_host::ShuffleKind::up, \
                         mask, var, delta, ::cuda_host::width_or_warp(__VA_ARGS__))
#define __shfl_down_sync(mask, var, delta, ...)                                     \
    ::cuda_host::shuffle("__shfl_down_sync", __FILE__, __LINE__,                    \
                         ::cuda_host::ShuffleKind::down, mask, var, delta,          \
                         ::cuda_host::width_or_warp(__VA_ARGS__))
#define __shfl_xor_sync(mask, var, lane_mask, ...)                                  \
    ::cuda_host::shuffle("__shfl_xor_sync", __FILE__, __LINE__,                     \
                         ::cuda_host::ShuffleKind::bfly, mask, var, lane_mask,      \
                         ::cuda_host::width_or_warp(__VA_ARGS__))
#define __ballot_sync(mask, pred) ::cuda_host::vote("__ballot_sync", __FILE__, __LINE__, mask, pred)
#define __all_sync(mask, pred) ::cuda_host::vote_all(__FILE__, __LINE__, mask, pred)
#define __any_sync(mask, pred) \
    (::cuda_host::vote("__any_sync", __FILE__, __LINE__, mask, pred) != 0u)

namespace cuda_host {
// Optional trailing arguments of the intrinsics, defaulted as CUDA does.
constexpr int width_or_warp(int width = warpSize) { return width; }
constexpr unsigned int mask_or_full(unsigned int mask = kFullMask) { return mask; }

inline void syncwarp(const char* file, int line, unsigned int mask) {
    warp_collective("__syncwarp", file, line, mask, -1, 0);
}

inline bool vote_all(const char* file, int line, unsigned int mask, int pred) {
    unsigned int ballot = vote("__all_sync", file, line, mask, pred);
    return ballot == self().group;
}
}  // namespace cuda_host

inline unsigned int __activemask() {
    using namespace cuda_host;
    int base = linear_tid(threadIdx) / warpSize * warpSize;
    unsigned int active = 0;
    for (int lane = 0; lane < warpSize && base + lane < sched.count; ++lane)
        if (sched.fibers[base + lane].state != State::done) active |= 1u << lane;
    return active;
}

// ---------------------------------------------------------------------------------------
// Scheduler internals and the launch entry points.
// ---------------------------------------------------------------------------------------
namespace cuda_host {

static bool same_site(const Fiber& a, const Fiber& b) {
    return a.line == b.line && strcmp(a.op, b.op) == 0 && strcmp(a.file, b.file) == 0;
}

static bool same_collective(const Fiber& a, const Fiber& b, unsigned int group_a,
                            unsigned int group_b) {
    return b.state == State::at_warp_op && strcmp(a.op, b.op) == 0 && group_a == group_b;
}

static const char* describe(const Fiber& f, char* buf, size_t cap) {
    if (f.state == State::done)
        snprintf(buf, cap, "has exited");
    else
        snprintf(buf, cap, "waits at %s (%s:%d)", f.op, f.file, f.line);
    return buf;
}

static unsigned int lanes_present(int warp_base) {
    int lanes = sched.count - warp_base < warpSize ? sched.count - warp_base : warpSize;
    return lanes == warpSize ? kFullMask : (1u << lanes) - 1u;
}

static unsigned int group_of(const Fiber& f, int lane, unsigned int present) {
    return (f.mask | (1u << lane)) & present;
}

// Releases every warp group whose lanes all wait at the same collective with the same
// mask, computing each lane's result. Returns the number of groups released.
static int release_warps() {
    int released = 0;
    for (int base = 0; base < sched.count; base += warpSize) {
        unsigned int present = lanes_present(base);
        Fiber* warp = sched.fibers + base;
        for (int lane = 0; lane < warpSize && (present >> lane & 1u); ++lane) {
            const Fiber& f = warp[lane];
            if (f.state != State::at_warp_op) continue;
            unsigned int group = group_of(f, lane, present);
            bool ready = true;
            unsigned int ballot = 0;
            for (int m = 0; m < warpSize && ready; ++m) {
                if (!(group >> m & 1u)) continue;
                const Fiber& o = warp[m];
                ready = same_collective(f, o, group, group_of(o, m, present));
                if (o.value) ballot |= 1u << m;
            }
            if (!ready) continue;
            for (int m = 0; m < warpSize; ++m) {
                if (!(group >> m & 1u)) continue;
                Fiber& o = warp[m];
                bool reads_lane = o.src_lane >= 0 && (group >> o.src_lane & 1u);
                o.result = o.src_lane < 0 ? ballot : reads_lane ? warp[o.src_lane].value : o.value;
                o.group = group;
                o.state = State::runnable;
            }
            ++released;
        }
    }
    return released;
}

// Explains why no fiber can make progress (called when nothing was released).
static void report_stuck() {
    char a[160], b[160];
    int done = 0, at_barrier = 0;
    const Fiber *exited = nullptr, *waiting = nullptr, *other_barrier = nullptr;
    for (int t = 0; t < sched.count; ++t) {
        const Fiber& f = sched.fibers[t];
        if (f.state == State::done) {
            ++done;
            if (!exited) exited = &f;
        } else if (f.state == State::at_barrier) {
            ++at_barrier;
            if (!waiting) waiting = &f;
            else if (!other_barrier && !same_site(f, *waiting))
                other_barrier = &f;
        }
    }
    for (int base = 0; base < sched.count; base += warpSize) {
        unsigned int present = lanes_present(base);
        for (int lane = 0; lane < warpSize && (present >> lane & 1u); ++lane) {
            const Fiber& f = sched.fibers[base + lane];
            if (f.state != State::at_warp_op) continue;
            unsigned int group = group_of(f, lane, present);
            for (int m = 0; m < warpSize; ++m) {
                const Fiber& o = sched.fibers[base + m];
                if (!(group >> m & 1u) || same_collective(f, o, group, group_of(o, m, present)))
                    continue;
                report("warp %d: lane %d %s with mask 0x%08x, but lane %d %s%s", base / warpSize,
                       lane, describe(f, a, sizeof a), f.mask, m, describe(o, b, sizeof b),
                       o.state == State::at_warp_op ? " (a different collective or mask)" : "");
                return;
            }
        }
    }
    if (other_barrier) {
        report("threads wait at different barriers: thread (%u, %u, %u) %s, thread (%u, %u, %u) %s",
               waiting->tid.x, waiting->tid.y, waiting->tid.z, describe(*waiting, a, sizeof a),
               other_barrier->tid.x, other_barrier->tid.y, other_barrier->tid.z,
               describe(*other_barrier, b, sizeof b));
    } else if (waiting && exited) {
        report("divergent barrier: %d of %d threads wait at %s (%s:%d) but %d have exited (e.g. "
               "thread (%u, %u, %u))",
               at_barrier, sched.count, waiting->op, waiting->file, waiting->line, done, exited->tid.x,
               exited->tid.y, exited->tid.z);
    } else {
        report("no thread can make progress (internal error)");
    }
}

static bool barrier_ready() {
    const Fiber* first = nullptr;
    for (int t = 0; t < sched.count; ++t) {
        const Fiber& f = sched.fibers[t];
        if (f.state != State::at_barrier) return false;
        if (!first) first = &f;
        else if (!same_site(f, *first)) return false;
    }
    return true;
}

// Sets the order of the next pass: forward or reverse (fixed for the block), or a fresh
// random permutation for every pass.
static void arrange_pass(bool first_pass) {
    int n = sched.count;
    auto order = static_cast<Order>(sched.launch->order);
    if (!first_pass && order != Order::random) return;
    for (int i = 0; i < n; ++i) sched.pass_order[i] = order == Order::reverse ? n - 1 - i : i;
    if (order == Order::random) {
        for (int i = n - 1; i > 0; --i) {  // Fisher-Yates with xorshift64
            sched.rng ^= sched.rng << 13;
            sched.rng ^= sched.rng >> 7;
            sched.rng ^= sched.rng << 17;
            std::swap(sched.pass_order[i], sched.pass_order[sched.rng % (i + 1)]);
        }
    }
}

static bool run_block() {
    for (int t = 0; t < sched.count; ++t) {
        Fiber& f = sched.fibers[t];
        start_fiber(f);
        f.state = State::runnable;
    }
    for (bool first_pass = true;; first_pass = false) {
        arrange_pass(first_pass);
        yield_fiber();  // from the scheduler: one pass over the runnable fibers
        if (sched.failed) return false;
        bool all_done = true;
        for (int t = 0; t < sched.count && all_done; ++t)
            all_done = sched.fibers[t].state == State::done;
        if (all_done) return true;
        if (release_warps() > 0) continue;
        if (barrier_ready()) {
            unsigned long long count = 0;
            for (int t = 0; t < sched.count; ++t) count += sched.fibers[t].value;
            for (int t = 0; t < sched.count; ++t) {
                sched.fibers[t].result = count;
                sched.fibers[t].state = State::runnable;
            }
            continue;
        }
        report_stuck();
        return false;
    }
}

// Makes `count` fibers available (stacks are kept for later launches).
static bool ensure_fibers(int count) {
    if (!sched.fibers) {
        sched.fibers = static_cast<Fiber*>(calloc(kMaxThreadsPerBlock, sizeof(Fiber)));
        if (!sched.fibers) return false;
    }
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    for (; sched.allocated < count; ++sched.allocated) {
        void* region = mmap(nullptr, kStackSize + page, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (region == MAP_FAILED) return false;
        mprotect(region, page, PROT_NONE);  // guard page: a stack overflow faults
        Fiber& f = sched.fibers[sched.allocated];
        f.stack = static_cast<char*>(region) + page;
    }
    return true;
}

#if CUDA_HOST_ASAN
// Runs after an ASan report, before the process dies: which CUDA thread was it?
static void report_running_thread() {
    if (sched.current >= 0)
        fprintf(stderr, "cuda_host: the error above is in kernel '%s', block (%u, %u, %u), "
                        "thread (%u, %u, %u)\n",
                sched.kernel, blockIdx.x, blockIdx.y, blockIdx.z, threadIdx.x, threadIdx.y,
                threadIdx.z);
}
#endif

static int run_grid(const char* kernel, const Launch* launch, void (*body)(void*), void* arg) {
#if CUDA_HOST_ASAN
    __sanitizer_set_death_callback(report_running_thread);
#endif
    sched.launch = launch;
    sched.kernel = kernel;
    sched.failed = false;
    gridDim = dim3(launch->grid[0], launch->grid[1], launch->grid[2]);
    blockDim = dim3(launch->block[0], launch->block[1], launch->block[2]);
    blockIdx = {0, 0, 0};
    unsigned long long threads = 1ull * blockDim.x * blockDim.y * blockDim.z;
    if (threads == 0 || threads > kMaxThreadsPerBlock ||
        launch->shared_mem > kMaxDynamicSharedMemory || launch->order < 0 ||
        launch->order > static_cast<int>(Order::random)) {
        report("invalid launch: %llu threads per block (max %d), %llu bytes of dynamic shared "
               "memory (max %llu), order %d",
               threads, kMaxThreadsPerBlock, launch->shared_mem, kMaxDynamicSharedMemory,
               launch->order);
        return 1;
    }
    sched.count = static_cast<int>(threads);
    if (!ensure_fibers(sched.count)) {
        report("cannot allocate %d fiber stacks", sched.count);
        return 1;
    }
    sched.body = body;
    sched.body_arg = arg;
    sched.rng = launch->seed * 0x9E3779B97F4A7C15ull | 1u;  // odd: never xorshift's fixed point 0
#if CUDA_HOST_ASAN
    // Dynamic shared memory beyond the launch's shared_mem is out of bounds.
    ASAN_POISON_MEMORY_REGION(dynamic_shared_memory + launch->shared_mem,
                              kMaxDynamicSharedMemory - launch->shared_mem);
#endif
    bool ok = true;
    for (unsigned int z = 0; ok && z < gridDim.z; ++z)
        for (unsigned int y = 0; ok && y < gridDim.y; ++y)
            for (unsigned int x = 0; ok && x < gridDim.x; ++x) {
                blockIdx = {x, y, z};
                for (int t = 0; t < sched.count; ++t)
                    sched.fibers[t].tid = {t % blockDim.x, t / blockDim.x % blockDim.y,
                                           t / (blockDim.x * blockDim.y)};
                ok = run_block();
            }
#if CUDA_HOST_ASAN
    ASAN_UNPOISON_MEMORY_REGION(dynamic_shared_memory, kMaxDynamicSharedMemory);
#endif
    fflush(stdout);  // kernel printf output appears before Python's next print
    return ok ? 0 : 1;
}

template <class P>
inline ParamInfo describe_param() {
    using Q = std::conditional_t<std::is_pointer_v<P>, std::remove_pointer_t<P>, P>;
    using V = std::remove_cv_t<Q>;
    ParamInfo info{};
    info.is_const = std::is_pointer_v<P> && std::is_const_v<Q>;
    info.is_pointer = std::is_pointer_v<P>;
    info.is_arithmetic = std::is_arithmetic_v<V>;
    info.is_floating = std::is_floating_point_v<V>;
    info.is_signed = std::is_signed_v<V>;
    info.is_bool = std::is_same_v<V, bool>;
    if constexpr (!std::is_void_v<V>) info.size = static_cast<int>(sizeof(V));
    return info;
}

template <class... P>
inline int signature(void (*)(P...), ParamInfo* out, int capacity) {
    const ParamInfo params[] = {describe_param<P>()..., ParamInfo{}};
    int n = static_cast<int>(sizeof...(P));
    for (int i = 0; i < n && i < capacity; ++i) out[i] = params[i];
    return n;
}

template <class... P, size_t... I>
inline void call_kernel(void (*kernel)(P...), void** args, std::index_sequence<I...>) {
    kernel(*static_cast<std::remove_cv_t<P>*>(args[I])...);
}

template <class... P>
inline int launch(const char* name, void (*kernel)(P...), const Launch* config, void** args) {
    struct Call {
        void (*kernel)(P...);
        void** args;
    } call{kernel, args};
    auto body = [](void* p) {
        Call* c = static_cast<Call*>(p);
        call_kernel(c->kernel, c->args, std::index_sequence_for<P...>{});
    };
    return run_grid(name, config, body, &call);
}

}  // namespace cuda_host

CUDA_HOST_API int cuda_host_abi_version() { return CUDA_HOST_ABI_VERSION; }
CUDA_HOST_API unsigned long long cuda_host_max_dynamic_shared_memory() {
    return cuda_host::kMaxDynamicSharedMemory;
}

// The loader appends one line per extern "C" __global__ kernel: QUALIFIED is the name as
// C++ finds it from the global namespace, NAME the plain symbol.
#define CUDA_HOST_EXPORT_KERNEL(QUALIFIED, NAME)                                             \
    CUDA_HOST_API int cuda_host_launch__##NAME(const ::cuda_host::Launch* config,            \
                                               void** args) {                                \
        return ::cuda_host::launch(#NAME, &QUALIFIED, config, args);                         \
    }                                                                                        \
    CUDA_HOST_API int cuda_host_signature__##NAME(::cuda_host::ParamInfo* out, int capacity) { \
        return ::cuda_host::signature(&QUALIFIED, out, capacity);                            \
    }
