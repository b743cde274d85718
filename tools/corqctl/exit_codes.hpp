// tools/corqctl/exit_codes.hpp — corqctl's exit codes, one per thing an operator's script would
// branch on. The help text (main.cpp) and the README list the same values.
#pragma once

namespace corqctl {

inline constexpr int exit_ok = 0;
/// The log is corrupt before its tail (the first corruption's file and offset are printed).
inline constexpr int exit_corrupt = 1;
/// Bad usage: unknown command, missing or bad argument.
inline constexpr int exit_usage = 2;
/// The directory is missing or cannot be read (permissions, I/O error).
inline constexpr int exit_unreadable = 3;
/// The directory is locked: another process (a running service?) has it open. Only the commands
/// that change the directory need the lock.
inline constexpr int exit_locked = 4;
/// No such queue (or exchange) in the directory.
inline constexpr int exit_no_queue = 5;
/// The engine refused or failed the operation (queue full, unroutable under --mandatory, disk
/// full, I/O error while writing).
inline constexpr int exit_failed = 6;

}  // namespace corqctl
