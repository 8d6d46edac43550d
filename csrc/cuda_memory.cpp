// The CUDA caching allocator's own peak (bytes ever allocated at once on a device): what
// `clr bench` reports as peak memory on a GPU. nvidia-smi's per-process figure matches nothing
// inside most containers. Built with CUDA's headers when they are there (CLR_CUDA), else a stub.
#include <cstdint>
#ifdef CLR_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

extern "C" {

// Peak allocated bytes on CUDA device `device`; -1 when not known (no CUDA here, or no device).
int64_t clr_cuda_peak_allocated(int device) noexcept {
#ifdef CLR_CUDA
    try {
        auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device);
        return stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak;
    } catch (...) {
        return -1;
    }
#else
    (void)device;
    return -1;
#endif
}
}
