// c10d for clr: a TCPStore rendezvous and a Gloo (CPU) or NCCL (CUDA) process group, behind a
// small C API that never lets a C++ exception or backtrace cross into Rust (guarded.h). Every
// call returns CLR_DIST_OK or an error code, and on error writes one line (c10::Error's message
// without its backtrace, or std::exception::what()) into the caller's buffer.
//
// build.rs defines CLR_DIST_GLOO / CLR_DIST_NCCL (with USE_C10D_GLOO / USE_C10D_NCCL, without
// which c10d's headers are silently empty) only when the headers were found; a backend that was
// left out answers CLR_DIST_NOT_BUILT, and the Rust side says what to install.
#include <c10/util/Exception.h>
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#ifdef CLR_DIST_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef CLR_DIST_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <arpa/inet.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "guarded.h"

namespace {

constexpr int CLR_DIST_OK = clr::OK;
constexpr int CLR_DIST_ERROR = clr::ERROR;
constexpr int CLR_DIST_NOT_BUILT = 2;

constexpr int CLR_BACKEND_GLOO = 0;
constexpr int CLR_BACKEND_NCCL = 1;

// Keys of clr's group live under their own prefix, beside whatever else the store holds (under
// torchrun the agent's own keys share it).
const char* const kStorePrefix = "clr/default_pg/";

struct Group {
    c10::intrusive_ptr<c10d::Store> store;
    c10::intrusive_ptr<c10d::Backend> backend;
    int backend_kind;
    int cuda_device;
    // After a failed collective the group is aborted rather than shut down cleanly, which
    // would wait on peers that may be gone.
    bool failed = false;
};

// A collective on g; a failure marks the group for abort.
template <typename F>
int collective(Group* g, char* err, size_t err_len, F&& f) noexcept {
    int rc = clr::guarded(err, err_len, std::forward<F>(f));
    if (rc != CLR_DIST_OK) {
        g->failed = true;
    }
    return rc;
}

#ifdef CLR_DIST_GLOO
// An IPv4 127/8 address, ::1 or "localhost".
bool is_loopback(const std::string& addr) {
    if (addr == "localhost") {
        return true;
    }
    in_addr v4{};
    if (inet_pton(AF_INET, addr.c_str(), &v4) == 1) {
        return (ntohl(v4.s_addr) >> 24) == 127;
    }
    in6_addr v6{};
    return inet_pton(AF_INET6, addr.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

// PyTorch's choice (ProcessGroupGloo's Python constructor): the interfaces named in
// GLOO_SOCKET_IFNAME, else the address this host's name resolves to. clr adds one case: a
// loopback MASTER_ADDR means every rank is on this host, so bind to loopback rather than to
// whatever the host name resolves to (in containers it may not be reachable, or be slow).
std::vector<std::shared_ptr<::gloo::transport::Device>> gloo_devices(const std::string& master) {
    std::vector<std::shared_ptr<::gloo::transport::Device>> devices;
    const char* ifnames = std::getenv("GLOO_SOCKET_IFNAME");
    if (ifnames != nullptr && ifnames[0] != '\0') {
        std::string all(ifnames);
        size_t start = 0;
        while (start <= all.size()) {
            size_t comma = all.find(',', start);
            std::string name = all.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
            if (!name.empty()) {
                devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
            }
            if (comma == std::string::npos) {
                break;
            }
            start = comma + 1;
        }
        TORCH_CHECK(!devices.empty(), "GLOO_SOCKET_IFNAME names no interface: '", all, "'");
    } else if (is_loopback(master)) {
        devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(master == "localhost" ? "127.0.0.1" : master));
    } else {
        devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    return devices;
}
#endif

}  // namespace

extern "C" {

// Bit 0: Gloo was built in; bit 1: NCCL was built in.
int clr_dist_backends() noexcept {
    int bits = 0;
#ifdef CLR_DIST_GLOO
    bits |= 1 << CLR_BACKEND_GLOO;
#endif
#ifdef CLR_DIST_NCCL
    bits |= 1 << CLR_BACKEND_NCCL;
#endif
    return bits;
}

// Hosts a TCPStore server alone (the role torchrun's agent plays): ranks then connect with
// client_only. port 0 picks a free port; *port_out receives the one bound.
int clr_dist_store_server(const char* addr, int port, long long timeout_ms, void** out, int* port_out, char* err,
                          size_t err_len) noexcept {
    *out = nullptr;
    return clr::guarded(err, err_len, [&] {
        TORCH_CHECK(port >= 0 && port <= 65535, "port out of range: ", port);
        c10d::TCPStoreOptions opts;
        opts.port = static_cast<std::uint16_t>(port);
        opts.isServer = true;
        opts.waitWorkers = false;
        // A port in use is an error here, not a share of another store in this process.
        opts.multiTenant = false;
        opts.timeout = std::chrono::milliseconds(timeout_ms);
        auto store = c10::make_intrusive<c10d::TCPStore>(std::string(addr), opts);
        *port_out = store->getPort();
        *out = new c10::intrusive_ptr<c10d::TCPStore>(std::move(store));
    });
}

void clr_dist_store_server_free(void* server) noexcept {
    try {
        delete static_cast<c10::intrusive_ptr<c10d::TCPStore>*>(server);
    } catch (...) {
        // Freeing must not throw into Rust.
    }
}

// Joins a group of world_size ranks whose TCPStore is at master_addr:master_port: rank 0 hosts
// it unless client_only (torchrun's agent already does). NCCL uses CUDA device cuda_device.
int clr_dist_init(int backend, const char* master_addr, int master_port, int rank, int world_size, int client_only,
                  long long timeout_ms, int cuda_device, void** out, char* err, size_t err_len) noexcept {
    *out = nullptr;
    if (backend != CLR_BACKEND_GLOO && backend != CLR_BACKEND_NCCL) {
        char message[48];
        std::snprintf(message, sizeof message, "unknown backend %d", backend);
        clr::write_error(err, err_len, message);
        return CLR_DIST_ERROR;
    }
    if (!(clr_dist_backends() & (1 << backend))) {
        clr::write_error(err, err_len, "backend not built in");
        return CLR_DIST_NOT_BUILT;
    }
    return clr::guarded(err, err_len, [&] {
        TORCH_CHECK(master_port > 0 && master_port <= 65535, "master port out of range: ", master_port);
        TORCH_CHECK(world_size > 0 && rank >= 0 && rank < world_size, "rank ", rank, " of ", world_size);
        auto timeout = std::chrono::milliseconds(timeout_ms);
        c10d::TCPStoreOptions opts;
        opts.port = static_cast<std::uint16_t>(master_port);
        opts.isServer = rank == 0 && !client_only;
        opts.numWorkers = world_size;
        opts.waitWorkers = true;
        opts.multiTenant = true;
        opts.timeout = timeout;
        c10::intrusive_ptr<c10d::Store> tcp = c10::make_intrusive<c10d::TCPStore>(std::string(master_addr), opts);
        auto store = c10::make_intrusive<c10d::PrefixStore>(kStorePrefix, tcp);

        auto group = std::make_unique<Group>();
        group->store = store;
        group->backend_kind = backend;
        group->cuda_device = cuda_device;
#ifdef CLR_DIST_GLOO
        if (backend == CLR_BACKEND_GLOO) {
            auto options = c10d::ProcessGroupGloo::Options::create(timeout);
            options->devices = gloo_devices(master_addr);
            options->threads = static_cast<int>(options->devices.size()) * 2;
            group->backend = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world_size, options);
        }
#endif
#ifdef CLR_DIST_NCCL
        if (backend == CLR_BACKEND_NCCL) {
            TORCH_CHECK(cuda_device >= 0, "NCCL needs a CUDA device");
            // TORCH_NCCL_BLOCKING_WAIT=1, which the constructor reads, was set by clr's main
            // before any thread started (setenv is not thread-safe): see dist::c10d.
            c10::cuda::set_device(static_cast<c10::DeviceIndex>(cuda_device));
            auto options = c10d::ProcessGroupNCCL::Options::create();
            options->timeout = timeout;
            auto nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world_size, options);
            nccl->setBoundDeviceId(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(cuda_device)));
            group->backend = nccl;
        }
#endif
        *out = group.release();
    });
}

