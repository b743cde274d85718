// tests/sim/epoch_end.hpp — how an epoch of every corq-sim workload ends, drawn from the seed's
// generator: a quiet power loss right after a sync, a crash at a chosen write or flush (the
// workload keeps running until it dies, at most `wait_ops_max` more steps), injected EIO on a
// write or flush (then maybe a kill), or a plain restart (nothing here: the workload's recovery
// restarts the process). The draws are the same in every workload and in this order, so a seed
// replays the same way.
#pragma once

#include "sim/process_vfs.hpp"
#include "sim/random.hpp"

#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>

namespace corq::sim {

/// `step()` runs one workload operation, `sync()` makes everything durable, `crash_mode()` draws
/// how a crash treats unflushed writes, `say(text)` logs in verbose mode. `faults_armed` is set
/// when a crash point or EIO is armed (the workload then accepts failures it otherwise reports).
template <class Step, class Sync, class CrashMode, class Say>
void end_epoch(std::uint64_t epoch, Random &rng, wal::SimVfs &disk,
               std::unique_ptr<ProcessVfs> &process, bool &faults_armed, std::uint64_t wait_ops_max,
               Step step, Sync sync, CrashMode crash_mode, Say say) {
  const std::uint64_t ending = rng.below(4);
  say("epoch " + std::to_string(epoch) + " ends with " +
      (ending == 0   ? "quiet power loss"
       : ending == 1 ? "a crash point"
       : ending == 2 ? "EIO"
                     : "a restart"));
  if (ending == 0) {
    sync();
    process->kill(rng.next(), crash_mode());
  } else if (ending == 1) {
    disk.crash_at(rng.one_in(2) ? wal::SimOp::write : wal::SimOp::flush, 1 + rng.below(3),
                  rng.next(), crash_mode());
    faults_armed = true;
    for (std::uint64_t i = 0; i < wait_ops_max && !process->dead(); ++i) step();
    if (!process->dead()) process->kill(rng.next(), crash_mode());
  } else if (ending == 2) {
    faults_armed = true;
    if (rng.one_in(2)) {
      disk.fail_write(1 + rng.below(3), -EIO);
    } else {
      disk.fail_flush(1 + rng.below(3), -EIO);
    }
    for (std::uint64_t i = 0; i < wait_ops_max; ++i) step();
    if (rng.one_in(2)) process->kill(rng.next(), crash_mode());
  }
}

}  // namespace corq::sim
