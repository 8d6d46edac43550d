// The calling convention of every function clr's C++ shims export: no C++ exception may cross
// `extern "C"` into Rust (undefined behaviour), so each export that can fail runs its body through
// `guarded`, returns CLR_OK or CLR_ERROR, and on error writes one line into the caller's buffer:
// c10::Error's message without its backtrace, std::exception::what(), or a fixed text for
// anything else. Exports that cannot report (frees, queries) catch everything and are noexcept.
#pragma once

#include <c10/util/Exception.h>

#include <cstddef>
#include <cstring>
#include <exception>

namespace clr {

constexpr int OK = 0;
constexpr int ERROR = 1;

// Copy `msg` into `buf` (cut to `len - 1` bytes), NUL-terminated; never throws or allocates.
inline void write_error(char* buf, size_t len, const char* msg) noexcept {
    if (buf == nullptr || len == 0) {
        return;
    }
    if (msg == nullptr) {
        msg = "unknown error";
    }
    size_t n = std::strlen(msg);
    n = n < len - 1 ? n : len - 1;
    std::memcpy(buf, msg, n);
    buf[n] = '\0';
}

// Run `f`; CLR_OK, or CLR_ERROR with the reason in `err`.
template <typename F>
int guarded(char* err, size_t err_len, F&& f) noexcept {
    try {
        f();
        return OK;
    } catch (const c10::Error& e) {
        write_error(err, err_len, e.what_without_backtrace());
    } catch (const std::exception& e) {
        write_error(err, err_len, e.what());
    } catch (...) {
        write_error(err, err_len, "unknown C++ exception");
    }
    return ERROR;
}

}  // namespace clr
