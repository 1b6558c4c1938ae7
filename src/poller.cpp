// The portable face of poller: backend choice, the throwing forms, and event
// sources (poll_source), which every backend gets for free: their handles are
// registered with the backend under tokens of the poller's own, and what
// those report is turned into the sources' events here.
#include "pipekit/poller.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include "pipekit/error.hpp"
#include "pipekit/stream.hpp"
#include "sys/poller_impl.hpp"

namespace pipekit {

namespace detail {

namespace {

// A backend token with this bit names watch number (token & watch_mask) of
// the event source with id (token & ~own_bit) >> watch_bits.
constexpr std::uint64_t own_bit = std::uint64_t{1} << 63;
constexpr int watch_bits = 24;
constexpr std::uint64_t watch_mask = (std::uint64_t{1} << watch_bits) - 1;

bool is_own_token(std::uint64_t token) noexcept { return (token & own_bit) != 0; }

}  // namespace

struct poll_source_set {
  struct entry {
    poll_source* source = nullptr;
    events interest = events::none;
    std::uint64_t token = 0;
    std::uint64_t id = 0;
    std::vector<poll_source::watch> registered;  // what the backend holds for it now
    std::vector<events> reported;                // per watch, filled by one wait
    bool fired = false;                          // one of its watches reported
    events carried = events::none;               // dispatched but found no room in `out`
    std::size_t slot = 0;                        // where this wait put its carried event, or no_slot
  };

  static constexpr std::size_t no_slot = static_cast<std::size_t>(-1);
  std::vector<entry> entries;
  std::uint64_t next_id = 1;
  std::vector<poll_source::watch> scratch;
  std::size_t registered_watches = 0;

  entry* find(const poll_source& s) noexcept {
    for (entry& e : entries)
      if (e.source == &s) return &e;
    return nullptr;
  }
  entry* find_id(std::uint64_t id) noexcept {
    for (entry& e : entries)
      if (e.id == id) return &e;
    return nullptr;
  }

  static std::uint64_t token_of(const entry& e, std::size_t watch) noexcept {
    return own_bit | (e.id << watch_bits) | watch;
  }

  void unregister(poller_impl& impl, entry& e) noexcept {
    for (const poll_source::watch& w : e.registered) {
      std::error_code ignored;
      impl.remove(w.handle, ignored);
    }
    registered_watches -= e.registered.size();
    e.registered.clear();
  }

  // Brings the backend's registrations of `e` up to what its source asks
  // for now.
  void sync(poller_impl& impl, entry& e, std::error_code& ec) {
    std::size_t n = e.source->watches(e.interest, scratch);
    if (n > scratch.size()) {
      scratch.resize(n);
      n = std::min(e.source->watches(e.interest, scratch), scratch.size());
    }
    if (n > watch_mask) {
      ec = std::make_error_code(std::errc::value_too_large);
      return;
    }
    const std::span<const poll_source::watch> want(scratch.data(), n);
    const auto same_handle = [&](std::size_t i) { return i < want.size() && want[i].handle == e.registered[i].handle; };
    // Removals first: a handle that moved to another index is added again.
    for (std::size_t i = 0; i < e.registered.size(); ++i) {
      if (same_handle(i)) continue;
      std::error_code ignored;
      impl.remove(e.registered[i].handle, ignored);
      e.registered[i].handle = invalid_native_handle;
    }
    const std::size_t before = e.registered.size();
    e.registered.resize(want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      poll_source::watch& have = e.registered[i];
      if (i < before && have.handle == want[i].handle) {
        if (have.interest != want[i].interest) impl.modify(want[i].handle, want[i].interest, token_of(e, i), ec);
      } else {
        impl.add(want[i].handle, want[i].interest, token_of(e, i), ec);
      }
      if (ec) {
        // What is registered stays recorded; the rest is asked again next time.
        have = poll_source::watch{};
        e.registered.resize(i);
        break;
      }
      have = want[i];
    }
    registered_watches = 0;
    for (const entry& x : entries) registered_watches += x.registered.size();
    e.reported.assign(e.registered.size(), events::none);
  }

