#include "pipekit/topology/mesh.hpp"

#include <cstdlib>
#include <string>
#include <utility>

#include "pipekit/error.hpp"
#if !defined(_WIN32)
#include "pipekit/limits.hpp"
#endif
#include "topology/supervision.hpp"

namespace pipekit {

namespace {

std::string peer_variable(std::size_t peer) { return "PIPEKIT_MESH_PEER_" + std::to_string(peer); }

// A whole decimal number from the environment, or nullopt.
std::optional<std::size_t> number_from_environment(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return std::nullopt;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (*end != '\0') return std::nullopt;
  return static_cast<std::size_t>(v);
}

}  // namespace

running_mesh::running_mesh() noexcept = default;
running_mesh::running_mesh(running_mesh&&) noexcept = default;
running_mesh& running_mesh::operator=(running_mesh&&) noexcept = default;
running_mesh::~running_mesh() = default;

pipeline_result running_mesh::result() const {
  pipeline_result r;
  for (const auto& m : members_) r.stages.push_back(m.result);
  return r;
}

pipeline_result running_mesh::wait() {
  std::error_code ec;
  pipeline_result r = wait(ec);
  if (ec) throw std::system_error(ec, "mesh wait");
  return r;
}

pipeline_result running_mesh::wait(std::error_code& ec) noexcept {
  (void)detail::collect_stages(members_, no_deadline, ec);
  return result();
}

std::optional<pipeline_result> running_mesh::wait_until(deadline until, std::error_code& ec) noexcept {
  if (!detail::collect_stages(members_, until, ec)) return std::nullopt;
  return result();
}

pipeline_result running_mesh::terminate(const terminate_options& options, std::error_code& ec) noexcept {
  detail::terminate_stages(members_, options, ec);
  return result();
}

running_mesh spawn_mesh(const std::vector<command>& members, const mesh_options& options) {
  std::error_code ec;
  std::string why;
  running_mesh m = spawn_mesh(members, options, ec, why);
  if (ec) throw std::system_error(ec, "spawn_mesh: " + why);
  return m;
}

running_mesh spawn_mesh(const std::vector<command>& members, const mesh_options& options, std::error_code& ec,
                        std::string& why) {
  ec.clear();
  why.clear();
  running_mesh m;
  const std::size_t n = members.size();
  if (n == 0) {
    ec = make_error_code(errc::invalid_argument);
    why = "a mesh needs at least one member";
    return m;
  }
  // The budget, before anything is made: all ends at once here, N-1 per member.
#if !defined(_WIN32)  // Windows has no per-process descriptor limit to speak of
  const std::size_t ends = n * (n - 1);
  std::error_code limits_ec;
  const system_limits limits = query_limits(limits_ec);
  if (!limits_ec && limits.descriptors_soft) {
    const std::uint64_t limit = *limits.descriptors_soft;
    const std::uint64_t member_top = static_cast<std::uint64_t>(options.first_fd) + (n - 1);
    if (ends + options.spare_descriptors > limit || member_top > limit) {
      ec = std::make_error_code(std::errc::too_many_files_open);
      why = "a mesh of " + std::to_string(n) + " members needs " + std::to_string(ends) + " descriptors at once (" +
            std::to_string(n) + " x " + std::to_string(n - 1) + ", plus " + std::to_string(options.spare_descriptors) +
            " spare), but the descriptor limit (RLIMIT_NOFILE) is " + std::to_string(limit);
      return m;
    }
  }
#endif

  // ends_of[i][j]: member i's end of the channel between i and j.
  std::vector<std::vector<channel>> ends_of(n);
  for (auto& row : ends_of) row.resize(n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) {
      channel_ends pair = channel_pair(true, {}, ec);
      if (ec) {
        why = "making the channel between members " + std::to_string(i) + " and " + std::to_string(j);
        return m;
      }
      ends_of[i][j] = std::move(pair.first);
      ends_of[j][i] = std::move(pair.second);
    }

  m.members_.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    command c = members[i];
    c.env("PIPEKIT_MESH_RANK", std::to_string(i)).env("PIPEKIT_MESH_SIZE", std::to_string(n));
    int fd = options.first_fd;
    for (std::size_t j = 0; j < n; ++j) {
      if (j == i) continue;
      const std::string variable = peer_variable(j);
      pass_channel(c, ends_of[i][j], fd++, variable.c_str());
    }
    auto& st = m.members_[i];
    spawn_failure failure;
    st.started = clock::now();
    st.proc = c.spawn(ec, failure);
    for (auto& end : ends_of[i]) {  // the member holds its copies now
      std::error_code ignored;
      end.close(ignored);
    }
    if (ec) {
      why = "member " + std::to_string(i) + " (" + (members[i].argv().empty() ? "" : members[i].argv().front()) +
            "): " + to_string(failure.stage) + (failure.detail.empty() ? "" : " " + failure.detail);
      std::error_code ignored;
      st.done = true;
      st.result.start_error = ec;
      detail::terminate_stages(m.members_, terminate_options{.signal = 9, .grace = std::chrono::milliseconds(0)},
                               ignored);
      return running_mesh{};
    }
  }
  return m;
}

mesh_membership join_mesh(const channel_options& options) {
  std::error_code ec;
  mesh_membership me = join_mesh(options, ec);
  if (ec) throw std::system_error(ec, "join_mesh: PIPEKIT_MESH_RANK/SIZE/PEER_<j> missing or invalid");
  return me;
}

mesh_membership join_mesh(const channel_options& options, std::error_code& ec) {
  ec.clear();
  mesh_membership me;
  const auto rank = number_from_environment("PIPEKIT_MESH_RANK");
  const auto size = number_from_environment("PIPEKIT_MESH_SIZE");
  if (!rank || !size || *rank >= *size) {
    ec = make_error_code(errc::invalid_argument);
    return me;
  }
  me.rank = *rank;
  me.size = *size;
  me.peers.resize(*size);
  for (std::size_t j = 0; j < *size; ++j) {
    if (j == *rank) continue;
    me.peers[j] = channel::from_environment(peer_variable(j).c_str(), options, ec);
    if (ec) return mesh_membership{};
  }
  return me;
}

}  // namespace pipekit
