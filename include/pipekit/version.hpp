#pragma once

#include <string_view>

namespace pipekit {
inline constexpr std::string_view version = "0.1.0";  // keep in step with project() in CMakeLists.txt
}
