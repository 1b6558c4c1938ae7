// mesh: N processes, each with a duplex channel to every other — the
// seed's N-to-N topology, N(N-1)/2 channels made before anything starts.
//
//   std::vector<pipekit::command> members(4, pipekit::command{"./member"});
//   pipekit::running_mesh m = pipekit::spawn_mesh(members);
//   pipekit::pipeline_result r = m.wait();
//
//   // in each member:
//   pipekit::mesh_membership me = pipekit::join_mesh();
//   for (std::size_t peer = 0; peer < me.size; ++peer)
//     if (peer != me.rank) me.peers[peer].send("hello from " + std::to_string(me.rank));
//
// Each member learns its place from its environment: PIPEKIT_MESH_RANK (0 to
// N-1), PIPEKIT_MESH_SIZE (N) and, for every other member j,
// PIPEKIT_MESH_PEER_<j>: the descriptor (Windows: the handle) of its end of
// the channel to j, as pass_channel() hands it over (descriptors from
// options.first_fd up, in peer order). A Python member wraps each in
// multiprocessing.connection.Connection(int(os.environ[...])).
//
// Descriptors: making every channel at once needs N(N-1) descriptors in this
// process besides those already open, and each member gets N-1. spawn_mesh()
// checks both against RLIMIT_NOFILE before it makes anything and refuses
// with std::errc::too_many_files_open, naming the numbers (the throwing
// form's what(); `why` in the error_code form).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "pipekit/channel.hpp"
#include "pipekit/export.hpp"
#include "pipekit/process.hpp"
#include "pipekit/topology/pipeline.hpp"

namespace pipekit {

struct mesh_options {
  int first_fd = 3;  // POSIX: member descriptors first_fd, first_fd + 1, ...
  // Descriptors left free for everything else of this process.
  std::size_t spare_descriptors = 32;
};

class PIPEKIT_EXPORT running_mesh {
 public:
  running_mesh() noexcept;
  running_mesh(running_mesh&&) noexcept;
  running_mesh& operator=(running_mesh&&) noexcept;
  ~running_mesh();

  [[nodiscard]] std::size_t size() const noexcept { return members_.size(); }
  [[nodiscard]] process& member(std::size_t i) { return members_.at(i).proc; }
  // As running_pipeline's: every member's status and run time.
  pipeline_result wait();
  pipeline_result wait(std::error_code& ec) noexcept;
  std::optional<pipeline_result> wait_until(deadline until, std::error_code& ec) noexcept;
  pipeline_result terminate(const terminate_options& options, std::error_code& ec) noexcept;

 private:
  friend PIPEKIT_EXPORT running_mesh spawn_mesh(const std::vector<command>&, const mesh_options&, std::error_code&,
                                                std::string&);
  pipeline_result result() const;
  std::vector<detail::supervised_stage> members_;
};

// Starts every member with its channels. A member that cannot start stops
// the mesh: the others are killed and reaped (its peers would wait for it).
PIPEKIT_EXPORT running_mesh spawn_mesh(const std::vector<command>& members, const mesh_options& options = {});
PIPEKIT_EXPORT running_mesh spawn_mesh(const std::vector<command>& members, const mesh_options& options,
                                       std::error_code& ec, std::string& why);

// A member's side: its rank, the mesh's size and a channel to every other
// member (peers[rank] is an empty channel).
struct mesh_membership {
  std::size_t rank = 0;
  std::size_t size = 0;
  std::vector<channel> peers;
};
PIPEKIT_EXPORT mesh_membership join_mesh(const channel_options& options = {});
PIPEKIT_EXPORT mesh_membership join_mesh(const channel_options& options, std::error_code& ec);

}  // namespace pipekit
