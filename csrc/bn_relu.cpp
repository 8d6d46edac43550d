// Batch norm (training mode), an optional residual add and ReLU, fused into one autograd
// operation for channels-last CPU tensors in float or bfloat16: y = relu(bn(x) [+ residual]).
//
// libtorch runs these as three or four kernels forward (statistics, normalisation, add, ReLU)
// and as many backward (ReLU's mask, two batch-norm passes, the residual's gradient sum), each
// a full pass over the activations plus a dispatch. Here the forward is two passes (statistics,
// then normalise-add-clamp) and the backward two (sums, then the input gradients), with ReLU's
// mask read from the saved output. The sums are taken over fixed blocks of rows and added in
// block order, so the result does not depend on the number of threads, and a run repeats
// bit for bit.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "guarded.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma")
namespace isa_avx512 {
#include "bn_relu_kernels.inc"
}
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace isa_avx2 {
#include "bn_relu_kernels.inc"
}
#pragma GCC pop_options

namespace isa_base {
#include "bn_relu_kernels.inc"
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Rows per block of the sums: small enough that a float sum over a block stays accurate (the
// blocks are then added in double), large enough to amortise the per-block work.
constexpr int64_t BLOCK = 256;

enum class Isa { Avx512, Avx2, Base };

Isa detect() {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return Isa::Avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
    return Isa::Base;
}

const Isa ISA = detect();

// Set by tests to run the kernels of a lesser instruction set than this CPU's (-1: none). Per
// thread, so that one test's choice never reaches another's; read on the calling thread before
// the work is spread over libtorch's threads.
thread_local int forced_isa = -1;

Isa current_isa() { return forced_isa >= 0 ? static_cast<Isa>(forced_isa) : ISA; }

// `isa` is a local of the calling function, read once with current_isa().
#define CLR_DISPATCH(call)                          \
    switch (isa) {                                  \
        case Isa::Avx512: isa_avx512::call; break;  \
        case Isa::Avx2: isa_avx2::call; break;      \
        default: isa_base::call; break;             \
    }

// The element pointer of a float or bfloat16 tensor as the kernels take it.
template <typename T>
T* ptr(const at::Tensor& t) {
    return reinterpret_cast<T*>(t.data_ptr());
}

// Per-channel sums over all rows, block by block in parallel, then the blocks in order.
template <typename F>
void block_sums(int64_t rows, int64_t C, std::vector<double>& s1, std::vector<double>& s2, F&& kernel) {
    const int64_t blocks = (rows + BLOCK - 1) / BLOCK;
    std::vector<float> partial(blocks * 2 * C, 0.f);
    at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; b++) {
            float* p = partial.data() + b * 2 * C;
            kernel(b * BLOCK, std::min(rows, (b + 1) * BLOCK), p, p + C);
        }
    });
    s1.assign(C, 0.0);
    s2.assign(C, 0.0);
    for (int64_t b = 0; b < blocks; b++) {
        const float* p = partial.data() + b * 2 * C;
        for (int64_t c = 0; c < C; c++) {
            s1[c] += p[c];
            s2[c] += p[C + c];
        }
    }
}

// Elementwise work over all rows in parallel, in blocks.
template <typename F>
void block_rows(int64_t rows, F&& kernel) {
    const int64_t blocks = (rows + BLOCK - 1) / BLOCK;
    at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
        kernel(b0 * BLOCK, std::min(rows, b1 * BLOCK));
    });
}

struct RunningStats {
    at::Tensor mean, var;
};

