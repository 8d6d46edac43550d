// bf16 autocast for CUDA. tch's autocast only switches autocast on, through deprecated calls
// that warn at every use, and leaves CUDA's autocast dtype at its default, float16; clr's
// --precision bf16 needs bfloat16. These three functions are the whole interface.
#include <ATen/autocast_mode.h>

extern "C" {

// Enter an autocast region for CUDA in bfloat16; returns whether autocast was on before.
int clr_autocast_bf16_enter() {
    bool previous = at::autocast::is_autocast_enabled(at::kCUDA);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    at::autocast::increment_nesting();
    return previous ? 1 : 0;
}

// Leave the region entered by clr_autocast_bf16_enter.
void clr_autocast_exit(int previous) {
    if (at::autocast::decrement_nesting() == 0) {
        at::autocast::clear_cache();
    }
    at::autocast::set_autocast_enabled(at::kCUDA, previous != 0);
}

// 1 when CUDA autocast is on in bfloat16 (for tests).
int clr_autocast_is_bf16() {
    return at::autocast::is_autocast_enabled(at::kCUDA) &&
           at::autocast::get_autocast_dtype(at::kCUDA) == at::kBFloat16;
}
}
