// The CPU batch gather in one pass: for each image of a mini-batch, crop S×S at its offset
// from the zero-padded uint8 training set, mirror it where asked, normalise each channel, and
// write float pixels straight into channels-last (NHWC) memory. As tensor operations the same
// work is an index gather, a cast, a subtraction, a multiplication and a layout copy: five
// passes over the batch and four temporaries.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "guarded.h"

extern "C" {

// padded: N×3×H×W uint8, contiguous; index, dx, dy: B int64; flip: B bool; size: S, the side of
// the crop; mean, inv_std: 3 floats each. On success stores a new B×3×S×S float tensor with NHWC
// strides in *out and returns CLR_OK; on failure returns CLR_ERROR with the reason in `err` (see
// guarded.h).
int clr_gather_normalize(const at::Tensor* padded, const at::Tensor* index, const at::Tensor* dx, const at::Tensor* dy,
                         const at::Tensor* flip, int64_t size, const float* mean, const float* inv_std,
                         at::Tensor** out, char* err, size_t err_len) noexcept {
    return clr::guarded(err, err_len, [&] {
        TORCH_CHECK(padded->device().is_cpu() && padded->scalar_type() == at::kByte && padded->dim() == 4 &&
                        padded->size(1) == 3 && padded->is_contiguous(),
                    "padded images must be N×3×H×W contiguous uint8 on the CPU");
        const int64_t b = index->size(0), h = padded->size(2), w = padded->size(3), n = padded->size(0);
        TORCH_CHECK(size >= 1 && h >= size && w >= size, "padded images smaller than the crop");
        auto idx = index->to(at::kLong).contiguous();
        auto ox = dx->to(at::kLong).contiguous();
        auto oy = dy->to(at::kLong).contiguous();
        auto fl = flip->to(at::kBool).contiguous();
        TORCH_CHECK(ox.size(0) == b && oy.size(0) == b && fl.size(0) == b, "one offset and flip per image");
        const int64_t* pi = idx.data_ptr<int64_t>();
        const int64_t* px = ox.data_ptr<int64_t>();
        const int64_t* py = oy.data_ptr<int64_t>();
        const bool* pf = fl.data_ptr<bool>();
        for (int64_t i = 0; i < b; i++) {
            TORCH_CHECK(pi[i] >= 0 && pi[i] < n, "image index out of range");
            TORCH_CHECK(px[i] >= 0 && px[i] + size <= w && py[i] >= 0 && py[i] + size <= h, "crop outside the image");
        }
        auto nhwc = at::empty({b, size, size, 3}, padded->options().dtype(at::kFloat));
        const uint8_t* src = padded->data_ptr<uint8_t>();
        float* dst = nhwc.data_ptr<float>();
        const float m[3] = {mean[0], mean[1], mean[2]};
        const float s[3] = {inv_std[0], inv_std[1], inv_std[2]};
        at::parallel_for(0, b, 1, [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; i++) {
                const uint8_t* image = src + pi[i] * 3 * h * w;
                for (int64_t y = 0; y < size; y++) {
                    const int64_t row = (py[i] + y) * w + px[i];
                    const uint8_t* planes[3] = {image + row, image + h * w + row, image + 2 * h * w + row};
                    float* o = dst + ((i * size + y) * size) * 3;
                    for (int64_t x = 0; x < size; x++) {
                        const int64_t sx = pf[i] ? size - 1 - x : x;
                        for (int c = 0; c < 3; c++) {
                            // The same two float operations as (image.float() - mean) * (1/std).
                            o[x * 3 + c] = (static_cast<float>(planes[c][sx]) - m[c]) * s[c];
                        }
                    }
                }
            }
        });
        *out = new at::Tensor(nhwc.permute({0, 3, 1, 2}));
    });
}
}
