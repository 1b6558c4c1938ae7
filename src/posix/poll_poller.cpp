// poll() backend: works on every POSIX system. A self-pipe carries wake().
// Registration is O(1) through an index map; wait() is O(n) as poll() is.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <unordered_map>
#include <vector>

#include "pipekit/error.hpp"
#include "pipekit/pipe.hpp"
#include "posix/syscall.hpp"
#include "sys/io.hpp"
#include "sys/poller_impl.hpp"

namespace pipekit::detail {
namespace {

short to_poll(events e) {
  short m = 0;
  if (any(e & events::readable)) m |= POLLIN;
  if (any(e & events::writable)) m |= POLLOUT;
  return m;
}

events from_poll(short m) {
  events e = events::none;
  if (m & POLLIN) e = e | events::readable;
  if (m & POLLOUT) e = e | events::writable;
  if (m & POLLHUP) e = e | events::hangup;
  if (m & (POLLERR | POLLNVAL)) e = e | events::error;
  return e;
}

struct file_id {
  dev_t dev = 0;
  ino_t ino = 0;
  friend bool operator==(const file_id&, const file_id&) = default;
};

file_id identify(int fd) noexcept {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return {};
  return {st.st_dev, st.st_ino};
}

class poll_poller final : public poller_impl {
 public:
  explicit poll_poller(pipe_pair wake) : wake_(std::move(wake)) {
    fds_.push_back(pollfd{wake_.read_end.native_handle(), POLLIN, 0});
    tokens_.push_back(0);
    ids_.push_back({});
    interests_.push_back(events::readable);
  }

  void add(native_handle_type h, events interest, std::uint64_t token, std::error_code& ec) noexcept override {
    if (h < 0) {
      ec = system_error_code(EBADF);
      return;
    }
    const file_id id = identify(h);
    if (const auto it = index_.find(h); it != index_.end()) {
      // The same number again: a second add() of the same file, or the file
      // registered under it was closed and the number reused. poll() cannot
      // tell them apart, the file's identity can (not for anonymous inodes
      // such as eventfds, which all share one).
      ec = ids_[it->second] == id ? system_error_code(EEXIST) : make_error_code(errc::stale_registration);
      return;
    }
    try {
      index_.emplace(h, fds_.size());
      fds_.push_back(pollfd{h, to_poll(interest), 0});
      tokens_.push_back(token);
      ids_.push_back(id);
      interests_.push_back(interest);
    } catch (...) {
      ec = std::make_error_code(std::errc::not_enough_memory);
    }
  }

  void modify(native_handle_type h, events interest, std::uint64_t token, std::error_code& ec) noexcept override {
    const auto it = index_.find(h);
    if (it == index_.end()) {
      ec = system_error_code(ENOENT);
      return;
    }
    fds_[it->second].events = to_poll(interest);
    tokens_[it->second] = token;
    interests_[it->second] = interest;
  }

  void remove(native_handle_type h, std::error_code& ec) noexcept override {
    const auto it = index_.find(h);
    if (it == index_.end()) {
      ec = system_error_code(ENOENT);
      return;
    }
    // Swap with the last entry to keep removal O(1).
    const std::size_t i = it->second;
    const std::size_t last = fds_.size() - 1;
    if (i != last) {
      fds_[i] = fds_[last];
      tokens_[i] = tokens_[last];
      ids_[i] = ids_[last];
      interests_[i] = interests_[last];
      index_[fds_[i].fd] = i;
    }
    fds_.pop_back();
    tokens_.pop_back();
    ids_.pop_back();
    interests_.pop_back();
    index_.erase(h);
  }

  std::size_t wait(std::span<poll_event> out, deadline until, std::error_code& ec) noexcept override {
    if (out.empty()) {
      ec = make_error_code(errc::invalid_argument);
      return 0;
    }
    for (;;) {
      const int n = posix::retry_eintr(
          [&] { return posix::sys_poll(fds_.data(), static_cast<nfds_t>(fds_.size()), timeout_ms(until)); });
      if (n < 0) {
        ec = system_error_code(errno);
        return 0;
      }
      if (n == 0 && clock::now() < until && until != no_deadline) continue;
      std::size_t filled = 0;
      if (fds_[0].revents & POLLIN) {
        char drain[64];
        while (::read(fds_[0].fd, drain, sizeof drain) > 0) {
        }
      }
      // Starting where the last full `out` stopped, so that with a small
      // `out` every ready handle takes its turn.
      const std::size_t handles = fds_.size() - 1;
      if (first_ > handles) first_ = 1;
      for (std::size_t k = 0; k < handles && filled < out.size(); ++k) {
        const std::size_t i = 1 + (first_ - 1 + k) % handles;
        if (fds_[i].revents == 0) continue;
        out[filled++] = poll_event{tokens_[i], with_interest(from_poll(fds_[i].revents), interests_[i])};
        if (filled == out.size()) first_ = 1 + i % handles;
      }
      return filled;
    }
  }

  void wake() noexcept override {
    const char one = 1;
    // Non-blocking: a full self-pipe already guarantees a wake-up.
    [[maybe_unused]] const ssize_t r = ::write(wake_.write_end.native_handle(), &one, 1);
  }

  poller_backend backend() const noexcept override { return poller_backend::poll; }
  std::size_t size() const noexcept override { return fds_.size() - 1; }

 private:
  pipe_pair wake_;
  std::vector<pollfd> fds_;  // [0] is the wake pipe
  std::size_t first_ = 1;    // the handle the next report starts with
  std::vector<std::uint64_t> tokens_;
  std::vector<file_id> ids_;  // what each descriptor named when it was added
  std::vector<events> interests_;
  std::unordered_map<int, std::size_t> index_;
};

}  // namespace

std::unique_ptr<poller_impl> make_poll_poller(std::error_code& ec) noexcept {
  pipe_options opts;
  opts.capacity = 0;
  opts.nonblocking_read = true;
  opts.nonblocking_write = true;
  pipe_pair wake = make_pipe(opts, ec);
  if (ec) return nullptr;
  try {
    return std::make_unique<poll_poller>(std::move(wake));
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return nullptr;
  }
}

}  // namespace pipekit::detail