  std::size_t wait(poller_impl& impl, std::span<poll_event> out, deadline until, std::error_code& ec) {
    for (;;) {
      // What a source had to report but found no room for goes first, so
      // busy handles cannot crowd it out for good.
      std::size_t kept = 0;
      for (entry& e : entries) {
        e.slot = no_slot;
        if (!any(e.carried) || kept == out.size()) continue;
        e.slot = kept;
        out[kept++] = poll_event{e.token, std::exchange(e.carried, events::none)};
      }
      if (kept == out.size()) return kept;
      bool immediate = kept > 0;
      for (entry& e : entries) {
        if (any(e.carried) || any(e.source->ready_now(e.interest))) immediate = true;
        sync(impl, e, ec);
        if (ec) return 0;
        e.fired = false;
      }
      deadline d = immediate ? clock::now() : until;
      for (const entry& e : entries) d = std::min(d, e.source->next_deadline());
      const std::size_t n = kept + impl.wait(out.subspan(kept), d, ec);
      if (ec) return 0;

      // The sources' own events leave `out`; the caller's handles stay.
      for (std::size_t i = kept; i < n; ++i) {
        if (!is_own_token(out[i].token)) {
          out[kept++] = out[i];
          continue;
        }
        entry* e = find_id((out[i].token & ~own_bit) >> watch_bits);
        const std::size_t w = out[i].token & watch_mask;
        if (e == nullptr || w >= e->reported.size()) continue;
        e->reported[w] = e->reported[w] | out[i].what;
        e->fired = true;
      }

      const auto now = clock::now();
      bool ran = false;
      for (entry& e : entries) {
        events got = events::none;
        const deadline due = e.source->next_deadline();
        if (e.fired || (due != no_deadline && now >= due)) {
          got = e.source->dispatch(e.interest, e.reported);
          ran = true;
        }
        got |= e.source->ready_now(e.interest);
        if (!any(got)) continue;
        if (e.slot != no_slot) {
          out[e.slot].what = out[e.slot].what | got;  // one event per source and wait
        } else if (kept < out.size()) {
          out[kept++] = poll_event{e.token, got};
        } else {
          e.carried = e.carried | got;  // reported by the next wait, never dropped
        }
      }
      if (kept > 0 || now >= until) return kept;
      // Only the sources' internal work happened: wait on. Anything else
      // that returns with nothing (wake(), an early return) returns now.
      if (!ran) return 0;
    }
  }
};

}  // namespace detail

poller::poller(poller_backend backend) {
  std::error_code ec;
  *this = poller(backend, ec);
  detail::throw_if(ec, "poller");
}

namespace {

struct backend_entry {
  poller_backend backend;
  std::unique_ptr<detail::poller_impl> (*make)(std::error_code& ec) noexcept;
};

// The backends this platform has, best first: the automatic choice takes the
// first one the system grants.
constexpr backend_entry backends[] = {
#if defined(__linux__)
    {poller_backend::epoll, detail::make_epoll_poller},
#endif
#if defined(_WIN32)
    {poller_backend::iocp, detail::make_iocp_poller},
#else
    {poller_backend::poll, detail::make_poll_poller},
#endif
};

}  // namespace

poller::poller(poller_backend backend, std::error_code& ec) noexcept {
  ec.clear();
  for (const backend_entry& b : backends) {
    if (backend != poller_backend::automatic && backend != b.backend) continue;
    ec.clear();
    impl_ = b.make(ec);
    if (impl_ || backend != poller_backend::automatic) return;
  }
  // Here either every backend refused (automatic; ec holds the last
  // refusal) or the one asked for is not in this platform's table.
  if (!ec) ec = make_error_code(errc::not_supported);
}

namespace {

bool refuse_own_token(std::uint64_t token, std::error_code& ec) noexcept {
  if (!detail::is_own_token(token)) return false;
  ec = std::make_error_code(std::errc::invalid_argument);
  return true;
}

}  // namespace

poller::poller(poller&&) noexcept = default;
poller& poller::operator=(poller&&) noexcept = default;
poller::~poller() = default;

void poller::add(native_handle_type h, events interest, std::uint64_t token) {
  std::error_code ec;
  add(h, interest, token, ec);
  detail::throw_if(ec, "poller::add");
}
void poller::add(native_handle_type h, events interest, std::uint64_t token, std::error_code& ec) noexcept {
  ec.clear();
  if (refuse_own_token(token, ec)) return;
  impl_->add(h, interest, token, ec);
}
void poller::modify(native_handle_type h, events interest, std::uint64_t token) {
  std::error_code ec;
  modify(h, interest, token, ec);
  detail::throw_if(ec, "poller::modify");
}
void poller::modify(native_handle_type h, events interest, std::uint64_t token, std::error_code& ec) noexcept {
  ec.clear();
  if (refuse_own_token(token, ec)) return;
  impl_->modify(h, interest, token, ec);
}
void poller::remove(native_handle_type h) {
  std::error_code ec;
  remove(h, ec);
  detail::throw_if(ec, "poller::remove");
}
void poller::remove(native_handle_type h, std::error_code& ec) noexcept {
  ec.clear();
  impl_->remove(h, ec);
}
std::size_t poller::wait(std::span<poll_event> out, deadline until) {
  std::error_code ec;
  const std::size_t n = wait(out, until, ec);
  detail::throw_if(ec, "poller::wait");
  return n;
}
std::size_t poller::wait(std::span<poll_event> out, deadline until, std::error_code& ec) noexcept {
  ec.clear();
  if (!sources_ || sources_->entries.empty()) return impl_->wait(out, until, ec);
  try {
    return sources_->wait(*impl_, out, until, ec);
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return 0;
  }
}
void poller::wake() noexcept { impl_->wake(); }
poller_backend poller::backend() const noexcept { return impl_->backend(); }
std::size_t poller::size() const noexcept {
  if (!sources_) return impl_->size();
  return impl_->size() - sources_->registered_watches + sources_->entries.size();
}

// ---- event sources --------------------------------------------------------

void poller::add(poll_source& source, events interest, std::uint64_t token) {
  std::error_code ec;
  add(source, interest, token, ec);
  detail::throw_if(ec, "poller::add");
}
void poller::add(poll_source& source, events interest, std::uint64_t token, std::error_code& ec) noexcept {
  ec.clear();
  if (refuse_own_token(token, ec)) return;
  try {
    if (!sources_) sources_ = std::make_unique<detail::poll_source_set>();
    if (sources_->find(source) != nullptr) {
      ec = std::make_error_code(std::errc::file_exists);
      return;
    }
    detail::poll_source_set::entry e;
    e.source = &source;
    e.interest = interest;
    e.token = token;
    e.id = sources_->next_id++;
    sources_->entries.push_back(std::move(e));
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
}
void poller::modify(poll_source& source, events interest, std::uint64_t token) {
  std::error_code ec;
  modify(source, interest, token, ec);
  detail::throw_if(ec, "poller::modify");
}
void poller::modify(poll_source& source, events interest, std::uint64_t token, std::error_code& ec) noexcept {
  ec.clear();
  if (refuse_own_token(token, ec)) return;
  detail::poll_source_set::entry* e = sources_ ? sources_->find(source) : nullptr;
  if (e == nullptr) {
    ec = std::make_error_code(std::errc::no_such_file_or_directory);
    return;
  }
  e->interest = interest;  // its watches follow at the next wait()
  e->token = token;
}
void poller::remove(poll_source& source) {
  std::error_code ec;
  remove(source, ec);
  detail::throw_if(ec, "poller::remove");
}
void poller::remove(poll_source& source, std::error_code& ec) noexcept {
  ec.clear();
  detail::poll_source_set::entry* e = sources_ ? sources_->find(source) : nullptr;
  if (e == nullptr) {
    ec = std::make_error_code(std::errc::no_such_file_or_directory);
    return;
  }
  sources_->unregister(*impl_, *e);
  sources_->entries.erase(sources_->entries.begin() + (e - sources_->entries.data()));
}

// ---- streams ---------------------------------------------------------------

namespace {

native_handle_type handle_of(stream& s, std::error_code& ec) noexcept {
  const native_handle_type h = s.native_handle();
  if (h == invalid_native_handle) ec = make_error_code(errc::not_supported);
  return h;
}

}  // namespace

void poller::add(stream& s, events interest, std::uint64_t token) {
  std::error_code ec;
  add(s, interest, token, ec);
  detail::throw_if(ec, "poller::add");
}
void poller::add(stream& s, events interest, std::uint64_t token, std::error_code& ec) noexcept {
  ec.clear();
  if (poll_source* src = s.event_source()) return add(*src, interest, token, ec);
  const native_handle_type h = handle_of(s, ec);
  if (!ec) add(h, interest, token, ec);
}
void poller::modify(stream& s, events interest, std::uint64_t token) {
  std::error_code ec;
  modify(s, interest, token, ec);
  detail::throw_if(ec, "poller::modify");
}
void poller::modify(stream& s, events interest, std::uint64_t token, std::error_code& ec) noexcept {
  ec.clear();
  if (poll_source* src = s.event_source()) return modify(*src, interest, token, ec);
  const native_handle_type h = handle_of(s, ec);
  if (!ec) modify(h, interest, token, ec);
}
void poller::remove(stream& s) {
  std::error_code ec;
  remove(s, ec);
  detail::throw_if(ec, "poller::remove");
}
void poller::remove(stream& s, std::error_code& ec) noexcept {
  ec.clear();
  if (poll_source* src = s.event_source()) return remove(*src, ec);
  const native_handle_type h = handle_of(s, ec);
  if (!ec) remove(h, ec);
}

}  // namespace pipekit