template <typename T>
at::Tensor forward_impl(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                        const at::Tensor& res, RunningStats& running, double momentum, double eps) {
    const Isa isa = current_isa();
    const int64_t C = x.size(1), rows = x.numel() / C;
    TORCH_CHECK(rows > 1, "batch norm in training mode needs more than one value per channel");
    // Shift by the first row: sums of x - shift keep their precision when |mean| >> std.
    std::vector<float> shift(C);
    for (int64_t c = 0; c < C; c++) {
        T v = ptr<T>(x)[c];
        shift[c] = isa_base::load(&v, 0);
    }
    std::vector<double> s, q;
    block_sums(rows, C, s, q, [&](int64_t r0, int64_t r1, float* ps, float* pq) {
        CLR_DISPATCH(stats(ptr<T>(x), C, r0, r1, shift.data(), ps, pq));
    });
    auto mean_t = at::empty({C}, x.options().dtype(at::kFloat));
    auto invstd_t = at::empty({C}, x.options().dtype(at::kFloat));
    std::vector<float> a(C), b(C);
    float* rm = running.mean.data_ptr<float>();
    float* rv = running.var.data_ptr<float>();
    const float* w = weight.data_ptr<float>();
    const float* bi = bias.data_ptr<float>();
    for (int64_t c = 0; c < C; c++) {
        const double m = s[c] / rows;
        const double var = std::max(q[c] / rows - m * m, 0.0);
        const double mean = shift[c] + m;
        const double invstd = 1.0 / std::sqrt(var + eps);
        mean_t.data_ptr<float>()[c] = static_cast<float>(mean);
        invstd_t.data_ptr<float>()[c] = static_cast<float>(invstd);
        // As ATen: the running variance is the unbiased one.
        rm[c] = static_cast<float>((1.0 - momentum) * rm[c] + momentum * mean);
        rv[c] = static_cast<float>((1.0 - momentum) * rv[c] + momentum * var * rows / (rows - 1));
        a[c] = static_cast<float>(w[c] * invstd);
        b[c] = static_cast<float>(bi[c] - mean * w[c] * invstd);
    }
    auto y = at::empty_like(x, at::MemoryFormat::ChannelsLast);
    const T* r = res.defined() ? ptr<T>(res) : nullptr;
    block_rows(rows, [&](int64_t r0, int64_t r1) {
        CLR_DISPATCH(forward_rows(ptr<T>(x), r, ptr<T>(y), C, r0, r1, a.data(), b.data()));
    });
    ctx->save_for_backward({x, y, weight});
    ctx->saved_data["mean"] = mean_t;
    ctx->saved_data["invstd"] = invstd_t;
    ctx->saved_data["residual"] = res.defined();
    return y;
}

template <typename T>
variable_list backward_impl(AutogradContext* ctx, const at::Tensor& grad) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &y = saved[1], &weight = saved[2];
    const at::Tensor mean_t = ctx->saved_data["mean"].toTensor();
    const at::Tensor invstd_t = ctx->saved_data["invstd"].toTensor();
    const bool has_res = ctx->saved_data["residual"].toBool();
    const at::Tensor gy = grad.to(x.scalar_type()).contiguous(at::MemoryFormat::ChannelsLast);
    const Isa isa = current_isa();
    const int64_t C = x.size(1), rows = x.numel() / C;
    const float* mean = mean_t.data_ptr<float>();
    // With a residual, its gradient is ReLU's masked gradient: written by the first pass, then
    // read by the second instead of the incoming gradient and the output.
    auto dres = has_res ? at::empty_like(x, at::MemoryFormat::ChannelsLast) : at::Tensor();
    T* g = has_res ? ptr<T>(dres) : nullptr;
    std::vector<double> sg, sgx;
    block_sums(rows, C, sg, sgx, [&](int64_t r0, int64_t r1, float* p1, float* p2) {
        CLR_DISPATCH(backward_sums(ptr<T>(gy), ptr<T>(y), ptr<T>(x), g, C, r0, r1, mean, p1, p2));
    });
    auto dweight = at::empty({C}, weight.options());
    auto dbias = at::empty({C}, weight.options());
    std::vector<float> A(C), B(C), D(C);
    const float* w = weight.data_ptr<float>();
    for (int64_t c = 0; c < C; c++) {
        const double s = invstd_t.data_ptr<float>()[c];
        const double dgamma = sgx[c] * s, dbeta = sg[c];
        dweight.data_ptr<float>()[c] = static_cast<float>(dgamma);
        dbias.data_ptr<float>()[c] = static_cast<float>(dbeta);
        A[c] = static_cast<float>(w[c] * s);
        B[c] = static_cast<float>(-w[c] * s * s * dgamma / rows);
        D[c] = static_cast<float>(-w[c] * s * dbeta / rows);
    }
    auto dx = at::empty_like(x, at::MemoryFormat::ChannelsLast);
    const T* g_in = has_res ? g : ptr<T>(gy);
    const T* mask = has_res ? nullptr : ptr<T>(y);
    block_rows(rows, [&](int64_t r0, int64_t r1) {
        CLR_DISPATCH(backward_rows(g_in, mask, ptr<T>(x), ptr<T>(dx), C, r0, r1, mean, A.data(), B.data(), D.data()));
    });
    // One gradient per argument of forward: x, weight, bias, residual, running stats, momentum, eps.
    return {dx, dweight, dbias, dres, at::Tensor(), at::Tensor(), at::Tensor()};
}

