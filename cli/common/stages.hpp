// What `pipekit pipe` and `pipekit fanin` share: STAGE arguments made into
// commands, and how a stage that could not start is described.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/progress.hpp"
#include "pipekit/process.hpp"
#include "pipekit/stream.hpp"
#include "pipekit/topology/pipeline.hpp"

namespace pipekit::cli {

// Each STAGE split by split_shell_words() into a command that stays in
// pipekit's process group (as a shell keeps a job's stages in one group).
// nullopt after printing "pipekit: stage ...: <why>" for an unbalanced
// quote or an empty stage (a usage error).
[[nodiscard]] std::optional<std::vector<command>> parse_stages(const std::vector<std::string>& stages);

// "command not found" where a shell says so; else what the system said,
// with what it was about ("missing.txt: No such file or directory").
[[nodiscard]] std::string start_problem(const stage_result& s);

// A stream over a duplicate of one of our standard handles (`name` for the
// error message), so that closing it leaves the handle itself alone;
// nullopt after printing why it cannot be had.
[[nodiscard]] std::optional<handle_stream> standard_stream(native_handle_type h, const char* name);

// The live progress line on stderr for edges called `names`, when one
// should be shown: stderr is a terminal and not `quiet`; else nullptr.
[[nodiscard]] std::unique_ptr<live_line> live_line_on_stderr(std::vector<std::string> names, bool quiet);

}  // namespace pipekit::cli
