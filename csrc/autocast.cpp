// bf16 autocast for the run's device (CPU or CUDA). tch's autocast only switches CUDA's
// autocast on, through deprecated calls that warn at every use, and leaves its dtype at
// float16; clr's --precision bf16 needs bfloat16, on the CPU as on CUDA. These three functions
// are the whole interface; `device_type` is c10::DeviceType's value (CPU 0, CUDA 1). libtorch
// checks the device type and throws for one without autocast: see guarded.h.
#include <ATen/autocast_mode.h>

#include "guarded.h"

extern "C" {

// Enter an autocast region for `device_type` in bfloat16. Stores the state to restore in
// *previous: bit 0 whether autocast was on, the bits above it the previous autocast dtype.
int clr_autocast_bf16_enter(int device_type, int* previous, char* err, size_t err_len) noexcept {
    return clr::guarded(err, err_len, [&] {
        auto device = static_cast<at::DeviceType>(device_type);
        *previous = (static_cast<int>(at::autocast::get_autocast_dtype(device)) << 1) |
                    (at::autocast::is_autocast_enabled(device) ? 1 : 0);
        at::autocast::set_autocast_dtype(device, at::kBFloat16);
        at::autocast::set_autocast_enabled(device, true);
        at::autocast::increment_nesting();
    });
}

// Leave the region entered by clr_autocast_bf16_enter, restoring what it stored. The cache of
// casted weights lives as long as the outermost region, as with torch.autocast.
int clr_autocast_exit(int device_type, int previous, char* err, size_t err_len) noexcept {
    return clr::guarded(err, err_len, [&] {
        auto device = static_cast<at::DeviceType>(device_type);
        if (at::autocast::decrement_nesting() == 0) {
            at::autocast::clear_cache();
        }
        at::autocast::set_autocast_enabled(device, (previous & 1) != 0);
        at::autocast::set_autocast_dtype(device, static_cast<at::ScalarType>(previous >> 1));
    });
}

// 1 when autocast for `device_type` is on in bfloat16 on this thread, 0 otherwise (also for a
// device type libtorch refuses).
int clr_autocast_is_bf16(int device_type) noexcept {
    try {
        auto device = static_cast<at::DeviceType>(device_type);
        return at::autocast::is_autocast_enabled(device) && at::autocast::get_autocast_dtype(device) == at::kBFloat16;
    } catch (...) {
        return 0;
    }
}
}
