// Everything pipekit offers, in one include.
#pragma once

#include "pipekit/auth.hpp"
#include "pipekit/channel.hpp"
#include "pipekit/deadline.hpp"
#include "pipekit/error.hpp"
#if !defined(_WIN32)  // FIFOs are POSIX's; Windows named pipes are in local.hpp
#include "pipekit/fifo.hpp"
#endif
#include "pipekit/handle.hpp"
#include "pipekit/limits.hpp"
#include "pipekit/local.hpp"
#include "pipekit/pipe.hpp"
#include "pipekit/poller.hpp"
#include "pipekit/process.hpp"
#include "pipekit/signals.hpp"
#include "pipekit/stream.hpp"
#include "pipekit/terminal.hpp"
#include "pipekit/version.hpp"