struct BnRelu : public torch::autograd::Function<BnRelu> {
    static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                              const at::Tensor& bias, const std::optional<at::Tensor>& residual, RunningStats running,
                              double momentum, double eps) {
        const at::Tensor res = residual.has_value() ? *residual : at::Tensor();
        if (x.scalar_type() == at::kBFloat16)
            return forward_impl<uint16_t>(ctx, x, weight, bias, res, running, momentum, eps);
        return forward_impl<float>(ctx, x, weight, bias, res, running, momentum, eps);
    }

    static variable_list backward(AutogradContext* ctx, variable_list grads) {
        if (ctx->get_saved_variables()[0].scalar_type() == at::kBFloat16) return backward_impl<uint16_t>(ctx, grads[0]);
        return backward_impl<float>(ctx, grads[0]);
    }
};

bool usable(const at::Tensor& t, at::ScalarType kind) {
    return t.defined() && t.device().is_cpu() && t.scalar_type() == kind && t.dim() == 4 &&
           t.is_contiguous(at::MemoryFormat::ChannelsLast);
}

bool param(const at::Tensor& t, int64_t C) {
    return t.defined() && t.device().is_cpu() && t.scalar_type() == at::kFloat && t.dim() == 1 && t.size(0) == C &&
           t.is_contiguous();
}

}  // namespace

extern "C" {

// Run the kernels of instruction set `isa` (0 AVX-512, 1 AVX2, 2 baseline; -1: this CPU's best)
// on this thread from now on, so that tests cover every variant. Returns 0 when this CPU lacks
// that set.
int clr_bn_relu_force_isa(int isa) noexcept {
    if (isa >= 0 && isa < static_cast<int>(ISA)) return 0;
    forced_isa = isa;
    return 1;
}

// y = relu(batch_norm(x) [+ residual]) in training mode, updating the running statistics.
// residual may be null. On success stores a new tensor in *out and returns CLR_OK; on failure
// (a tensor the kernels do not take: not a channels-last float/bfloat16 CPU tensor, or
// mismatched shapes) returns CLR_ERROR with the reason in `err` (see guarded.h), and nothing has
// changed.
int clr_bn_relu(const at::Tensor* x, const at::Tensor* weight, const at::Tensor* bias, const at::Tensor* residual,
                const at::Tensor* running_mean, const at::Tensor* running_var, double momentum, double eps,
                at::Tensor** out, char* err, size_t err_len) noexcept {
    return clr::guarded(err, err_len, [&] {
        const auto kind = x->scalar_type();
        TORCH_CHECK(kind == at::kFloat || kind == at::kBFloat16, "bn_relu: float or bfloat16 input");
        TORCH_CHECK(usable(*x, kind), "bn_relu: a channels-last 4-D CPU input");
        TORCH_CHECK(!residual || (usable(*residual, kind) && residual->sizes() == x->sizes()),
                    "bn_relu: the residual must match the input's shape, type and layout");
        const int64_t C = x->size(1);
        TORCH_CHECK(param(*weight, C) && param(*bias, C) && param(*running_mean, C) && param(*running_var, C),
                    "bn_relu: float CPU weight, bias and running statistics of one value per channel");
        std::optional<at::Tensor> res = residual ? std::optional<at::Tensor>(*residual) : std::nullopt;
        RunningStats running{*running_mean, *running_var};
        *out = new at::Tensor(BnRelu::apply(*x, *weight, *bias, res, running, momentum, eps));
    });
}
}
