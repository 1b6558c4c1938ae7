// PIPEKIT_EXPORT marks what a shared libpipekit exports: the classes and
// functions of the public API. The library is compiled with hidden visibility
// (src/CMakeLists.txt), so anything unmarked, pipekit::detail included, stays
// inside it. Static builds and Windows (always static) need no markup.
#pragma once

#if defined(__GNUC__) && !defined(_WIN32)
#define PIPEKIT_EXPORT __attribute__((visibility("default")))
#else
#define PIPEKIT_EXPORT
#endif