// In-place sum over all ranks; waits for the result.
int clr_dist_all_reduce_sum(void* group, at::Tensor* tensor, char* err, size_t err_len) noexcept {
    auto* g = static_cast<Group*>(group);
    return collective(g, err, err_len, [&] {
        std::vector<at::Tensor> tensors{*tensor};
        c10d::AllreduceOptions opts;
        opts.reduceOp = c10d::ReduceOp::SUM;
        g->backend->allreduce(tensors, opts)->wait();
    });
}

// In place: every rank's tensor becomes root's.
int clr_dist_broadcast(void* group, at::Tensor* tensor, int root, char* err, size_t err_len) noexcept {
    auto* g = static_cast<Group*>(group);
    return collective(g, err, err_len, [&] {
        std::vector<at::Tensor> tensors{*tensor};
        c10d::BroadcastOptions opts;
        opts.rootRank = root;
        g->backend->broadcast(tensors, opts)->wait();
    });
}

int clr_dist_barrier(void* group, char* err, size_t err_len) noexcept {
    auto* g = static_cast<Group*>(group);
    return collective(g, err, err_len, [&] {
        c10d::BarrierOptions opts;
        if (g->backend_kind == CLR_BACKEND_NCCL) {
            opts.device_ids = {g->cuda_device};
        }
        g->backend->barrier(opts)->wait();
    });
}

// Frees the group; its destructor waits for work in flight, which has finished or failed since
// every collective above waits.
void clr_dist_free(void* group) noexcept {
    auto* g = static_cast<Group*>(group);
    try {
        if (g->failed) {
            g->backend->abort();
        } else {
            g->backend->shutdown();
        }
    } catch (...) {
        // Freeing must not throw into Rust; the destructor below still runs.
    }
    try {
        delete g;
    } catch (...) {
    }
}
}
