// The seed's "Windows Named Pipes in C" server and client, on any system:
// a named endpoint in message mode, a server that waits for a client, reads
// its message and answers, and a client that connects (waiting while the
// server is busy) and reads the answer. pipekit::local_server is a
// message-mode named pipe \\.\pipe\NAME on Windows and a SOCK_SEQPACKET Unix
// socket on POSIX; both keep message boundaries, both are limited to the
// current user by default.
//
// The program is its own client: run without arguments it is the server and
// starts itself again as `named_pipe_messages client NAME`.
// Exits 0 only if both sides saw the other's message whole.
#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>

#include "pipekit/pipekit.hpp"

namespace {

using namespace std::chrono_literals;

int client(const std::string& name) {
  // connect_local waits (up to the deadline) for the server to appear and
  // for a free instance, as the seed's WaitNamedPipe loop does.
  pipekit::local_connection pipe = pipekit::connect_local(name, pipekit::local_mode::messages, pipekit::after(10s));
  pipe.send("Hello from client!");
  const std::optional<std::string> reply = pipe.recv(pipekit::after(10s));
  std::cout << "client received: " << reply.value_or("(nothing)") << "\n";
  return reply == "Hello from server!" ? 0 : 1;
}

int server(const char* self) {
  // The one thing that differs: Windows names a pipe (\\.\pipe\ is
  // added), POSIX a socket file.
  const std::string unique =
      "pipekit-example-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
#ifdef _WIN32
  const std::string name = unique;
#else
  const std::string name = (std::filesystem::temp_directory_path() / unique).string();
#endif
  pipekit::listen_options options;
  options.mode = pipekit::local_mode::messages;
  pipekit::local_server listener = pipekit::local_server::listen(name, options);

  pipekit::command cmd{self, "client", name};
  pipekit::process child = cmd.spawn();

  std::cout << "waiting for a client...\n";
  pipekit::local_connection pipe = listener.accept(pipekit::after(10s));
  const std::optional<std::string> message = pipe.recv(pipekit::after(10s));
  std::cout << "server received: " << message.value_or("(nothing)") << "\n";
  pipe.send("Hello from server!");

  const pipekit::exit_status status = child.wait();
  std::cout << "client " << status.to_string() << "\n";
  return message == "Hello from client!" && status.success() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc == 3 && std::string(argv[1]) == "client") return client(argv[2]);
  return server(argv[0]);
} catch (const std::exception& e) {
  std::cerr << "named_pipe_messages: " << e.what() << "\n";
  return 1;
}
